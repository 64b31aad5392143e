"""A live's media: its publishing participants and its viewers."""

from __future__ import annotations

from dataclasses import dataclass, field

from streamer.publisher import PublisherSession
from streamer.viewer import SourceWithCodec, ViewerSession


@dataclass
class MediaLive:
    """Media state of one live on this node."""

    live_id: str
    """Unguessable id chosen by the caller."""
    host: str
    """The participant whose departure ends the live."""
    publishers: dict[str, PublisherSession] = field(default_factory=dict)
    """Publishing participants by user id (the host first, then guests)."""
    viewers: dict[str, ViewerSession] = field(default_factory=dict)
    """Viewer sessions by session id."""

    def sources(self) -> list[SourceWithCodec]:
        """Every track viewers receive, in participant order."""
        return [
            (source, publisher.codec_of(source))
            for publisher in self.publishers.values()
            for source in publisher.sources
        ]

    def viewer_users(self) -> list[str]:
        return sorted({session.user for session in self.viewers.values()})
