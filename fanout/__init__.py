"""fanout: the social control plane (graph, privacy, threads, inboxes, shares, events).

Imports ``directlive.errors`` only; never ``streamer`` or ``signaling``.
"""

from fanout.events import LiveAudience
from fanout.live_room import LiveRooms
from fanout.memory_store import MemoryStore
from fanout.models import FanoutConfig, LiveInfo, Settings
from fanout.room_models import Comment, RoomConfig, RoomSettings
from fanout.service import Fanout
from fanout.sharing import ShareResult
from fanout.store import Store

__all__ = [
    "Comment",
    "Fanout",
    "FanoutConfig",
    "LiveAudience",
    "LiveInfo",
    "LiveRooms",
    "MemoryStore",
    "RoomConfig",
    "RoomSettings",
    "Settings",
    "ShareResult",
    "Store",
]
