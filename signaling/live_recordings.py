"""Recording of lives: the recorder's files on this node joined to fanout's record of them.

``LiveService`` calls ``live_started`` / ``participant_published`` / ``live_ended``; a live is
recorded when its host asked at go-live (``?record=1``, ``"record": true``) or the server
records every live (``--record``). The host is told ``recording.started``, then
``recording.ready`` when the files are final, or ``recording.failed`` (``disk_full``,
``write_failed``) when recording stopped early: the live itself carries on either way.

At start-up ``recover`` closes the records a crash left open: a recording of this node whose
live no longer runs here becomes ``interrupted`` and lists its files as they are on disk
(``recorder.salvage``), so it can be replayed.
"""

from __future__ import annotations

import asyncio
import logging

from fanout.events import EventHub
from fanout.post_models import Recording, RecordingFile
from fanout.recordings import Recordings
from recorder import RecordedFile, Recorder, RecorderConfig, RecordingReport, salvage
from streamer import Streamer

log = logging.getLogger("directlive.signaling")


class LiveRecordings:
    def __init__(
        self,
        config: RecorderConfig,
        recordings: Recordings,
        events: EventHub,
        *,
        record_all: bool = False,
    ) -> None:
        self.recorder = Recorder(config, on_failure=self._on_failure)
        self.recordings = recordings
        self.record_all = record_all
        self._events = events
        self._hosts: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def live_started(self, live_id: str, host: str, media: Streamer, requested: bool) -> None:
        if not (requested or self.record_all):
            return
        await self.recordings.begin(live_id, host)
        self._hosts[live_id] = host
        self.recorder.start(live_id)
        await self._events.emit([host], {"type": "recording.started", "live_id": live_id})
        await self.participant_published(live_id, host, media)

    async def participant_published(self, live_id: str, user: str, media: Streamer) -> None:
        """Record ``user``'s tracks (the host, a guest, or either after reconnecting)."""
        if not self.recorder.is_recording(live_id):
            return
        sources = media.participant_sources(live_id, user)
        if not sources:
            return
        self.recorder.add_participant(live_id, user, sources)
        await self.recordings.add_participant(live_id, user)

    async def live_ended(self, live_id: str) -> Recording | None:
        """Finalize the live's files and record them in the host's archive."""
        report = await self.recorder.finish(live_id)
        if report is None:
            return None
        return await self._complete(report)

    async def recover(self) -> list[Recording]:
        """Start-up: recordings this node left unfinished and no longer records (the server
        died mid-live) become ``interrupted`` with the files the crash left."""
        recovered = []
        for live_id in await self.recordings.unfinished():
            if self.recorder.is_recording(live_id):
                continue
            try:
                directory = self.recorder.config.directory / live_id
                found, last_write = await asyncio.to_thread(salvage, directory)
                recording = await self.recordings.interrupted(live_id, _files(found), last_write)
            except Exception:  # one bad record must not keep the node down
                log.exception("recording live=%s: could not recover it", live_id)
                continue
            log.warning(
                "recording live=%s was cut by a crash: %s with %d files",
                live_id,
                recording.state,
                len(recording.files),
            )
            recovered.append(recording)
        return recovered

    async def _complete(self, report: RecordingReport) -> Recording:
        files = _files(report.files)
        recording = await self.recordings.complete(report.live_id, files, report.failure)
        host = self._hosts.pop(report.live_id, recording.host)
        event = {
            "type": "recording.ready",
            "live_id": report.live_id,
            "state": recording.state,
            "files": len(files),
        }
        await self._events.emit([host], event)
        return recording

    def _on_failure(self, live_id: str, code: str) -> None:
        task = asyncio.ensure_future(self._report_failure(live_id, code))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _report_failure(self, live_id: str, code: str) -> None:
        recording = await self.recordings.stopped(live_id, code)
        event = {"type": "recording.failed", "live_id": live_id, "code": code}
        await self._events.emit([recording.host], event)

    async def close(self) -> None:
        """Server shutdown: finalize every file still being written."""
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for report in await self.recorder.close():
            try:
                await self._complete(report)
            except Exception:  # the store may already be gone; the files are final anyway
                log.exception("recording live=%s: could not record its end", report.live_id)


def _files(files: tuple[RecordedFile, ...]) -> list[RecordingFile]:
    return [
        RecordingFile(f.name, f.participant, f.mime_type, f.codecs, f.size, f.duration)
        for f in files
    ]
