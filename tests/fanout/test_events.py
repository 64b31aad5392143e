"""Pushed events across connections and nodes; presence; cross-node re-checks."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from fanout import Fanout, Store
from tests.fanout.conftest import Audience, Inbox
from tests.media.peers import wait_for

until = functools.partial(wait_for, timeout=5.0)
"""Poll until a condition holds (the shared ``wait_for`` with this module's deadline)."""


async def test_every_connection_gets_the_event(fo: Fanout) -> None:
    per_socket: list[tuple[str, object]] = []

    def deliver(user: str, event: Mapping[str, object]) -> None:
        per_socket.extend((user, event["type"]) for _ in range(connections[user]))

    connections = {"bob": 2}
    fo.set_local_delivery(deliver)
    await fo.user_online("bob")
    await fo.user_online("bob")
    await fo.graph.follow("alice", "bob")
    assert per_socket == [("bob", "follow.new")] * 2
    await fo.user_offline("bob")
    assert await fo.store.presence_nodes(["bob"]) == {"bob": ("n1",)}
    await fo.user_offline("bob")
    assert await fo.store.presence_nodes(["bob"]) == {}


async def test_remote_users_get_one_publish_per_node(
    fo: Fanout, store: Store, inbox: Inbox
) -> None:
    other_inbox = Inbox()
    n2 = Fanout(store, node_id="n2")
    n2.set_local_delivery(other_inbox)
    await n2.start()
    try:
        seen: list[Mapping[str, Any]] = []
        unsubscribe = await store.subscribe("n2", seen.append)
        for user in ("bob", "carol", "dave"):
            await n2.user_online(user)
        await fo.user_online("erin")
        await fo.graph.follow("bob", "alice")
        await fo.start_live("alice", "L1")
        live = await fo.get_live("L1")
        await fo.sharing.share("alice", live, users=["bob", "carol", "dave", "erin"])
        await fo.end_live("L1")
        await until(lambda: all(other_inbox.events[u] for u in ("bob", "carol", "dave")))
        await until(lambda: any(p.get("event", {}).get("type") == "live.ended" for p in seen))
        ended = [p for p in seen if p.get("event", {}).get("type") == "live.ended"]
        assert len(ended) == 1
        assert sorted(ended[0]["users"]) == ["bob", "carol", "dave"]
        assert inbox.types("erin")[-1] == "live.ended"
        assert other_inbox.types("bob")[-1] == "live.ended"
        await unsubscribe()
    finally:
        await n2.close()


async def test_block_evicts_viewer_on_another_node(fo: Fanout, store: Store) -> None:
    remote = Audience()
    n2 = Fanout(store, node_id="n2")
    n2.set_audience(remote)
    await n2.start()
    try:
        await fo.start_live("alice", "L1")
        remote.viewers["L1"] = {"bob", "carol"}
        await fo.graph.block("alice", "bob")
        await until(lambda: remote.evicted == [("L1", "bob", "blocked")])
        assert remote.viewers["L1"] == {"carol"}
    finally:
        await n2.close()
