"""``get.calls_report`` (a row per session) and ``get.call_legs_report`` (a row per leg).

Each table lists every field of the vendor's page in the vendor's order, with the vendor's
flags (F filterable, S sortable, D default) and where vestnik takes the value from; fields
vestnik has no data for are always ``null`` (``[]`` for arrays).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.calls import CallState
from vestnik.calls.legs import (
    LEG_FINISH_REASON,
    LEG_NETWORK_FAILED,
    LEG_REFUSED,
    NO_ANSWER,
    NORMAL_CLEARING,
    Q850_BY_SIP_CODE,
    Q850_DESCRIPTION,
    TEMPORARY_FAILURE,
)
from vestnik.calls.model import FinishReason
from vestnik.calls.numbers import country_names
from vestnik.store.recordings import last_recording_path_expr, read_ids, recording_ids_expr
from vestnik.store.reports.pages import (
    Dataset,
    FieldSpec,
    Page,
    PageQuery,
    ValueKind,
    int_or_zero,
    no_data,
    run_page,
)
from vestnik.store.reports.pages import FieldSpec as F
from vestnik.store.reports.pages import ValueKind as K
from vestnik.store.schema import call_sessions

_cs = call_sessions.c
NUM, STR, BOOL, TIME, ARR = K.NUMBER, K.STRING, K.BOOLEAN, K.DATETIME, K.ARRAY


def _request_id(value: Any) -> Any:
    """call_sessions.request_id holds the JSON-RPC id JSON-encoded: give it back as sent."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def _json_id(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _duration(end: Any, start: Any) -> Any:
    """Whole seconds from ``start`` to ``end``, 0 while either is unknown."""
    return sa.case(
        (sa.or_(end.is_(None), start.is_(None)), 0),
        else_=sa.func.round(end - start),
    )


_COUNTRY_NAME = sa.case(country_names(), value=_cs.contact_country, else_=sa.null())

# Durations are measured from the start of dialling, like the notification variables.
_dial_start = sa.func.coalesce(_cs.dial_at, _cs.created_at)
_wait = _duration(sa.func.coalesce(_cs.answer_at, _cs.end_at), _dial_start)
_talk = _duration(_cs.end_at, _cs.answer_at)
_total = _duration(_cs.end_at, _dial_start)
_is_lost = sa.case((_cs.answer_at.is_(None), sa.true()), else_=sa.false())
_INFORMER = "the informer call is never transferred"
_RECORDING_IDS = recording_ids_expr()
_RECORDS = (
    "`record: true`: the ids (strings) of the session's recordings, one per answered "
    "attempt, oldest first"
)
_WAV = "(every recording is a WAV file)"
_LINK = (
    "the download URL of the last recording: `[server] public_url` + "
    '`/system/media/talk/{id}/{recording id}/` (docs/api.md, "Recordings"); null: none'
)


def _empty(names: str, kind: ValueKind, vendor_type: str, flags: str) -> dict[str, FieldSpec]:
    return {name: no_data(kind, vendor_type, flags) for name in names.split()}


