"""``start.informer_call``: validate in the documented order, then decide and queue.

Check order (docs/api.md mirrors it): envelope → access_token → account gates → component
"Call API Информационный вызов" → unknown keys → required/types (spec order, then vestnik's
extensions) → values (spec order, :func:`parse_request`; then the extensions,
:func:`parse_options`) → the rules of :func:`vestnik.calls.intake.decide` (number
management component for non-fixed rules → virtual_phone_number is the account's → contact is
not the account's own number → employee SIP number → media file → TTS length → blacklist →
call-direction security rules → caller number) → the session's options and schedule
(:func:`session_plan`: the request's options or the account's policy, the calling window's
zone and next opening) → session insert → points charge (by the endpoint). The insert and
the charge share one transaction, so a refused charge leaves no session; the reply never
waits for the call.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from vestnik.api.auth import Component, component_disabled
from vestnik.api.errors import ApiError
from vestnik.api.jsonrpc import MethodCall
from vestnik.api.params import Kind, Param, db_id
from vestnik.calls import Direction, MessageType, UsageRule
from vestnik.calls.intake import (
    Accepted,
    AccountRules,
    InformerRequest,
    Refusal,
    Refused,
    decide,
)
from vestnik.calls.numbers import ContactForm, normalize_e164, parse_contact, possible_e164
from vestnik.calls.options import CallOptions
from vestnik.calls.policy import (
    POLICY_KEYS,
    OptionError,
    SessionPlan,
    effective_options,
    plan_session,
    policy_of,
    read_options,
    sends,
)
from vestnik.store import intake as intake_store
from vestnik.store.db import Connection

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
    # vestnik's extensions (docs/api.md, "vestnik's extensions"), after the vendor's.
    Param(
        "collect_dtmf",
        Kind.OBJECT,
        fields=(
            Param("max_digits", Kind.INTEGER), Param("timeout", Kind.NUMBER),
            Param("finish_on", Kind.STRING),
        ),
    ),
    Param(
        "collect_speech",
        Kind.OBJECT,
        fields=(
            Param("timeout", Kind.NUMBER), Param("language", Kind.STRING),
            Param("intents", Kind.OBJECT),
        ),
    ),
    Param(
        "retry",
        Kind.OBJECT,
        fields=(
            Param("attempts", Kind.INTEGER, True), Param("interval", Kind.INTEGER, True),
            Param("on", Kind.ARRAY),
        ),
    ),
    Param(
        "calling_window",
        Kind.OBJECT,
        fields=(
            Param("from", Kind.STRING, True), Param("till", Kind.STRING, True),
            Param("timezone", Kind.STRING),
        ),
    ),
    Param("detect_machine", Kind.BOOLEAN),
    Param("record", Kind.BOOLEAN),
)  # fmt: skip

CALLER_RNG = random.Random()  # picks among caller numbers (non-fixed rules)
_RULES = {rule.value: rule for rule in UsageRule}
_DIRECTIONS = {d.value: d for d in Direction}
_MESSAGE_TYPES = {t.value: t for t in MessageType}


def _bad(field: str, value: Any) -> ApiError:
    return ApiError("invalid_parameter_value", field=field, value=value)


def parse_request(p: Mapping[str, Any]) -> InformerRequest:
    """The parameters' values, checked in the order of the spec's parameter table."""
    vpn = normalize_e164(p["virtual_phone_number"])
    if vpn is None or not possible_e164(vpn):
        raise _bad("virtual_phone_number", p["virtual_phone_number"])
    rule = p.get("virtual_phone_usage_rule") or UsageRule.FIXED.value
    if rule not in _RULES:
        raise _bad("virtual_phone_usage_rule", rule)
    external_id = p.get("external_id")
    if external_id is not None and len(external_id) > MAX_TEXT_COLUMN:
        raise _bad("external_id", external_id)
    dtmf = p.get("dtmf_string")
    if dtmf is not None and (len(dtmf) > MAX_TEXT_COLUMN or not DTMF_PATTERN.fullmatch(dtmf)):
        raise _bad("dtmf_string", dtmf)
    direction = p.get("direction") or Direction.IN.value
    if direction not in _DIRECTIONS:
        raise _bad("direction", direction)
    raw_contact: str = p["contact"]
    contact = parse_contact(raw_contact) if len(raw_contact) <= MAX_TEXT_COLUMN else None
    if contact is None or contact.form is ContactForm.INVALID:
        raise _bad("contact", raw_contact)
    if contact.form is ContactForm.EXTENSION:
        raise ApiError(
            "invalid_parameter_value", field="contact", value=raw_contact,
            params={"reason": EXTENSION_NOT_SUPPORTED},
        )  # fmt: skip
    timeout = p.get("dialing_timeout")
    timeout = DEFAULT_DIALING_TIMEOUT if timeout is None else float(timeout)
    if not MIN_DIALING_TIMEOUT <= timeout <= MAX_DIALING_TIMEOUT:
        raise _bad("dialing_timeout", p.get("dialing_timeout"))
    message = p["contact_message"]
    message_type = _MESSAGE_TYPES.get(message["type"])
    if message_type is None:
        raise _bad("contact_message.type", message["type"])
    text: str = message["value"]
    if not text.strip():
        raise _bad("contact_message.value", text)
    media_id = db_id(text, "contact_message.value") if message_type is MessageType.MEDIA else None
    return InformerRequest(
        virtual_number=vpn, rule=_RULES[rule], contact=contact, message_type=message_type,
        message_value=text, media_file_id=media_id, direction=_DIRECTIONS[direction],
        dialing_timeout=timeout, external_id=external_id, dtmf_string=dtmf or None,
    )  # fmt: skip


# The vendor has no mnemonic of its own for these: invalid_parameter_value, and why in
# data.params.reason.
EXTENSION_NOT_SUPPORTED = (
    "internal employee numbers are not supported: use the employee's SIP number or an E.164 "
    "phone number"
)
NOT_AN_EMPLOYEE = "{contact} is not the SIP number of one of your employees"


def parse_options(
    p: Mapping[str, Any], speech_unavailable: str | None = None
) -> CallOptions | None:
    """vestnik's extensions, checked after the vendor's parameters (None: none sent).
    ``speech_unavailable``: why this server refuses ``collect_speech`` (None: it takes it)."""
    try:
        return read_options(p, speech_unavailable=speech_unavailable)
    except OptionError as exc:
        why: dict[str, Any] = {}
        if exc.mnemonic == "invalid_parameter_value":
            why = {"reason": exc.reason}
        elif exc.expected_type is not None:
            why = {"expected_type": exc.expected_type}
        raise ApiError(exc.mnemonic, field=exc.field, value=exc.value, params=why) from None


def session_plan(
    params: Mapping[str, Any],
    requested: CallOptions | None,
    accepted: Accepted,
    account: Mapping[str, Any],
    at: float,
) -> SessionPlan:
    """The options an accepted request's session runs with, and when it is first dialled."""
    options = effective_options(
        requested, sends(params, POLICY_KEYS), policy_of(account["call_policy"])
    )
    return plan_session(
        options, contact=accepted.contact, contact_kind=accepted.contact_kind,
        contact_region=accepted.contact_region, home_region=account["home_region"], at=at,
    )  # fmt: skip


