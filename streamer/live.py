"""A live's media: its publishing participants and its viewers."""

from __future__ import annotations

from dataclasses import dataclass, field

from streamer.layers.layer_set import LayerSet
from streamer.relay.edge import AnyPublisher
from streamer.viewer import AnyViewerSession, SourceWithCodec


@dataclass
class MediaLive:
    """Media state of one live on this node."""

    live_id: str
    """Unguessable id chosen by the caller."""
    host: str
    """The participant whose departure ends the live."""
    publishers: dict[str, AnyPublisher] = field(default_factory=dict)
    """Publishing participants by user id (the host first, then guests); on an edge node,
    the origin's participants as its relay link feeds them."""
    viewers: dict[str, AnyViewerSession] = field(default_factory=dict)
    """Viewer sessions by session id."""

    def sources(self, participant: str | None = None) -> list[SourceWithCodec]:
        """Every track viewers receive (or one participant's), in participant order."""
        return [
            (source, publisher.codec_of(source))
            for publisher in self.publishers.values()
            if participant is None or publisher.participant == participant
            for source in publisher.viewer_sources
        ]

    def relayed_sources(self) -> list[SourceWithCodec]:
        """Every track of every participant, each layer of a layered picture too (what
        relays carry)."""
        return [
            (source, publisher.codec_of(source))
            for publisher in self.publishers.values()
            for source in publisher.sources
        ]

    def layer_sets(self) -> list[LayerSet]:
        """Every participant's layered pictures."""
        return [layers for publisher in self.publishers.values() for layers in publisher.layer_sets]

    def participants(self) -> list[str]:
        return list(self.publishers)

    def viewer_users(self) -> list[str]:
        """Users watching, not counting participants (a host watching a guest's tile)."""
        return sorted({s.user for s in self.viewers.values() if s.user not in self.publishers})