CALLS_REPORT = Dataset(
    fields={
        "id": F(NUM, "number", "FD", "the call_session_id", _cs.id, more_flags="S", row_id=True),
        "start_time": F(TIME, "iso8601", "SD", "session created (request accepted)",
                        _cs.created_at, more_flags="F"),
        "finish_time": F(TIME, "iso8601", "D", "session ended; null while ongoing", _cs.end_at,
                         more_flags="FS"),
        "finish_reason": F(STR, "enum", "FSD", "why it ended (vendor words, plus our "
                           "`released`); null while ongoing", _cs.finish_reason),
        "direction": F(STR, "enum", "FSD", "`direction` of the request", _cs.direction),
        "cpn_region_id": no_data(NUM, "number", "FSD"),
        "cpn_region_name": F(STR, "string", "FSD", "the contact's region: numbering plan, "
                             "else libphonenumber's geocoder", _cs.contact_region),
        "cpn_country_name": F(STR, "string", "FSD", "the contact's country (libphonenumber, "
                              "in Russian)", _COUNTRY_NAME),
        "cpn_country_id": F(STR, "string", "FSD", "the contact's country, ISO 3166 alpha-2",
                            _cs.contact_country),
        **_empty("properties", STR, "string", ""),
        **_empty("scenario_operations", ARR, "array", "F"),
        "source": F(STR, "enum", "FSD", "`callapi_informer_call`", _cs.source),
        "is_lost": F(BOOL, "boolean", "FSD", "the contact never answered", _is_lost, bool),
        **_empty("communication_number", NUM, "number", "FS"),
        **_empty("communication_page_url", STR, "string", ""),
        "contact_phone_number": F(STR, "string", "FD", "the contact (E.164 digits or a SIP "
                                  "URI)", _cs.contact, more_flags="S"),
        "communication_id": F(NUM, "number", "FD", "= `id` (the call is the communication)",
                              _cs.id, more_flags="S", row_id=True),
        "communication_type": F(STR, "enum", "D", "`call`", sa.literal("call")),
        "wait_duration": F(NUM, "number", "FD", "seconds from dialling to answer (or to the "
                           "end if unanswered)", _wait, int_or_zero, more_flags="S"),
        "total_wait_duration": F(NUM, "number", "FD", "= `wait_duration` (one leg)", _wait,
                                 int_or_zero, more_flags="S"),
        "talk_duration": F(NUM, "number", "FD", "seconds from answer to end", _talk,
                           int_or_zero, more_flags="S"),
        "clean_talk_duration": F(NUM, "number", "FD", "= `talk_duration` (nobody waits on "
                                 "hold)", _talk, int_or_zero, more_flags="S"),
        "total_duration": F(NUM, "number", "FD", "seconds from dialling to end", _total,
                            int_or_zero, more_flags="S"),
        **_empty("lost_call_processing_duration", NUM, "number", "FS"),
        **_empty("postprocess_duration", NUM, "number", "F"),
        "call_records": F(ARR, "array", "D", _RECORDS, _RECORDING_IDS, read_ids),
        "wav_call_records": F(ARR, "array", "D", f"= `call_records` {_WAV}", _RECORDING_IDS,
                              read_ids),
        "full_record_file_link": F(STR, "string", "D", _LINK, last_recording_path_expr()),
        **_empty("voice_mail_records", ARR, "array", ""),
        "virtual_phone_number": F(STR, "string", "FSD", "the caller number actually used",
                                  _cs.caller_number),
        **_empty("ua_client_id ym_client_id ymclid", STR, "string", ""),
        **_empty("sale_date", TIME, "iso8601", "FS"),
        **_empty("sale_cost", NUM, "number", "FS"),
        "is_transfer": F(BOOL, "boolean", "FS", f"`false`: {_INFORMER}", sa.false(), bool),
        **_empty("search_query search_engine referrer_domain referrer entrance_page gclid "
                 "yclid ef_id", STR, "string", "F"),
        **_empty("channel", STR, "enum", "F"),
        **_empty("tags employees", ARR, "array", "F"),
        **_empty("last_answered_employee_id first_answered_employee_id "
                 "last_talked_employee_id first_talked_employee_id "
                 "last_answered_employee_rating", NUM, "number", "F"),
        **_empty("last_answered_employee_full_name first_answered_employee_full_name "
                 "last_talked_employee_full_name first_talked_employee_full_name "
                 "operator_phone_number scenario_name", STR, "string", "F"),
        **_empty("scenario_id", NUM, "number", "FS"),
        **_empty("site_domain_name", STR, "string", "F"),
        **_empty("site_id", NUM, "number", "FS"),
        **_empty("campaign_name", STR, "string", "F"),
        **_empty("campaign_id", NUM, "number", "FS"),
        **_empty("visit_other_campaign", BOOL, "boolean", ""),
        **_empty("auto_call_campaign_name", STR, "string", "FS"),
        **_empty("visitor_id", NUM, "number", "FS"),
        **_empty("person_id visitor_session_id visits_count visitor_first_campaign_id", NUM,
                 "number", "F"),
        **_empty("visitor_type", STR, "enum", "FS"),
        **_empty("visitor_first_campaign_name visitor_city visitor_region visitor_country",
                 STR, "string", "F"),
        **_empty("visitor_device", STR, "enum", "FS"),
        **_empty("visitor_custom_properties segments", ARR, "array", "F"),
        "call_api_request_id": F(K.REQUEST_ID, "number", "F", "the JSON-RPC `id` of "
                                 "`start.informer_call`, as sent (a number or a string)",
                                 _cs.request_id, _request_id, encode=_json_id),
        "call_api_external_id": F(STR, "string", "F", "`external_id` of the request",
                                  _cs.external_id, more_flags="S"),
        **_empty("contact_id", NUM, "number", "F"),
        **_empty("contact_full_name utm_source utm_medium utm_term utm_content utm_campaign "
                 "openstat_ad openstat_campaign openstat_service openstat_source", STR,
                 "string", "F"),
        **_empty("attributes", ARR, "array", "F"),
        **_empty("eq_utm_source eq_utm_medium eq_utm_term eq_utm_content eq_utm_campaign "
                 "eq_utm_referrer eq_utm_expid", STR, "string", "F"),
        **_empty("source_id", NUM, "number", "FS"),
        **_empty("source_name source_new channel_new channel_code ext_id", STR, "string",
                 "FS"),
        # Not on the vendor's page today; comagic-data-api-sdk asks for it by default.
        "utm_referrer": no_data(STR, "string", "", ours=True),
        "trunk": F(STR, "string", "", "the trunk (its `name`) that carried the call, or the "
                   "last one tried; null when no INVITE went out", _cs.trunk, more_flags="FS",
                   ours=True),
        "dtmf_reply": F(STR, "string", "", "the keys the contact pressed (`collect_dtmf`); "
                        "`\"\"` none; null when not asked", _cs.dtmf_reply, more_flags="F",
                        ours=True),
        "attempts": F(NUM, "number", "", "attempts begun (a `retry` makes several; 0 when "
                      "none was dialled)", _cs.attempt_count, more_flags="FS", ours=True),
        "answered_by": F(STR, "enum", "", "`human`, `machine` or `unknown` "
                         "(`detect_machine`); null when not asked", _cs.answered_by,
                         more_flags="F", ours=True),
        "speech_reply": F(STR, "string", "", "the contact's spoken reply as recognised "
                          "(`collect_speech`); `\"\"` nothing recognised; null when not asked",
                          _cs.speech_reply, more_flags="F", ours=True),
        "speech_intent": F(STR, "string", "", "the intent (its name) the spoken reply matched; "
                           "null when none matched or not asked", _cs.speech_intent,
                           more_flags="F", ours=True),
    },
    source=call_sessions,
    default_sort=(("start_time", "asc"),),
    tiebreaker=_cs.id,
)  # fmt: skip


