"""Settings of the media plane."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from streamer.forwarding.datagrams import default_udp_gso

FAST_FORWARDING_ENV = "DIRECTLIVE_FAST_FORWARDING"


def default_fast_forwarding() -> bool:
    """On unless ``DIRECTLIVE_FAST_FORWARDING=0`` (how benchmarks select aiortc's own loop)."""
    return os.environ.get(FAST_FORWARDING_ENV, "1").strip().lower() not in ("0", "false", "no")


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
    workers: int = 0
    """Media worker processes serving viewers (``streamer.workers``); 0 serves them in
    this process. ``directlive serve`` defaults to one per core."""
    ice_addresses: tuple[str, ...] = ()
    """Host candidate addresses this streamer's connections offer, in this process and its
    workers (``streamer.aiortc.ice``); empty: aioice's choice plus 127.0.0.1."""
    udp_port: int | None = None
    """``--udp-port``: every ICE connection of the main process shares this UDP port
    (``streamer.aiortc.udp_mux``) and media worker ``i`` uses ``udp_port + 1 + i``; None: one
    ephemeral port per connection, as aioice does by itself."""
    fast_forwarding: bool = field(default_factory=default_fast_forwarding)
    """Send RTP with ``streamer.forwarding`` (synchronous, one pass per frame for every
    viewer) instead of aiortc's per-packet sender loop fed by our packer."""
    relay_idle_seconds: float = 5.0
    """How long an edge node keeps its relay link of a live after its last viewer left."""
    relay_layer_grace_seconds: float = 5.0
    """How long an edge node keeps taking a layer from its link once nothing there reads it
    (``streamer.relay.edge_feeds``)."""
    udp_gso: bool = field(default_factory=default_udp_gso)
    """Send a frame's equal-sized packets in UDP GSO batches (Linux; off with
    ``DIRECTLIVE_UDP_GSO=0``, and off for the streamer once the kernel refuses it)."""
