"""``vestnik admin session …``: call sessions' state, outcome, SIP code and timings."""

from __future__ import annotations

import argparse
from typing import Any

from vestnik.calls import CallState, FinishReason
from vestnik.cli.admin import recordings
from vestnik.cli.admin.shared import object_actions
from vestnik.cli.common import (
    CliError,
    SubParsers,
    command_parser,
    emit,
    format_fields,
    format_table,
    positive_int,
    reading,
    record_id,
    transaction,
    with_iso_times,
)
from vestnik.store import sessions as store
from vestnik.store.accounts import resolve_account
from vestnik.store.db import now
from vestnik.store.sessions import ReleaseOutcome

SESSION_TIME_COLUMNS = (
    "created_at",
    "scheduled_at",
    "dial_at",
    "ring_at",
    "answer_at",
    "end_at",
    "lease_expires_at",
)
SESSION_LIST_DEFAULT_LIMIT = 50


def register(objects: SubParsers) -> None:
    actions = object_actions(objects, "session", "call sessions: state, outcome, SIP code, timings")
    p = command_parser(
        actions, "show", help="every stored field of one session", handler=session_show
    )
    p.add_argument("session_id", metavar="ID", type=record_id)
    p = command_parser(
        actions,
        "release",
        help="end a session as release.call does: a queued one now, a call by its dialer",
        handler=session_release,
    )
    p.add_argument("session_id", metavar="ID", type=record_id)
    recordings.register(actions)
    p = command_parser(actions, "list", help="recent sessions, newest first", handler=session_list)
    p.add_argument("--account", metavar="ACCOUNT", help="account id or name")
    p.add_argument("--state", choices=[s.value for s in CallState])
    p.add_argument(
        "--finish-reason", choices=[r.value for r in FinishReason], metavar="REASON",
        help="only sessions that ended so (success_finish, subscriber_busy, ...)",
    )  # fmt: skip
    p.add_argument("--external-id", metavar="TEXT", help="the client's external_id")
    p.add_argument("--contact", metavar="NUMBER", help="the contact as stored (digits or URI)")
    p.add_argument(
        "--limit",
        type=positive_int,
        default=SESSION_LIST_DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N sessions (default {SESSION_LIST_DEFAULT_LIMIT})",
    )


def session_json(row: Any) -> dict[str, Any]:
    """A session's stored fields by column name, with ``_iso`` times, except: ``attempts`` is
    the number of attempts begun (column ``attempt_count``), ``attempt_log`` each ended
    attempt (with ``_iso`` times), ``trunk_attempts`` the INVITEs of the last attempt (column
    ``attempts``, the trunk failover list)."""
    renamed = {"attempts": "trunk_attempts", "attempt_count": "attempts"}
    data = {renamed.get(str(key), str(key)): value for key, value in dict(row).items()}
    data["attempt_log"] = [
        with_iso_times(entry, ("dial_at", "end_at")) for entry in data.get("attempt_log") or ()
    ]
    return {"call_session_id": row["id"], **with_iso_times(data, SESSION_TIME_COLUMNS)}


def session_fields(session: dict[str, Any]) -> str:
    """``session show``'s text: every field of :func:`session_json`, times once (ISO)."""
    shown = {k: v for k, v in session.items() if k not in SESSION_TIME_COLUMNS and k != "id"}
    if shown.get("trunk_attempts"):  # one "trunk code reason" per INVITE
        shown["trunk_attempts"] = "; ".join(_invite_text(a) for a in shown["trunk_attempts"])
    # One "N at <time>: trunk code reason → finish_reason" per ended attempt (and what the
    # callee said, with collect_speech).
    shown["attempt_log"] = (
        "; ".join(
            f"{a.get('attempt')} at {a.get('dial_at_iso')}: {_invite_text(a)} → "
            f"{a.get('finish_reason')}{_said(a)}"
            for a in shown.get("attempt_log") or ()
        )
        or None
    )
    return format_fields(shown)


def _said(attempt: dict[str, Any]) -> str:
    reply = attempt.get("speech_reply")
    if reply is None:
        return ""
    return f", said {reply!r} (intent {attempt.get('speech_intent') or '-'})"


def _invite_text(attempt: dict[str, Any]) -> str:
    code, reason = attempt.get("sip_code"), attempt.get("sip_reason")
    answer = f"{code} {reason or ''}".rstrip() if code is not None else "no final response"
    return f"{attempt.get('trunk')} {answer}"


def session_show(args: argparse.Namespace) -> None:
    with reading(args) as conn:
        row = store.get_session(conn, args.session_id)
        recording = recordings.recording_list(conn, args, args.session_id)
    if row is None:
        raise CliError(f"call session {args.session_id} not found")
    data = session_json(row)
    data["recording"] = recording
    text = {**data, "recording": recordings.recording_text(recording) or None}
    emit(args, data, lambda: session_fields(text))


def session_release(args: argparse.Namespace) -> None:
    with transaction(args) as conn:
        release = store.release_session(conn, args.session_id, now())
    if release.session is None:
        raise CliError(f"call session {args.session_id} not found")
    row = release.session
    if release.outcome is ReleaseOutcome.FINISHED:
        raise CliError(
            f"call session {args.session_id} is already finished ({row['finish_reason']})"
        )
    data = {
        "call_session_id": args.session_id,
        "account_id": row["account_id"],
        "outcome": release.outcome.value,
        "state": row["state"],
        "finish_reason": row["finish_reason"],
    }
    if release.outcome is ReleaseOutcome.RELEASED:
        text = f"call session {args.session_id} was queued: finished now (released)"
    else:
        text = (
            f"call session {args.session_id} is {row['state']}: release requested, its "
            "dialer hangs up and finishes it (released)"
        )
    emit(args, data, text)


def session_list(args: argparse.Namespace) -> None:
    filters = {
        "state": args.state,
        "finish_reason": args.finish_reason,
        "external_id": args.external_id,
        "contact": args.contact.strip().removeprefix("+") if args.contact else None,
    }
    with reading(args) as conn:
        if args.account is not None:
            filters["account_id"] = resolve_account(conn, args.account)
        found = store.list_sessions(conn, filters, args.limit)
    rows = [session_json(r) for r in found]
    columns = [
        "id",
        "account_id",
        "state",
        "finish_reason",
        "sip_code",
        "caller_number",
        "contact",
        "created_at_iso",
    ]
    emit(args, rows, lambda: format_table(rows, columns))
