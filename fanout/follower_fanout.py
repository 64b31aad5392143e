"""Sharing a live to all followers: a chunked, pipelined, resumable write-time fan-out.

The job is persisted before the first write. Each chunk is one store round trip that adds the
recipients' feed entries (idempotent per share and recipient), advances the job's cursor, looks
up which added recipients are online, and reads the next chunk. A crash at any point is resumed
from the cursor: the chunk in flight is rewritten, its entries already exist, nobody gets two.
Between chunks the loop yields, so the event loop is never held for long. A lease keeps two
nodes from running the same job at once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from fanout.events import EventHub
from fanout.models import FanoutConfig, FanoutJob, LiveInfo
from fanout.store import Store

log = logging.getLogger(__name__)

LEASE_SECONDS = 30.0


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
        cursor, chunks, done = job.cursor, 0, False
        while not done:
            result = await self._store.fanout_chunk(job, cursor, self._config.chunk_size)
            _raise_if_cancelled()
            if result.online:
                await self._hub.emit_located(result.online, event)
            cursor, done, chunks = result.cursor, result.done, chunks + 1
            if self._config.fault_hook is not None:
                self._config.fault_hook(chunks)
            if chunks % 10 == 0:
                await self._store.claim_job(share_id, self._node, LEASE_SECONDS)
            await asyncio.sleep(0)
            _raise_if_cancelled()
        await self._store.finish_job(share_id)
        return await self._store.get_job(share_id)

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
