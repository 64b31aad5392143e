"""A node's media worker processes, as its main process runs them.

The main process keeps the publishers (and the recorder); viewers are spread over the
workers, the least loaded first. A worker receives each frame of a source once, over its
socket, whatever number of its viewers watch that source. A worker that dies takes its
viewers' connections with it: they are reported lost, and the worker is started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import sys
import time
from typing import Any

from directlive.errors import Unavailable
from streamer.stats import ForwardingStats
from streamer.workers.link import SessionLost, WorkerLink
from streamer.workers.messages import Message
from streamer.workers.settings import WorkerSettings
from streamer.workers.wire import WireProtocol

log = logging.getLogger("directlive.streamer")

RESTART_DELAY = 1.0
STOP_TIMEOUT = 5.0


def default_worker_count() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class WorkerPool:
    """Starts ``count`` workers, keeps them running, and places viewer sessions on them."""

    def __init__(self, count: int, settings: WorkerSettings, on_session_lost: SessionLost) -> None:
        self.count = count
        self._settings = settings
        self._on_session_lost = on_session_lost
        self._links: dict[int, WorkerLink] = {}
        self._starting: dict[int, asyncio.Task[WorkerLink]] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        self._closing = False
        self.restarts = 0

    def start(self) -> None:
        """Begin starting every worker (a viewer's first ``place`` waits for one)."""
        for index in range(self.count):
            self._start(index)

    def links(self) -> list[WorkerLink]:
        return [link for link in self._links.values() if link.alive]

    async def refresh_stats(self) -> None:
        links = self.links()
        results = await asyncio.gather(
            *(link.refresh_stats() for link in links), return_exceptions=True
        )
        for link, result in zip(links, results, strict=True):
            if isinstance(result, Exception):
                log.warning("media worker %d gave no counters: %r", link.index, result)

    def totals(self) -> ForwardingStats:
        total = ForwardingStats()
        for link in self._links.values():
            for name in ForwardingStats.__dataclass_fields__:
                setattr(total, name, getattr(total, name) + getattr(link.stats, name))
        return total

    async def place(self) -> WorkerLink:
        """The live worker serving the fewest viewer sessions."""
        if self._closing:
            raise Unavailable("the media plane is shutting down", code="shutting_down")
        links = self.links()
        if not links:
            starting = [task for task in self._starting.values() if not task.done()]
            if not starting:
                self.start_missing()
                starting = list(self._starting.values())
            await asyncio.wait(starting, return_when=asyncio.FIRST_COMPLETED)
            links = self.links()
            if not links:
                raise Unavailable("no media worker is running", code="media_unavailable")
        return min(links, key=lambda link: (link.session_count, link.index))

    def start_missing(self) -> None:
        for index in range(self.count):
            if index not in self._links and index not in self._starting:
                self._start(index)

    def _start(self, index: int) -> None:
        task = asyncio.ensure_future(self._spawn(index))
        self._starting[index] = task

        def started(task: asyncio.Task[WorkerLink]) -> None:
            self._starting.pop(index, None)
            if not task.cancelled() and task.exception() is not None:
                log.error("media worker %d did not start: %r", index, task.exception())

        task.add_done_callback(started)

    async def _spawn(self, index: int) -> WorkerLink:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        settings = dataclasses.replace(self._settings, index=index)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "streamer.workers.main",
                "--fd",
                str(child.fileno()),
                "--config",
                settings.to_json(),
                pass_fds=(child.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
            )
        finally:
            child.close()
        link_ref: list[WorkerLink] = []

        def on_message(message: Message, request_id: int | None) -> None:
            if link_ref:
                link_ref[0].on_message(message, request_id)

        def on_frame(value: list[Any]) -> None:
            log.warning("media worker %d sent a frame", index)

        loop = asyncio.get_running_loop()
        _, wire = await loop.create_unix_connection(
            lambda: WireProtocol(on_frame, on_message), sock=parent
        )
        link = WorkerLink(index, process, wire, self._on_session_lost)
        link_ref.append(link)
        self._links[index] = link
        watcher = asyncio.ensure_future(self._watch(link))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        log.info("media worker %d started (pid %d)", index, process.pid)
        return link

    async def _watch(self, link: WorkerLink) -> None:
        """When the worker's socket closes: its viewers are lost; start a new worker."""
        started = time.monotonic()
        await link.wire.closed
        if self._links.get(link.index) is link:
            del self._links[link.index]
        sessions = link.lose_all()
        if self._closing:
            return  # close() waits for the worker to close its sessions and exit
        with contextlib.suppress(ProcessLookupError):
            link.process.kill()
        code = await link.process.wait()
        self.restarts += 1
        log.error(
            "media worker %d exited (code %s) with %d viewers; starting it again",
            link.index,
            code,
            len(sessions),
        )
        await asyncio.sleep(max(0.0, RESTART_DELAY - (time.monotonic() - started)))
        self._restart(link.index)

    def _restart(self, index: int) -> None:
        if not self._closing and index not in self._links and index not in self._starting:
            self._start(index)

    async def close(self) -> None:
        self._closing = True
        for task in list(self._starting.values()):
            with contextlib.suppress(BaseException):
                await task
        for link in list(self._links.values()):
            link.feeds.detach_all()
            link.wire.close()
        for link in list(self._links.values()):
            try:
                await asyncio.wait_for(link.process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    link.process.kill()
                await link.process.wait()
        for watcher in list(self._watchers):
            with contextlib.suppress(BaseException):
                await watcher
        self._links.clear()
