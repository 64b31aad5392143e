"""The multi-node fixture itself: separate processes on one Redis, one secret, kill and restart."""

from __future__ import annotations

import aiohttp
import pytest

from tests.cluster.nodes import Cluster


async def test_nodes_share_the_store_and_survive_a_kill(cluster: Cluster) -> None:
    a, b = cluster["a"], cluster["b"]
    assert len({node.url for node in cluster}) == 3
    for user in ("alice", "bob"):
        status, _ = await a.api(user, "GET", "/api/me")
        assert status == 200
    status, followed = await a.api("alice", "POST", "/api/users/bob/follow")
    assert status < 300, followed
    status, following = await b.api("alice", "GET", "/api/users/alice/following")
    assert status == 200, following
    assert "bob" in str(following)

    pid = b.process.pid if b.process else 0
    b.kill()
    assert not b.running
    with pytest.raises(aiohttp.ClientConnectionError):
        await b.api("alice", "GET", "/api/users/alice/following")
    await b.restart()
    assert b.process is not None
    assert b.process.pid != pid
    status, following = await b.api("alice", "GET", "/api/users/alice/following")
    assert status == 200
    assert "bob" in str(following)
