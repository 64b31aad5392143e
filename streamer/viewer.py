"""One viewer's peer connection: a sender per live track, each packing shared frames."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from aiortc import RTCRtpCodecParameters, RTCRtpSender, RTCSessionDescription

from directlive.errors import Conflict
from streamer.aiortc.codec_choice import capabilities_like, pin_viewer_codec
from streamer.aiortc.ice import HostAddresses
from streamer.aiortc.packer import install_packer
from streamer.aiortc.peer import (
    add_remote_candidate,
    apply_offer,
    apply_remote,
    close_quietly,
    make_answer,
    new_peer_connection,
)
from streamer.aiortc.sender_state import name_stream
from streamer.aiortc.udp_mux import UdpMux
from streamer.config import default_fast_forwarding
from streamer.forwarding.datagrams import UdpGso
from streamer.forwarding.forwarder import RtpForwarder
from streamer.layers.viewer_layers import ViewerLayers, starting_layer
from streamer.source import TrackSource
from streamer.viewer_track import ViewerTrack

log = logging.getLogger("directlive.streamer")

SourceWithCodec = tuple[TrackSource, RTCRtpCodecParameters]


class AnyViewerSession(Protocol):
    """A viewer's connection, in this process (``ViewerSession``) or in a media worker
    process (``streamer.workers.remote_viewer.RemoteViewerSession``)."""

    session_id: str
    live_id: str
    user: str
    participant: str | None

    async def add_candidate(self, candidate: str, sdp_mid: str | None) -> None:
        """Trickle ICE from the viewer."""

    async def offer_sources(self, sources: list[SourceWithCodec]) -> str | None:
        """Add the sources the session does not carry yet; the new offer, or ``None``."""

    async def accept_answer(self, sdp: str) -> None:
        """The viewer's answer to ``offer_sources``'s offer."""

    async def set_max_layer(self, max_layer: int | None, participant: str | None = None) -> None:
        """Send no layer above ``max_layer`` from now on (None: any), of every picture or of
        ``participant``'s only."""

    async def close(self) -> None: ...


