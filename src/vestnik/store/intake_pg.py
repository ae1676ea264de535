"""``start.informer_call`` on PostgreSQL in two round trips, on the event loop (asyncpg).

The general path (:mod:`vestnik.store.intake` in a transaction of the API's
:class:`~vestnik.store.runner.DbRunner`) runs ~9 round trips per request through psycopg
(BEGIN, token, own numbers, registry, blacklist, insert, two charges, COMMIT), each ~50-90 µs
of CPU in the API process, and needs a worker thread each to overlap them (docs/benchmarks.md,
"PostgreSQL hot path"). Here the common request (a phone contact, the ``fixed`` rule) needs:

1. :meth:`AsyncIntake.read`: ONE statement reading the token with its account's row, the
   facts :func:`vestnik.calls.intake.decide` needs (own numbers, blacklist, registry range,
   media file) and the points used in the current windows (for the limits of an error reply);
2. the API applies the same rules as the general path, in Python;
3. :meth:`AsyncIntake.accept`: ONE statement charging the points
   (``vestnik_charge_points()``, migration 0007: the same rule as
   :func:`vestnik.api.limits.charge`) and inserting the session only when the charge passed.

Each statement runs in autocommit: it is its own transaction, so a refused charge leaves no
session and a charge never stands without its session. Between the two statements the
snapshot changes, as it does between the statements of the general path's READ COMMITTED
transaction: no rule is weaker for it (the charge re-checks its counters under their row
locks, the reads decide exactly what they decide there).

asyncpg prepares each statement once per connection (its statement cache) and speaks the
binary protocol. Connections come from a small pool of the endpoint's own; every wait
(a free connection, connecting, each statement) is bounded by the request's deadline with
``asyncio.timeout``: the event loop never blocks on the database, and a connection whose
statement did not finish in time (a link that stopped answering) is dropped, not reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import array_agg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from vestnik.store.admin_numbers import NUMBER_ACTIVE
from vestnik.store.deadline import DatabaseTimeout
from vestnik.store.intake import SESSION_FIELDS
from vestnik.store.media import usable_by
from vestnik.store.numbering import LOOKUP
from vestnik.store.schema import (
    accounts,
    blacklist,
    call_sessions,
    limit_counters,
    media_files,
    virtual_numbers,
)
from vestnik.store.tokens import TOKEN_COLUMNS, TOKEN_SELECT, TokenRecord, token_record

T = TypeVar("T")
POOL_SIZE = 16  # connections per endpoint: enough to keep one core busy over loopback
_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


class DatabaseUnreachable(sa.exc.DisconnectionError):
    """The connection failed or was lost (an outage, as :mod:`vestnik.store.health` sees it)."""


# Connection refused or lost, the server shutting down or not accepting connections yet.
_UNREACHABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.OperatorInterventionError,
    asyncpg.InvalidCatalogNameError,
)


@dataclass(frozen=True)
class Statement:
    sql: str
    names: tuple[str, ...]  # the parameters, in $n order
    literals: dict[str, Any]  # the statement's own values ("active", "day")

    @classmethod
    def of(cls, statement: sa.ClauseElement) -> Statement:
        compiled = statement.compile(dialect=_DIALECT)
        literals = {k: v for k, v in compiled.params.items() if v is not None}
        return cls(compiled.string, tuple(compiled.positiontup or ()), literals)  # type: ignore[attr-defined]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        literals = self.literals
        return [params[name] if name in params else literals[name] for name in self.names]


def _read_statement() -> Statement:
    account = accounts.c.id
    vn, bl, lc = virtual_numbers.c, blacklist.c, limit_counters.c
    owned = (
        sa.select(array_agg(vn.number))  # type: ignore[no-untyped-call]
        .where(
            vn.account_id == account,
            vn.status == NUMBER_ACTIVE,
            vn.number.in_([sa.bindparam("vpn"), sa.bindparam("contact")]),
        )
        .scalar_subquery()
    )
    listed = sa.exists().where(
        bl.account_id == account,
        bl.number.in_([sa.bindparam("contact"), sa.bindparam("contact_plus")]),
    )
    media = sa.exists().where(
        media_files.c.id == sa.bindparam("media_id", type_=sa.Integer), usable_by(account)
    )

    def used(period: str) -> Any:
        start = sa.bindparam(f"{period}_start", type_=sa.BigInteger)
        return (
            sa.select(lc.used)
            .where(lc.account_id == account, lc.period == period, lc.window_start == start)
            .scalar_subquery()
        )

    registry = LOOKUP.params(n=sa.bindparam("n")).lateral("registry")
    query = TOKEN_SELECT.add_columns(
        owned, listed, media, used("day"), used("minute"), *registry.c
    ).outerjoin_from(accounts, registry, sa.true())
    return Statement.of(query)


def _accept_statement() -> Statement:
    """Charge, then insert the session only if the charge passed; one statement."""
    charge = sa.func.vestnik_charge_points(
        *(
            sa.bindparam(name, type_=sa.BigInteger if name.endswith("start") else sa.Integer)
            for name in ("p_account", "p_weight", "day_start", "day_cap", "minute_start",
                         "minute_cap")
        )
    ).table_valued("day_used", "minute_used", "refused").alias("charge")  # fmt: skip
    charged = sa.select(charge).cte("charged")
    values = sa.select(
        *(sa.bindparam(name, type_=call_sessions.c[name].type) for name in SESSION_FIELDS)
    ).where(charged.c.refused.is_(None))
    inserted = (
        call_sessions.insert()
        .from_select(SESSION_FIELDS, values)
        .returning(call_sessions.c.id)
        .cte("inserted")
    )
    query = sa.select(
        charged.c.day_used,
        charged.c.minute_used,
        charged.c.refused,
        sa.select(inserted.c.id).scalar_subquery(),
    )
    return Statement.of(query)


_READ = _read_statement()
_ACCEPT = _accept_statement()


@dataclass(frozen=True)
class IntakeRead:
    """What :meth:`AsyncIntake.read` found: the token (None: no such token) and the facts."""

    token: TokenRecord | None
    owned: frozenset[str]
    blacklisted: bool
    media_usable: bool
    used: dict[str, int]  # period → points used in its current window (no row: left out)
    registry: tuple[Any, Any, Any] | None  # numbering.LOOKUP's row for the contact


@dataclass(frozen=True)
class Charged:
    """What :meth:`AsyncIntake.accept` did: the session's id, or the window that refused."""

    session_id: int | None
    used: dict[str, int]  # after the charge, or as they stand when refused
    refused: str | None


