"""This node's heartbeat in the node directory: the URL other nodes reach it on, refreshed
every ``period`` seconds with a ``ttl`` a few periods long, so a node that dies is noticed
within ``ttl`` seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fanout.node_directory import NodeDirectory

log = logging.getLogger("directlive.signaling")

HEARTBEAT_PERIOD = 1.0
HEARTBEAT_TTL = 3.0


class NodeBeacon:
    def __init__(
        self,
        directory: NodeDirectory,
        node_id: str,
        url: str,
        period: float = HEARTBEAT_PERIOD,
        ttl: float = HEARTBEAT_TTL,
    ) -> None:
        self.directory = directory
        self.node_id = node_id
        self.url = url
        """Where other nodes reach this one (``--node-url``)."""
        self.period = period
        self.ttl = ttl
        self._task: asyncio.Task[None] | None = None

    async def beat(self) -> None:
        await self.directory.heartbeat(self.node_id, self.url, self.ttl)

    async def start(self) -> None:
        await self.beat()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                await self.beat()
            except Exception as exc:  # the store is down: keep trying, it may come back
                log.warning("node heartbeat failed: %r", exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.directory.node_gone(self.node_id)
