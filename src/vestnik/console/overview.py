"""The overview page (``/console/``): calls per time bucket by outcome over the last hours, the
answer rate, the calls live and queued now, the webhook backlog, database and trunk health;
``/console/overview/live`` is its live part; its search box is the calls list's (``q``)."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vestnik.console.chart import stacked_bars
from vestnik.console.commands import AdminRefused
from vestnik.console.context import Viewer, console_of, viewer_of, visible_accounts
from vestnik.console.overview_data import (
    OUTCOMES,
    WINDOWS,
    DatabaseProbe,
    hours_param,
    probe_database,
    read_overview,
)
from vestnik.console.render import fragment, render
from vestnik.store.db import Connection, DatabaseError, schema_revision
from vestnik.threads import run_in_thread

# What an account user sees of a trunk: whether calls can go out, not where they go.
_TENANT_TRUNK_FIELDS = ("name", "state", "registered")


async def _trunks(request: Request, viewer: Viewer) -> list[dict[str, Any]]:
    """``vestnik admin trunk list`` (one implementation), cut to what the viewer may see."""
    try:
        rows: list[dict[str, Any]] = (await console_of(request).admin(["trunk", "list"])).data
    except AdminRefused:  # a console without the admin commands: no trunk rows to show
        return []
    rows = rows or []
    if viewer.is_operator:
        return rows
    return [{k: row.get(k) for k in _TENANT_TRUNK_FIELDS} for row in rows]


async def _revision(request: Request, viewer: Viewer) -> str | None:
    if not viewer.is_operator:
        return None
    try:
        return await run_in_thread(schema_revision, console_of(request).engine)
    except DatabaseError:
        return None


async def _context(request: Request) -> dict[str, Any]:
    viewer = viewer_of(request)
    hours = hours_param(request.query_params.get("hours"))
    at = time.time()
    visible = visible_accounts(viewer)

    def read(conn: Connection) -> Any:
        probe = probe_database(conn)
        return probe, read_overview(conn, visible, hours, at) if probe.ms is not None else None

    try:
        probe, overview = await console_of(request).read(read)
    except DatabaseError as exc:  # no connection at all
        probe, overview = DatabaseProbe.failed(exc), None
    chart = None
    if overview is not None:
        chart = stacked_bars(overview.buckets, overview.window.bucket_seconds // 60)
    return {
        "hours": hours, "windows": WINDOWS, "outcomes": OUTCOMES, "overview": overview,
        "chart": chart, "probe": probe, "revision": await _revision(request, viewer),
        "trunks": await _trunks(request, viewer), "at": at,
    }  # fmt: skip


async def overview(request: Request) -> Response:
    return render(request, "overview.html", **await _context(request))


async def overview_live(request: Request) -> Response:
    return fragment(request, "overview_live.html", **await _context(request))


ROUTES = [
    Route("/", overview, name="overview"),
    Route("/overview/live", overview_live, name="overview_live"),
]
