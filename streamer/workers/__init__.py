"""Media worker processes: viewers served outside the node's main process.

``pool`` starts and restarts them; ``link`` is one of them as the main process holds it
(its ``feeds`` and its ``remote_viewer`` sessions); ``wire`` and ``messages`` are what
travels between the two; ``process`` and ``main`` run inside a worker.
"""
