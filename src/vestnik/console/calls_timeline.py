"""A call's story for its detail page, from what the session stores: the timeline (its time
columns, ``attempt_log``, the trunk INVITEs, the outbox events) and the request's parameters
as stored (the raw body is not kept; the access token never is)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Moment:
    at: float
    what: str
    code: str | None = None  # a raw value shown beside: a SIP code, a finish reason
    note: str = ""


def timeline(call: dict[str, Any], events: list[dict[str, Any]]) -> list[Moment]:
    """What happened, in time order (moments the session does not record are left out)."""
    moments = [Moment(call["created_at"], "created", note="start.informer_call accepted")]

    def add(at: float | None, what: str, code: Any = None, note: str = "") -> None:
        if at is not None:
            moments.append(Moment(at, what, None if code is None else str(code), note))

    log = call.get("attempt_log") or []
    for entry in log:
        number, trunk = entry.get("attempt"), entry.get("trunk") or "—"
        add(entry.get("dial_at"), f"attempt {number} dialled", note=f"trunk {trunk}")
        outcome = f"{entry.get('sip_reason') or ''} → {entry.get('finish_reason')}"
        add(entry.get("end_at"), f"attempt {number} ended", entry.get("sip_code"), outcome)
    if all(entry.get("dial_at") != call.get("dial_at") for entry in log):
        add(call.get("dial_at"), "dialled", note=f"trunk {call.get('trunk') or '—'}")
    add(call.get("ring_at"), "ringing", note="the callee's phone rings")
    answered_by = call.get("answered_by") or "—"
    add(call.get("answer_at"), "answered", 200, f"answered_by {answered_by}")
    if call.get("dtmf_string"):
        note = "right after the answer (its own moment is not stored)"
        add(call.get("answer_at"), "DTMF sent", call["dtmf_string"], note)
    for event in events:
        add(event["created_at"], f"event {event['event_type']}", note="outbox, for webhooks")
    ended = f"{call.get('finish_reason')}; {call.get('sip_reason') or ''}".rstrip("; ")
    add(call.get("end_at"), "ended", call.get("sip_code"), ended)
    return sorted(moments, key=lambda m: m.at)


def request_params(call: dict[str, Any]) -> dict[str, Any]:
    """``start.informer_call``'s params rebuilt from the stored columns; the token is named by
    its id only (``access_token_id``), never shown."""
    params: dict[str, Any] = {
        "access_token_id": call.get("access_token_id"),
        "virtual_phone_number": call["virtual_phone_number"],
        "contact": call["contact"],
    }
    if call.get("external_id") is not None:
        params["external_id"] = call["external_id"]
    if call.get("dtmf_string"):
        params["dtmf_string"] = call["dtmf_string"]
    params["dialing_timeout"] = call["dialing_timeout"]
    value = call["message_value"]
    if call["message_type"] == "media" and call.get("media_file_id") is not None:
        value = call["media_file_id"]
    params["contact_message"] = {"type": call["message_type"], "value": value}
    options = dict(call.get("options") or {})
    if options.pop("source", "request") == "request":
        params.update(options)
    return params


def policy_options(call: dict[str, Any]) -> dict[str, Any] | None:
    """The options the session took from its account's policy (not from the request)."""
    options = call.get("options") or {}
    return options if options and options.get("source", "request") != "request" else None


def as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False, default=str)
