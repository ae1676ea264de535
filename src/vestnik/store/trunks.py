"""Trunks in the database: the status each dialer stored, and the limits every process shares.

* ``trunk_status``: what each dialer process last knew of each trunk (state, registration,
  last error), one row per trunk and dialer id; ``vestnik admin trunk list`` reads it.
* ``trunk_rates`` and ``trunk_places``: a trunk's ``calls_per_second`` and
  ``max_concurrent_calls`` for every process on the database together. ``enter`` runs with
  the trunk's rate row locked (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's
  ``BEGIN IMMEDIATE`` serialises every writer), so two processes never both take the last
  place or the same send instant. Places are counted per dialer run (lease owner) while its
  lease runs: the places of a run that died stop counting once its lease lapses.

Functions take a ``Connection`` inside a transaction and commit nothing themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from vestnik.store.db import now
from vestnik.store.schema import text_length, trunk_places, trunk_rates, trunk_status

_s = trunk_status.c
_r = trunk_rates.c
_p = trunk_places.c

DIALER_LENGTH = text_length(_s.dialer) or 64


@dataclass(frozen=True)
class TrunkRow:
    """One trunk's status as a dialer process saw it (a ``trunk_status`` row)."""

    trunk: str
    transport: str
    host: str
    port: int
    registered: bool | None
    state: str  # up | down | unknown
    last_error: str | None


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


# --- status ----------------------------------------------------------------------------------


def record_status(conn: Connection, dialer: str, rows: Iterable[TrunkRow], at: float) -> None:
    """Store ``rows`` as what ``dialer`` knows now (each replaces that dialer's earlier row)."""
    insert = _insert(conn)
    for row in rows:
        values = {
            "transport": row.transport,
            "host": row.host,
            "port": row.port,
            "registered": row.registered,
            "state": row.state,
            "last_error": row.last_error,
            "updated_at": at,
        }
        stmt = insert(trunk_status).values(trunk=row.trunk, dialer=dialer[:DIALER_LENGTH], **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=["trunk", "dialer"], set_=values))


def stored_status(conn: Connection) -> dict[str, dict[str, Any]]:
    """Trunk name → its most recently stored row (of whichever dialer wrote it last)."""
    latest: dict[str, dict[str, Any]] = {}
    rows = conn.execute(sa.select(trunk_status).order_by(_s.updated_at, _s.dialer)).mappings()
    for row in rows:
        latest[row["trunk"]] = dict(row)
    return latest


# --- limits ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """What one ``enter`` got: a place and the instant the INVITE may leave, or no place."""

    admitted: bool
    send_at: float | None = None  # admitted: when the INVITE may leave (wall clock)
    # Not admitted: the trunk is full (True), or its next send instant is past ``latest``.
    full: bool = False


def prepare(conn: Connection, trunks: Sequence[str], owner: str, at: float, lease: float) -> None:
    """A run's start: the trunks' rate rows exist, its place rows too (no calls), and the
    places of an earlier run of the same dialer (its owner prefix: it is dead, since this one
    took its identity) are dropped at once."""
    insert = _insert(conn)
    prefix = owner[: owner.rfind("/") + 1]
    if prefix:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conn.execute(
            trunk_places.delete().where(
                _p.owner.like(escaped + "%", escape="\\"), _p.owner != owner
            )
        )
    for trunk in trunks:
        conn.execute(
            insert(trunk_rates).values(trunk=trunk, next_call_at=0.0).on_conflict_do_nothing()
        )
        conn.execute(
            insert(trunk_places)
            .values(trunk=trunk, owner=owner, calls=0, expires_at=at + lease)
            .on_conflict_do_nothing()
        )


def enter(
    conn: Connection,
    trunk: str,
    owner: str,
    *,
    max_calls: int,
    rate: float,
    at: float,
    latest: float,
    lease: float,
) -> Entry:
    """Take one place on ``trunk`` for ``owner`` and the next send instant, if the trunk has a
    place free (``max_calls`` 0: no cap) and its next instant is not after ``latest``
    (``rate`` 0: no rate). Exact across processes: the trunk's rate row is locked first."""
    locked = sa.select(_r.next_call_at).where(_r.trunk == trunk).with_for_update()
    next_call_at = conn.execute(locked).scalar()
    if next_call_at is None:  # prepare() was not run for it (a trunk added since): make it
        conn.execute(
            _insert(conn)(trunk_rates)
            .values(trunk=trunk, next_call_at=0.0)
            .on_conflict_do_nothing()
        )
        next_call_at = conn.execute(locked).scalar_one()
    if max_calls > 0 and places_used(conn, trunk, at) >= max_calls:
        return Entry(False, full=True)
    # The clock is read again under the lock: ``at`` was read before the transaction, which
    # may have waited (for this row, for a stalled database); an instant computed from it
    # would already be past, and the INVITEs after it would crowd together.
    send_at = max(at, now(), float(next_call_at))
    if rate > 0:
        if send_at > latest:
            return Entry(False)
        conn.execute(
            trunk_rates.update().where(_r.trunk == trunk).values(next_call_at=send_at + 1.0 / rate)
        )
    if max_calls > 0:
        _take_place(conn, trunk, owner, at + lease)
    return Entry(True, send_at=send_at)


def _take_place(conn: Connection, trunk: str, owner: str, expires_at: float) -> None:
    taken = conn.execute(
        trunk_places.update()
        .where(_p.trunk == trunk, _p.owner == owner)
        .values(calls=_p.calls + 1, expires_at=expires_at)
    )
    if taken.rowcount == 0:
        conn.execute(
            trunk_places.insert().values(trunk=trunk, owner=owner, calls=1, expires_at=expires_at)
        )


def places_used(conn: Connection, trunk: str, at: float) -> int:
    """The calls up on ``trunk`` in every process whose lease has not lapsed at ``at``."""
    used = sa.select(sa.func.coalesce(sa.func.sum(_p.calls), 0)).where(
        _p.trunk == trunk, _p.expires_at > at
    )
    return int(conn.execute(used).scalar_one())


def give_back(
    conn: Connection,
    owner: str,
    places: Mapping[str, int],
    at: float,
    lease: float,
    unsend: Mapping[str, tuple[float, float]] | None = None,
) -> None:
    """Free ``places[trunk]`` places of ``owner``; renew its lease on every trunk.

    ``unsend[trunk] = (send_at, next_call_at)``: a reserved send instant that was not used
    (the call gave up before it); it is handed back when nobody reserved after it. Rows are
    locked in ``enter``'s order (rates, then places; trunks by name), so the two never
    deadlock on PostgreSQL.
    """
    for trunk, (send_at, next_call_at) in sorted((unsend or {}).items()):
        conn.execute(
            trunk_rates.update()
            .where(_r.trunk == trunk, _r.next_call_at == next_call_at)
            .values(next_call_at=send_at)
        )
    for trunk, count in sorted(places.items()):
        if count > 0:
            conn.execute(
                trunk_places.update()
                .where(_p.trunk == trunk, _p.owner == owner)
                .values(calls=sa.case((_p.calls > count, _p.calls - count), else_=0))
            )
    conn.execute(trunk_places.update().where(_p.owner == owner).values(expires_at=at + lease))


def leave_all(conn: Connection, owner: str) -> None:
    """A run stops: its places are free (its calls are over)."""
    conn.execute(trunk_places.delete().where(_p.owner == owner))