def start_informer_call(
    call: MethodCall, conn: Connection, *, speech_unavailable: str | None = None
) -> dict[str, Any]:
    """The general path. ``speech_unavailable``: bound by :func:`informer_spec` (the service
    knows whether spoken replies can be recognised; this package may not ask)."""
    request = parse_request(call.params)
    requested = parse_options(call.params, speech_unavailable)
    account_id = call.principal.account_id
    rules = AccountRules.of(call.principal.account)
    facts = intake_store.gather_facts(conn, account_id, request)
    decision = decide(request, rules, facts, CALLER_RNG)
    if isinstance(decision, Refused):
        raise refusal_error(decision, call.params, rules)
    if decision.caller.remember:
        intake_store.remember_caller(
            conn, account_id, decision.contact, request.rule, decision.caller.number, call.at
        )
    plan = session_plan(call.params, requested, decision, call.principal.account, call.at)
    session_id = intake_store.insert_session(
        conn, request, decision, account_id=account_id, token_id=call.principal.token_id,
        request_id=call.request_id_json, at=call.at, plan=plan,
    )  # fmt: skip
    return {"call_session_id": session_id}


def refusal_error(refused: Refused, p: Mapping[str, Any], rules: AccountRules) -> ApiError:
    """The error a refusal answers, naming the parameter as the client sent it."""
    vpn, contact, text = p["virtual_phone_number"], p["contact"], p["contact_message"]["value"]
    about_contact = {"field": "contact", "value": contact}
    about_message = {"field": "contact_message.value", "value": text}
    match refused.reason:
        case Refusal.NUMBER_MANAGEMENT_DISABLED:
            return component_disabled(Component.NUMBER_MANAGEMENT)
        case Refusal.VIRTUAL_NUMBER_NOT_OWNED:
            return ApiError(
                "virtual_phone_number_not_found", field="virtual_phone_number", value=vpn,
                params={"virtual_phone_number": vpn},
            )  # fmt: skip
        case Refusal.OWN_VIRTUAL_NUMBER:
            return ApiError("own_virtual_phone_number_not_allowed", **about_contact)
        case Refusal.EMPLOYEE_NOT_FOUND:
            reason = NOT_AN_EMPLOYEE.format(contact=contact)
            return ApiError("invalid_parameter_value", **about_contact, params={"reason": reason})
        case Refusal.MEDIA_FILE_NOT_FOUND:
            return ApiError("media_file_not_found", **about_message, params={"media_file_id": text})
        case Refusal.TTS_TOO_LONG:
            lengths = {
                "tts_message_max_length": rules.tts_max_length,
                "sent_tts_message_length": len(text),
            }
            return ApiError("tts_text_exceeded", **about_message, params=lengths)
        case Refusal.BLACKLISTED:
            return ApiError("contact_in_blacklist", **about_contact, params={"contact": contact})
        case Refusal.DIRECTION_NOT_ALLOWED:
            assert refused.call_class is not None
            direction = {"call_direction": refused.call_class.value}
            return ApiError("call_direction_not_allowed", **about_contact, params=direction)
