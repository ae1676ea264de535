"""Event types and the notification payload (the vendor's variable names)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

CALL_SOURCE = "callapi_informer_call"


class EventType(StrEnum):
    CALL_STARTED = "call_started"  # dialing began
    CALL_ANSWERED = "call_answered"
    CALL_FINISHED = "call_finished"


def iso(ts: float | None) -> str | None:
    """UNIX seconds → ISO 8601 with offset (vendor date-time format), None stays None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def _span(start: float | None, end: float | None) -> int:
    if start is None or end is None:
        return 0
    return max(0, round(end - start))


def notification_payload(
    session: Mapping[str, Any], event_type: EventType, at: float
) -> dict[str, Any]:
    """The body variables of one notification, from a ``call_sessions`` row.

    Durations are whole seconds: wait = dial start to answer (or end), talk = answer to end,
    total = dial start to end. The request's JSON-RPC id is deliberately not included (the
    vendor does not pass it either). ``event_id`` is added at delivery from the outbox row.
    """
    start = session.get("dial_at") or session.get("created_at")
    answer = session.get("answer_at")
    end = session.get("end_at")
    return {
        "notification_mnemonic": event_type.value,
        "notification_time": iso(at),
        "call_session_id": session["id"],
        "external_id": session.get("external_id"),
        "call_source": CALL_SOURCE,
        "direction": session.get("direction"),
        "virtual_phone_number": session.get("caller_number"),
        "contact_phone_number": session.get("contact"),
        "start_time": iso(start),
        "wait_time_duration": _span(start, answer if answer is not None else end),
        "talk_time_duration": _span(answer, end),
        "total_time_duration": _span(start, end),
        "finish_reason": session.get("finish_reason"),
        "sip_code": session.get("sip_code"),
        "sip_reason": session.get("sip_reason"),
    }


# Every variable a notification carries; a body template may use any of them.
TEMPLATE_VARIABLES: tuple[str, ...] = (
    "event_id",
    "notification_mnemonic",
    "notification_time",
    "call_session_id",
    "external_id",
    "call_source",
    "direction",
    "virtual_phone_number",
    "contact_phone_number",
    "start_time",
    "wait_time_duration",
    "talk_time_duration",
    "total_time_duration",
    "finish_reason",
    "sip_code",
    "sip_reason",
)

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class TemplateError(ValueError):
    """A body template names a variable notifications do not have."""


def check_template(template: str) -> None:
    """Refuse a template with unknown ``{{variable}}`` names (at configuration time)."""
    unknown = sorted(
        {m.group(1) for m in _PLACEHOLDER.finditer(template)} - set(TEMPLATE_VARIABLES)
    )
    if unknown:
        raise TemplateError(
            f"unknown template variable(s): {', '.join(unknown)}; "
            f"known: {', '.join(TEMPLATE_VARIABLES)}"
        )


def render_template(template: str, variables: Mapping[str, Any]) -> str:
    """Substitute ``{{name}}`` placeholders, as the vendor's notification service does.

    Values go in as text, JSON-string-escaped (quotes and backslashes escaped, no surrounding
    quotes), so a JSON template such as ``{"id": "{{call_session_id}}"}`` stays valid JSON
    whatever the value; ``null`` values become the empty string.
    """

    def value(match: re.Match[str]) -> str:
        raw = variables.get(match.group(1))
        if raw is None:
            return ""
        text = raw if isinstance(raw, str) else json.dumps(raw)
        return json.dumps(text, ensure_ascii=False)[1:-1]

    return _PLACEHOLDER.sub(value, template)
