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
import itertools
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpCodecParameters

from directlive.errors import Unavailable
from streamer.frames import EncodedFrame
from streamer.remote_viewer import RemoteViewerSession
from streamer.source import TrackSource
from streamer.stats import ForwardingStats
from streamer.worker_process import WorkerSettings
from streamer.worker_wire import Message, WireProtocol, codec_to_wire, frame_to_wire

log = logging.getLogger("directlive.streamer")

FEED_BUFFER_LIMIT = 8 * 1024 * 1024
"""Bytes queued to a worker before its feeds drop video to the next keyframe."""
RESTART_DELAY = 1.0
STATS_TIMEOUT = 2.0
STOP_TIMEOUT = 5.0

SessionLost = Callable[[RemoteViewerSession], None]


def default_worker_count() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class SourceFeed:
    """Sends one source's frames to one worker (a ``FrameSink`` of the source)."""

    def __init__(self, link: WorkerLink, key: int, source: TrackSource) -> None:
        self.link = link
        self.key = key
        self.source = source
        self._awaiting_keyframe = False
        self.frames_sent = 0
        self.frames_dropped = 0

    def frame(self, frame: EncodedFrame) -> None:
        wire = self.link.wire
        if self.source.kind == "video":
            if self._awaiting_keyframe and not frame.keyframe:
                self.frames_dropped += 1
                return
            if wire.write_buffer_size > FEED_BUFFER_LIMIT:
                self._awaiting_keyframe = True
                self.frames_dropped += 1
                return
            self._awaiting_keyframe = False
        elif wire.write_buffer_size > FEED_BUFFER_LIMIT:
            self.frames_dropped += 1
            return
        if wire.send(frame_to_wire(self.key, frame)):
            self.frames_sent += 1

    def source_closed(self) -> None:
        self.link.drop_feed(self)


class WorkerLink:
    """One worker process: its socket, the sources fed to it and the sessions it serves."""

    def __init__(self, index: int, process: asyncio.subprocess.Process, wire: WireProtocol):
        self.index = index
        self.process = process
        self.wire = wire
        self.sessions: dict[str, RemoteViewerSession] = {}
        self.stats = ForwardingStats()
        self._feeds: dict[int, SourceFeed] = {}
        self._feed_of_source: dict[int, SourceFeed] = {}
        self._keys = itertools.count(1)

    @property
    def alive(self) -> bool:
        return self.wire.is_open

    def feeds(self) -> list[SourceFeed]:
        return list(self._feeds.values())

    def open_feed(self, source: TrackSource, codec: RTCRtpCodecParameters) -> SourceFeed:
        """The feed of ``source`` to this worker, started (with the source's GOP) if new."""
        feed = self._feed_of_source.get(id(source))
        if feed is not None and feed.source is source:
            return feed
        if source.closed:
            raise Unavailable("the track ended", code="live_not_found")
        feed = SourceFeed(self, next(self._keys), source)
        self.wire.send(
            {
                "op": "source.open",
                "key": feed.key,
                "track_id": source.track_id,
                "participant": source.participant,
                "kind": source.kind,
                "mime_type": source.mime_type,
                "codec": codec_to_wire(codec),
                "gop": [frame_to_wire(feed.key, frame) for frame in source.gop],
            }
        )
        source.add_sink(feed)  # no frame can come between the GOP and this: same loop turn
        self._feeds[feed.key] = feed
        self._feed_of_source[id(source)] = feed
        return feed

    def release_feed(self, feed: SourceFeed) -> None:
        """Stop ``feed`` unless another session on this worker still reads it."""
        if any(feed in session.feeds for session in self.sessions.values()):
            return
        feed.source.remove_sink(feed)
        self.drop_feed(feed)

    def drop_feed(self, feed: SourceFeed) -> None:
        if self._feeds.pop(feed.key, None) is None:
            return
        if self._feed_of_source.get(id(feed.source)) is feed:
            del self._feed_of_source[id(feed.source)]
        self.wire.send({"op": "source.close", "key": feed.key})

    async def refresh_stats(self) -> None:
        """Ask the worker for its counters (``stats`` keeps the last answer)."""
        fields = await self.wire.request("stats", timeout=STATS_TIMEOUT)
        known = ForwardingStats.__dataclass_fields__
        self.stats = ForwardingStats(**{k: int(v) for k, v in fields.items() if k in known})

    def detach_all(self) -> None:
        for feed in list(self._feeds.values()):
            feed.source.remove_sink(feed)
        self._feeds.clear()
        self._feed_of_source.clear()

    def on_message(self, message: Message, on_session_lost: SessionLost) -> None:
        op = message.get("op")
        if op == "keyframe":
            feed = self._feeds.get(message.get("key", -1))
            if feed is not None:
                feed.source.request_keyframe()
        elif op == "viewer.lost":
            session = self.sessions.get(str(message.get("session_id")))
            if session is not None:
                session.release()
                on_session_lost(session)
        else:
            log.warning("media worker %d: unknown op %r", self.index, op)


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
        return min(links, key=lambda link: (len(link.sessions), link.index))

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
                "streamer.worker_main",
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

        def on_message(message: Message) -> None:
            if link_ref:
                link_ref[0].on_message(message, self._on_session_lost)

        def on_frame(value: list[Any]) -> None:
            log.warning("media worker %d sent a frame", index)

        loop = asyncio.get_running_loop()
        _, wire = await loop.create_unix_connection(
            lambda: WireProtocol(on_frame, on_message), sock=parent
        )
        link = WorkerLink(index, process, wire)
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
        link.detach_all()
        sessions = list(link.sessions.values())
        for session in sessions:
            session.release()
            self._on_session_lost(session)
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
            link.detach_all()
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
