"""The overview's numbers: the window of hours, its buckets, the outcome classes the finish
reasons fall into, and everything the page shows, read in one go from the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from vestnik.calls.model import FinishReason
from vestnik.store import console_stats
from vestnik.store.db import Connection, DatabaseError
from vestnik.store.health import summary

WINDOWS = (1, 3, 12, 24)  # hours the page offers
DEFAULT_HOURS = 3
# Bucket length per window: at most 180 bars, each a whole number of minutes.
BUCKET_MINUTES = {1: 1, 3: 1, 12: 5, 24: 10}


@dataclass(frozen=True)
class Outcome:
    key: str  # the CSS class suffix and the table's column
    label: str
    reasons: tuple[str, ...]  # the raw finish_reason values (for "in progress": states)


_R = FinishReason
OUTCOMES = (
    Outcome("answered", "answered", (_R.SUCCESS_FINISH, _R.SUBSCRIBER_DISCONNECTS)),
    Outcome("no-answer", "not answered",
            (_R.SUBSCRIBER_BUSY, _R.SUBSCRIBER_NOT_RESPONSIBLE, _R.TIMEOUT)),
    Outcome("failed", "failed",
            (_R.SUBSCRIBER_NUMBER_PROBLEMS, _R.NO_SUCCESS_SUBSCRIBER_CALL, _R.INTERNAL_ERROR)),
    Outcome("refused", "refused by rules or limits",
            (_R.NUMA_IN_BLACK_LIST, _R.OUT_CALL_NOT_ALLOWED, _R.MAX_OUT_CALL_REACHED)),
    Outcome("released", "released", (_R.RELEASED,)),
    Outcome("other", "other reason", ()),
    Outcome("in-progress", "not finished yet", console_stats.ACTIVE),
)  # fmt: skip
_CLASS_OF = {str(reason): o.key for o in OUTCOMES[:-1] for reason in o.reasons}
ANSWERED = "answered"
IN_PROGRESS = "in-progress"


def outcome_of(state: str, finish_reason: str | None) -> str:
    """The outcome class of a session: by finish_reason once finished."""
    if state != "finished":
        return IN_PROGRESS
    return _CLASS_OF.get(finish_reason or "", "other")


def hours_param(raw: str | None) -> int:
    """The window asked for (``?hours=``), one of WINDOWS, else the default."""
    try:
        hours = int(raw or DEFAULT_HOURS)
    except ValueError:
        return DEFAULT_HOURS
    return hours if hours in WINDOWS else DEFAULT_HOURS


@dataclass(frozen=True)
class Window:
    hours: int
    bucket_seconds: int
    since: float  # start of the first bucket
    until: float  # end of the last (current) bucket
    buckets: int

    @classmethod
    def ending_at(cls, hours: int, at: float) -> Window:
        seconds = BUCKET_MINUTES[hours] * 60
        buckets = hours * 60 // BUCKET_MINUTES[hours]
        until = (at // seconds + 1) * seconds  # the current bucket is the last one
        return cls(hours, seconds, until - buckets * seconds, until, buckets)

    def start_of(self, bucket: int) -> float:
        return self.since + bucket * self.bucket_seconds


@dataclass
class Bucket:
    start: float
    counts: dict[str, int] = field(default_factory=dict)  # outcome key → sessions

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Overview:
    window: Window
    buckets: list[Bucket]
    by_reason: dict[str, dict[str, int]]  # outcome key → raw reason (or state) → sessions
    now: console_stats.Now
    at: float

    def total(self, key: str) -> int:
        return sum(self.by_reason.get(key, {}).values())

    @property
    def finished(self) -> int:
        return sum(self.total(o.key) for o in OUTCOMES if o.key != IN_PROGRESS)

    @property
    def answer_rate(self) -> float | None:
        """Answered among the window's finished sessions, in per cent (None: none finished)."""
        return None if self.finished == 0 else 100.0 * self.total(ANSWERED) / self.finished


def read_overview(
    conn: Connection, visible: Sequence[int] | None, hours: int, at: float
) -> Overview:
    window = Window.ending_at(hours, at)
    rows = console_stats.placed_by_bucket(
        conn, visible, window.since, window.until, window.bucket_seconds
    )
    buckets = [Bucket(window.start_of(i)) for i in range(window.buckets)]
    by_reason: dict[str, dict[str, int]] = {}
    for row in rows:
        key = outcome_of(row.state, row.finish_reason)
        raw = row.state if key == IN_PROGRESS else str(row.finish_reason)
        reasons = by_reason.setdefault(key, {})
        reasons[raw] = reasons.get(raw, 0) + row.sessions
        if 0 <= row.bucket < window.buckets:
            counts = buckets[row.bucket].counts
            counts[key] = counts.get(key, 0) + row.sessions
    return Overview(window, buckets, by_reason, console_stats.counts_now(conn, visible, at), at)


@dataclass(frozen=True)
class DatabaseProbe:
    ms: float | None  # None: it failed
    error: str | None

    @classmethod
    def failed(cls, exc: DatabaseError) -> DatabaseProbe:
        return cls(None, summary(exc))


def probe_database(conn: Connection) -> DatabaseProbe:
    try:
        return DatabaseProbe(console_stats.probe_ms(conn), None)
    except DatabaseError as exc:
        return DatabaseProbe.failed(exc)
