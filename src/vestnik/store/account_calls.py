"""An account's concurrent calls for ``sessions.begin_dialing``: its cap and exact count.

The account row is locked (PostgreSQL) before counting, so the count and the ``queued →
dialing`` transition are one step across all dialers. The count scans every call of the
account that is up (thousands at a high call rate: ~5 ms per count on PostgreSQL, measured in
docs/benchmarks.md, "Where created→dial goes"); a group commit runs a hundred
``begin_dialing`` of one account in one transaction, so it is taken once per transaction and
then counted on.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.calls import CallState
from vestnik.store.schema import accounts, call_sessions

# States in which a call may be up on the wire (an INVITE may have left).
CALL_STATES = (CallState.DIALING.value, CallState.RINGING.value, CallState.ANSWERED.value)
_c = call_sessions.c

# FOR NO KEY UPDATE (key_share): it serialises the cap checks of one account across dialers
# but not the foreign-key checks (FOR KEY SHARE) of rows inserted for the account, such as
# call_events and new sessions, so those never wait for it and it never waits for them.
_ACCOUNT_CAP = (
    sa.select(accounts.c.max_concurrent_calls)
    .where(accounts.c.id == sa.bindparam("account_id"))
    .with_for_update(key_share=True)
)
_ACTIVE_CALLS = (
    sa.select(sa.func.count())
    .select_from(call_sessions)
    .where(
        _c.account_id == sa.bindparam("account_id"),
        _c.state.in_(sa.bindparam("call_states", value=list(CALL_STATES), expanding=True)),
    )
)


def count_active_calls(conn: Connection, account_id: int) -> int:
    """Calls of the account that are up or being set up, across every dialer."""
    return int(conn.execute(_ACTIVE_CALLS, {"account_id": account_id}).scalar_one())


_ROOM_KEY = "vestnik.account_room"


@dataclass
class AccountRoom:
    """An account's cap and call count, taken once per transaction under its row lock."""

    cap: int
    active: int  # never below the real count (see ``account_room``)


def account_room(conn: Connection, account_id: int) -> AccountRoom:
    """The account's cap and active calls for ``begin_dialing``, counted once per transaction.

    The count scans every call of the account (thousands at a high rate, ~5 ms on PostgreSQL);
    a group commit runs a hundred ``begin_dialing`` of one account per transaction, so it is
    taken once and then counted on (``+1`` per call started here). It stays exact as an upper
    bound: while this transaction holds the account row (PostgreSQL) or the write lock
    (SQLite), no other dialer can start a call of the account, and calls ending elsewhere only
    lower the real count. A call finished in this transaction drops the account's entry
    (``forget_room``), so the next check counts again.
    """
    transaction = conn.get_transaction()
    held = conn.info.get(_ROOM_KEY)
    if held is None or held[0] is not transaction:
        held = (transaction, {})
        conn.info[_ROOM_KEY] = held
    rooms: dict[int, AccountRoom] = held[1]
    room = rooms.get(account_id)
    if room is None:
        # Locks the account row (PostgreSQL) before counting, so the count holds until commit.
        cap = int(conn.execute(_ACCOUNT_CAP, {"account_id": account_id}).scalar_one())
        room = rooms[account_id] = AccountRoom(cap, count_active_calls(conn, account_id))
    return room


def forget_room(conn: Connection, account_id: int) -> None:
    """A call of the account may have ended in this transaction: count again next time."""
    held = conn.info.get(_ROOM_KEY)
    if held is not None and held[0] is conn.get_transaction():
        held[1].pop(account_id, None)
