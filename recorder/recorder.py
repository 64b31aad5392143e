"""``Recorder``: lives to files on this node, one file per participant (and per reconnection).

Files live in ``directory/<live_id>/<participant>-<n>.<ext>``. A write error or free space
falling under ``min_free_bytes`` stops the whole live's recording (the files keep what was
written and stay playable) and calls ``on_failure(live_id, code)`` once; the live itself is
never touched. ``finish`` finalizes every file and returns what was recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from recorder.participant import ParticipantRecording, recordable
from streamer.source import TrackSource

log = logging.getLogger("directlive.recorder")

FailureCallback = Callable[[str, str], None]
"""``on_failure(live_id, code)``; ``code`` is ``disk_full`` or ``write_failed``."""


@dataclass(frozen=True)
class RecorderConfig:
    """Where and how lives are recorded."""

    directory: Path
    """Holds one directory of files per recorded live."""
    cluster_ms: int = 1000
    """Longest Matroska cluster: about what a crash can lose."""
    min_free_bytes: int = 256 * 1024 * 1024
    """Recording stops (``disk_full``) when the disk has less free space than this."""
    disk_check_seconds: float = 2.0


@dataclass(frozen=True)
class RecordedFile:
    """One finished (or stopped) file of a recording."""

    name: str
    participant: str
    mime_type: str
    codecs: tuple[str, ...]
    size: int
    duration: float
    video_frames: int
    audio_frames: int


@dataclass(frozen=True)
class RecordingReport:
    live_id: str
    files: tuple[RecordedFile, ...]
    failure: str | None = None


@dataclass
class _LiveRecording:
    live_id: str
    directory: Path
    participants: list[ParticipantRecording] = field(default_factory=list)
    failure: str | None = None


class Recorder:
    def __init__(self, config: RecorderConfig, on_failure: FailureCallback | None = None) -> None:
        self.config = config
        self._on_failure = on_failure
        self._lives: dict[str, _LiveRecording] = {}
        self._watchdog: asyncio.Task[None] | None = None

    def is_recording(self, live_id: str) -> bool:
        return live_id in self._lives

    def frames_written(self, live_id: str) -> tuple[int, int]:
        """(video, audio) frames written so far for the live, over all its files."""
        counts = {"video": 0, "audio": 0}
        live = self._lives.get(live_id)
        for participant in live.participants if live is not None else []:
            for track, packets in zip(
                participant.file.tracks, participant.file.packets, strict=True
            ):
                counts[track.kind] += packets
        return counts["video"], counts["audio"]

    def path_of(self, live_id: str, name: str) -> Path:
        return self.config.directory / live_id / name

    def start(self, live_id: str) -> None:
        """Record this live from now on (participants are added as they publish)."""
        if live_id in self._lives:
            return
        directory = self.config.directory / live_id
        self._lives[live_id] = _LiveRecording(live_id, directory)
        if self._watchdog is None:
            self._watchdog = asyncio.ensure_future(self._watch_disk())
        if self._free_space_low():
            self._fail(live_id, "disk_full")

    def add_participant(
        self, live_id: str, participant: str, sources: Sequence[TrackSource]
    ) -> None:
        """Start a file for ``participant``'s tracks (again after a reconnection)."""
        live = self._lives.get(live_id)
        tracks = recordable(sources)
        if live is None or live.failure is not None or not tracks:
            return
        try:
            live.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("recording live=%s cannot create its directory: %s", live_id, exc)
            self._fail(live_id, "write_failed")
            return
        part = 1 + sum(1 for p in live.participants if p.participant == participant)
        recording = ParticipantRecording(
            participant,
            tracks,
            live.directory / f"{participant}-{part}",
            cluster_ms=self.config.cluster_ms,
            on_failure=lambda code: self._fail(live_id, code),
        )
        live.participants.append(recording)
        log.info("recording live=%s user=%s file=%s", live_id, participant, recording.file.path)

    async def finish(self, live_id: str) -> RecordingReport | None:
        """Finalize every file of the live; None if it was not recorded."""
        live = self._lives.pop(live_id, None)
        if live is None:
            return None
        await asyncio.gather(*(p.finish() for p in live.participants))
        if not self._lives and self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        files = tuple(_report(p) for p in live.participants if p.file.path.exists())
        log.info("recording done live=%s files=%d failure=%s", live_id, len(files), live.failure)
        return RecordingReport(live_id, files, live.failure)

    async def close(self) -> list[RecordingReport]:
        """Finalize every recording (server shutdown)."""
        reports = [await self.finish(live_id) for live_id in list(self._lives)]
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        return [r for r in reports if r is not None]

    def _fail(self, live_id: str, code: str) -> None:
        live = self._lives.get(live_id)
        if live is None or live.failure is not None:
            return
        live.failure = code
        for participant in live.participants:
            participant.fail(code)
        log.warning("recording stopped live=%s code=%s", live_id, code)
        if self._on_failure is not None:
            self._on_failure(live_id, code)

    def _free_space_low(self) -> bool:
        directory = self.config.directory
        probe = directory if directory.exists() else directory.parent
        try:
            return shutil.disk_usage(probe).free < self.config.min_free_bytes
        except OSError:
            return False

    async def _watch_disk(self) -> None:
        while True:
            await asyncio.sleep(self.config.disk_check_seconds)
            if self._free_space_low():
                for live_id in list(self._lives):
                    self._fail(live_id, "disk_full")


def _report(recording: ParticipantRecording) -> RecordedFile:
    media = recording.file
    counts = {"video": 0, "audio": 0}
    for track, packets in zip(media.tracks, media.packets, strict=True):
        counts[track.kind] += packets
    return RecordedFile(
        name=media.path.name,
        participant=recording.participant,
        mime_type=media.mime_type,
        codecs=tuple(t.codec for t in media.tracks),
        size=media.path.stat().st_size,
        duration=round(media.duration(), 3),
        video_frames=counts["video"],
        audio_frames=counts["audio"],
    )
