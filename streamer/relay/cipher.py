"""Encryption and authentication of one relay link (AES-256-GCM, one key per direction).

The origin opens the link by sending a fresh nonce in clear; both sides derive the link's two
keys with HKDF from the node key every node shares, the live id and both nonces. Every later
message is sealed with its direction's key under a counter nonce (0, 1, 2... per direction),
so a message replayed, reordered or dropped fails to open, and only a node holding the node key
can produce the first message the other side accepts: that is the authentication.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 16
_INFO = b"directlive relay link v1 "


class LinkRefused(Exception):
    """A message that does not open with the link's key: a wrong node key, or tampering."""


class LinkCipher:
    """Seals what one side sends and opens what it receives, in order."""

    def __init__(self, send_key: bytes, receive_key: bytes) -> None:
        self._send = AESGCM(send_key)
        self._receive = AESGCM(receive_key)
        self._sent = 0
        self._received = 0

    def seal(self, plaintext: bytes) -> bytes:
        nonce = self._sent.to_bytes(12, "big")
        self._sent += 1
        return self._send.encrypt(nonce, plaintext, None)

    def open(self, sealed: bytes) -> bytes:
        nonce = self._received.to_bytes(12, "big")
        try:
            plaintext = self._receive.decrypt(nonce, sealed, None)
        except InvalidTag as exc:
            raise LinkRefused("a relay message did not authenticate") from exc
        self._received += 1
        return plaintext


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def link_ciphers(
    node_key: bytes, live_id: str, edge_nonce: bytes, origin_nonce: bytes
) -> tuple[LinkCipher, LinkCipher]:
    """``(edge side, origin side)`` ciphers of one link."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=64,
        salt=edge_nonce + origin_nonce,
        info=_INFO + live_id.encode(),
    )
    keys = hkdf.derive(node_key)
    to_origin, to_edge = keys[:32], keys[32:]
    return LinkCipher(to_origin, to_edge), LinkCipher(to_edge, to_origin)
