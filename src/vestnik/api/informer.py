"""``start.informer_call``: validate in the documented order, choose the caller number, queue.

Check order (docs/api.md mirrors it): envelope → access_token → account gates → component
"Call API Информационный вызов" → unknown keys → required/types (spec order) → values (spec
order) → number-management component for non-fixed rules → virtual_phone_number is the
account's → contact is not the account's own number → employee SIP number → media file →
TTS length → blacklist → call-direction security rules → caller number → session insert →
points charge (by the endpoint). The insert and the charge share one transaction, so a refused
charge leaves no session; the reply never waits for the call.
"""

from __future__ import annotations

import random
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from vestnik.api.auth import Component, check_component
from vestnik.api.errors import ApiError
from vestnik.api.jsonrpc import MethodCall, MethodSpec
from vestnik.api.params import Kind, Param, db_id
from vestnik.calls import CallState, ContactKind, Direction, MessageType, UsageRule
from vestnik.calls.events import CALL_SOURCE
from vestnik.calls.numbers import (
    REGIONAL_RULES,
    STICKY_RULES,
    ContactForm,
    PoolNumber,
    choose_caller_number,
    classify_call,
    normalize_e164,
    number_facts,
    parse_contact,
    possible_e164,
    sip_key,
)
from vestnik.store import media as media_store
from vestnik.store import numbering
from vestnik.store.accounts import NUMBER_ACTIVE
from vestnik.store.blacklist import is_blacklisted
from vestnik.store.prepared import Prepared
from vestnik.store.schema import (
    call_sessions,
    employees,
    numa_caller_numbers,
    virtual_numbers,
)

DEFAULT_DIALING_TIMEOUT = 30.0
MIN_DIALING_TIMEOUT = 1.0
MAX_DIALING_TIMEOUT = 120.0
MAX_TEXT_COLUMN = 255  # external_id, dtmf_string, contact are VARCHAR(255)
DTMF_PATTERN = re.compile(r"[0-9*#.]*")

PARAMS = (
    Param("access_token", Kind.STRING, required=True),
    Param("virtual_phone_number", Kind.STRING, required=True),
    Param("virtual_phone_usage_rule", Kind.STRING),
    Param("external_id", Kind.STRING),
    Param("dtmf_string", Kind.STRING),
    Param("direction", Kind.STRING),
    Param("contact", Kind.STRING, required=True),
    Param("dialing_timeout", Kind.NUMBER),
    Param(
        "contact_message",
        Kind.OBJECT,
        required=True,
        fields=(Param("type", Kind.STRING, required=True), Param("value", Kind.STRING, True)),
    ),
)

_rng = random.Random()
_RULES = frozenset(rule.value for rule in UsageRule)
_DIRECTIONS = frozenset(d.value for d in Direction)
_MESSAGE_TYPES = frozenset(t.value for t in MessageType)

# Hot-path statements, built once (building costs more than running them on SQLite).
_OWNED = Prepared(
    sa.select(virtual_numbers.c.number).where(
        virtual_numbers.c.account_id == sa.bindparam("account_id"),
        virtual_numbers.c.status == NUMBER_ACTIVE,
        virtual_numbers.c.number.in_([sa.bindparam("a"), sa.bindparam("b")]),
    )
)
_SESSION_FIELDS = [
    "account_id", "access_token_id", "source", "request_id", "external_id",
    "virtual_phone_number", "usage_rule", "caller_number", "contact", "contact_kind",
    "contact_region", "direction", "dtmf_string", "dialing_timeout", "message_type",
    "message_value", "media_file_id", "state", "created_at", "release_requested",
    "dial_attempts",
]  # fmt: skip
_INSERT_SESSION = Prepared(
    call_sessions.insert().returning(call_sessions.c.id), column_keys=_SESSION_FIELDS
)
_REGISTRY_LOOKUP = Prepared(numbering.LOOKUP)


