"""Which layer a viewer's link carries: down quickly on loss, up cautiously by probing."""

from __future__ import annotations

from dataclasses import dataclass

LOSS_DOWN = 0.08
"""A receiver report losing this fraction or more moves the viewer one layer down."""
LOSS_CLEAN = 0.02
"""Below this a report counts as clean; between the two the viewer stays where it is."""
SETTLE = 1.0
"""Seconds after a switch during which loss reports do not move the viewer again (they
still describe the layer it left)."""
PROBE_FIRST = 3.0
"""Clean seconds before the first try of the next layer up."""
PROBE_BACKOFF = 2.0
"""How much each failed try up lengthens the wait before the next."""
PROBE_MAX = 8.0
"""Longest wait between tries up after failed ones: a viewer on the lowest layer of a link
that recovered is back on the top within about this plus ``PROBE_FIRST`` (and a failed try
costs little: about half a second of stalled video)."""
PENDING_RETRY = 3.0
"""Seconds after which a move whose keyframe never came is asked for again."""
PROBE_TRIAL = 4.0
"""A move up that is undone within this many seconds was a failed probe."""
TRIAL_NACKS = 10
"""Packets NACKed within ``TRIAL_NACK_WINDOW`` of a probe that mean it failed (receiver
reports come only every 0.5 to 1.5 s; NACKs come at once)."""
TRIAL_NACK_WINDOW = 0.5


@dataclass(frozen=True)
class LinkReport:
    """What one receiver report of a viewer said about its link."""

    fraction_lost: float
    """Share of packets lost since the previous receiver report (0..1)."""


class LayerSelector:
    """Chooses a rank (0 = lowest) among ``count`` layers for one viewer, below its cap.

    ``decide`` returns the rank the viewer should move to, or None to stay. The caller
    reports the moves it completed with ``switched``.
    """

    def __init__(self, count: int, rank: int, cap: int | None = None) -> None:
        self.count = count
        self.cap = count - 1 if cap is None else max(0, min(cap, count - 1))
        self.rank = min(rank, self.cap)
        self.target = self.rank
        self.probe_wait = PROBE_FIRST
        self._clean_since: float | None = None
        self._settled_at = -SETTLE
        self._up_at: float | None = None
        self._asked_at = 0.0
        self._nacks: list[tuple[float, int]] = []

    def limit(self, cap: int | None, now: float) -> int | None:
        """A new cap (None: none); the rank to move to, if the cap forces one."""
        self.cap = self.count - 1 if cap is None else max(0, min(cap, self.count - 1))
        if self.target > self.cap:
            return self._ask(self.cap, now)
        return None

    def switched(self, rank: int, now: float) -> None:
        """The viewer is on ``rank`` now."""
        if rank > self.rank:
            self._up_at = now
        elif self._up_at is not None and now - self._up_at < PROBE_TRIAL:
            self.probe_wait = min(self.probe_wait * PROBE_BACKOFF, PROBE_MAX)
            self._up_at = None
        self.rank = rank
        self._settled_at = now
        self._clean_since = now

    def nacked(self, count: int, now: float) -> int | None:
        """``count`` packets were NACKed: during a probe, many at once undo it."""
        if self._up_at is None or self.target != self.rank or now - self._up_at >= PROBE_TRIAL:
            self._nacks.clear()
            return None
        self._nacks = [(t, n) for t, n in self._nacks if now - t < TRIAL_NACK_WINDOW]
        self._nacks.append((now, count))
        if sum(n for _, n in self._nacks) < TRIAL_NACKS:
            return None
        self._nacks.clear()
        return self._ask(self.rank - 1, now)

    def decide(self, report: LinkReport, now: float) -> int | None:
        """The rank to move to after ``report``."""
        if self.target != self.rank:
            if now - self._asked_at < PENDING_RETRY:
                return None  # a move is under way
            return self._ask(self.target, now)
        if now - self._settled_at < SETTLE:
            return None  # the news is about the layer it left
        if self._up_at is not None and now - self._up_at >= PROBE_TRIAL:
            self._up_at = None
            self.probe_wait = PROBE_FIRST
        lost = report.fraction_lost
        if self.rank > self.cap:
            return self._ask(self.cap, now)
        if self.rank > 0 and lost >= LOSS_DOWN:
            return self._ask(self.rank - 1, now)
        if lost >= LOSS_CLEAN or self._clean_since is None:
            self._clean_since = now
            return None
        if self.rank < self.cap and now - self._clean_since >= self.probe_wait:
            return self._ask(self.rank + 1, now)
        return None

    def _ask(self, rank: int, now: float) -> int:
        self.target = rank
        self._asked_at = now
        return rank
