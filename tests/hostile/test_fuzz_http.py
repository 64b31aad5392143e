"""Property-based fuzzing of every JSON endpoint, on both stores.

Per input: an answer below 500 whose error code (if any) is documented, never ``internal``;
the server alive; the witness's socket, in the live's room, still receiving its events.
Closing figures go to the fuzz tally (printed at the end of the run).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import yarl
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from signaling.json_input import is_unicode
from tests.hostile.fuzz_inputs import (
    encode,
    hostile_strings,
    hostile_texts,
    json_values,
    shaped_object,
)
from tests.hostile.fuzz_tally import TALLY
from tests.hostile.fuzz_world import (
    DOCUMENTED_CODES,
    FUZZER,
    HOST,
    LIVE,
    ServerThread,
    World,
    server_alive,
    witness_still_hears,
)

EXAMPLES = int(os.environ.get("DIRECTLIVE_FUZZ_HTTP_EXAMPLES", "400"))
JSON_LIMIT = 256 * 1024

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
)


def endpoints(world: World) -> list[tuple[str, str, dict[str, str]]]:
    """Every endpoint reading a JSON body: method, path, fields (name -> kind)."""
    return [
        ("PATCH", "/api/me/settings", {"private": "bool", "allow_sharing": "bool"}),
        ("POST", "/api/threads", {"members": "ids", "name": "str"}),
        ("POST", f"/api/threads/{world.dm}/messages", {"text": "str"}),
        ("POST", f"/api/threads/{world.group}/members", {"members": "ids"}),
        ("POST", f"/api/threads/{world.dm}/posts", {"recording": "str", "caption": "str"}),
        ("POST", f"/api/lives/{LIVE}/share", {"users": "ids", "threads": "ids"}),
        ("POST", "/api/posts/p_nope/comments", {"text": "str"}),
        ("POST", f"/api/recordings/{LIVE}/share", {"users": "ids"}),
    ]


@pytest.fixture(scope="module", params=["memory", "redis"])
def fuzz_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerThread]:
    redis_url = request.getfixturevalue("redis_proc").url if request.param == "redis" else None
    thread = ServerThread(tmp_path_factory.mktemp("fuzz-http"), redis_url)
    thread.start()
    yield thread
    thread.stop()


def bodies(fields: dict[str, str]) -> st.SearchStrategy[str]:
    return st.one_of(
        shaped_object(fields, JSON_LIMIT + 1024).map(encode),
        shaped_object(fields, 64).map(encode),
        json_values().map(encode),
        hostile_texts(),
    )


def body_for(data: st.DataObject, world: World) -> tuple[str, str, str]:
    method, path, fields = data.draw(st.sampled_from(endpoints(world)), label="endpoint")
    if fields.get("members") and data.draw(st.booleans(), label="add all_followers"):
        fields = {**fields, "all_followers": "bool"}
    return method, path, data.draw(bodies(fields), label="body")


async def send(world: World, method: str, path: str, body: str) -> tuple[int, Any]:
    server = world.server
    headers = {**server.auth(FUZZER), "Content-Type": "application/json"}
    async with server.http.request(
        method, server.url + path, data=body.encode("utf-8", "surrogatepass"), headers=headers
    ) as response:
        text = await response.text()
        return response.status, json.loads(text) if text else None


def check_answer(suite: str, status: int, reply: Any, what: str) -> None:
    if 200 <= status < 300:
        TALLY.saw(suite, "ok")
        return
    code = reply["error"]["code"] if isinstance(reply, dict) and "error" in reply else "?"
    TALLY.saw(suite, code)
    if status >= 500 or code == "internal":
        TALLY.server_error(f"{suite} {status} {code}: {what}")
    assert 400 <= status < 500, (status, reply, what)
    assert code in DOCUMENTED_CODES, (status, code, what)


@FUZZ_SETTINGS
@given(data=st.data())
def test_fuzz_json_endpoints(
    fuzz_server: ServerThread, store_name: str, data: st.DataObject
) -> None:
    world = fuzz_server.world
    assert world is not None
    method, path, body = body_for(data, world)
    status, reply = fuzz_server.run(send(world, method, path, body))
    check_answer(f"http/{store_name}", status, reply, f"{method} {path} {body[:200]!r}")
    fuzz_server.run(server_alive(world.server))
    fuzz_server.run(witness_still_hears(world))
    assert not fuzz_server.errors.records, fuzz_server.errors.records


@pytest.fixture
def store_name(fuzz_server: ServerThread) -> str:
    return "memory" if fuzz_server.redis_url is None else "redis"


LIST_EXAMPLES = int(os.environ.get("DIRECTLIVE_FUZZ_LIST_EXAMPLES", "150"))


def list_paths(world: World) -> list[str]:
    return [
        "/api/inbox",
        "/api/requests",
        "/api/shares",
        "/api/recordings",
        "/api/follow-requests",
        f"/api/users/{HOST}/followers",
        f"/api/threads/{world.dm}/messages",
        f"/api/threads/{world.dm}/posts",
        f"/api/lives/{LIVE}/comments",
    ]


async def get_page(world: World, path: str, query: dict[str, str]) -> tuple[int, Any]:
    server = world.server
    url = yarl.URL(server.url + path).with_query(query)
    async with server.http.get(url, headers=server.auth(FUZZER)) as response:
        return response.status, await response.json()


@settings(FUZZ_SETTINGS, max_examples=LIST_EXAMPLES)
@given(data=st.data())
def test_fuzz_list_queries(fuzz_server: ServerThread, store_name: str, data: st.DataObject) -> None:
    world = fuzz_server.world
    assert world is not None
    path = data.draw(st.sampled_from(list_paths(world)), label="list")
    query = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "cursor": hostile_strings(40).filter(is_unicode),
                "limit": st.integers(-5, 10**6).map(str) | hostile_strings(20).filter(is_unicode),
            },
        ),
        label="query",
    )
    status, reply = fuzz_server.run(get_page(world, path, query))
    check_answer(f"http/{store_name}", status, reply, f"GET {path} {query!r}")
    fuzz_server.run(server_alive(world.server))
    fuzz_server.run(witness_still_hears(world))
    assert not fuzz_server.errors.records, fuzz_server.errors.records
