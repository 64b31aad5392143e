"""Trickle ICE over HTTP (RFC 9725 section 4.3): the ``application/trickle-ice-sdpfrag``
body of a ``PATCH`` on a WHIP/WHEP session, and the session's ``ETag``.

A fragment is SDP attribute lines, grouped under ``m=`` lines whose ``a=mid`` names the media
section, e.g.::

    a=ice-ufrag:EsAw
    a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1
    m=audio 9 UDP/TLS/RTP/SAVPF 111
    a=mid:0
    a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host
    a=end-of-candidates

The ETag names the session's ICE state. Without ICE restart that never changes, so it is a
keyed hash of the session's URL: nothing to store, nobody can guess another's, and every node
of the deployment computes the same one (the key derives from the node key), so the node
holding the session checks it whichever node answered the offer.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field

from directlive.errors import BadRequest

CONTENT_TYPE = "application/trickle-ice-sdpfrag"
MAX_FRAGMENT_BYTES = 16 * 1024
MAX_CANDIDATES = 64
_SESSION_LINES = ("a=ice-ufrag:", "a=ice-pwd:", "a=ice-options:", "a=group:", "a=ice-lite")
_CANDIDATE = re.compile(
    r"^a=candidate:\S{1,32} \d{1,3} (udp|tcp|UDP|TCP) \d{1,10} \S{1,255} \d{1,5} typ "
    r"(host|srflx|prflx|relay)( \S+)*$"
)


@dataclass(frozen=True)
class TrickledCandidate:
    mid: str | None
    """The ``a=mid`` of the media section it came under; ``None`` before any ``m=`` line."""
    line: str
    """``candidate:...`` without the ``a=``."""


@dataclass(frozen=True)
class Fragment:
    candidates: list[TrickledCandidate] = field(default_factory=list)
    ufrag: str | None = None
    end_of_candidates: bool = False


def parse_fragment(text: str) -> Fragment:
    """Parse a trickle fragment; ``BadRequest`` (``bad_sdpfrag``) for anything malformed."""
    candidates: list[TrickledCandidate] = []
    ufrag: str | None = None
    end = False
    mid: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("m="):
            mid = None
        elif line.startswith("a=mid:"):
            mid = line.removeprefix("a=mid:")
        elif line.startswith("a=candidate:"):
            if not _CANDIDATE.match(line):
                raise BadRequest(f"line {number}: malformed candidate", code="bad_sdpfrag")
            if len(candidates) >= MAX_CANDIDATES:
                raise BadRequest(f"over {MAX_CANDIDATES} candidates", code="bad_sdpfrag")
            candidates.append(TrickledCandidate(mid, line.removeprefix("a=")))
        elif line == "a=end-of-candidates":
            end = True
        elif line.startswith("a=ice-ufrag:"):
            ufrag = line.removeprefix("a=ice-ufrag:")
        elif not line.startswith(_SESSION_LINES):
            raise BadRequest(
                f"line {number}: not part of a trickle-ice-sdpfrag", code="bad_sdpfrag"
            )
    return Fragment(candidates, ufrag, end)


class SessionTags:
    """Entity tags of WHIP/WHEP session URLs, keyed with a key all nodes derive alike."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def etag(self, location: str) -> str:
        digest = hmac.new(self._key, location.encode(), hashlib.sha256).hexdigest()[:32]
        return f'"{digest}"'
