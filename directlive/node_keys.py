"""What the nodes of one deployment share to trust each other: a key derived from the secret
that signs user tokens (``DIRECTLIVE_SECRET``), never a user token.

``node_key`` derives it (HKDF-SHA256); ``sign_request`` / ``verify_request`` authenticate an
internal HTTP call between nodes (HMAC over the node, the time, a random nonce, the method, the
path and the body's hash). The receiver claims the nonce once in the shared store, so a captured
call is not accepted twice (``signaling.node_auth``). ``derived_key`` gives keys for other uses
of the same secret (session ETags and session ids). The relay link derives its own per-link keys
from the node key (``streamer.relay.cipher``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NODE_KEY_INFO = b"directlive node key v1"
REQUEST_MAX_AGE = 30.0
"""Seconds a signed internal request stays acceptable (clocks of nodes roughly agree)."""
NONCE_MARGIN = 5.0
"""Seconds a claimed nonce is kept beyond the last moment its signature is acceptable."""
NODE_HEADER = "X-Directlive-Node"
TIME_HEADER = "X-Directlive-Time"
NONCE_HEADER = "X-Directlive-Nonce"
SIGNATURE_HEADER = "X-Directlive-Signature"


@dataclass(frozen=True)
class SignedCall:
    node: str
    """The calling node's id."""
    nonce: str
    """Random per call: claimed once by the receiver."""
    keep_nonce: float
    """Seconds the receiver must remember the nonce (the signature's remaining life, plus
    ``NONCE_MARGIN``)."""


def node_key(secret: str) -> bytes:
    """The 32-byte key every node of a deployment derives from the same token secret."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=NODE_KEY_INFO)
    return hkdf.derive(secret.encode())


def derived_key(key: bytes, purpose: str) -> bytes:
    """A key for one ``purpose``, the same on every node (separate from request signing)."""
    return hmac.new(key, f"directlive {purpose} v1".encode(), hashlib.sha256).digest()


def _mac(key: bytes, node: str, at: str, nonce: str, method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256(body).hexdigest()
    text = "\n".join((node, at, nonce, method.upper(), path, digest)).encode()
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def sign_request(key: bytes, node: str, method: str, path: str, body: bytes) -> dict[str, str]:
    """Headers proving that ``node`` (holding the node key) sends this request now, once."""
    at = f"{time.time():.3f}"
    nonce = secrets.token_hex(16)
    return {
        NODE_HEADER: node,
        TIME_HEADER: at,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: _mac(key, node, at, nonce, method, path, body),
    }


def verify_request(
    key: bytes, headers: dict[str, str], method: str, path: str, body: bytes
) -> SignedCall | None:
    """The call's node and nonce when the headers sign this request recently enough, else
    None. The caller still has to claim the nonce (a replay verifies too)."""
    node = headers.get(NODE_HEADER, "")
    at = headers.get(TIME_HEADER, "")
    nonce = headers.get(NONCE_HEADER, "")
    signature = headers.get(SIGNATURE_HEADER, "")
    try:
        sent = float(at)
    except ValueError:
        return None
    age = time.time() - sent
    if not node or not 16 <= len(nonce) <= 64 or abs(age) > REQUEST_MAX_AGE:
        return None
    expected = _mac(key, node, at, nonce, method, path, body)
    if not hmac.compare_digest(expected, signature):
        return None
    return SignedCall(node, nonce, REQUEST_MAX_AGE - age + NONCE_MARGIN)
