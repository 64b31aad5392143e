"""Bearer tokens: HS256 JWTs signed with the server secret."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from pathlib import Path
from typing import TypeGuard

import jwt

from directlive.errors import BadRequest, Unauthorized

USER_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")
"""The whole of a user id (matched with ``fullmatch``: ``$`` would let a final newline in)."""
DEFAULT_TTL = 7 * 24 * 3600
MAX_TTL = 366 * 24 * 3600
"""Longest token lifetime minted or accepted: a year and a day."""
ISSUER = "directlive"
LEEWAY = 60
"""Seconds of clock difference tolerated on a token's lifetime."""


def is_user_id(user: object) -> TypeGuard[str]:
    """Whether ``user`` is a valid user id: every door (tokens, bodies, dev sign-in) asks this."""
    return isinstance(user, str) and USER_ID.fullmatch(user) is not None


def validate_user_id(user: str) -> str:
    if not is_user_id(user):
        raise BadRequest(
            "user ids are 1-32 of a-z 0-9 _ . - starting with a letter or digit",
            code="bad_user_id",
        )
    return user


def validate_ttl(ttl: int) -> int:
    """A token lifetime someone means: 1 s to ``MAX_TTL``."""
    if not 1 <= ttl <= MAX_TTL:
        raise BadRequest(f"a token lives 1 to {MAX_TTL} seconds", code="bad_ttl")
    return ttl


def load_secret(secret: str | None, data_dir: Path) -> str:
    """The signing secret: given, else ``DIRECTLIVE_SECRET``, else one generated once."""
    if secret:
        return secret
    env = os.environ.get("DIRECTLIVE_SECRET")
    if env:
        return env
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


class TokenIssuer:
    """Mints and checks bearer tokens for one secret."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("empty signing secret")
        # Any secret string works: HS256 wants a key of at least 32 bytes.
        self._secret = hashlib.sha256(secret.encode()).digest()

    def mint(self, user: str, ttl: int = DEFAULT_TTL) -> str:
        """A token for ``user``; a ``ttl`` of 0 or less mints one already expired (tests)."""
        validate_user_id(user)
        if ttl > MAX_TTL:
            raise BadRequest(f"a token lives at most {MAX_TTL} seconds", code="bad_ttl")
        now = int(time.time())
        claims = {"sub": user, "iat": now, "exp": now + ttl, "iss": ISSUER}
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> str:
        """The user a token names; ``Unauthorized`` for anything else."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                issuer=ISSUER,
                options={"require": ["sub", "exp", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired", code="token_expired") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token: {exc}", code="invalid_token") from exc
        user = claims.get("sub")
        if not is_user_id(user):
            raise Unauthorized("token names no valid user", code="invalid_token")
        if claims["exp"] > time.time() + MAX_TTL + LEEWAY:
            raise Unauthorized("token lifetime over a year", code="invalid_token")
        return user

    def from_header(self, header: str | None) -> str:
        if not header:
            raise Unauthorized("missing Authorization: Bearer token", code="missing_token")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("expected Authorization: Bearer <token>", code="invalid_token")
        return self.verify(token.strip())
