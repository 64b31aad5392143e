"""Sharing a live to all followers: a chunked, pipelined, resumable write-time fan-out.

The job is persisted before the first write. Each chunk is one store step that takes the
followers after the job's stored cursor, adds their feed entries (idempotent per share and
recipient), advances the cursor and delivered count, and looks up which added recipients are
online. ``CHUNKS_IN_FLIGHT`` chunks are requested at once, so the store always has the next one
queued while this node handles a reply (pushes, lease renewal): each takes the followers after
the cursor it finds when it runs, so they never overlap. A crash at any point is resumed from
the cursor: a chunk in flight either ran whole or not at all, entries already written are not
written again, nobody gets two. A lease keeps two nodes from running the same job at once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Mapping

from fanout.events import EventHub
from fanout.models import ChunkResult, FanoutConfig, FanoutJob, LiveInfo
from fanout.store import Store

log = logging.getLogger(__name__)

LEASE_SECONDS = 30.0
CHUNKS_IN_FLIGHT = 2
"""Chunks requested at once, so the store runs one while this node handles another's reply
(1: strictly one after another)."""
LEASE_RENEW_CHUNKS = 10
"""The lease is renewed after every this many chunks."""


class FollowerFanout:
    def __init__(self, store: Store, hub: EventHub, node_id: str, config: FanoutConfig) -> None:
        self._store = store
        self._hub = hub
        self._node = node_id
        self._config = config
        self._tasks: dict[str, asyncio.Task[FanoutJob | None]] = {}

    async def start(self, live: LiveInfo, sender: str) -> FanoutJob:
        """Persist the job (one per live: a second call returns the first) and run it."""
        share_id = "s_" + secrets.token_urlsafe(12)
        draft = FanoutJob(share_id, live.live_id, sender, await self._store.next_seq())
        job = await self._store.create_job(draft)
        self.launch(job.share_id)
        return job

    def launch(self, share_id: str) -> None:
        """Run the job in the background unless it already runs here."""
        task = self._tasks.get(share_id)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self.run(share_id))
            self._tasks[share_id] = task
            task.add_done_callback(self._log_failure)

    async def join(self, share_id: str) -> FanoutJob | None:
        """Wait for the local run of a job (re-raising its failure), then read it back."""
        task = self._tasks.get(share_id)
        if task is not None:
            await task
        return await self._store.get_job(share_id)

    async def resume_pending(self) -> list[str]:
        """Launch every unfinished job (after a crash or restart)."""
        pending = await self._store.pending_jobs()
        for share_id in pending:
            self.launch(share_id)
        return pending

    async def run(self, share_id: str) -> FanoutJob | None:
        """Write the job's remaining chunks; None if another node holds its lease."""
        if not await self._store.claim_job(share_id, self._node, LEASE_SECONDS):
            return None
        job = await self._store.get_job(share_id)
        if job is None or job.done:
            return job
        event = {
            "type": "share.new",
            "live_id": job.live_id,
            "thread_id": None,
            "share_id": job.share_id,
            "from": job.sender,
        }
        await self._write(job, event)
        await self._store.finish_job(share_id)
        return await self._store.get_job(share_id)

    async def _write(self, job: FanoutJob, event: Mapping[str, object]) -> None:
        """Run chunks until the store reports no follower left, ``CHUNKS_IN_FLIGHT`` at once."""
        loop = asyncio.get_running_loop()
        limit = self._config.chunk_size
        in_flight: deque[asyncio.Task[ChunkResult]] = deque()
        chunks, done = 0, False
        try:
            while True:
                while not done and len(in_flight) < CHUNKS_IN_FLIGHT:
                    in_flight.append(loop.create_task(self._store.fanout_chunk(job, limit)))
                if not in_flight:
                    return
                result = await in_flight[0]
                in_flight.popleft()
                _raise_if_cancelled()
                done = done or result.done
                if result.online:
                    await self._hub.emit_located(result.online, event)
                chunks += 1
                if self._config.fault_hook is not None:
                    self._config.fault_hook(chunks)
                if chunks % LEASE_RENEW_CHUNKS == 0:
                    await self._store.claim_job(job.share_id, self._node, LEASE_SECONDS)
                _raise_if_cancelled()
        finally:
            # On failure or cancellation: a chunk still in flight runs whole or not at all.
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()

    def _log_failure(self, task: asyncio.Task[FanoutJob | None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("fan-out job stopped: %r (resume_pending picks it up)", task.exception())


def _raise_if_cancelled() -> None:
    """redis-py (8.1) can swallow a cancellation that lands while a command is in flight and
    finish the command; honour the pending cancellation at the next chunk boundary."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
