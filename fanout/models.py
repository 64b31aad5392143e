"""Values of the social plane: frozen dataclasses, no behaviour beyond small derived facts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

INBOX: Literal["i"] = "i"
"""Member state: the thread shows in the member's inbox."""
REQUEST: Literal["r"] = "r"
"""Member state: the thread waits in the member's message requests."""
DECLINED: Literal["d"] = "d"
"""Member state: the member declined the request; new messages do not surface for them."""

MemberState = Literal["i", "r", "d"]
MessageKind = Literal["text", "share", "post"]


@dataclass(frozen=True)
class FanoutConfig:
    """Tunables of the social plane."""

    group_limit: int = 15
    """Most members a group thread may hold, creator included."""
    text_limit: int = 2000
    """Most characters in one text message."""
    chunk_size: int = 1000
    """Recipients written per round trip when sharing to all followers."""
    page_limit: int = 50
    """Default page size; callers may ask up to ``max_page`` items."""
    max_page: int = 200
    """Largest page a caller may ask for."""
    fault_hook: Callable[[int], None] | None = None
    """Test hook called after each fan-out chunk with the count of chunks done."""


@dataclass(frozen=True)
class Settings:
    """Per-user account settings."""

    private: bool = False
    """Only approved followers may watch the user's lives; follows become requests."""
    allow_sharing: bool = True
    """Viewers may reshare the user's lives (the user always may)."""


@dataclass(frozen=True)
class Relation:
    """How user ``a`` relates to user ``b`` (read in one store call)."""

    following: bool = False
    """``a`` follows ``b``."""
    followed_by: bool = False
    """``b`` follows ``a``."""
    requested: bool = False
    """``a`` asked to follow ``b`` and waits for approval."""
    blocking: bool = False
    """``a`` blocked ``b``."""
    blocked_by: bool = False
    """``b`` blocked ``a``."""
    allowed: bool = False
    """``a`` accepted a message request from ``b`` earlier."""

    @property
    def blocked_either(self) -> bool:
        return self.blocking or self.blocked_by


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; pass ``next_cursor`` back to get the next one (None: the end)."""

    items: tuple[T, ...]
    next_cursor: str | None = None


@dataclass(frozen=True)
class Thread:
    """A direct thread: ``dm`` (exactly two members) or ``group``."""

    thread_id: str
    kind: Literal["dm", "group"]
    creator: str
    name: str = ""
    members: Mapping[str, MemberState] = field(default_factory=dict)
    """Every member and where the thread sits for them."""
    created_seq: int = 0
    """Orders the thread in boxes until its first message."""

    def state_of(self, user: str) -> MemberState | None:
        return self.members.get(user)


@dataclass(frozen=True)
class Message:
    """One message of a thread; ``seq`` is unique across the store and orders everything.

    A ``share`` references a live and a ``post`` a direct post: what they show (the live's
    state, the post's likes and comments) is resolved when read."""

    seq: int
    thread_id: str
    sender: str
    kind: MessageKind
    text: str = ""
    live_id: str = ""
    sent_at: float = 0.0
    post_id: str = ""
    """The post a ``post`` message carries (``fanout.post_models.Post``)."""


@dataclass(frozen=True)
class BoxEntry:
    """A thread as listed in a user's inbox or requests."""

    thread_id: str
    last_seq: int
    unread: int


@dataclass(frozen=True)
class LiveInfo:
    """A live as the social plane knows it."""

    live_id: str
    host: str
    ended: bool = False
    viewer_count: int = 0
    started_at: float = 0.0
    ended_at: float = 0.0
    guests: tuple[str, ...] = ()
    """Co-broadcasters currently on the live."""
    followers_share: str = ""
    """Share id of the host's share to all followers, if any."""

    @property
    def state(self) -> Literal["live", "ended"]:
        return "ended" if self.ended else "live"

    @property
    def participants(self) -> tuple[str, ...]:
        return (self.host, *self.guests)


@dataclass(frozen=True)
class FanoutJob:
    """A share to all followers of ``sender``, written in chunks; ``cursor`` survives crashes."""

    share_id: str
    live_id: str
    sender: str
    seq: int
    cursor: str = ""
    """Last follower written ("" before the first chunk)."""
    delivered: int = 0
    """Entries newly written so far (re-writes after a crash do not count)."""
    done: bool = False


@dataclass(frozen=True)
class FeedEntry:
    """An entry of a user's live-share feed (shares to all followers land here)."""

    share_id: str
    live_id: str
    sender: str
    seq: int


@dataclass(frozen=True)
class ChunkResult:
    """What one fan-out round trip did."""

    added: int
    """Entries newly written (a rewrite after a crash adds none)."""
    online: Mapping[str, tuple[str, ...]]
    """Nodes where each newly served recipient is online (offline ones are absent)."""
    cursor: str
    """The job's cursor after the chunk."""
    done: bool
    """No follower is left after ``cursor``."""


@dataclass(frozen=True)
class Profile:
    """A user as another user sees them (``GET /api/users/{id}``)."""

    user: str
    private: bool
    followers: int
    following: int
    i_follow: bool
    follow_requested: bool
    """The viewer's follow request to this private account waits for approval."""
    follows_me: bool
    i_blocked: bool
    live: LiveInfo | None
    """Their running live, only when the viewer may watch it."""
