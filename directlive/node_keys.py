"""What the nodes of one deployment share to trust each other: a key derived from the secret
that signs user tokens (``DIRECTLIVE_SECRET``), never a user token.

``node_key`` derives it (HKDF-SHA256); ``sign_request`` / ``verify_request`` authenticate an
internal HTTP call between nodes (HMAC over the node, the time, the method, the path and the
body's hash). The relay link derives its own per-link keys from the same node key
(``streamer.relay.cipher``).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NODE_KEY_INFO = b"directlive node key v1"
REQUEST_MAX_AGE = 30.0
"""Seconds a signed internal request stays acceptable (clocks of nodes roughly agree)."""
NODE_HEADER = "X-Directlive-Node"
TIME_HEADER = "X-Directlive-Time"
SIGNATURE_HEADER = "X-Directlive-Signature"


def node_key(secret: str) -> bytes:
    """The 32-byte key every node of a deployment derives from the same token secret."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=NODE_KEY_INFO)
    return hkdf.derive(secret.encode())


def _mac(key: bytes, node: str, at: str, method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256(body).hexdigest()
    text = "\n".join((node, at, method.upper(), path, digest)).encode()
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def sign_request(key: bytes, node: str, method: str, path: str, body: bytes) -> dict[str, str]:
    """Headers proving that ``node`` (holding the node key) sends this request now."""
    at = f"{time.time():.3f}"
    return {
        NODE_HEADER: node,
        TIME_HEADER: at,
        SIGNATURE_HEADER: _mac(key, node, at, method, path, body),
    }


def verify_request(
    key: bytes, headers: dict[str, str], method: str, path: str, body: bytes
) -> str | None:
    """The calling node's id when the headers sign this request recently enough, else None."""
    node = headers.get(NODE_HEADER, "")
    at = headers.get(TIME_HEADER, "")
    signature = headers.get(SIGNATURE_HEADER, "")
    try:
        sent = float(at)
    except ValueError:
        return None
    if not node or abs(time.time() - sent) > REQUEST_MAX_AGE:
        return None
    expected = _mac(key, node, at, method, path, body)
    return node if hmac.compare_digest(expected, signature) else None
