"""The steady-state forwarding lane: one C call sends a frame to every caught-up viewer.

A viewer whose forwarder has nothing queued, a connected DTLS transport and a socket that
takes datagrams directly joins its source's ``ForwardingLane``. From then on each frame of
the source reaches all of the lane's viewers in one ``_fastsend.send_lane`` call, with no
Python per viewer: no queue, no listener, no per-viewer accounting. A ``LaneEntry`` is the
list the C code reads and updates in place (sequence number, counters, NACK history); its
fields are defined once, in ``_fastsend.c`` (``LANE_ENTRY_FIELDS``), and named here from
the module's ``LANE_FIELDS``. ``RtpForwarder`` builds it on joining, folds its counters back
into aiortc's sender twice a second (for sender reports and stats), and checks there that
nothing changed under it. A viewer leaves the lane as soon as a send does not go straight
out (its socket is busy: the datagrams it still owes go through the asyncio transport, in
order, and the forwarder's queue with its drop-to-keyframe rule takes over), when its track
stops, when the check finds its DTLS transport, ICE pair or sender changed, or when sending
to its entry failed (reported, and only that viewer is dropped).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Hashable, KeysView
from typing import Any, Protocol

from streamer.aiortc.packer import packetize
from streamer.aiortc.sender_state import ExtensionTemplate
from streamer.aiortc.srtp import PROTECT_ADDRESS
from streamer.forwarding import datagrams
from streamer.forwarding.datagrams import UdpGso
from streamer.frames import EncodedFrame
from streamer.stats import ForwardingStats

log = logging.getLogger("directlive.streamer")

_NTP_EPOCH_OFFSET = 2_208_988_800.0
"""Seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)."""
COUNTERS = ("packets", "payload_bytes", "wire_bytes", "segmented_sends")
"""The entry's counters the C code adds to and ``take_counters`` resets."""
PYTHON_FIELDS = frozenset(
    {
        "socket",
        "address",
        "max_segments",
        "first_byte",
        "payload_type",
        "ssrc",
        "extension_prefix",
        "extension_suffix",
        "abs_send_time",
        "protect",
        "context",
        "timestamp_origin",
        "history",
        "sequence",
        *COUNTERS,
        "last_ntp",
        "last_timestamp",
    }
)
"""The fields this module fills and reads; the C module's ``LANE_FIELDS`` must be these."""


def ntp_time(now: float) -> int:
    """64-bit NTP timestamp of a Unix time (what ``aiortc.clock.current_ntp_time`` returns),
    to within a microsecond (a double's precision)."""
    return int((now + _NTP_EPOCH_OFFSET) * 4294967296.0)


def _lane_fields() -> tuple[str, ...]:
    fast_send = datagrams.FAST_SEND
    fields = tuple(getattr(fast_send, "LANE_FIELDS", ()))
    return fields if set(fields) == PYTHON_FIELDS and len(fields) == len(PYTHON_FIELDS) else ()


LANE_FIELDS = _lane_fields()
"""The C entry's layout, in order (empty when the C path is not built or does not match)."""
_INDEX = {name: index for index, name in enumerate(LANE_FIELDS)}


def lane_available() -> bool:
    """Whether the C forwarding path is built (and not turned off), with our entry layout."""
    return datagrams.FAST_SEND is not None and bool(LANE_FIELDS)


