"""Values of recordings and direct posts: frozen dataclasses, like ``fanout.models``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RecordingState = Literal["recording", "finished", "failed", "interrupted"]
PostKind = Literal["photo", "video", "recording"]


@dataclass(frozen=True)
class RecordingFile:
    """One file of a recording: one participant (one connection) of the live."""

    name: str
    participant: str
    mime_type: str
    codecs: tuple[str, ...]
    size: int
    duration: float


@dataclass(frozen=True)
class Recording:
    """A recorded live, kept in its host's archive; its id is the live's id."""

    live_id: str
    host: str
    seq: int
    """Orders the host's archive, newest first."""
    node: str
    """The node whose disk holds the files."""
    state: RecordingState = "recording"
    """``recording`` while the live runs; then ``finished``, ``failed`` (stopped early), or
    ``interrupted`` (the server died mid-live: the files play up to the crash)."""
    started_at: float = 0.0
    ended_at: float = 0.0
    failure: str = ""
    """Why recording stopped early (``disk_full``, ``write_failed``), else empty."""
    participants: tuple[str, ...] = ()
    """Everyone recorded in it (the host and guests): blocks by any of them apply."""
    files: tuple[RecordingFile, ...] = ()

    @property
    def unfinished(self) -> bool:
        """Its files were never finalized: still being recorded, or stranded by a crash."""
        return self.ended_at == 0.0


@dataclass(frozen=True)
class Post:
    """A photo, a video or a recording posted in a direct thread."""

    post_id: str
    thread_id: str
    sender: str
    kind: PostKind
    seq: int
    sent_at: float
    caption: str = ""
    mime_type: str = ""
    """Of an uploaded photo or video (as PyAV found it, not as declared)."""
    size: int = 0
    width: int = 0
    height: int = 0
    duration: float = 0.0
    live_id: str = ""
    """The recording's live, for ``kind == "recording"``."""


@dataclass(frozen=True)
class Comment:
    """A comment on a post; seen by the thread's members only."""

    seq: int
    post_id: str
    author: str
    text: str
    sent_at: float
