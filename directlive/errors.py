"""The one error tree of directlive.

Every error a caller can see carries a stable machine-readable ``code`` (snake_case) and a
human sentence. Planes raise these; only ``signaling`` maps them to HTTP statuses and socket
error messages (``signaling/errors_http.py``)::

    DirectliveError
    ├── BadRequest          malformed input: JSON, SDP, fields, content type
    │   ├── PayloadTooLarge body or message over its limit
    │   └── UnsupportedMediaType  wrong Content-Type
    ├── Unauthorized        missing, malformed, expired or badly signed token
    ├── Forbidden           authenticated but not allowed (privacy, block, not host, ...)
    ├── NotFound            unknown live, user, thread, session
    ├── Conflict            the state forbids it now (live ended, already member, ...)
    ├── Unsupported         a codec or media shape we cannot serve to this peer
    ├── RateLimited         too many requests from this user
    ├── Unavailable         a dependency (store, media) cannot serve now
    │   └── AiortcInternalsChanged  aiortc/aioice/pylibsrtp moved an internal we rely on
    ├── PreconditionRequired  a conditional request came without its condition (If-Match)
    ├── PreconditionFailed  the condition (an ETag) does not hold
    └── Unimplemented       a standard feature directlive does not offer (ICE restart)
"""

from __future__ import annotations

from typing import ClassVar


class DirectliveError(Exception):
    """Root of every error directlive raises on purpose."""

    default_code: ClassVar[str] = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class BadRequest(DirectliveError):
    default_code = "bad_request"


class PayloadTooLarge(BadRequest):
    default_code = "payload_too_large"


class UnsupportedMediaType(BadRequest):
    default_code = "unsupported_media_type"


class Unauthorized(DirectliveError):
    default_code = "unauthorized"


class Forbidden(DirectliveError):
    default_code = "forbidden"


class NotFound(DirectliveError):
    default_code = "not_found"


class Conflict(DirectliveError):
    default_code = "conflict"


class Unsupported(DirectliveError):
    default_code = "unsupported"


class RateLimited(DirectliveError):
    default_code = "rate_limited"


class Unavailable(DirectliveError):
    default_code = "unavailable"


class AiortcInternalsChanged(Unavailable):
    """aiortc, aioice or pylibsrtp no longer has a private hook the media plane relies on
    (``streamer.aiortc.check_internals``): the pinned versions were changed."""

    default_code = "aiortc_internals_changed"


class PreconditionRequired(DirectliveError):
    default_code = "precondition_required"


class PreconditionFailed(DirectliveError):
    default_code = "precondition_failed"


class Unimplemented(DirectliveError):
    default_code = "unimplemented"


__all__ = [
    "AiortcInternalsChanged",
    "BadRequest",
    "Conflict",
    "DirectliveError",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "PreconditionRequired",
    "RateLimited",
    "Unauthorized",
    "Unavailable",
    "Unimplemented",
    "Unsupported",
    "UnsupportedMediaType",
]
