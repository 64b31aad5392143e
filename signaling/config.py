"""Server settings, from the command line and the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fanout import RoomConfig
from signaling.ice_servers import IceServerConfig
from streamer import MediaConfig


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``directlive serve`` can be told."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".directlive")
    """Holds the generated signing key when ``DIRECTLIVE_SECRET`` is not set."""
    secret: str | None = None
    """Token signing secret; ``None`` reads or creates ``data_dir/secret.key``."""
    redis_url: str | None = None
    """``redis://...`` selects the Redis store; ``None`` the in-memory one."""
    node_id: str = "node-1"
    node_url: str | None = None
    """Where other nodes reach this one (relay links, forwarded guests); ``None``:
    ``http://HOST:PORT``."""
    cors_origins: tuple[str, ...] = ()
    """Origins allowed to call WHIP/WHEP and the API from scripts; ``*`` allows any."""
    ice_addresses: tuple[str, ...] = ()
    """Host candidate addresses to offer; empty = every interface plus 127.0.0.1."""
    announce_addresses: tuple[str, ...] = ()
    """Public addresses of a 1:1 NAT in front of the server, added to its candidates on the
    ports it listens on (``--announce-ip``, ``signaling.announce``)."""
    ice_servers: IceServerConfig = field(default_factory=IceServerConfig)
    """STUN/TURN servers handed to clients (``Link`` headers, ``/api/ice-servers``)."""
    max_sdp_bytes: int = 64 * 1024
    max_json_bytes: int = 256 * 1024
    max_socket_message_bytes: int = 64 * 1024
    viewer_count_interval: float = 1.0
    """Seconds between viewer-count events of a live (batched: at most one per interval)."""
    max_sessions_per_viewer: int = 4
    """Viewer sessions one user may hold on one live (several devices or participants)."""
    socket_outbox_limit: int = 256
    """Events one socket may have queued before it is told and dropped."""
    media: MediaConfig = field(default_factory=MediaConfig)
    room: RoomConfig = field(default_factory=RoomConfig)
    """Live rooms: guests per live, comment length and rate limits."""
    record_all: bool = False
    """Record every live (``--record``); otherwise a host asks at go-live (``?record=1``)."""
    recording_min_free_bytes: int = 256 * 1024 * 1024
    """Recording stops (``recording.failed`` ``disk_full``) below this much free disk."""
    max_upload_bytes: int = 100 * 1024 * 1024
    """Largest photo or video posted in a thread."""
    dev: bool = False
    """Development mode: ``signaling/dev_routes.py`` serves a user picker that mints tokens."""
    demo: bool = False
    """With ``dev``: seed a demo world at start-up."""
