"""A call's detail (``/console/calls/{id}``): its timeline, every stored field, the request's
parameters as stored, attempts, webhook deliveries (replay for operators), the players; the
live part refreshed at ``/console/calls/{id}/live``."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from vestnik.console.calls_filters import REASON_LABELS, STATE_LABELS
from vestnik.console.calls_timeline import as_json, policy_options, request_params, timeline
from vestnik.console.commands import AdminRefused, cli_text
from vestnik.console.context import console_of, require_operator, viewer_of, visible_accounts
from vestnik.console.render import fragment, render
from vestnik.store.console_calls import (
    call_deliveries,
    call_events_of,
    delivery_session,
    find_call,
)
from vestnik.store.db import Connection
from vestnik.store.recordings import session_recordings

# Shown in "every stored field" under their own headings instead.
_ELSEWHERE = {"attempt_log", "attempts", "options", "message_value"}


def _facts(conn: Connection, session_id: int, visible: Any) -> dict[str, Any] | None:
    call = find_call(conn, session_id, visible)
    if call is None:
        return None
    return {
        "call": call,
        "events": call_events_of(conn, session_id),
        "deliveries": call_deliveries(conn, session_id),
        "recordings": session_recordings(conn, session_id),
    }


async def _detail(request: Request, session_id: int) -> dict[str, Any]:
    """Everything the page shows; 404 for an unknown session or another account's."""
    visible = visible_accounts(viewer_of(request))
    facts = await console_of(request).read(lambda conn: _facts(conn, session_id, visible))
    if facts is None:
        raise HTTPException(404)
    call = facts["call"]
    return {
        **facts,
        "moments": timeline(call, facts["events"]),
        "params_json": as_json(request_params(call)),
        "policy_json": None if policy_options(call) is None else as_json(policy_options(call)),
        "fields": {k: v for k, v in call.items() if k not in _ELSEWHERE},
        "trunk_attempts": call.get("attempts") or [],
        "attempt_log": call.get("attempt_log") or [],
        "live": call["state"] != "finished",
        "state_labels": STATE_LABELS,
        "reason_labels": REASON_LABELS,
        "replay_cli": cli_text(["webhook", "replay", "DELIVERY_ID"]),
        "release_cli": cli_text(["session", "release", str(session_id)]),
    }


async def call_page(request: Request) -> Response:
    session_id = int(request.path_params["session_id"])
    detail = await _detail(request, session_id)
    replayed = request.query_params.get("replayed", "")
    if replayed.isdigit():  # back from a replay (a reload shows this again, replays nothing)
        argv = ["webhook", "replay", replayed]
        detail |= {"flash": f"Delivery {replayed} replayed: pending again.",
                   "flash_cli": cli_text(argv)}  # fmt: skip
    return render(request, "call_detail.html", **detail)


async def call_live(request: Request) -> Response:
    session_id = int(request.path_params["session_id"])
    return fragment(request, "call_live.html", **await _detail(request, session_id))


async def replay(request: Request) -> Response:
    """Send a parked delivery of this call again (``vestnik admin webhook replay ID``)."""
    require_operator(request)
    session_id = int(request.path_params["session_id"])
    delivery_id = int(request.path_params["delivery_id"])
    console = console_of(request)
    owner = await console.read(lambda conn: delivery_session(conn, delivery_id))
    if owner != session_id:
        raise HTTPException(404)
    argv = ["webhook", "replay", str(delivery_id)]
    try:
        outcome = await console.admin(argv)
        refusal = None if outcome.data.get("replayed") else outcome.text.strip()
    except AdminRefused as exc:
        refusal = str(exc)
    if refusal is not None:  # refused, or nothing to replay (no longer parked, endpoint gone)
        detail = await _detail(request, session_id)
        return render(request, "call_detail.html", status=409, flash=refusal,
                      flash_kind="error", flash_cli=cli_text(argv), **detail)  # fmt: skip
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/calls/{session_id}?replayed={delivery_id}", 303)


async def release(request: Request) -> Response:
    """End this call as release.call does (``vestnik admin session release ID``)."""
    require_operator(request)
    session_id = int(request.path_params["session_id"])
    argv = ["session", "release", str(session_id)]
    console = console_of(request)
    try:
        outcome = await console.admin(argv)
    except AdminRefused as exc:
        detail = await _detail(request, session_id)
        return render(request, "call_detail.html", status=409, flash=str(exc),
                      flash_kind="error", flash_cli=cli_text(argv), **detail)  # fmt: skip
    detail = await _detail(request, session_id)
    return render(request, "call_detail.html", flash=outcome.text.strip().splitlines()[0],
                  flash_cli=cli_text(argv), **detail)  # fmt: skip


ROUTES: list[BaseRoute] = [
    Route("/calls/{session_id:int}", call_page, name="call"),
    Route("/calls/{session_id:int}/live", call_live, name="call_live"),
    Route(
        "/calls/{session_id:int}/deliveries/{delivery_id:int}/replay",
        replay,
        methods=["POST"],
        name="call_replay",
    ),
    Route("/calls/{session_id:int}/release", release, methods=["POST"], name="call_release"),
]
