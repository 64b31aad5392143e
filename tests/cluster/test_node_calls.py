"""Signed node-to-node calls are accepted once: the receiver claims each call's nonce in the
node directory before acting (in-process node on the memory store here; the same on Redis
with real nodes in ``test_session_routing``)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from directlive.errors import Unavailable
from directlive.node_keys import node_key, sign_request
from fanout import MemoryStore
from fanout.node_directory import MemoryNodeDirectory
from signaling.appkeys import STREAMER
from tests.server import SECRET, RunningServer, go_live, running_server, server_config


async def send(
    server: RunningServer, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str]:
    async with server.http.post(server.url + path, data=body, headers=headers) as answer:
        text = await answer.text()
        return answer.status, json.loads(text)["error"]["code"] if answer.status >= 400 else ""


async def test_the_same_signed_call_acts_once_on_the_memory_store(tmp_path: Path) -> None:
    config = server_config(tmp_path, node_id="a")
    config = replace(config, media=replace(config.media, workers=0))
    async with running_server(config, MemoryStore()) as server:
        live_id, publisher = await go_live(server, "alice")
        try:
            path = f"/internal/live/{live_id}/end"
            body = b'{"user": "alice"}'
            headers = sign_request(node_key(SECRET), "b", "POST", path, body)
            assert await send(server, path, body, headers) == (200, "")
            assert not server.app[STREAMER].has_media(live_id)  # the first one acted
            assert await send(server, path, body, headers) == (401, "replayed_node_call")
            fresh = sign_request(node_key(SECRET), "b", "POST", path, body)
            assert await send(server, path, body, fresh) == (409, "live_ended")
        finally:
            await publisher.close()


async def test_memory_nonces_are_claimed_once_and_bounded() -> None:
    directory = MemoryNodeDirectory(max_nonces=3)
    assert await directory.claim_nonce("n1", 30.0)
    assert not await directory.claim_nonce("n1", 30.0)
    assert await directory.claim_nonce("n2", 30.0)
    assert await directory.claim_nonce("gone", 0.0)  # expired at once: claimable again
    assert await directory.claim_nonce("gone", 30.0)
    with pytest.raises(Unavailable) as full:
        await directory.claim_nonce("n4", 30.0)
    assert full.value.code == "node_calls_overloaded"
    assert not await directory.claim_nonce("n2", 30.0)
