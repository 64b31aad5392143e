"""Base layer shared by every plane: the error tree. Imports nothing of the project."""
