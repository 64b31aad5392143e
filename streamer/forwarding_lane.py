"""The steady-state forwarding lane: one C call sends a frame to every caught-up viewer.

A viewer whose forwarder has nothing queued, a connected DTLS transport and a socket that
takes datagrams directly joins its source's ``ForwardingLane``. From then on each frame of
the source reaches all of the lane's viewers in one ``streamer._fastsend.send_lane`` call,
with no Python per viewer: no queue, no listener, no per-viewer accounting. A lane entry
is a plain list the C code reads and updates in place (sequence number, counters, NACK
history); ``RtpForwarder`` builds it on joining, folds its counters back into aiortc's
sender twice a second (for sender reports and stats), and checks there that nothing
changed under it. A viewer leaves the lane as soon as a send does not go straight out
(its socket is busy: the datagrams it still owes go through the asyncio transport, in
order, and the forwarder's queue with its drop-to-keyframe rule takes over), when its
track stops, or when the check finds its DTLS transport, ICE pair or sender changed.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Protocol

from streamer import srtp_batch
from streamer.frames import EncodedFrame
from streamer.packer import packetize
from streamer.sender_internals import ExtensionTemplate
from streamer.stats import ForwardingStats

LaneEntry = list[Any]
"""The items of one viewer's entry, at the indices below (``_fastsend.c`` reads them)."""
(
    SOCKET,
    ADDRESS,
    MAX_SEGMENTS,
    FIRST_BYTE,
    PAYLOAD_TYPE,
    SSRC,
    EXTENSION_PREFIX,
    EXTENSION_SUFFIX,
    ABS_SEND_TIME,
    CONTEXT,
    TIMESTAMP_ORIGIN,
    HISTORY,
    SEQUENCE,
    PACKETS,
    PAYLOAD_BYTES,
    WIRE_BYTES,
    SEGMENTED_SENDS,
    LAST_NTP,
    LAST_TIMESTAMP,
    ENTRY_SIZE,
) = range(20)
_NTP_EPOCH_OFFSET = 2_208_988_800.0
"""Seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)."""


def ntp_time(now: float) -> int:
    """64-bit NTP timestamp of a Unix time (what ``aiortc.clock.current_ntp_time`` returns),
    to within a microsecond (a double's precision)."""
    return int((now + _NTP_EPOCH_OFFSET) * 4294967296.0)


class LaneMember(Protocol):
    """What a lane calls back: the forwarder that owns an entry."""

    def lane_failed(self, leftovers: list[bytes] | None) -> None: ...


def new_entry(
    sock: socket.socket | None,
    address: bytes,
    max_segments: int,
    header: tuple[int, int, int],
    extensions: ExtensionTemplate,
    context: int,
    timestamp_origin: int,
    history: list[Any],
    sequence_number: int,
) -> LaneEntry:
    """A viewer's entry: ``header`` is (first byte, payload type, SSRC); ``history`` is the
    forwarder's own NACK history, which the lane keeps filling."""
    first_byte, payload_type, ssrc = header
    entry: LaneEntry = [0] * ENTRY_SIZE
    entry[SOCKET] = sock
    entry[ADDRESS] = address
    entry[MAX_SEGMENTS] = max_segments
    entry[FIRST_BYTE] = first_byte
    entry[PAYLOAD_TYPE] = payload_type
    entry[SSRC] = ssrc
    entry[EXTENSION_PREFIX] = extensions.prefix
    entry[EXTENSION_SUFFIX] = extensions.suffix
    entry[ABS_SEND_TIME] = extensions.has_abs_send_time
    entry[CONTEXT] = context
    entry[TIMESTAMP_ORIGIN] = timestamp_origin
    entry[HISTORY] = history
    entry[SEQUENCE] = sequence_number
    return entry


def lane_available() -> bool:
    """Whether the C forwarding path is built (and not turned off)."""
    fast_send = srtp_batch.FAST_SEND
    return fast_send is not None and getattr(fast_send, "LANE_ENTRY_SIZE", 0) == ENTRY_SIZE


class ForwardingLane:
    """The viewers of one ``TrackSource`` that are sent each frame from C."""

    def __init__(self, mime_type: str, stats: ForwardingStats) -> None:
        self._mime_type = mime_type
        self._stats = stats
        self._entries: list[LaneEntry] = []
        self._members: dict[int, LaneMember] = {}
        """The owner of each entry, by ``id(entry)``."""

    def __len__(self) -> int:
        return len(self._entries)

    def join(self, entry: LaneEntry, member: LaneMember) -> None:
        if len(entry) != ENTRY_SIZE:
            raise ValueError("a lane entry has ENTRY_SIZE items")
        if id(entry) not in self._members:
            self._entries.append(entry)
            self._members[id(entry)] = member

    def leave(self, entry: LaneEntry) -> None:
        if self._members.pop(id(entry), None) is not None:
            # By identity: list.remove would compare entries item by item.
            self._entries = [other for other in self._entries if other is not entry]

    def send(self, frame: EncodedFrame) -> None:
        """``frame`` to every entry; entries whose send did not go straight out leave."""
        fast_send = srtp_batch.FAST_SEND
        entries = self._entries
        if fast_send is None or not entries:
            return
        payloads = frame.payloads
        if payloads is None:
            payloads = packetize(self._mime_type, frame)
        ntp = ntp_time(time.time())
        failed: list[tuple[LaneEntry, list[bytes] | None]] = []
        refused = fast_send.send_lane(
            srtp_batch.PROTECT_ADDRESS, entries, payloads, frame.timestamp, ntp, failed
        )
        stats = self._stats
        stats.frames_forwarded += len(entries)
        stats.bytes_forwarded += len(entries) * len(frame.data)
        if refused:
            srtp_batch.DatagramWriter.gso_refused()
            for entry in entries:
                entry[MAX_SEGMENTS] = 1
        for entry, leftovers in failed:
            member = self._members.get(id(entry))
            self.leave(entry)
            if member is not None:
                member.lane_failed(leftovers)
