"""Per-viewer RTP forwarding without aiortc's per-packet coroutines.

aiortc's ``RTCRtpSender._run_rtp`` costs a task wake-up per frame and, per packet, an
``RtpPacket`` object, two ``datetime`` NTP computations, header-extension serialization and
four awaited coroutine layers down to the socket. For a forwarding SFU that is most of the
server's CPU. ``RtpForwarder`` replaces only that loop, per sender, and keeps aiortc for
everything else (ICE, DTLS, SRTP keys, RTCP reception, SR/SDES/BYE):

- the sender's ``_run_rtp`` becomes a coroutine that attaches to the ``ViewerTrack`` and
  waits; the track then calls ``_drain`` synchronously whenever it queues a frame, so one
  published frame goes out to every viewer in one pass of ``TrackSource.push``;
- per frame, the header extensions (MID, abs-send-time, as negotiated) are computed once;
  per packet, the header (from this viewer's template) and the payload are written
  straight into a shared buffer and protected there in place with the DTLS transport's
  SRTP session, and the buffer goes to the nominated ICE pair's socket in UDP GSO batches
  (``streamer.forwarding.datagrams``: no coroutine, no bytes object per packet), all of it
  in one C call per viewer and drain when ``_fastsend`` is built; once the viewer is caught
  up, its source's ``ForwardingLane`` sends it each frame from C, with every other caught-up
  viewer, until a send does not go straight out or a periodic check finds something changed;
- the sender's packet/octet counters and last RTP/NTP timestamps are kept up to date, and
  its sender reports (browsers need them for A/V sync) are sent from the worker's one
  ``SenderWheel`` timer instead of aiortc's RTCP task per sender: the same SR and SDES,
  at the same randomized 0.5-1.5 s interval, with the lane's counters folded in first, so
  each SR's NTP/RTP pair is its last packet's; BYE when the sender stops, as aiortc does;
- the last 128 packets can be rebuilt for NACK (their frame's payloads and header fields
  are kept), answered with RTX when negotiated (the sender's ``_retransmit``), and PLI/FIR
  still reach ``ViewerTrack.request_keyframe``;
- when the socket's write buffer backs up, frames stay in the track's bounded queue, which
  drops to the next keyframe as before.

The private aiortc and pylibsrtp state it reads and feeds is reached through the typed
handles of ``streamer.aiortc`` (``SenderHandle``, ``IcePath``, the transport and SRTP
functions), which ``check_internals`` keeps honest.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCDtlsTransport, RTCRtpCodecParameters, RTCRtpSender
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import (
    RTP_HISTORY_SIZE,
    HeaderExtensionsMap,
    RtpPacket,
    wrap_rtx,
)
from aiortc.utils import random32

from streamer.aiortc.packer import packetize
from streamer.aiortc.sender_state import ExtensionTemplate, SenderHandle
from streamer.aiortc.srtp import PROTECT_ADDRESS, srtp_context
from streamer.aiortc.transport_state import (
    IcePath,
    count_sent,
    dtls_connected,
    send_datagram,
    send_rtp,
    srtp_session,
)
from streamer.forwarding import datagrams
from streamer.forwarding.datagrams import (
    RTP_HEADER,
    DatagramWriter,
    Sent,
    UdpGso,
    send_frames,
)
from streamer.forwarding.gcm import rtp_protection
from streamer.forwarding.lane import LaneEntry, lane_available, ntp_time
from streamer.forwarding.wheel import SenderWheel
from streamer.frames import EncodedFrame
from streamer.viewer_track import ViewerTrack

log = logging.getLogger("directlive.streamer")

WRITE_BUFFER_LIMIT = 256 * 1024
"""Bytes the socket's write buffer may hold before this viewer counts as slow."""
LANE_CHECK_INTERVAL = 0.5
"""Seconds between a lane member's checks (and folds of its counters into aiortc's): with
the wheel's tick, how stale a lane member's ``getStats`` counters may be (at most 0.75 s)."""


def report_interval() -> float:
    """Seconds to the next sender report: aiortc's, 0.5 to 1.5 at random."""
    return 0.5 + random.random()


