"""The calls list's filters: the GET form's fields read into a :class:`CallFilter`, with a
clear message for input that cannot be (a non-numeric id, a date that is no date)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.datastructures import QueryParams

from vestnik.calls.model import CallState, FinishReason
from vestnik.console.render import zone_name
from vestnik.store.console_calls import CallFilter, phone_digits

FIELDS = ("q", "id", "state", "finish_reason", "external_id", "contact", "from", "till", "account")
PAGE_SIZE = 50
MAX_PAGE = 200  # offset paging stays bounded: narrow the filters to look further back

STATE_LABELS = {
    "queued": "waiting to be dialled",
    "dialing": "dialling",
    "ringing": "ringing",
    "answered": "in conversation",
    "finished": "ended",
}
REASON_LABELS = {
    "success_finish": "message played",
    "subscriber_disconnects": "callee hung up",
    "subscriber_busy": "busy",
    "subscriber_not_responsible": "no answer",
    "timeout": "dialling timed out",
    "subscriber_number_problems": "number problem",
    "no_success_subscriber_call": "call failed",
    "numa_in_black_list": "contact blacklisted",
    "max_out_call_reached": "too many calls at once",
    "out_call_not_allowed": "direction not allowed",
    "internal_error": "internal error",
    "released": "released by release.call",
}
STATES = [s.value for s in CallState]
REASONS = [r.value for r in FinishReason]


class BadFilter(ValueError):
    """A filter field that cannot be read; the message names it."""


@dataclass(frozen=True)
class ListRequest:
    wanted: CallFilter
    page: int
    form: dict[str, str]  # the fields as typed, to fill the form and build links again

    def query(self, page: int | None = None) -> str:
        """The query string of this list (optionally another page)."""
        fields = {k: v for k, v in self.form.items() if v}
        if page is not None and page > 1:
            fields["page"] = str(page)
        return urlencode(fields)


def _moment(text: str, field: str, *, end_of_day: bool) -> float:
    """``2026-12-07`` or ``2026-12-07T14:05`` (or with a space) in the console's zone → UNIX.
    A date alone as ``till`` means the end of that day."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        message = f"{field}: {text!r} is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM)"
        raise BadFilter(message) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone_name()))
    if end_of_day and len(text.strip()) <= len("YYYY-MM-DD"):
        parsed += timedelta(days=1)
    return parsed.timestamp()


def read_filters(params: QueryParams, *, operator: bool) -> ListRequest:
    """The list's filters and page from the query string; raises :class:`BadFilter`."""
    form = {name: params.get(name, "").strip() for name in FIELDS}
    if not operator:
        form["account"] = ""  # an account user's list is their account's only
    if form["state"] and form["state"] not in STATES:
        raise BadFilter(f"state: {form['state']!r} is not one of {', '.join(STATES)}")
    if form["finish_reason"] and form["finish_reason"] not in REASONS:
        raise BadFilter(f"finish_reason: {form['finish_reason']!r} is not a finish reason")
    if form["id"] and not form["id"].isdigit():
        raise BadFilter(f"call_session_id: {form['id']!r} is not a number")
    page_text = params.get("page", "1").strip() or "1"
    if not page_text.isdigit() or not 1 <= int(page_text) <= MAX_PAGE:
        raise BadFilter(f"page: {page_text!r} is not a page number from 1 to {MAX_PAGE}")
    wanted = CallFilter(
        search=form["q"] or None,
        session_id=int(form["id"]) if form["id"] else None,
        state=form["state"] or None,
        finish_reason=form["finish_reason"] or None,
        external_id=form["external_id"] or None,
        contact=phone_digits(form["contact"]) if form["contact"] else None,
        created_from=_moment(form["from"], "from", end_of_day=False) if form["from"] else None,
        created_till=_moment(form["till"], "till", end_of_day=True) if form["till"] else None,
        account=form["account"] or None,
    )
    return ListRequest(wanted, int(page_text), form)
