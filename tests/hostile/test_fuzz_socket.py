"""Property-based fuzzing of every socket message type, on both stores.

Per message: a reply or a typed error carrying a documented code (never ``internal``); the
fuzzer's socket still open (it answers a ping); the server alive; the witness's socket, in
the same room, still receiving its events. Closing figures go to the fuzz tally.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.hostile.fuzz_inputs import (
    encode,
    hostile_texts,
    json_values,
    shaped_object,
    weighted,
)
from tests.hostile.fuzz_tally import TALLY
from tests.hostile.fuzz_world import (
    DOCUMENTED_CODES,
    ServerThread,
    World,
    server_alive,
    witness_still_hears,
)

EXAMPLES = int(os.environ.get("DIRECTLIVE_FUZZ_SOCKET_EXAMPLES", "600"))
MAX_STRING = 16 * 1024
"""Under the 64 KiB message limit (a larger message closes the socket, by design: 1009)."""

MESSAGES: dict[str, dict[str, str]] = {
    "auth": {"token": "str"},
    "ping": {},
    "live.start": {"sdp": "str", "record": "bool"},
    "live.end": {"live_id": "live"},
    "watch": {
        "live_id": "live",
        "sdp": "str",
        "via_thread": "str",
        "participant": "str",
        "max_layer": "int",
    },
    "layer": {"live_id": "live", "session_id": "str", "max_layer": "int", "participant": "user"},
    "leave": {"live_id": "live", "session_id": "str"},
    "ice": {"live_id": "live", "candidate": "str", "sdp_mid": "str", "session_id": "str"},
    "room.join": {"live_id": "live", "session_id": "str"},
    "room.leave": {"live_id": "live"},
    "join.request": {"live_id": "live"},
    "join.accept": {"live_id": "live", "user": "user"},
    "join.decline": {"live_id": "live", "user": "user"},
    "join.invite": {"live_id": "live", "user": "user"},
    "guest.remove": {"live_id": "live", "user": "user"},
    "viewer.remove": {"live_id": "live", "user": "user"},
    "live.publish": {"live_id": "live", "sdp": "str"},
    "guest.leave": {"live_id": "live"},
    "session.answer": {"live_id": "live", "session_id": "str", "sdp": "str"},
    "live.settings": {"live_id": "live", "comments": "bool", "joins": "bool"},
    "comment": {"live_id": "live", "text": "str"},
    "reaction": {"live_id": "live", "kind": "str"},
    "comment.remove": {"live_id": "live", "comment_id": "str"},
    "comments.recent": {"live_id": "live", "limit": "int"},
}
"""Every client-to-server type of docs/protocol.md, with its fields (name -> kind)."""

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module", params=["memory", "redis"])
def fuzz_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerThread]:
    redis_url = request.getfixturevalue("redis_proc").url if request.param == "redis" else None
    thread = ServerThread(tmp_path_factory.mktemp("fuzz-socket"), redis_url)
    thread.start()
    yield thread
    thread.stop()


def messages() -> st.SearchStrategy[object]:
    """A message: a known type with right or wrong fields, or any JSON value at all."""
    typed = st.sampled_from(sorted(MESSAGES)).flatmap(
        lambda kind: shaped_object(MESSAGES[kind], MAX_STRING, fixed={"type": kind})
    )
    wrong_type = shaped_object({"type": "str", "live_id": "live"}, 64)
    return weighted((8, typed), (1, wrong_type), (1, json_values()))


async def exchange(world: World, text: str, request_id: int | None) -> dict[str, object]:
    """Send ``text``; its answer (addressed by ``request_id``, else the error that comes before
    the pong of a ping sent after it); then the socket must still answer a ping."""
    fuzzer = world.fuzzer
    fuzzer.messages.clear()
    await fuzzer.ws.send_str(text)
    if request_id is not None:
        answer = await fuzzer.reply_to(request_id)
    pong = await fuzzer.request({"type": "ping"})
    assert pong["type"] == "pong", pong
    if request_id is None:
        earlier = fuzzer.messages[: fuzzer.messages.index(pong)]
        answer = next(m for m in earlier if m.get("type") == "error")
    assert not fuzzer.ws.closed
    return answer


@FUZZ_SETTINGS
@given(data=st.data())
def test_fuzz_socket_messages(fuzz_server: ServerThread, data: st.DataObject) -> None:
    world = fuzz_server.world
    assert world is not None
    suite = "socket/" + ("memory" if fuzz_server.redis_url is None else "redis")
    raw = data.draw(st.booleans(), label="raw text")
    request_id: int | None = None
    if raw:
        text = data.draw(hostile_texts(), label="text")
    else:
        message = data.draw(messages(), label="message")
        if isinstance(message, dict):
            request_id = data.draw(st.integers(min_value=1, max_value=2**53), label="id")
            message = {**message, "id": request_id}
        text = encode(message)
    answer = fuzz_server.run(exchange(world, text, request_id))
    code = str(answer.get("code", "ok")) if answer.get("type") == "error" else "ok"
    TALLY.saw(suite, code)
    if code == "internal":
        TALLY.server_error(f"{suite} internal: {text[:200]!r}")
    assert code == "ok" or code in DOCUMENTED_CODES, (answer, text[:200])
    fuzz_server.run(server_alive(world.server))
    fuzz_server.run(witness_still_hears(world))
    assert not fuzz_server.errors.records, fuzz_server.errors.records
