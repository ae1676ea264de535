"""The blacklist rule, in one place: which entries stop a call to a contact.

An entry of the contact's account matches when it is one of the contact's two spellings
(:func:`blacklist_spellings`): a phone number as stored (E.164 digits) or with a leading
``+``; a SIP URI as stored (with its ``sip:``/``sips:`` scheme) or without the scheme. The
same rule refuses ``start.informer_call`` (``contact_in_blacklist``) and finishes a queued
session with ``numa_in_black_list`` when the dialer claims it and again just before it dials.
Entries are added and removed by :mod:`vestnik.store.admin_blacklist` (admin, Data API).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.calls import ContactKind
from vestnik.calls.numbers import without_sip_scheme
from vestnik.store.prepared import Prepared
from vestnik.store.schema import blacklist

# On the request path and before every INVITE: built once.
_LISTED = Prepared(
    sa.select(blacklist.c.id)
    .where(
        blacklist.c.account_id == sa.bindparam("account_id"),
        blacklist.c.number.in_([sa.bindparam("a"), sa.bindparam("b")]),
    )
    .limit(1)
)


def blacklist_spellings(contact: str, contact_kind: str = ContactKind.PHONE) -> tuple[str, str]:
    """The spellings an entry may have for a contact as stored with its session."""
    if contact_kind == ContactKind.SIP:
        return contact, without_sip_scheme(contact)
    return contact, "+" + contact


def is_blacklisted(
    conn: Connection, account_id: int, contact: str, contact_kind: str = ContactKind.PHONE
) -> bool:
    first, second = blacklist_spellings(contact, contact_kind)
    params = {"account_id": account_id, "a": first, "b": second}
    return _LISTED.first(conn, params) is not None


def blacklisted_sessions(conn: Connection, sessions: Iterable[Mapping[str, Any]]) -> set[int]:
    """Ids of ``sessions`` (rows with ``id``, ``account_id``, ``contact``, ``contact_kind``)
    whose contact is on their account's blacklist: one query for all of them."""
    spellings = {
        int(s["id"]): (
            int(s["account_id"]),
            blacklist_spellings(str(s["contact"]), str(s["contact_kind"])),
        )
        for s in sessions
    }
    numbers = {number for _, forms in spellings.values() for number in forms}
    if not numbers:
        return set()
    listed = {
        (int(account_id), str(number))
        for account_id, number in conn.execute(
            sa.select(blacklist.c.account_id, blacklist.c.number).where(
                blacklist.c.number.in_(numbers)
            )
        )
    }
    return {
        session_id
        for session_id, (account_id, forms) in spellings.items()
        if any((account_id, form) in listed for form in forms)
    }


def remove_entry(conn: Connection, account_id: int, entry_id: int) -> bool:
    """Delete the account's entry ``entry_id``; False when it has none of that id."""
    deleted = conn.execute(
        blacklist.delete().where(blacklist.c.account_id == account_id, blacklist.c.id == entry_id)
    )
    return deleted.rowcount > 0
