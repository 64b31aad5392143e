"""The media plane: an SFU that forwards encoded frames and never transcodes.

Imports nothing from ``fanout`` or ``signaling``; those talk to it through ``Streamer``.
"""

from streamer.config import MediaConfig
from streamer.ice import configure_host_addresses
from streamer.live import MediaLive
from streamer.stats import ForwardingStats
from streamer.streamer import Streamer
from streamer.tap import check_aiortc_internals
from streamer.viewer import AnyViewerSession, ViewerSession

__all__ = [
    "AnyViewerSession",
    "ForwardingStats",
    "MediaConfig",
    "MediaLive",
    "Streamer",
    "ViewerSession",
    "check_aiortc_internals",
    "configure_host_addresses",
]