class ViewerSession:
    """Sends a live's tracks to one viewer; closing it unsubscribes from every source."""

    def __init__(
        self,
        *,
        session_id: str,
        live_id: str,
        user: str,
        on_connection_lost: Callable[[ViewerSession], None],
        host_addresses: HostAddresses,
        gso: UdpGso | None = None,
        fast_forwarding: bool | None = None,
        participant: str | None = None,
        udp_mux: UdpMux | None = None,
        max_layer: int | None = None,
    ) -> None:
        self.participant = participant
        """The one participant this session watches; ``None``: every participant."""
        self.session_id = session_id
        self.live_id = live_id
        self.user = user
        self.fast_forwarding = (
            default_fast_forwarding() if fast_forwarding is None else fast_forwarding
        )
        """Whether senders use ``streamer.forwarding.forwarder`` (see ``MediaConfig``)."""
        self._gso = gso or UdpGso()
        self.pc = new_peer_connection(host_addresses, udp_mux)
        self.tracks: list[tuple[TrackSource, ViewerTrack]] = []
        """(the source listed for the track, which for layers is the set's primary; the track)."""
        self.max_layer = max_layer
        """The highest layer (0 = lowest) of a layered picture this viewer wants; None: any."""
        self.participant_caps: dict[str, int] = {}
        """Caps of one participant's pictures (a small tile); the lower cap wins."""
        self.layered: dict[int, ViewerLayers] = {}
        """By ``id`` of the viewer track: the layer choice of each layered track."""
        self._on_connection_lost = on_connection_lost
        self._closed = False
        self.pc.on("connectionstatechange", self._on_state_change)

    async def answer(self, offer_sdp: str, sources: Sequence[SourceWithCodec]) -> str:
        """Answer the viewer's offer with the publisher's codecs, each source on an m-line."""
        await apply_offer(self.pc, offer_sdp)
        unused = list(sources)
        for transceiver in self.pc.getTransceivers():
            match = next((s for s in unused if s[0].kind == transceiver.kind), None)
            if match is None:
                transceiver.direction = "inactive"
                continue
            source, codec = match
            pin_viewer_codec(transceiver, codec)
            unused.remove(match)
            track = self._subscribe(source)
            self.tracks.append((source, track))
            transceiver.sender.replaceTrack(track)
            transceiver.direction = "sendonly"
            self._prepare_sender(transceiver.sender, source, codec, track)
        return await make_answer(self.pc)

    def _subscribe(self, source: TrackSource) -> ViewerTrack:
        """A track of ``source``, or of the layer to start on when it stands for layers."""
        layers, start = source.layers, self.start_layer(source)
        if layers is None or start is None:
            return source.subscribe()
        track = start.subscribe()
        cap = self.cap_of(source.participant)
        self.layered[id(track)] = ViewerLayers(layers, track, start, source.stats, cap)
        return track

    def start_layer(self, source: TrackSource) -> TrackSource | None:
        """The layer a new track of ``source`` starts on, when it stands for layers."""
        layers = source.layers
        return None if layers is None else starting_layer(layers, self.cap_of(source.participant))

    def cap_of(self, participant: str) -> int | None:
        """The highest layer ``participant``'s pictures may have: the lower of the session's
        cap and that participant's (None: no cap)."""
        caps = [
            c for c in (self.max_layer, self.participant_caps.get(participant)) if c is not None
        ]
        return min(caps, default=None)

    async def set_max_layer(self, max_layer: int | None, participant: str | None = None) -> None:
        """Cap every layered track, or ``participant``'s only, at ``max_layer`` from now on
        (None: no cap of that kind)."""
        if participant is None:
            self.max_layer = max_layer
        elif max_layer is None:
            self.participant_caps.pop(participant, None)
        else:
            self.participant_caps[participant] = max_layer
        for layered in self.layered.values():
            layered.limit(self.cap_of(layered.participant))

    def _prepare_sender(
        self,
        sender: RTCRtpSender,
        source: TrackSource,
        codec: RTCRtpCodecParameters,
        track: ViewerTrack,
    ) -> None:
        """Install our ``RtpForwarder`` (or, with ``fast_forwarding`` off, the packer under
        aiortc's own per-packet loop), and name the stream after the participant so a client
        can lay participants out side by side (``a=msid:<participant> <track>``)."""
        if self.fast_forwarding:
            RtpForwarder(sender, track, codec.mimeType, track.request_keyframe, self._gso)
        else:
            install_packer(sender, codec.mimeType, track.request_keyframe)
        name_stream(sender, source.participant, source.track_id)
        layered = self.layered.get(id(track))
        if layered is not None:
            layered.watch_feedback(sender)

    def _on_state_change(self) -> None:
        state = self.pc.connectionState
        log.debug("viewer %s of live %s: %s", self.user, self.live_id, state)
        if state in ("failed", "closed") and not self._closed:
            self._on_connection_lost(self)

    async def add_candidate(self, candidate: str, sdp_mid: str | None) -> None:
        await add_remote_candidate(self.pc, candidate, sdp_mid)

    async def offer_sources(self, sources: list[SourceWithCodec]) -> str | None:
        """Add a sendonly m-line per source the session does not carry yet and return the
        new offer, or ``None`` when it carries them all. The caller relays the offer to the
        client and hands its answer to ``accept_answer``."""
        # By identity: a guest who publishes again has new sources under the same track ids.
        carried = {id(source) for source, _ in self.tracks}
        new = [(source, codec) for source, codec in sources if id(source) not in carried]
        if not new:
            return None
        for source, codec in new:
            track = self._subscribe(source)
            self.tracks.append((source, track))  # before anything can fail: detach() finds it
            transceiver = self.pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(capabilities_like(codec))
            self._prepare_sender(transceiver.sender, source, codec, track)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        description = self.pc.localDescription
        assert description is not None
        return str(description.sdp)

    async def accept_answer(self, sdp: str) -> None:
        if self.pc.signalingState != "have-local-offer":
            raise Conflict("no offer is waiting for an answer", code="no_pending_offer")
        await apply_remote(self.pc, RTCSessionDescription(sdp=sdp, type="answer"))

    def detach(self) -> None:
        """Stop receiving frames (the connection may stay open a moment longer)."""
        for source, track in self.tracks:
            layered = self.layered.pop(id(track), None)
            if layered is not None:
                layered.close()
            else:
                source.unsubscribe(track)
        self.tracks.clear()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.detach()
        await close_quietly(self.pc)
