"""STUN/TURN servers handed to clients, with coturn's time-limited TURN credentials.

coturn's ``use-auth-secret`` (the "TURN REST API") accepts the username ``EXPIRY:USER`` (a
Unix time) with the password ``base64(HMAC-SHA1(secret, username))`` until EXPIRY; nothing is
stored on either side. Clients get the list as RFC 9725 section 4.6 ``Link`` headers on WHIP
and WHEP, or as JSON from ``GET /api/ice-servers`` (the shape ``RTCPeerConnection`` takes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass

from directlive.errors import BadRequest

DEFAULT_TURN_TTL = 24 * 3600
_URL = re.compile(r"^(stun|stuns|turn|turns):[^\s<>\",;]+$")


@dataclass(frozen=True)
class IceServerConfig:
    """What ``--stun``, ``--turn``, ``--turn-secret`` and ``--turn-ttl`` said."""

    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    """e.g. ``turn:turn.example.com:3478?transport=udp``, ``...?transport=tcp``."""
    turn_secret: str | None = None
    """coturn's ``static-auth-secret``; required with ``turn_urls``."""
    turn_ttl: int = DEFAULT_TURN_TTL
    """Seconds a minted TURN credential stays valid."""

    def __post_init__(self) -> None:
        for url in (*self.stun_urls, *self.turn_urls):
            if not _URL.match(url):
                raise BadRequest(f"not a STUN/TURN URL: {url!r}", code="bad_ice_server")
        if any(not u.startswith("stun") for u in self.stun_urls):
            raise BadRequest("--stun takes stun: or stuns: URLs", code="bad_ice_server")
        if any(not u.startswith("turn") for u in self.turn_urls):
            raise BadRequest("--turn takes turn: or turns: URLs", code="bad_ice_server")
        if self.turn_urls and not self.turn_secret:
            raise BadRequest("--turn needs --turn-secret", code="bad_ice_server")
        if self.turn_ttl <= 0:
            raise BadRequest("--turn-ttl must be positive", code="bad_ice_server")


@dataclass(frozen=True)
class IceServer:
    """One entry of ``RTCConfiguration.iceServers``."""

    url: str
    username: str | None = None
    credential: str | None = None

    def as_json(self) -> dict[str, str]:
        entry = {"urls": self.url}
        if self.username is not None and self.credential is not None:
            entry["username"] = self.username
            entry["credential"] = self.credential
        return entry

    def as_link(self) -> str:
        """An RFC 9725 ``Link`` header value."""
        value = f'<{self.url}>; rel="ice-server"'
        if self.username is not None and self.credential is not None:
            value += (
                f'; username="{_quoted(self.username)}"'
                f'; credential="{_quoted(self.credential)}"; credential-type="password"'
            )
        return value


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def turn_credential(secret: str, username: str) -> str:
    """coturn's password for ``username``: base64 of HMAC-SHA1 keyed with the secret."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def ice_servers_for(
    user: str, config: IceServerConfig, now: float | None = None
) -> list[IceServer]:
    """The servers to give ``user``: STUN as is, TURN with credentials valid for the TTL."""
    servers = [IceServer(url) for url in config.stun_urls]
    if config.turn_urls:
        assert config.turn_secret is not None  # checked by IceServerConfig
        expiry = int(time.time() if now is None else now) + config.turn_ttl
        username = f"{expiry}:{user}"
        credential = turn_credential(config.turn_secret, username)
        servers.extend(IceServer(url, username, credential) for url in config.turn_urls)
    return servers
