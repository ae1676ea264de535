"""The console's logins: who a login name is, its sessions (cookie hash → person, CSRF token),
and the count of consecutive failed logins that locks a login name for a while."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vestnik.store.db import Connection
from vestnik.store.schema import accounts, console_logins, console_sessions, operators, users


@dataclass(frozen=True)
class Person:
    """Who a console login name or session is: an operator (``account_id`` None) or a user of
    one account."""

    login: str
    operator_id: int | None
    user_id: int | None
    account_id: int | None
    password_hash: str
    enabled: bool  # operator not blocked / user active
    account: dict[str, Any] | None  # the user's account row (is_active, ip_allowlist, name)

    @property
    def is_operator(self) -> bool:
        return self.operator_id is not None


_ACCOUNT = (accounts.c.id, accounts.c.name, accounts.c.is_active, accounts.c.ip_allowlist)


def _user_person(row: Any) -> Person:
    account = {"id": int(row.account_id), "name": row.name, "is_active": bool(row.is_active),
               "ip_allowlist": list(row.ip_allowlist or [])}  # fmt: skip
    return Person(row.login, None, int(row.user_id), int(row.account_id), row.password_hash,
                  bool(row.user_active), account)  # fmt: skip


def _user_query() -> sa.Select[Any]:
    return sa.select(
        users.c.id.label("user_id"), users.c.login, users.c.password_hash,
        users.c.is_active.label("user_active"), users.c.account_id,
        accounts.c.name, accounts.c.is_active, accounts.c.ip_allowlist,
    ).join(accounts, accounts.c.id == users.c.account_id)  # fmt: skip


def login_taken(conn: Connection, login: str) -> bool:
    """Whether an operator or an account user has ``login`` (one login form serves both)."""
    return any(
        conn.execute(sa.select(table.c.id).where(table.c.login == login)).first()
        for table in (operators, users)
    )


def find_person(conn: Connection, login: str) -> Person | None:
    """The operator or account user with ``login``, or None."""
    row = conn.execute(sa.select(operators).where(operators.c.login == login)).first()
    if row is not None:
        return Person(row.login, int(row.id), None, None, row.password_hash,
                      not row.is_blocked, None)  # fmt: skip
    user = conn.execute(_user_query().where(users.c.login == login)).first()
    return None if user is None else _user_person(user)


@dataclass(frozen=True)
class ConsoleSession:
    person: Person
    csrf_token: str
    created_at: float
    seen_at: float
    expires_at: float


def create_session(
    conn: Connection, token_hash: str, person: Person, csrf_token: str, at: float, expires_at: float
) -> None:
    conn.execute(
        console_sessions.insert().values(
            token_hash=token_hash, operator_id=person.operator_id, user_id=person.user_id,
            csrf_token=csrf_token, created_at=at, seen_at=at, expires_at=expires_at,
        )
    )  # fmt: skip


def load_session(conn: Connection, token_hash: str, at: float) -> ConsoleSession | None:
    """The live session of ``token_hash`` with its person as stored now (a blocked operator, an
    inactive or removed user: None), or None."""
    row = conn.execute(
        sa.select(console_sessions).where(console_sessions.c.token_hash == token_hash)
    ).first()
    if row is None or row.expires_at <= at:
        return None
    person: Person | None
    if row.operator_id is not None:
        op = conn.execute(sa.select(operators).where(operators.c.id == row.operator_id)).first()
        person = None if op is None else Person(
            op.login, int(op.id), None, None, "", not op.is_blocked, None
        )  # fmt: skip
    else:
        user = conn.execute(_user_query().where(users.c.id == row.user_id)).first()
        person = None if user is None else _user_person(user)
    if person is None or not person.enabled:
        return None
    return ConsoleSession(person, row.csrf_token, float(row.created_at), float(row.seen_at),
                          float(row.expires_at))  # fmt: skip


def touch_session(conn: Connection, token_hash: str, at: float, expires_at: float) -> None:
    conn.execute(
        console_sessions.update()
        .where(console_sessions.c.token_hash == token_hash)
        .values(seen_at=at, expires_at=expires_at)
    )


def delete_session(conn: Connection, token_hash: str) -> None:
    conn.execute(console_sessions.delete().where(console_sessions.c.token_hash == token_hash))


def delete_expired_sessions(conn: Connection, at: float) -> int:
    return int(conn.execute(console_sessions.delete().where(console_sessions.c.expires_at <= at))
               .rowcount)  # fmt: skip


def end_user_sessions(conn: Connection, user_id: int) -> int:
    """Log a user out of the console (password changed, switched off, removed)."""
    return int(conn.execute(console_sessions.delete().where(console_sessions.c.user_id == user_id))
               .rowcount)  # fmt: skip


# --- failed logins -------------------------------------------------------------------------


def locked_until(conn: Connection, login: str) -> float | None:
    row = conn.execute(
        sa.select(console_logins.c.locked_until).where(console_logins.c.login == login)
    ).first()
    return None if row is None or row.locked_until is None else float(row.locked_until)


def record_failure(
    conn: Connection, login: str, at: float, *, free: int, base: float, cap: float
) -> float | None:
    """Count a failed login; from the ``free``-th consecutive failure on, the login is locked
    for ``base`` seconds, doubled for each further failure, at most ``cap``. Returns the end
    of the lockout (None: not locked)."""
    # Counts untouched for twice the longest lock are history: guesses at many made-up
    # names cannot grow the table without bound.
    conn.execute(console_logins.delete().where(console_logins.c.updated_at < at - 2 * cap))
    row = conn.execute(
        sa.select(console_logins.c.failures).where(console_logins.c.login == login)
    ).first()
    failures = 1 if row is None else int(row.failures) + 1
    until = None
    if failures >= free:
        until = at + min(cap, base * 2 ** (failures - free))
    values = {"failures": failures, "locked_until": until, "updated_at": at}
    if row is None:
        conn.execute(console_logins.insert().values(login=login, **values))
    else:
        where = console_logins.c.login == login
        conn.execute(console_logins.update().where(where).values(**values))
    return until


def clear_failures(conn: Connection, login: str) -> None:
    conn.execute(console_logins.delete().where(console_logins.c.login == login))
