"""libsrtp reached through pylibsrtp's private cffi binding, for protecting RTP in place.

pylibsrtp's public ``Session.protect`` copies each packet in and out of its own buffer. The
forwarding path (``streamer.forwarding``) writes packets straight into one buffer and has
libsrtp's ``srtp_protect`` protect them there, with the DTLS transport's own session.
``srtp_broken`` (run by ``check_internals``) reports when a pylibsrtp upgrade moves this.
"""

from __future__ import annotations

from typing import Any

import pylibsrtp
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
