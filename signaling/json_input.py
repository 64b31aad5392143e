"""The one JSON parser for what clients send: HTTP bodies and socket messages alike.

Python's ``json`` recurses once per nesting level and accepts what other parsers refuse
(``NaN``, lone surrogate escapes, integers of thousands of digits). Client input is bounded
before it is parsed and refused with ``malformed_json`` when it is not plain, portable JSON:
nested at most ``MAX_DEPTH`` levels, UTF-8 text, every string valid Unicode, no ``NaN`` or
``Infinity``. Size limits are the caller's (each door has its own).
"""

from __future__ import annotations

import json
import re

from directlive.errors import BadRequest

MAX_DEPTH = 32
"""Arrays and objects nested deeper than this are refused before parsing."""

_TOKEN = re.compile(r'\\.|["\[\]{}]', re.DOTALL)
"""What nesting depends on: quotes, brackets and escapes (one linear scan, no backtracking)."""


def malformed(reason: str) -> BadRequest:
    return BadRequest(f"malformed JSON: {reason}", code="malformed_json")


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting of ``text``, brackets inside strings not counted."""
    depth = deepest = 0
    in_string = False
    for token in _TOKEN.finditer(text):
        mark = token.group()
        if mark == '"':
            in_string = not in_string
        elif in_string or len(mark) == 2:
            continue
        elif mark in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def is_unicode(text: str) -> bool:
    """Whether ``text`` holds no lone surrogate (it encodes to UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse_constant(name: str) -> object:
    raise malformed(f"{name} is not JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise malformed(f"{literal[:20]} is out of range")
    return value


def parse_json(raw: str | bytes, *, max_depth: int = MAX_DEPTH) -> object:
    """The JSON value of ``raw``, or ``BadRequest malformed_json``."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise malformed("not UTF-8") from exc
    else:
        text = raw
    openers = text.count("[") + text.count("{")
    if openers > max_depth and nesting_depth(text) > max_depth:
        raise malformed(f"nested deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except ValueError as exc:  # JSONDecodeError, and integers past 4300 digits
        raise malformed(str(exc)) from exc
    try:
        # A string holding a lone surrogate (``"\ud800"``) cannot be stored or sent on.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise malformed("a string is not valid Unicode (lone surrogate)") from exc
    return value
