"""Viewer session ids that name the node holding the session, so any node can route a
follow-up (``PATCH``/``DELETE /whep/{live_id}/{session_id}``) to it without shared state:
``{random}.{node id, base64url}.{tag}``, the tag a MAC with a key every node derives from the
node key. Only a node of the deployment mints one; a made-up or altered id names no node."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from directlive.node_keys import derived_key

TAG_CHARS = 22


class SessionIds:
    def __init__(self, node_id: str, node_key: bytes) -> None:
        self._node = node_id
        self._key = derived_key(node_key, "session ids")

    def mint(self) -> str:
        """A new session id naming this node."""
        random = secrets.token_urlsafe(12)
        node = base64.urlsafe_b64encode(self._node.encode()).decode().rstrip("=")
        return f"{random}.{node}.{self._tag(random, node)}"

    def holder(self, session_id: str) -> str | None:
        """The node that minted ``session_id``, or None for an id no node minted."""
        parts = session_id.split(".")
        if len(parts) != 3:
            return None
        random, node, tag = parts
        if not hmac.compare_digest(tag.encode(), self._tag(random, node).encode()):
            return None
        try:
            return base64.urlsafe_b64decode(node + "=" * (-len(node) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None

    def _tag(self, random: str, node: str) -> str:
        mac = hmac.new(self._key, f"{random}.{node}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode()[:TAG_CHARS]