class LaneEntry:
    """One viewer's entry: ``items`` is what the C lane reads and updates in place."""

    __slots__ = ("items",)

    def __init__(
        self,
        sock: socket.socket | None,
        address: bytes,
        max_segments: int,
        header: tuple[int, int, int],
        extensions: ExtensionTemplate,
        protection: tuple[int, int],
        timestamp_origin: int,
        history: list[Any],
        sequence_number: int,
    ) -> None:
        """``header`` is (first byte, payload type, SSRC); ``protection`` is (protect
        function's address, its context's address); ``history`` is the forwarder's own NACK
        history, which the lane keeps filling."""
        protect, context = protection
        first_byte, payload_type, ssrc = header
        values: dict[str, Any] = {
            "socket": sock,
            "address": address,
            "max_segments": max_segments,
            "first_byte": first_byte,
            "payload_type": payload_type,
            "ssrc": ssrc,
            "extension_prefix": extensions.prefix,
            "extension_suffix": extensions.suffix,
            "abs_send_time": extensions.has_abs_send_time,
            "protect": protect,
            "context": context,
            "timestamp_origin": timestamp_origin,
            "history": history,
            "sequence": sequence_number,
            "last_ntp": 0,
            "last_timestamp": 0,
            **dict.fromkeys(COUNTERS, 0),
        }
        self.items: list[Any] = [values[name] for name in LANE_FIELDS]

    def __getitem__(self, name: str) -> Any:
        return self.items[_INDEX[name]]

    def __setitem__(self, name: str, value: Any) -> None:
        self.items[_INDEX[name]] = value

    def take_counters(self) -> dict[str, int]:
        """The counters since the last take (and the last packet's NTP and RTP times)."""
        items = self.items
        taken = {name: int(items[_INDEX[name]]) for name in COUNTERS}
        for name in COUNTERS:
            items[_INDEX[name]] = 0
        taken["last_ntp"] = int(items[_INDEX["last_ntp"]])
        taken["last_timestamp"] = int(items[_INDEX["last_timestamp"]])
        return taken


class LaneMember(Protocol):
    """What a lane calls back: the forwarder that owns an entry."""

    def lane_failed(self, leftovers: list[bytes] | None) -> None:
        """Left the lane: the datagrams still owed, in order, or None after an error."""


class ForwardingLane:
    """The viewers of one ``TrackSource`` that are sent each frame from C, by viewer key."""

    def __init__(self, mime_type: str, stats: ForwardingStats, gso: UdpGso) -> None:
        self._mime_type = mime_type
        self._stats = stats
        self._gso = gso
        self._items: list[list[Any]] = []
        """Every member's ``LaneEntry.items``, what ``send_lane`` walks."""
        self._members: dict[Hashable, tuple[LaneEntry, LaneMember]] = {}
        self._keys: dict[int, Hashable] = {}
        """The key of each member, by ``id`` of its entry's items."""

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._members

    @property
    def keys(self) -> KeysView[Hashable]:
        """The members' keys (a live view)."""
        return self._members.keys()

    def join(self, key: Hashable, entry: LaneEntry, member: LaneMember) -> None:
        if key in self._members:
            return
        self._items.append(entry.items)
        self._members[key] = (entry, member)
        self._keys[id(entry.items)] = key

    def leave(self, key: Hashable) -> None:
        joined = self._members.pop(key, None)
        if joined is not None:
            items = joined[0].items
            del self._keys[id(items)]
            # By identity: list.remove would compare entries item by item.
            self._items = [other for other in self._items if other is not items]

    def release(self, key: Hashable) -> None:
        """``key`` leaves, its member told as if its socket were busy (nothing owed)."""
        self._drop(key, [])

    def send(self, frame: EncodedFrame) -> None:
        """``frame`` to every entry; entries whose send did not go straight out, or failed,
        leave (each on its own: the others are sent the frame all the same)."""
        fast_send = datagrams.FAST_SEND
        items = self._items
        if fast_send is None or not items:
            return
        payloads = frame.payloads
        if payloads is None:
            payloads = packetize(self._mime_type, frame)
        ntp = ntp_time(time.time())
        failed: list[tuple[list[Any], list[bytes] | BaseException]] = []
        try:
            refused = fast_send.send_lane(
                PROTECT_ADDRESS, items, payloads, frame.timestamp, ntp, failed
            )
        except Exception:
            log.exception("the forwarding lane failed; its viewers go back to their queues")
            for key in list(self._members):
                self._drop(key, [])
            return
        stats = self._stats
        stats.frames_forwarded += len(items)
        stats.bytes_forwarded += len(items) * len(frame.data)
        if refused:
            self._gso.refused("by the kernel")
            for entry, _ in self._members.values():
                entry["max_segments"] = 1
        for entry_items, report in failed:
            key = self._keys.get(id(entry_items))
            if key is None:
                continue
            if isinstance(report, BaseException):
                log.error("RTP forwarding to a viewer failed: %r; it is dropped", report)
                self._drop(key, None)
            else:
                self._drop(key, report)

    def _drop(self, key: Hashable, leftovers: list[bytes] | None) -> None:
        joined = self._members.get(key)
        self.leave(key)
        if joined is not None:
            joined[1].lane_failed(leftovers)
