"""Hostile inputs: wrong types, nulls, huge numbers, deep nesting, lone surrogates, oversized
strings, garbage text; each endpoint's and message's own fields get both good and bad values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeVar

from hypothesis import strategies as st

Json = object
T = TypeVar("T")

IDS = ("alice", "bob", "mallory", "carol", "ghost", "L1", "")
"""Ids that exist, or nearly: the fuzz reaches past the first check this way."""
USERS = ("alice", "bob", "mallory", "carol", "ghost")


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of ``choices``, each as often as its weight (``one_of`` merges equal branches)."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(min_value=0, max_value=len(table) - 1).flatmap(lambda i: table[i])


def json_values(max_leaves: int = 8) -> st.SearchStrategy[Json]:
    """Any JSON value, leaves included that some parsers refuse to round-trip."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(2**200), max_value=2**200),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
        st.sampled_from(IDS),
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def hostile_strings(max_size: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=30),
        st.sampled_from(IDS),
        st.text(
            st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3
        ).map(lambda s: "a" + s),  # lone surrogates (sent as \\udXXX escapes)
        st.integers(min_value=0, max_value=max_size).map(lambda n: "x" * n),
        st.sampled_from(["\n", "\x00", "a\nb", " alice", "ALICE", "../etc", "%00", "\u202e"]),
    )


def field_value(kind: str, max_string: int) -> st.SearchStrategy[Json]:
    """A value for a field of ``kind`` (``str``, ``bool``, ``int``, ``ids``, ``live``: the
    world's live id, ``user``: a user id): right (mostly) or wrong."""
    right: st.SearchStrategy[Json]
    if kind == "bool":
        right = st.booleans()
    elif kind == "int":
        right = st.integers(min_value=-10, max_value=1000)
    elif kind == "live":
        right = weighted((3, st.just("L1")), (1, hostile_strings(64)))
    elif kind == "user":
        right = st.sampled_from(USERS) | hostile_strings(64)
    elif kind == "ids":
        right = st.lists(st.sampled_from(USERS) | hostile_strings(64), max_size=5)
    else:
        right = st.sampled_from(IDS) | st.text(min_size=1, max_size=9) | hostile_strings(max_string)
    wrong = st.one_of(
        st.none(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        json_values(4),
    )
    return weighted((4, right), (1, wrong))


def shaped_object(
    fields: Mapping[str, str], max_string: int, fixed: Mapping[str, Json] | None = None
) -> st.SearchStrategy[dict[str, Json]]:
    """An object with all or some of ``fields`` (name -> kind), each right or wrong, plus
    maybe unknown extras."""
    required = {name: st.just(value) for name, value in (fixed or {}).items()}
    values = {name: field_value(kind, max_string) for name, kind in fields.items()}
    complete = st.fixed_dictionaries({**required, **values})
    partial = st.fixed_dictionaries(required, optional=values)
    extras = st.dictionaries(st.text(max_size=6), json_values(3), max_size=2)
    shape = weighted((4, complete), (1, partial))
    return st.tuples(shape, extras).map(lambda pair: {**pair[1], **pair[0]})


def encode(value: Json) -> str:
    """JSON text as a client would send it (ASCII: a lone surrogate becomes ``\\udXXX``)."""
    return json.dumps(value)


def hostile_texts() -> st.SearchStrategy[str]:
    """Texts that are not acceptable JSON at all."""
    depth = st.integers(min_value=33, max_value=6000)
    return st.one_of(
        depth.map(lambda n: "[" * n + "]" * n),
        depth.map(lambda n: '{"a":' * n + "1" + "}" * n),
        depth.map(lambda n: "[" * n),
        st.sampled_from(['{"x": NaN}', '{"x": Infinity}', "[-Infinity]", '{"x": 1e999}']),
        st.integers(min_value=4301, max_value=20000).map(lambda n: '{"x": ' + "9" * n + "}"),
        st.sampled_from(['"\\ud800"', '{"type": "\\udfff"}', '{"\\udbff": 1}']),
        st.text(max_size=40).map(lambda t: "{" + t),
        st.sampled_from(["", " ", "nul", "{'a': 1}", '{"a" 1}', "\ufeff{}", "[1,]"]),
    )