class RtpForwarder:
    """Sends one ``ViewerTrack`` through one aiortc sender's DTLS transport."""

    def __init__(
        self,
        sender: RTCRtpSender,
        track: ViewerTrack,
        mime_type: str,
        on_keyframe_request: Callable[[], None],
        gso: UdpGso | None = None,
    ) -> None:
        self._sender = sender
        self._handle = SenderHandle(sender)
        self._track = track
        self._mime_type = mime_type
        self._done: asyncio.Future[None] | None = None
        self._history: list[Sent | None] = [None] * RTP_HISTORY_SIZE
        """By sequence number modulo the size: the frame each of the last packets was in."""
        self._sequence_number = random_sequence_number()
        self._timestamp_origin = random32()
        self._first_byte = 0x80
        self._payload_type = 0
        self._ssrc = 0
        self._extensions: ExtensionTemplate | None = None
        self._extensions_map = HeaderExtensionsMap()
        self._path: IcePath | None = None
        """Where the DTLS transport's datagrams went when last looked up."""
        self._writer = DatagramWriter(gso or UdpGso())
        self._fallback: set[asyncio.Future[None]] = set()
        self._session: Any = None
        self._srtp: Any = None
        """The libsrtp context of ``_session``, the DTLS transport's SRTP session."""
        self._gcm: Any = None
        """With an AEAD-AES-GCM profile and the C path: the ``GcmSession`` protecting this
        viewer's RTP instead of libsrtp (``streamer.forwarding.gcm``)."""
        self._protect_address = PROTECT_ADDRESS
        self._srtp_address = 0
        """The context ``_protect_address`` protects with: ``_srtp``'s or ``_gcm``'s."""
        self._lane_entry: LaneEntry | None = None
        self._lane_due: float | None = None
        """When the lane entry is checked next (``time.monotonic()``), while in the lane."""
        self._report_due = 0.0
        self._joins_lanes = lane_available() and hasattr(track, "join_lane")
        self.lane_joins = 0
        self.packets_sent = 0
        self.octets_sent = 0
        self.retransmissions = 0
        self._handle.take_over(self._run, self._retransmit, on_keyframe_request)
        self._handle.take_over_reports(self._run_reports)

    @property
    def protected_by(self) -> str:
        """What protects this viewer's RTP: "gcm" (``streamer.forwarding.gcm``), "libsrtp",
        or "" before the first frame."""
        if self._session is None:
            return ""
        return "libsrtp" if self._gcm is None else "gcm"

    @property
    def segmented_sends(self) -> int:
        """``sendmsg`` calls that carried a UDP GSO batch."""
        return self._writer.segmented_sends

    # ---- the sender's RTP task -------------------------------------------------------

    async def _run(self, codec: RTCRtpCodecParameters) -> None:
        """Stands in for ``RTCRtpSender._run_rtp``: sending happens in ``_drain``."""
        handle = self._handle
        handle.rtp_started()
        self._done = asyncio.get_running_loop().create_future()
        try:
            self._payload_type = codec.payloadType or 0
            self._ssrc = handle.ssrc
            self._extensions_map = handle.header_extensions_map
            self._extensions = ExtensionTemplate(self._extensions_map, handle.mid)
            self._first_byte = 0x90 if self._extensions.prefix else 0x80
            self._track.attach(self._drain)
            await self._done
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("RTP forwarder failed")
        finally:
            self._leave_lane()
            self._track.detach()
            self._track.stop()
            for task in list(self._fallback):
                task.cancel()
            handle.rtp_exited()

    async def _run_reports(self) -> None:
        """Stands in for ``RTCRtpSender._run_rtcp``: the wheel calls ``tick``; BYE at the end."""
        handle = self._handle
        handle.rtcp_started()
        wheel = SenderWheel.of(asyncio.get_running_loop())
        self._report_due = time.monotonic() + report_interval()
        wheel.add(self)
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            pass
        finally:
            wheel.discard(self)
        try:
            await handle.send_bye()
        finally:
            handle.rtcp_exited()

    def tick(self, now: float) -> None:
        """The wheel's pass: the lane check and the sender report, when due."""
        if self._lane_due is not None and now >= self._lane_due:
            self._check_lane(now)
        if now >= self._report_due:
            self._report_due = now + report_interval()
            self._send_report()

    def _send_report(self) -> None:
        """One sender report (SR and SDES), from counters brought up to date first."""
        dtls = self._sender.transport
        if not dtls_connected(dtls):
            return
        self._fold_lane()
        data = srtp_session(dtls).protect_rtcp(self._handle.sender_report())
        count_sent(dtls, 1, len(data))
        writer, path = self._writer, self._path
        if writer.transport is not None and path is not None and path.current(dtls):
            writer.transport.sendto(data, writer.address)
        else:
            self._send_later([data])

    def _finish(self) -> None:
        done = self._done
        if done is not None and not done.done():
            done.set_result(None)

    # ---- sending ------------------------------------------------------------------------

    def _drain(self) -> None:
        """Send everything the track has queued; called synchronously by the track."""
        track = self._track
        if track.readyState != "live":
            self._finish()
            return
        if not self._handle.enabled:
            track.take_ready()
            return
        dtls = self._sender.transport
        if not dtls_connected(dtls):
            self._finish()
            return
        try:
            path = self._path
            if path is None or not path.current(dtls):
                self._locate_socket(dtls)
            writer = self._writer
            transport = writer.transport
            buffered = 0 if transport is None else transport.get_write_buffer_size()
            if buffered > WRITE_BUFFER_LIMIT:
                return  # a slow viewer: frames wait in the bounded queue
            ready = track.take_ready()
            if not ready:
                return
            writer.begin(buffered)
            self._send_frames(dtls, ready)
            if self._joins_lanes and writer.direct and track.queued == 0:
                self._join_lane()
        except Exception:
            log.exception("RTP forwarding to a viewer failed")
            self._finish()

    def _send_frames(self, dtls: RTCDtlsTransport, ready: list[tuple[EncodedFrame, int]]) -> None:
        ntp = ntp_time(time.time())
        assert self._extensions is not None
        extensions = self._extensions.render(ntp)
        session = srtp_session(dtls)
        if session is not self._session:
            self._session, self._srtp = session, srtp_context(session)
            self._gcm, self._protect_address, self._srtp_address = rtp_protection(dtls, self._srtp)
        origin, seq, mime_type = self._timestamp_origin, self._sequence_number, self._mime_type
        gap = getattr(self._track, "sequence_gap", 0)
        if gap:
            self._track.sequence_gap = 0
            self._track.skipped = (seq, gap)
            seq = (seq + gap) & 0xFFFF
        frames: list[Sent] = []
        timestamp = 0
        for frame, frame_timestamp in ready:
            payloads = frame.payloads
            if payloads is None:
                payloads = packetize(mime_type, frame)
            timestamp = (origin + frame_timestamp) & 0xFFFFFFFF
            frames.append((seq, payloads, timestamp, extensions))
            seq = (seq + len(payloads)) & 0xFFFF
        writer = self._writer
        header = (self._first_byte, self._payload_type, self._ssrc)
        fast_send = datagrams.FAST_SEND
        if fast_send is None:
            packets, wire_bytes, octets = send_frames(
                writer, self._srtp, header, frames, self._history
            )
        else:
            sock = writer.socket
            leftovers: list[bytes] = []
            packets, wire_bytes, octets, segmented, refused = fast_send.send_frames(
                self._protect_address,
                self._srtp_address,
                sock.fileno() if writer.direct and sock is not None else -1,
                writer.sockaddr,
                writer.max_segments,
                *header,
                frames,
                self._history,
                leftovers,
            )
            writer.segmented_sends += segmented
            if refused:
                writer.gso.refused("by the kernel")
            if leftovers:
                writer.direct = False
                writer.send_leftovers(leftovers)
        self._sequence_number = seq
        if writer.collected:
            self._send_later(writer.collected)
            writer.collected = []
        self._account(dtls, ntp, timestamp, packets, octets, wire_bytes)

    def _account(
        self,
        dtls: RTCDtlsTransport,
        ntp: int,
        timestamp: int,
        packets: int,
        octets: int,
        wire_bytes: int,
    ) -> None:
        """Feed aiortc's sender reports and stats as its own loop would."""
        self.packets_sent += packets
        self.octets_sent += octets
        self._handle.report(ntp, timestamp, self.packets_sent, self.octets_sent)
        count_sent(dtls, packets, wire_bytes)

    # ---- the lane (streamer.forwarding.lane) ------------------------------------------

    def _join_lane(self) -> None:
        """Caught up, with a socket that takes datagrams directly: let the source's lane
        send this viewer's frames from now on."""
        writer, extensions = self._writer, self._extensions
        if (
            self._lane_entry is not None
            or not writer.sockaddr
            or extensions is None
            or writer.transport is None
            or writer.transport.get_write_buffer_size()
        ):
            return
        entry = LaneEntry(
            writer.socket,
            writer.sockaddr,
            writer.max_segments,
            (self._first_byte, self._payload_type, self._ssrc),
            extensions,
            (self._protect_address, self._srtp_address),
            (self._timestamp_origin + getattr(self._track, "timestamp_offset", 0)) & 0xFFFFFFFF,
            self._history,
            self._sequence_number,
        )
        if not self._track.join_lane(entry, self):
            return
        self._lane_entry = entry
        self.lane_joins += 1
        self._lane_due = time.monotonic() + LANE_CHECK_INTERVAL

    def _fold_lane(self) -> None:
        """Bring this forwarder's and aiortc's counters up to date from the lane entry."""
        entry = self._lane_entry
        if entry is None:
            return
        self._sequence_number = entry["sequence"]
        counters = entry.take_counters()
        self._writer.segmented_sends += counters["segmented_sends"]
        if counters["packets"]:
            self._account(
                self._sender.transport,
                counters["last_ntp"],
                counters["last_timestamp"],
                counters["packets"],
                counters["payload_bytes"],
                counters["wire_bytes"],
            )

    def _leave_lane(self) -> None:
        if self._lane_entry is None:
            return
        self._track.leave_lane()
        self._fold_lane()
        self._lane_entry = None
        self._lane_due = None

    def lane_failed(self, leftovers: list[bytes] | None) -> None:
        """The lane could not send straight to this viewer: what it still owes goes
        through the transport, in order, and the queue takes over from the next frame."""
        self._leave_lane()
        if leftovers is None:  # the lane reported why
            self._finish()
            return
        writer = self._writer
        writer.send_leftovers(leftovers)
        if writer.collected:
            self._send_later(writer.collected)
            writer.collected = []

    def _check_lane(self, now: float) -> None:
        """Twice a second: fold the counters, and leave if anything moved under the entry."""
        self._lane_due = None
        if self._lane_entry is None:
            return
        dtls = self._sender.transport
        path = self._path
        if (
            self._track.readyState == "live"
            and self._handle.enabled
            and path is not None
            and path.current(dtls)
            and dtls_connected(dtls)
            and srtp_session(dtls) is self._session
            and self._writer.transport is not None
            and self._writer.transport.get_write_buffer_size() <= WRITE_BUFFER_LIMIT
        ):
            self._fold_lane()
            self._lane_due = now + LANE_CHECK_INTERVAL
            return
        self._leave_lane()
        self._drain()

    def _locate_socket(self, dtls: RTCDtlsTransport) -> None:
        """Write to the nominated pair's datagram transport when nothing stands between it
        and aiortc, else collect for aiortc's ICE transport."""
        path = self._path = IcePath(dtls)
        self._writer.bind(path.transport, path.remote_address)

    def _send_later(self, owed: list[bytes]) -> None:
        """The slow path, through aiortc's ICE transport (a relay or a wrapped send)."""
        dtls: RTCDtlsTransport = self._sender.transport

        async def send() -> None:
            try:
                for data in owed:
                    await send_datagram(dtls, data)
            except ConnectionError:
                self._finish()

        task = asyncio.ensure_future(send())
        self._fallback.add(task)
        task.add_done_callback(self._fallback.discard)

    # ---- NACK ---------------------------------------------------------------------------

    def _rebuild(self, sequence_number: int) -> bytes | None:
        """The RTP packet sent with ``sequence_number``, if it is one of the last 128."""
        self._fold_lane()
        if not 0 < (self._sequence_number - sequence_number) & 0xFFFF <= RTP_HISTORY_SIZE:
            return None
        sent = self._history[sequence_number & (RTP_HISTORY_SIZE - 1)]
        if sent is None:
            return None
        first, payloads, timestamp, extensions = sent
        index = (sequence_number - first) & 0xFFFF
        if index >= len(payloads):
            return None  # left out (a layer switch's gap): its slot holds an older packet
        marker = 0x80 if index == len(payloads) - 1 else 0
        header = RTP_HEADER.pack(
            self._first_byte, marker | self._payload_type, sequence_number, timestamp, self._ssrc
        )
        packet: bytes = header + extensions + payloads[index]
        return packet

    async def _retransmit(self, sequence_number: int) -> None:
        """Stands in for ``RTCRtpSender._retransmit``: resend a packet reported lost."""
        packet = self._rebuild(sequence_number)
        if packet is None:
            return
        rtx_numbers = self._handle.next_rtx()
        if rtx_numbers is not None:
            rtx_payload_type, rtx_sequence_number = rtx_numbers
            rtx = wrap_rtx(
                RtpPacket.parse(packet, self._extensions_map),
                payload_type=rtx_payload_type,
                sequence_number=rtx_sequence_number,
                ssrc=self._handle.rtx_ssrc,
            )
            packet = rtx.serialize(self._extensions_map)
        elif self._gcm is not None:  # the media SSRC's rollover counter lives there
            self.retransmissions += 1
            await send_datagram(self._sender.transport, self._gcm.protect(packet))
            return
        self.retransmissions += 1
        await send_rtp(self._sender.transport, packet)


def forwarder_of(sender: RTCRtpSender) -> RtpForwarder | None:
    """The forwarder installed on ``sender``, if any."""
    owner = SenderHandle(sender).runner_owner()
    return owner if isinstance(owner, RtpForwarder) else None
