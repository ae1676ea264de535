"""The blacklist rule's one owner: the spellings that match, and every place that applies
them (the intake's check, the dialer's claim and its check before dialling)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Engine

from vestnik.calls import ContactKind
from vestnik.config import LimitsConfig
from vestnik.store import sessions
from vestnik.store.accounts import create_account
from vestnik.store.admin_blacklist import blacklist_add
from vestnik.store.blacklist import (
    blacklist_spellings,
    blacklisted_sessions,
    is_blacklisted,
    remove_entry,
)
from vestnik.store.db import now
from vestnik.store.schema import blacklist, call_sessions

VPN = "74993720692"


def test_spellings_of_a_contact() -> None:
    assert blacklist_spellings("79260000000") == ("79260000000", "+79260000000")
    assert blacklist_spellings("sip:anna@pbx.example", ContactKind.SIP) == (
        "sip:anna@pbx.example",
        "anna@pbx.example",
    )
    assert blacklist_spellings("sips:anna@pbx.example", "sip") == (
        "sips:anna@pbx.example",
        "anna@pbx.example",
    )
    assert blacklist_spellings("SIP:anna@pbx.example", "sip")[1] == "anna@pbx.example"


def _queue(engine: Engine, account_id: int, contact: str, kind: str = "phone") -> int:
    """A queued session as start.informer_call stores it (the columns the rule reads)."""
    values = {
        "account_id": account_id, "virtual_phone_number": VPN, "usage_rule": "fixed",
        "caller_number": VPN, "contact": contact, "contact_kind": kind, "direction": "out",
        "dialing_timeout": 30.0, "message_type": "tts", "message_value": "Здравствуйте",
        "state": "queued", "created_at": now(), "release_requested": False, "dial_attempts": 0,
    }  # fmt: skip
    with engine.begin() as conn:
        return int(conn.execute(call_sessions.insert().values(**values)).inserted_primary_key[0])


def _accounts(engine: Engine) -> tuple[int, int]:
    with engine.begin() as conn:
        return (
            create_account(conn, "acme", LimitsConfig()),
            create_account(conn, "other", LimitsConfig()),
        )


def test_every_spelling_matches_in_the_contacts_account_only(engine: Engine) -> None:
    acme, other = _accounts(engine)
    with engine.begin() as conn:
        blacklist_add(conn, acme, "+79260000001")
        blacklist_add(conn, acme, "anna@pbx.example")
        blacklist_add(conn, acme, "sip:bob@pbx.example")
        blacklist_add(conn, other, "79260000002")
    with engine.connect() as conn:
        assert is_blacklisted(conn, acme, "79260000001")
        assert is_blacklisted(conn, acme, "sip:anna@pbx.example", ContactKind.SIP)
        assert is_blacklisted(conn, acme, "sips:anna@pbx.example", ContactKind.SIP)
        assert is_blacklisted(conn, acme, "sip:bob@pbx.example", ContactKind.SIP)
        assert not is_blacklisted(conn, acme, "sips:bob@pbx.example", ContactKind.SIP)
        assert not is_blacklisted(conn, acme, "79260000002")
        assert is_blacklisted(conn, other, "79260000002")
        assert not is_blacklisted(conn, other, "79260000001")


def test_the_claim_and_the_check_before_dialling_apply_the_same_rule(engine: Engine) -> None:
    acme, other = _accounts(engine)
    listed = _queue(engine, acme, "79260000001")
    sips = _queue(engine, acme, "sips:anna@pbx.example", ContactKind.SIP)
    elsewhere = _queue(engine, other, "79260000001")
    later = _queue(engine, acme, "79260000003")
    with engine.begin() as conn:
        blacklist_add(conn, acme, "79260000001")
        blacklist_add(conn, acme, "anna@pbx.example")
        rows = conn.execute(sa.select(call_sessions)).mappings().all()
        assert blacklisted_sessions(conn, rows) == {listed, sips}
        claim = sessions.claim_for_dialing(conn, "me/1", 10, 30.0, now())
    assert sorted(r.id for r in claim.settled) == [listed, sips]
    assert {r.finish_reason for r in claim.settled} == {"numa_in_black_list"}
    assert sorted(r.id for r in claim.to_dial) == [elsewhere, later]
    with engine.begin() as conn:
        blacklist_add(conn, acme, "+79260000003")  # listed after the claim
        begin = sessions.begin_dialing(conn, later, "me/1", 30.0)
    assert begin.outcome is sessions.DialStart.BLACKLISTED


def test_remove_entry_by_id_in_its_account(engine: Engine) -> None:
    acme, other = _accounts(engine)
    with engine.begin() as conn:
        entry = blacklist_add(conn, acme, "79260000001")
        assert not remove_entry(conn, other, entry)
        assert remove_entry(conn, acme, entry)
        assert not remove_entry(conn, acme, entry)
        assert conn.execute(sa.select(sa.func.count()).select_from(blacklist)).scalar() == 0
