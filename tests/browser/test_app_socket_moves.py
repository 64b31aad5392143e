"""Behind a balancer without affinity, a viewer page's socket that reconnects can land on
another node than its media session. The web app then watches again on that node, where the
session can be renegotiated through its socket, and the room carries on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.app_client import api, people
from tests.browser.test_app_share_watch import plays
from tests.browser.test_app_socket_resume import sees
from tests.cluster.nodes import Cluster, running_cluster
from tests.cluster.relay_support import go_live_on, metrics, wait_for_metric
from tests.cluster.tcp_proxy import TcpProxy
from tests.server import ServerClient

VIEWERS = "directlive_viewers"


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path) as running:
        yield running


async def viewers_on(node: ServerClient) -> float:
    return (await metrics(node))[VIEWERS]


async def test_a_socket_back_on_another_node_watches_there(
    browser: Browser, cluster: Cluster
) -> None:
    a, b, c = cluster["a"], cluster["b"], cluster["c"]
    async with AsyncExitStack() as stack:
        balancer = TcpProxy(b.port)  # the page's every connection goes through it
        await balancer.start()
        stack.push_async_callback(balancer.close)
        behind = ServerClient(balancer.url, b.http, b.tokens)
        await api(behind, "bob", "GET", "/api/me")
        live_id, host = await go_live_on(a, "alice")
        stack.push_async_callback(host.close)
        alice = await a.socket("alice")
        stack.push_async_callback(alice.close)
        (bob,) = await stack.enter_async_context(people(browser, behind, "bob"))
        await bob.goto(f"#/watch/{live_id}")
        await plays(bob)
        assert (await viewers_on(b), await viewers_on(c)) == (1, 0)

        balancer.target_port = c.port  # new connections go to c; the page's drop now
        balancer.cut()
        await bob.until("() => window.directliveApp.socket.status === 'reconnecting'")
        await bob.until("() => window.directliveApp.socket.status === 'open'", timeout=15)
        await wait_for_metric(c, VIEWERS, 1, timeout=15)
        await wait_for_metric(b, VIEWERS, 0, timeout=15)
        await plays(bob)
        for text in ("one after the move", "two after the move"):
            said = await alice.request({"type": "comment", "live_id": live_id, "text": text})
            assert said["type"] == "comment.ok", said
            await sees(bob, text)
        assert not [line for line in bob.log if line.startswith("pageerror")], bob.log
