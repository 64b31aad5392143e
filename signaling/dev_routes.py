"""Development-only routes (``directlive serve --dev``); never registered otherwise."""

from __future__ import annotations

from aiohttp import web


def add_dev_routes(app: web.Application) -> None:
    """Registers nothing yet: the web app issue fills this in."""
