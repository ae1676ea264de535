"""The calls pages: the live list (``/console/calls``, its rows at ``/console/calls/rows`` for
the refresh) and, in :mod:`calls_detail`, a call's detail."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vestnik.console import calls_audio, calls_detail
from vestnik.console.calls_filters import (
    MAX_PAGE,
    PAGE_SIZE,
    REASON_LABELS,
    REASONS,
    STATE_LABELS,
    STATES,
    BadFilter,
    ListRequest,
    read_filters,
)
from vestnik.console.context import console_of, viewer_of, visible_accounts
from vestnik.console.render import fragment, render
from vestnik.store.console_calls import list_calls


async def _rows(request: Request) -> tuple[ListRequest | None, dict[str, Any]]:
    """The list's rows for the request's filters, or the message saying why there are none."""
    viewer = viewer_of(request)
    try:
        listed = read_filters(request.query_params, operator=viewer.is_operator)
    except BadFilter as exc:
        return None, {"rows": [], "more": False, "flash": str(exc), "flash_kind": "error"}
    visible = visible_accounts(viewer)
    offset = (listed.page - 1) * PAGE_SIZE
    # One row more than shown says whether there is a next page.
    rows = await console_of(request).read(
        lambda conn: list_calls(conn, listed.wanted, visible, limit=PAGE_SIZE + 1, offset=offset)
    )
    more = len(rows) > PAGE_SIZE and listed.page < MAX_PAGE
    return listed, {"rows": rows[:PAGE_SIZE], "more": more}


def _labels() -> dict[str, Any]:
    return {"state_labels": STATE_LABELS, "reason_labels": REASON_LABELS}


async def calls_page(request: Request) -> Response:
    listed, found = await _rows(request)
    form = listed.form if listed is not None else dict(request.query_params)
    page = listed.page if listed is not None else 1
    return render(
        request,
        "calls.html",
        status=200 if listed is not None else 400,
        listed=listed,
        form=form,
        page=page,
        states=STATES,
        reasons=REASONS,
        **_labels(),
        **found,
    )


async def calls_rows(request: Request) -> Response:
    _listed, found = await _rows(request)
    return fragment(request, "calls_rows.html", **_labels(), **found)


ROUTES: list[BaseRoute] = [
    Route("/calls", calls_page, name="calls"),
    Route("/calls/rows", calls_rows, name="calls_rows"),
    *calls_detail.ROUTES,
    *calls_audio.ROUTES,
]