def _leg_finish_reason() -> Any:
    same = {r.value: r.value for r in FinishReason} | LEG_FINISH_REASON
    failed = FinishReason.NO_SUCCESS_SUBSCRIBER_CALL.value
    network = sa.or_(_cs.sip_code.is_(None), _cs.sip_code >= 500, _cs.sip_code < 400)
    return sa.case(
        (sa.and_(_cs.finish_reason == failed, network), LEG_NETWORK_FAILED),
        (_cs.finish_reason == failed, LEG_REFUSED),
        else_=sa.case(same, value=_cs.finish_reason, else_=_cs.finish_reason),
    )


def _release_cause() -> Any:
    unanswered = FinishReason.SUBSCRIBER_NOT_RESPONSIBLE.value
    return sa.case(
        (_cs.answer_at.is_not(None), NORMAL_CLEARING),
        (sa.and_(_cs.finish_reason == unanswered, _cs.sip_code.in_([487, 408])), NO_ANSWER),
        (_cs.sip_code.is_(None), TEMPORARY_FAILURE),
        else_=sa.case(Q850_BY_SIP_CODE, value=_cs.sip_code, else_=127),
    )


_CAUSE = _release_cause()
_SESSION = "the session's"

CALL_LEGS_REPORT = Dataset(
    fields={
        "id": F(NUM, "number", "FD", "the leg's id: = `call_session_id` (one leg per session)",
                _cs.id, more_flags="S", row_id=True),
        "call_session_id": F(NUM, "number", "FSD", "the session", _cs.id, row_id=True),
        **_empty("call_records wav_call_records", ARR, "array", "D"),
        "start_time": F(TIME, "iso8601", "SD", "INVITE sent", _cs.dial_at, more_flags="F"),
        "connect_time": F(TIME, "iso8601", "D", "answered (200 OK); null if not",
                          _cs.answer_at, more_flags="FS"),
        "duration": F(NUM, "number", "FSD", "seconds from answer to end", _talk,
                      int_or_zero),
        "total_duration": F(NUM, "number", "FSD", "seconds from INVITE to end", _total,
                            int_or_zero),
        "finish_reason": F(STR, "enum", "FSD", "the leg's word for the session's "
                           "finish_reason (docs/data-api.md)", _leg_finish_reason()),
        "finish_reason_description": F(STR, "string", "FS", f"{_SESSION} finish_detail in "
                                       "plain words", _cs.finish_detail),
        "virtual_phone_number": F(STR, "string", "FSD", "the caller number used",
                                  _cs.caller_number),
        "calling_phone_number": F(STR, "string", "FSD", "= `virtual_phone_number`",
                                  _cs.caller_number),
        "called_phone_number": F(STR, "string", "FSD", "the contact", _cs.contact),
        "direction": F(STR, "enum", "FSD", "`out` (towards the contact)", sa.literal("out")),
        "is_transfered": F(BOOL, "boolean", "FSD", f"`false`: {_INFORMER}", sa.false(), bool),
        "is_operator": F(BOOL, "boolean", "FSD", "`false`: the leg is the contact's",
                         sa.false(), bool),
        "is_coach": F(BOOL, "boolean", "FSD", "`false`", sa.false(), bool),
        "is_failed": F(BOOL, "boolean", "FSD", "not answered", _is_lost, bool),
        "is_talked": F(BOOL, "boolean", "FS", "answered", sa.not_(_is_lost), bool),
        **_empty("employee_id", NUM, "number", "FSD"),
        **_empty("employee_full_name employee_phone_number", STR, "string", "FS"),
        **_empty("employee_rating scenario_id", NUM, "number", "FSD"),
        **_empty("scenario_name", STR, "string", "FS"),
        "release_cause_code": F(NUM, "number", "FSD", "Q.850 cause: 16 answered, 19 no "
                                "answer, else RFC 3398's for the SIP code (41 no response)",
                                _CAUSE),
        "release_cause_description": F(STR, "string", "FSD", "the Q.850 name of the cause",
                                       sa.case(Q850_DESCRIPTION, value=_CAUSE,
                                               else_="Interworking, unspecified")),
        **_empty("contact_id", NUM, "id", ""),
        **_empty("contact_full_name", STR, "string", ""),
        "contact_phone_number": F(STR, "string", "", "the contact", _cs.contact),
        **_empty("action_id", NUM, "number", "FD"),
        **_empty("action_name", STR, "string", "FD"),
        **_empty("group_id", NUM, "number", "FD"),
        **_empty("group_name", STR, "string", "FD"),
    },
    source=call_sessions,
    default_sort=(("start_time", "asc"),),
    tiebreaker=_cs.id,
)  # fmt: skip


def _sessions_between(account_id: int, start: float, end: float) -> list[Any]:
    return [_cs.account_id == account_id, _cs.created_at >= start, _cs.created_at <= end]


def calls_report(
    conn: Connection,
    account_id: int,
    start: float,
    end: float,
    query: PageQuery,
    *,
    ongoing: bool = False,
) -> Page:
    """The account's sessions created from ``start`` to ``end``; finished ones only unless
    ``ongoing``."""
    where = _sessions_between(account_id, start, end)
    if not ongoing:
        where.append(_cs.state == CallState.FINISHED.value)
    return run_page(conn, CALLS_REPORT, query, where)


def call_legs_report(
    conn: Connection, account_id: int, start: float, end: float, query: PageQuery
) -> Page:
    """The legs of the account's finished sessions created from ``start`` to ``end`` (the
    sessions of ``get.calls_report``) that were dialled."""
    where = _sessions_between(account_id, start, end)
    where += [_cs.state == CallState.FINISHED.value, _cs.dial_at.is_not(None)]
    return run_page(conn, CALL_LEGS_REPORT, query, where)
