"""``start.informer_call`` in the database: the facts its rules need, then the new session.

The rules themselves are pure (:mod:`vestnik.calls.intake`); here are only reads and writes,
all inside the request's transaction. The statements every request runs are
:class:`Prepared` (building a Core statement costs more than running it on SQLite).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from vestnik.calls import CallState, ContactKind, UsageRule
from vestnik.calls.events import CALL_SOURCE
from vestnik.calls.intake import (
    Accepted,
    InformerRequest,
    IntakeFacts,
    employee_uri,
    stored_contact,
)
from vestnik.calls.numbers import (
    REGIONAL_RULES,
    STICKY_RULES,
    PoolNumber,
    number_facts,
)
from vestnik.calls.policy import SessionPlan
from vestnik.store import media as media_store
from vestnik.store import numbering
from vestnik.store.admin_numbers import NUMBER_ACTIVE
from vestnik.store.blacklist import is_blacklisted
from vestnik.store.prepared import Prepared
from vestnik.store.schema import call_sessions, employees, numa_caller_numbers, virtual_numbers

_OWNED = Prepared(
    sa.select(virtual_numbers.c.number).where(
        virtual_numbers.c.account_id == sa.bindparam("account_id"),
        virtual_numbers.c.status == NUMBER_ACTIVE,
        virtual_numbers.c.number.in_([sa.bindparam("a"), sa.bindparam("b")]),
    )
)
SESSION_FIELDS = [
    "account_id", "access_token_id", "source", "request_id", "external_id",
    "virtual_phone_number", "usage_rule", "caller_number", "contact", "contact_kind",
    "contact_region", "contact_country", "direction", "dtmf_string", "dialing_timeout",
    "message_type", "message_value", "media_file_id", "state", "created_at",
    "release_requested", "dial_attempts", "options", "scheduled_at", "speech_reply",
]  # fmt: skip
_INSERT_SESSION = Prepared(
    call_sessions.insert().returning(call_sessions.c.id), column_keys=SESSION_FIELDS
)
_REGISTRY_LOOKUP = Prepared(numbering.LOOKUP)
_encode = msgspec.json.encode


def region_of(conn: Connection, digits: str) -> str | None:
    """The numbering-plan registry's region, else the geocoder's for geographic numbers."""
    return region_from(_REGISTRY_LOOKUP.first(conn, {"n": int(digits)}), digits)


def region_from(found: Sequence[Any] | None, digits: str) -> str | None:
    """The region of ``digits`` given the registry's range that starts at or below it
    (``number_to, operator, region`` of :data:`numbering.LOOKUP`, or None)."""
    if found is not None and found[0] is not None and found[0] >= int(digits) and found[2]:
        return str(found[2])
    return number_facts(digits).geo_region


def gather_facts(conn: Connection, account_id: int, request: InformerRequest) -> IntakeFacts:
    """Everything :func:`vestnik.calls.intake.decide` needs about this request."""
    contact, kind = request.contact, request.contact_kind
    is_phone = kind is ContactKind.PHONE
    other = contact.value if is_phone else request.virtual_number
    numbers = {"account_id": account_id, "a": request.virtual_number, "b": other}
    employee = None if is_phone else employee_uri(_employee_uris(conn, account_id), contact.value)
    stored = stored_contact(request, employee)
    region = region_of(conn, contact.value) if is_phone else None
    media_id = request.media_file_id
    pool: Sequence[PoolNumber] = ()
    remembered = None
    if request.rule is not UsageRule.FIXED and stored is not None:
        pool = _caller_pool(conn, account_id, request.rule)
        if request.rule in STICKY_RULES:
            remembered = _remembered_caller(conn, account_id, stored, request.rule)
    return IntakeFacts(
        owned=frozenset(row[0] for row in _OWNED.all(conn, numbers)),
        employee_uri=employee,
        media_usable=media_id is not None and media_store.is_usable(conn, account_id, media_id),
        blacklisted=stored is not None and is_blacklisted(conn, account_id, stored, kind),
        contact_region=region,
        pool=pool,
        remembered=remembered,
    )


def _employee_uris(conn: Connection, account_id: int) -> list[str]:
    query = sa.select(employees.c.sip_uri).where(employees.c.account_id == account_id)
    return list(conn.execute(query).scalars())


def _caller_pool(conn: Connection, account_id: int, rule: UsageRule) -> list[PoolNumber]:
    """The account's active numbers; regional rules need their regions (stored, else looked
    up like a contact's)."""
    rows = conn.execute(
        sa.select(virtual_numbers.c.number, virtual_numbers.c.region).where(
            virtual_numbers.c.account_id == account_id, virtual_numbers.c.status == NUMBER_ACTIVE
        )
    ).all()
    return [
        PoolNumber(
            number, region if region or rule not in REGIONAL_RULES else region_of(conn, number)
        )
        for number, region in rows
    ]


