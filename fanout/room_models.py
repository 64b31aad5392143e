"""Values of a live's room: its settings and its comments."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RoomConfig:
    """Tunables of live rooms."""

    max_guests: int = 3
    """Co-broadcasters beside the host, as in Live Rooms."""
    comment_limit: int = 300
    """Most characters in one comment."""
    recent_comments: int = 200
    """Comments kept per live for late joiners."""
    comments_per_window: int = 5
    """Comments one user may post per ``rate_window`` seconds."""
    reactions_per_window: int = 20
    """Reactions one user may send per ``rate_window`` seconds."""
    rate_window: float = 10.0
    reaction_kinds: tuple[str, ...] = ("like", "heart", "laugh", "wow", "clap", "fire")


@dataclass(frozen=True)
class RoomSettings:
    """What the host allows on a live."""

    comments: bool = True
    """Viewers may comment."""
    joins: bool = True
    """Viewers may ask to join the broadcast."""


@dataclass(frozen=True)
class Comment:
    """One comment on a live, numbered in the order every viewer sees."""

    comment_id: str
    live_id: str
    seq: int
    """1, 2, 3 ... per live, assigned atomically by the store."""
    user: str
    text: str
    at: float

    def to_json(self) -> dict[str, object]:
        return {
            "comment_id": self.comment_id,
            "live_id": self.live_id,
            "seq": self.seq,
            "user": self.user,
            "text": self.text,
            "at": self.at,
        }
