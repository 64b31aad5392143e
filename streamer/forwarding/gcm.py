"""SRTP AEAD-AES-GCM protection for the forwarding path without libsrtp.

When a viewer's DTLS negotiated an AEAD-AES-GCM profile (aiortc prefers them; Chromium
offers them), its forwarder protects RTP with the C extension ``_srtpgcm`` (OpenSSL, one
prepared cipher context per session, RFC 7714) instead of libsrtp's ``srtp_protect``: no
per-packet stream lookup, replay window or cipher re-initialisation. Every RTP packet of
that viewer's media SSRC then goes through it (the lane, the per-viewer path, and NACK
answers sent without RTX), so its rollover counter has one owner. RTCP and RTX stay with
libsrtp (their own SSRC and index). Off without the extension (built when OpenSSL's headers
were there at install time), without the C forwarding path, or with
``DIRECTLIVE_SRTP_GCM=0``.
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType
from typing import Any

from aiortc import RTCDtlsTransport

from streamer.aiortc.srtp import (
    PROTECT_ADDRESS,
    context_address,
    gcm_tx_master_key,
    srtp_session_keys,
)
from streamer.forwarding import datagrams

log = logging.getLogger("directlive.streamer")

SRTP_GCM_ENV = "DIRECTLIVE_SRTP_GCM"


def _load() -> ModuleType | None:
    if os.environ.get(SRTP_GCM_ENV) == "0":
        return None
    try:
        return importlib.import_module("streamer.forwarding._srtpgcm")
    except ImportError:
        log.info("streamer.forwarding._srtpgcm is not built: libsrtp protects all RTP")
        return None


SRTP_GCM = _load()
"""The extension, or None (not built, or ``DIRECTLIVE_SRTP_GCM=0``)."""


def gcm_session(dtls: RTCDtlsTransport) -> Any:
    """A ``GcmSession`` for what ``dtls`` sends, or None (no extension, not a GCM profile)."""
    if SRTP_GCM is None:
        return None
    master = gcm_tx_master_key(dtls)
    if master is None:
        return None
    return SRTP_GCM.GcmSession(*srtp_session_keys(*master))


GCM_PROTECT_ADDRESS: int = 0 if SRTP_GCM is None else SRTP_GCM.PROTECT_ADDRESS
"""The extension's ``protect`` (srtp_protect's signature), for the C forwarding path."""


def rtp_protection(dtls: RTCDtlsTransport, srtp: Any) -> tuple[Any, int, int]:
    """What protects the media RTP ``dtls`` sends on the forwarding path: ``(GcmSession or
    None, protect function address, its context address)``; ours with an AEAD-AES-GCM
    profile and the C path, else libsrtp with ``srtp``, the session's context."""
    gcm = None if datagrams.FAST_SEND is None else gcm_session(dtls)
    if gcm is None:
        return None, PROTECT_ADDRESS, context_address(srtp)
    return gcm, GCM_PROTECT_ADDRESS, gcm.address
