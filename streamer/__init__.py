"""The media plane: an SFU that forwards encoded frames and never transcodes.

Imports nothing from ``fanout`` or ``signaling``; those talk to it through ``Streamer``
and the names below, its whole face.
"""

from streamer.aiortc import LOOPBACK, HostAddresses, check_internals, new_peer_connection
from streamer.config import MediaConfig
from streamer.stats import ForwardingStats
from streamer.streamer import Streamer
from streamer.viewer import AnyViewerSession
from streamer.workers.pool import default_worker_count

__all__ = [
    "LOOPBACK",
    "AnyViewerSession",
    "ForwardingStats",
    "HostAddresses",
    "MediaConfig",
    "Streamer",
    "check_internals",
    "default_worker_count",
    "new_peer_connection",
]
