"""Counters of the relay links of one node (read at scrape time)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RelayStats:
    frames_sent: int = 0
    """Frames this node, as an origin, wrote to relay links (one per link per frame)."""
    frames_received: int = 0
    """Frames this node, as an edge, received from origins."""
    frames_dropped: int = 0
    """Frames an origin did not write because a link fell behind (video: to the next keyframe)."""
    frames_held_back: int = 0
    """Frames an origin did not write because the edge dropped that layer (none of its
    viewers was on it)."""
    layers_dropped: int = 0
    """Times this node, as an edge, stopped taking a layer none of its viewers read."""
    links_opened: int = 0
    """Relay links this node opened to origins, reconnections included."""