class AsyncIntake:
    """The two statements and the connections they run on."""

    def __init__(self, url: sa.URL, *, timeout: float, size: int = POOL_SIZE) -> None:
        args = url.translate_connect_args(username="user", database="database")
        sslmode = url.query.get("sslmode")
        if isinstance(sslmode, str):
            args["ssl"] = sslmode  # asyncpg takes libpq's sslmode names
        statement_ms = max(1, round(timeout * 1000))
        # The statements are index lookups whatever their values: a generic plan, made once
        # per connection, saves the server ~0.3 ms of planning per request (measured: the
        # default "auto" kept planning the read anew each time).
        settings = {"statement_timeout": str(statement_ms), "plan_cache_mode": "force_generic_plan"}
        self._connect_args = {**args, "server_settings": settings}
        self.timeout = timeout
        self.size = size
        self._idle: list[asyncpg.Connection] = []
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @staticmethod
    async def read(
        conn: asyncpg.Connection,
        *,
        token_hash: str,
        virtual_number: str,
        contact: str,
        media_id: int | None,
        windows: Mapping[str, int],
    ) -> IntakeRead:
        params = {
            "token_hash": token_hash, "vpn": virtual_number, "contact": contact,
            "contact_plus": "+" + contact, "media_id": media_id, "n": int(contact),
            "day_start": windows["day"], "minute_start": windows["minute"],
        }  # fmt: skip

        row = await conn.fetchrow(_READ.sql, *_READ.args(params))
        if row is None:
            return IntakeRead(None, frozenset(), False, False, {}, None)
        values = tuple(row)
        owned, listed, usable, day, minute = values[TOKEN_COLUMNS : TOKEN_COLUMNS + 5]
        registry = values[TOKEN_COLUMNS + 5 :]
        return IntakeRead(
            token=token_record(values[:TOKEN_COLUMNS]),
            owned=frozenset(owned or ()),
            blacklisted=bool(listed),
            media_usable=bool(usable),
            used=_used(day, minute),
            registry=None if registry[0] is None else (registry[0], registry[1], registry[2]),
        )

    @staticmethod
    async def accept(
        conn: asyncpg.Connection,
        session: Mapping[str, Any],
        *,
        weight: int,
        windows: Mapping[str, int],
        caps: Mapping[str, int],
    ) -> Charged:
        params = {
            **session, "p_account": session["account_id"], "p_weight": weight,
            "day_start": windows["day"], "day_cap": caps["day"],
            "minute_start": windows["minute"], "minute_cap": caps["minute"],
        }  # fmt: skip

        row = await conn.fetchrow(_ACCEPT.sql, *_ACCEPT.args(params))
        assert row is not None  # the statement always returns the charge's row
        day, minute, refused, session_id = tuple(row)
        return Charged(None if session_id is None else int(session_id), _used(day, minute), refused)

    async def run(self, work: Callable[[asyncpg.Connection], Awaitable[T]], deadline: float) -> T:
        """``work`` (:meth:`read`, :meth:`accept`, the rules between them) on a pooled
        connection, done by ``deadline`` (``time.monotonic()``) or :class:`DatabaseTimeout`.
        A connection that failed, timed out or saw an SQL error is dropped; one whose work
        raised anything else (a refusal of the rules) is idle and kept."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise DatabaseTimeout("the deadline passed before the database work could start")
        slots = self._slots_for_loop()
        conn: asyncpg.Connection | None = None
        acquired = False
        try:
            async with asyncio.timeout(left):
                await slots.acquire()
                acquired = True
                conn = self._idle.pop() if self._idle else await self._connect()
                result = await work(conn)
        except (TimeoutError, asyncpg.QueryCanceledError):  # ours, or statement_timeout
            _drop(conn)
            raise DatabaseTimeout(_no_answer(self.timeout)) from None
        except _UNREACHABLE as exc:
            _drop(conn)
            name = f"{type(exc).__module__}.{type(exc).__name__}"
            raise DatabaseUnreachable(f"({name}) {exc}") from exc
        except (asyncpg.PostgresError, asyncio.CancelledError):
            _drop(conn)  # an SQL error or a cancellation: not worth knowing its state
            raise
        except Exception:
            if conn is not None:  # no statement was under way: the work itself refused
                self._idle.append(conn)
            raise
        finally:
            if acquired:
                slots.release()
        self._idle.append(conn)
        return result

    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(**self._connect_args)

    def _slots_for_loop(self) -> asyncio.Semaphore:
        """Connections belong to the loop that made them: a new loop starts afresh."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            self.close()
            self._loop = loop
            self._slots = asyncio.Semaphore(self.size)
        return self._slots

    def close(self) -> None:
        """Drop every idle connection (at shutdown: no wait for the server)."""
        while self._idle:
            _drop(self._idle.pop())


def _used(day: int | None, minute: int | None) -> dict[str, int]:
    found = {"day": day, "minute": minute}
    return {period: int(value) for period, value in found.items() if value is not None}


def _drop(conn: asyncpg.Connection | None) -> None:
    if conn is None:
        return
    # RuntimeError: its event loop is closed; the socket goes with the object.
    with contextlib.suppress(RuntimeError):
        conn.terminate()


def _no_answer(timeout: float) -> str:
    return f"the database did not answer in time ([database] timeout {timeout:g} s)"


__all__ = ["AsyncIntake", "Charged", "DatabaseUnreachable", "IntakeRead"]