def _remembered_caller(
    conn: Connection, account_id: int, contact: str, rule: UsageRule
) -> str | None:
    c = numa_caller_numbers.c
    query = sa.select(c.number).where(
        c.account_id == account_id, c.contact == contact, c.rule == rule.value
    )
    return conn.execute(query).scalar()


def remember_caller(
    conn: Connection, account_id: int, contact: str, rule: UsageRule, number: str, at: float
) -> None:
    """From now on ``number`` calls ``contact`` under the *_fixed_for_numa ``rule``."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(numa_caller_numbers).values(
        account_id=account_id, contact=contact, rule=rule.value, number=number, created_at=at
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id", "contact", "rule"],
            set_={"number": number, "created_at": at},
        )
    )


def _country(accepted: Accepted) -> str | None:
    if accepted.contact_kind is not ContactKind.PHONE:
        return None
    return number_facts(accepted.contact).country  # cached: the intake rules asked already


def insert_session(
    conn: Connection,
    request: InformerRequest,
    accepted: Accepted,
    *,
    account_id: int,
    token_id: int | None,
    request_id: str,
    at: float,
    plan: SessionPlan | None = None,
) -> int:
    """The queued session of an accepted request; its id."""
    values = session_values(
        request, accepted, account_id=account_id, token_id=token_id, request_id=request_id,
        at=at, plan=plan,
    )  # fmt: skip
    inserted = _INSERT_SESSION.first(conn, values)
    assert inserted is not None
    return int(inserted[0])


def session_values(
    request: InformerRequest,
    accepted: Accepted,
    *,
    account_id: int,
    token_id: int | None,
    request_id: str,
    at: float,
    plan: SessionPlan | None = None,
) -> dict[str, Any]:
    """The ``call_sessions`` row (but its id) of an accepted request. ``plan``: its options
    (stored as JSON text, as every driver takes it) and first dialling time."""
    options = None if plan is None or plan.options is None else plan.options.to_json()
    # collect_speech: "" until a reply is recognised, so that a session that never reaches a
    # call (released while queued, expired) reports "nothing said" rather than "not asked".
    speech = plan is not None and plan.options is not None and plan.options.collect_speech
    return dict(
        account_id=account_id,
        access_token_id=token_id,
        source=CALL_SOURCE,
        request_id=request_id,
        external_id=request.external_id,
        virtual_phone_number=request.virtual_number,
        usage_rule=request.rule.value,
        caller_number=accepted.caller.number,
        contact=accepted.contact,
        contact_kind=accepted.contact_kind.value,
        contact_region=accepted.contact_region,
        contact_country=_country(accepted),
        direction=request.direction.value,
        dtmf_string=request.dtmf_string,
        dialing_timeout=request.dialing_timeout,
        message_type=request.message_type.value,
        message_value=request.message_value,
        media_file_id=request.media_file_id,
        state=CallState.QUEUED.value,
        created_at=at,
        release_requested=False,
        dial_attempts=0,
        options=None if options is None else _encode(options).decode(),
        scheduled_at=None if plan is None else plan.scheduled_at,
        speech_reply="" if speech else None,
    )