def _bad(field: str, value: Any) -> ApiError:
    return ApiError("invalid_parameter_value", field=field, value=value)


def region_of(conn: Connection, digits: str) -> str | None:
    """The numbering-plan registry's region, else the geocoder's for geographic numbers."""
    number = int(digits)
    found = _REGISTRY_LOOKUP.first(conn, {"n": number})
    if found is not None and found[0] >= number and found[2]:
        return str(found[2])
    return number_facts(digits).geo_region


def start_informer_call(call: MethodCall, conn: Connection) -> dict[str, Any]:
    p = call.params
    account = call.principal.account
    account_id = call.principal.account_id

    # Values, in the order of the spec's parameter table.
    vpn_raw: str = p["virtual_phone_number"]
    vpn = normalize_e164(vpn_raw)
    if vpn is None or not possible_e164(vpn):
        raise _bad("virtual_phone_number", vpn_raw)
    rule_raw = p.get("virtual_phone_usage_rule") or UsageRule.FIXED.value
    if rule_raw not in _RULES:
        raise _bad("virtual_phone_usage_rule", rule_raw)
    rule = UsageRule(rule_raw)
    external_id = p.get("external_id")
    if external_id is not None and len(external_id) > MAX_TEXT_COLUMN:
        raise _bad("external_id", external_id)
    dtmf = p.get("dtmf_string")
    if dtmf is not None and (len(dtmf) > MAX_TEXT_COLUMN or not DTMF_PATTERN.fullmatch(dtmf)):
        raise _bad("dtmf_string", dtmf)
    direction_raw = p.get("direction") or Direction.IN.value
    if direction_raw not in _DIRECTIONS:
        raise _bad("direction", direction_raw)
    contact_raw: str = p["contact"]
    contact = parse_contact(contact_raw) if len(contact_raw) <= MAX_TEXT_COLUMN else None
    if contact is None or contact.form is ContactForm.INVALID:
        raise _bad("contact", contact_raw)
    if contact.form is ContactForm.EXTENSION:
        raise ApiError("internal_number_not_supported", field="contact", value=contact_raw)
    timeout = p.get("dialing_timeout")
    timeout = DEFAULT_DIALING_TIMEOUT if timeout is None else float(timeout)
    if not MIN_DIALING_TIMEOUT <= timeout <= MAX_DIALING_TIMEOUT:
        raise _bad("dialing_timeout", p.get("dialing_timeout"))
    message = p["contact_message"]
    if message["type"] not in _MESSAGE_TYPES:
        raise _bad("contact_message.type", message["type"])
    message_type = MessageType(message["type"])
    text: str = message["value"]
    if not text.strip():
        raise _bad("contact_message.value", text)
    media_id = db_id(text, "contact_message.value") if message_type is MessageType.MEDIA else None

    # Method errors.
    if rule is not UsageRule.FIXED:
        check_component(call.principal, Component.NUMBER_MANAGEMENT)
    other = contact.value if contact.form is ContactForm.PHONE else vpn
    owned = {row[0] for row in _OWNED.all(conn, {"account_id": account_id, "a": vpn, "b": other})}
    if vpn not in owned:
        raise ApiError(
            "virtual_phone_number_not_found", field="virtual_phone_number", value=vpn_raw,
            params={"virtual_phone_number": vpn_raw},
        )  # fmt: skip
    if contact.form is ContactForm.PHONE and contact.value in owned:
        raise ApiError("own_virtual_phone_number_not_allowed", field="contact", value=contact_raw)
    stored_contact = contact.value
    if contact.form is ContactForm.SIP:
        stored_contact = _employee_uri(conn, account_id, contact.value, contact_raw)
    if media_id is not None:
        if not media_store.is_usable(conn, account_id, media_id):
            raise ApiError(
                "media_file_not_found", field="contact_message.value", value=text,
                params={"media_file_id": text},
            )  # fmt: skip
    elif len(text) > int(account["tts_max_length"]):
        raise ApiError(
            "tts_text_exceeded", field="contact_message.value", value=text,
            params={"tts_message_max_length": int(account["tts_max_length"]),
                    "sent_tts_message_length": len(text)},
        )  # fmt: skip
    kind = ContactKind.SIP if contact.form is ContactForm.SIP else ContactKind.PHONE
    if is_blacklisted(conn, account_id, stored_contact, kind):
        raise ApiError(
            "contact_in_blacklist", field="contact", value=contact_raw,
            params={"contact": contact_raw},
        )  # fmt: skip
    contact_region: str | None = None
    if contact.form is ContactForm.PHONE:
        contact_region = region_of(conn, contact.value)
        classes = classify_call(
            number_facts(contact.value),
            contact_region,
            str(account["home_country"] or "RU"),
            account["home_region"],
        )
        for cls in classes:
            if not account[f"allow_{cls.value}"]:
                raise ApiError(
                    "call_direction_not_allowed", field="contact", value=contact_raw,
                    params={"call_direction": cls.value},
                )  # fmt: skip

    caller = _caller_number(conn, account_id, rule, vpn, stored_contact, contact_region, call.at)
    inserted = _INSERT_SESSION.first(
        conn,
        dict(
            account_id=account_id,
            access_token_id=call.principal.token_id,
            source=CALL_SOURCE,
            request_id=call.request_id_json,
            external_id=external_id,
            virtual_phone_number=vpn,
            usage_rule=rule.value,
            caller_number=caller,
            contact=stored_contact,
            contact_kind=kind.value,
            contact_region=contact_region,
            direction=direction_raw,
            dtmf_string=dtmf or None,
            dialing_timeout=timeout,
            message_type=message_type.value,
            message_value=text,
            media_file_id=media_id,
            state=CallState.QUEUED.value,
            created_at=call.at,
            release_requested=False,
            dial_attempts=0,
        ),
    )
    assert inserted is not None
    return {"call_session_id": int(inserted[0])}


