"""Page cursors read back from clients: opaque to them, checked here before any store uses one."""

from __future__ import annotations

from directlive.errors import BadRequest


def below(cursor: str) -> int | None:
    """The position a newest-first cursor stands for (``None``: the first page). A cursor the
    server did not hand out (not a whole number) is ``BadRequest bad_cursor``."""
    if not cursor:
        return None
    if not (cursor.isascii() and cursor.isdecimal() and len(cursor) <= 20):
        raise BadRequest("cursor is not one this server handed out", code="bad_cursor")
    return int(cursor)


def redis_below(cursor: str) -> str:
    """``below`` as the exclusive upper bound of a Redis ``ZRANGE ... BYSCORE REV``."""
    position = below(cursor)
    return "+inf" if position is None else f"({position}"
