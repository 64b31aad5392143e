"""One participant publishing into a live: its peer connection and its track sources."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiortc import RTCRtpCodecParameters, RTCRtpReceiver

from directlive.errors import BadRequest
from streamer.aiortc.codec_choice import pin_publisher_codec
from streamer.aiortc.ice import HostAddresses
from streamer.aiortc.interop import replace_consent_with_inactivity, resend_first_dtls_flight
from streamer.aiortc.peer import (
    add_remote_candidate,
    apply_offer,
    close_quietly,
    make_answer,
    new_peer_connection,
)
from streamer.aiortc.tap import receives_track, send_picture_loss, tap_receiver
from streamer.aiortc.udp_mux import UdpMux
from streamer.forwarding.datagrams import UdpGso
from streamer.layers.answer import layered_answer
from streamer.layers.layer_set import LayerSet
from streamer.layers.offer import layer_groups
from streamer.source import TrackSource
from streamer.stats import ForwardingStats

log = logging.getLogger("directlive.streamer")


class PublisherSession:
    """Receives one participant's tracks and turns each into a ``TrackSource``."""

    def __init__(
        self,
        *,
        live_id: str,
        participant: str,
        stats: ForwardingStats,
        on_connection_lost: Callable[[PublisherSession], None],
        host_addresses: HostAddresses,
        gso: UdpGso | None = None,
        keyframe_interval: float = 1.0,
        viewer_queue_limit: int = 240,
        consent_by_inactivity: bool = False,
        udp_mux: UdpMux | None = None,
    ) -> None:
        self.live_id = live_id
        self.participant = participant
        self.pc = new_peer_connection(host_addresses, udp_mux)
        self._gso = gso or UdpGso()
        self.sources: list[TrackSource] = []
        self.layer_sets: list[LayerSet] = []
        """Video tracks offered as layers of one picture (``streamer.layers.offer``)."""
        self.codecs: dict[str, RTCRtpCodecParameters] = {}
        self._stats = stats
        self._on_connection_lost = on_connection_lost
        self._keyframe_interval = keyframe_interval
        self._viewer_queue_limit = viewer_queue_limit
        self._consent_by_inactivity = consent_by_inactivity
        self._pli_tasks: set[asyncio.Future[None]] = set()
        self.connected = asyncio.Event()
        self.pc.on("connectionstatechange", self._on_state_change)

    async def answer(self, offer_sdp: str) -> str:
        """Accept the publisher's offer; every received track is tapped, never decoded."""
        await apply_offer(self.pc, offer_sdp)
        by_mid: dict[str, TrackSource] = {}
        for transceiver in self.pc.getTransceivers():
            if not receives_track(transceiver.receiver):
                continue
            codec = pin_publisher_codec(transceiver)
            source = TrackSource(
                track_id=f"{self.participant}-{transceiver.kind}-{transceiver.mid}",
                participant=self.participant,
                kind=transceiver.kind,
                mime_type=codec.mimeType,
                stats=self._stats,
                request_upstream_keyframe=self._keyframe_requester(transceiver.receiver),
                keyframe_interval=self._keyframe_interval,
                viewer_queue_limit=self._viewer_queue_limit,
                gso=self._gso,
            )
            tap_receiver(transceiver.receiver, self._frame_sink(source))
            self.sources.append(source)
            self.codecs[source.track_id] = codec
            if transceiver.kind == "video" and transceiver.mid is not None:
                by_mid[transceiver.mid] = source
        if not self.sources:
            raise BadRequest("the offer publishes no audio or video track", code="no_media")
        for mids in layer_groups(offer_sdp, list(by_mid)):
            try:
                self.layer_sets.append(LayerSet([by_mid[mid] for mid in mids]))
            except ValueError as exc:
                log.warning(
                    "live=%s user=%s tracks not layered: %s", self.live_id, self.participant, exc
                )
        if self._consent_by_inactivity:
            replace_consent_with_inactivity(self.pc)
        resend_first_dtls_flight(self.pc)
        layer_mids = {
            mid for layers in self.layer_sets for mid, s in by_mid.items() if s in layers.sources
        }
        return layered_answer(await make_answer(self.pc), layer_mids)

    @property
    def viewer_sources(self) -> list[TrackSource]:
        """The tracks a viewer is offered: each layer set stands as its first m-line's."""
        others = {id(s) for layers in self.layer_sets for s in layers.sources[1:]}
        return [source for source in self.sources if id(source) not in others]

    @property
    def best_sources(self) -> list[TrackSource]:
        """One track per picture, the best layer of a layered one (recording, relays)."""
        best = {id(layers.primary): layers.top() for layers in self.layer_sets}
        return [best.get(id(source), source) for source in self.viewer_sources]

    def codec_of(self, source: TrackSource) -> RTCRtpCodecParameters:
        return self.codecs[source.track_id]

    async def add_candidate(self, candidate: str, sdp_mid: str | None) -> None:
        """Trickle ICE from the publisher."""
        await add_remote_candidate(self.pc, candidate, sdp_mid)

    @staticmethod
    def _frame_sink(source: TrackSource) -> Callable[[RTCRtpCodecParameters, bytes, int], None]:
        def sink(codec: RTCRtpCodecParameters, data: bytes, timestamp: int) -> None:
            source.push(data, timestamp)

        return sink

    def _keyframe_requester(self, receiver: RTCRtpReceiver) -> Callable[[], None]:
        def request() -> None:
            task = asyncio.ensure_future(send_picture_loss(receiver))
            self._pli_tasks.add(task)
            task.add_done_callback(self._pli_tasks.discard)

        return request

    def _on_state_change(self) -> None:
        state = self.pc.connectionState
        log.debug("publisher %s of live %s: %s", self.participant, self.live_id, state)
        if state == "connected":
            self.connected.set()
        elif state in ("failed", "closed"):
            self._on_connection_lost(self)

    async def close(self) -> None:
        for layers in self.layer_sets:
            layers.close()
        for source in self.sources:
            source.close()
        await close_quietly(self.pc)
        for task in list(self._pli_tasks):
            task.cancel()
