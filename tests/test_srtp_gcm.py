"""``streamer.forwarding._srtpgcm`` protects RTP exactly as libsrtp does (RFC 7714), byte for
byte, for the same master key and packets: headers with CSRCs and extensions, a sequence
number wrap (the rollover counter), an older packet resent after it, several SSRCs."""

from __future__ import annotations

import os
import struct

import pytest
from pylibsrtp import Policy, Session

from streamer.aiortc.srtp import GCM_SALT_BYTES, srtp_session_keys
from streamer.forwarding.gcm import SRTP_GCM

PROFILES = {16: Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 32: Policy.SRTP_PROFILE_AEAD_AES_256_GCM}


def _packet(seq: int, ssrc: int, payload: bytes, csrcs: int = 0, extension: bool = False) -> bytes:
    first = 0x80 | csrcs | (0x10 if extension else 0)
    header = struct.pack("!BBHII", first, 96, seq, seq * 3000, ssrc)
    header += b"".join(struct.pack("!I", 0xC0000000 + i) for i in range(csrcs))
    if extension:  # one-byte extensions: abs-send-time (3 bytes) and one of 2, padded
        header += struct.pack("!HH", 0xBEDE, 2) + bytes([0x22, 1, 2, 3, 0x31, 9, 8, 0])
    return header + payload


def _packets() -> list[bytes]:
    packets = []
    for step, seq in enumerate([*range(65_530, 65_536), *range(0, 6), 65_534, 7]):
        ssrc = 0x11223344 if step % 3 else 0x55667788
        payload = os.urandom(1 + step * 37)
        packets.append(_packet(seq, ssrc, payload, csrcs=step % 2, extension=step % 4 < 2))
    packets.append(_packet(9, 0x11223344, b""))
    return packets


@pytest.mark.parametrize("key_bytes", [16, 32])
def test_protects_as_libsrtp_does(key_bytes: int) -> None:
    assert SRTP_GCM is not None, "streamer.forwarding._srtpgcm was not built (OpenSSL headers?)"
    master_key, master_salt = os.urandom(key_bytes), os.urandom(GCM_SALT_BYTES)
    policy = Policy(
        key=master_key + master_salt,
        ssrc_type=Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=PROFILES[key_bytes],
    )
    policy.allow_repeat_tx = True
    libsrtp = Session(policy)
    ours = SRTP_GCM.GcmSession(*srtp_session_keys(master_key, master_salt))
    for packet in _packets():
        assert ours.protect(packet) == libsrtp.protect(packet), packet[:4].hex()


def test_refuses_what_is_not_rtp() -> None:
    assert SRTP_GCM is not None
    session = SRTP_GCM.GcmSession(os.urandom(16), os.urandom(GCM_SALT_BYTES))
    with pytest.raises(ValueError, match="RTP"):
        session.protect(b"\x80\x60\x00")
    with pytest.raises(ValueError, match="salt"):
        SRTP_GCM.GcmSession(os.urandom(16), os.urandom(14))
