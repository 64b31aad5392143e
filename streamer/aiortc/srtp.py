"""libsrtp reached through pylibsrtp's private cffi binding, for protecting RTP in place.

pylibsrtp's public ``Session.protect`` copies each packet in and out of its own buffer. The
forwarding path (``streamer.forwarding``) writes packets straight into one buffer and has
libsrtp's ``srtp_protect`` protect them there, with the DTLS transport's own session.
``srtp_broken`` (run by ``check_internals``) reports when a pylibsrtp upgrade moves this.
For the AEAD-AES-GCM profiles the forwarding path can protect RTP without libsrtp
(``streamer.forwarding.gcm``): ``gcm_tx_master_key`` and ``srtp_session_keys`` give it the
session's keys.
"""

from __future__ import annotations

from typing import Any

import pylibsrtp
from aiortc import RTCDtlsTransport
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pylibsrtp._binding import ffi, lib

srtp_protect = lib.srtp_protect
"""``srtp_protect(context, pointer, length)``: protects ``length[0]`` bytes at ``pointer``
in place and sets ``length[0]`` to the protected size (the packet plus its tag)."""
PROTECT_ADDRESS = int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_protect")))
"""``srtp_protect``'s address, for the C forwarding path."""
MAX_TRAILER = pylibsrtp.SRTP_MAX_TRAILER_LEN
"""Bytes SRTP may add to a packet."""
_PROTECT_SIGNATURE = "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"


def srtp_broken() -> str:
    """Why pylibsrtp no longer works as we expect, or "" when it does."""
    try:
        session_context = pylibsrtp.Session()._srtp[0]
        signature = ffi.typeof(srtp_protect).cname
    except (AttributeError, TypeError, IndexError) as exc:
        return f"pylibsrtp internals moved: {exc}"
    if (
        signature != _PROTECT_SIGNATURE
        or ffi.typeof(session_context).cname != "struct srtp_ctx_t_ *"
    ):
        return f"libsrtp's srtp_protect changed: {signature}"
    return ""


def buffer_pointer(buffer: bytearray) -> Any:
    """A C pointer to ``buffer``'s first byte (``pointer + n`` for an offset)."""
    return ffi.from_buffer(buffer)


def new_length_cell() -> Any:
    """An ``int *`` for ``srtp_protect``'s length argument."""
    return ffi.new("int *")


def srtp_context(session: pylibsrtp.Session) -> Any:
    """The libsrtp context of a pylibsrtp session, for ``srtp_protect``."""
    return session._srtp[0]


def context_address(context: Any) -> int:
    """The address of a libsrtp context from ``srtp_context``, for the C forwarding path."""
    return int(ffi.cast("uintptr_t", context))


GCM_KEY_BYTES = {b"SRTP_AEAD_AES_128_GCM": 16, b"SRTP_AEAD_AES_256_GCM": 32}
"""The AEAD-AES-GCM profiles (RFC 7714) and their master key sizes; their salts are 12 bytes."""
GCM_SALT_BYTES = 12
_KDF_ENCRYPTION_KEY, _KDF_SALT = 0x00, 0x02


def gcm_tx_master_key(dtls: RTCDtlsTransport) -> tuple[bytes, bytes] | None:
    """(master key, master salt) ``dtls`` protects outgoing SRTP with, when it negotiated an
    AEAD-AES-GCM profile (else None): the DTLS-SRTP exporter read again, split as aiortc
    splits it for its own sending session."""
    handle: Any = dtls
    ssl = getattr(handle, "_ssl", None)
    if ssl is None or handle._tx_srtp is None:
        return None
    key_bytes = GCM_KEY_BYTES.get(ssl.get_selected_srtp_profile())
    if key_bytes is None:
        return None
    view = ssl.export_keying_material(b"EXTRACTOR-dtls_srtp", 2 * (key_bytes + GCM_SALT_BYTES))
    side = 1 if handle._role == "server" else 0
    key = view[side * key_bytes : (side + 1) * key_bytes]
    salt_start = 2 * key_bytes + side * GCM_SALT_BYTES
    return bytes(key), bytes(view[salt_start : salt_start + GCM_SALT_BYTES])


def srtp_session_keys(master_key: bytes, master_salt: bytes) -> tuple[bytes, bytes]:
    """The SRTP encryption key and salt derived from a master key and salt (RFC 3711 4.3,
    AES-CM PRF, key derivation rate 0; the 96-bit GCM salt zero-padded to 112 bits, as
    libsrtp does)."""
    padded = master_salt.ljust(14, b"\0")

    def derive(label: int, size: int) -> bytes:
        block = bytearray(padded + b"\0\0")
        block[7] ^= label
        encryptor = Cipher(algorithms.AES(master_key), modes.CTR(bytes(block))).encryptor()
        return encryptor.update(bytes(size)) + encryptor.finalize()

    return derive(_KDF_ENCRYPTION_KEY, len(master_key)), derive(_KDF_SALT, len(master_salt))
