"""Plain counters of the media plane, read at scrape time (no locks on the hot path)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ForwardingStats:
    """Totals since the process started, for one ``Streamer``."""

    frames_received: int = 0
    """Complete encoded frames tapped from publishers."""
    frames_forwarded: int = 0
    """Frames handed to viewers' senders (one per viewer per frame)."""
    bytes_forwarded: int = 0
    """Encoded bytes handed to viewers' senders."""
    frames_dropped_slow_viewer: int = 0
    """Frames a viewer never got because its queue was full or it waited for a keyframe."""
    keyframe_requests_upstream: int = 0
    """PLIs sent to publishers, after coalescing and rate limiting."""
    keyframe_requests_from_viewers: int = 0
    """PLI/FIR received from viewers (before coalescing)."""
    udp_unknown_ufrag: int = 0
    """STUN Binding requests at the shared UDP port naming no connection's ufrag (dropped)."""
    udp_stray_datagrams: int = 0
    """Other datagrams at the shared UDP port from an address no connection learned (dropped)."""
    layer_switches_up: int = 0
    """Viewers moved to a higher layer of a participant (``streamer.layers``)."""
    layer_switches_down: int = 0
    """Viewers moved to a lower layer."""
    layer_switch_keyframe_requests: int = 0
    """Keyframes asked of a layer to move a viewer there (before coalescing)."""
    viewers_on_layer_0: int = 0
    """Gauge, counted at each scrape: viewer tracks on the lowest layer of a layered picture."""
    viewers_on_layer_1: int = 0
    viewers_on_layer_2: int = 0
    """On layer 2 or above."""


LAYER_GAUGES = ("viewers_on_layer_0", "viewers_on_layer_1", "viewers_on_layer_2")
