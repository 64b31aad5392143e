"""Settings of the media plane."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MediaConfig:
    """How the SFU forwards and how long it waits."""

    publisher_grace_seconds: float = 10.0
    """How long a live outlives its host's dead connection before it ends."""
    keyframe_interval: float = 1.0
    """At most one upstream keyframe request (PLI) per track per this many seconds."""
    viewer_queue_limit: int = 240
    """Frames a viewer's queue may hold before it drops to the next keyframe."""
    max_viewers_per_live: int = 10_000
    """Viewer sessions one live accepts on this node."""