def _employee_uri(conn: Connection, account_id: int, uri: str, raw: str) -> str:
    key = sip_key(uri)
    for stored in conn.execute(
        sa.select(employees.c.sip_uri).where(employees.c.account_id == account_id)
    ).scalars():
        if sip_key(stored) == key:
            return stored if stored.lower().startswith(("sip:", "sips:")) else "sip:" + stored
    raise ApiError(
        "employee_sip_number_not_found", field="contact", value=raw, params={"contact": raw}
    )


def _caller_number(
    conn: Connection,
    account_id: int,
    rule: UsageRule,
    requested: str,
    contact: str,
    contact_region: str | None,
    at: float,
) -> str:
    if rule is UsageRule.FIXED:
        return requested
    rows = conn.execute(
        sa.select(virtual_numbers.c.number, virtual_numbers.c.region).where(
            virtual_numbers.c.account_id == account_id, virtual_numbers.c.status == NUMBER_ACTIVE
        )
    ).all()
    pool = [
        PoolNumber(
            number,
            region if region or rule not in REGIONAL_RULES else region_of(conn, number),
        )
        for number, region in rows
    ]
    sticky = None
    if rule in STICKY_RULES:
        sticky = conn.execute(
            sa.select(numa_caller_numbers.c.number).where(
                numa_caller_numbers.c.account_id == account_id,
                numa_caller_numbers.c.contact == contact,
                numa_caller_numbers.c.rule == rule.value,
            )
        ).scalar()
    choice = choose_caller_number(rule, requested, pool, contact_region, sticky, _rng)
    if choice.remember:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(numa_caller_numbers).values(
            account_id=account_id, contact=contact, rule=rule.value, number=choice.number,
            created_at=at,
        )  # fmt: skip
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["account_id", "contact", "rule"],
                set_={"number": choice.number, "created_at": at},
            )
        )
    return choice.number


START_INFORMER_CALL = MethodSpec(
    params=PARAMS, handler=start_informer_call, component=Component.INFORMER_CALL
)
