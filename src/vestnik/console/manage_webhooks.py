"""An account's webhook endpoints (``webhook list``: add, remove) and its parked deliveries
(``webhook deliveries --state parked --account ID``: replay one, or all of them).

``webhook replay --all-parked`` replays every account's parked deliveries, so "replay all" on
an account's page names that account's parked deliveries one by one instead.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vestnik.console.commands import AdminRefused
from vestnik.console.context import require_operator
from vestnik.console.manage_common import (
    CONSOLE_ACTIONS,
    Flash,
    account_action,
    account_or_404,
    admin_data,
    field,
    option,
    perform,
    positional,
    refused,
    shown,
    viewing,
)
from vestnik.console.render import render

PAGE = viewing("/accounts/{id}/webhooks", ("webhook", "list"), ("webhook", "deliveries"))
EVENTS = ("call_started", "call_answered", "call_finished", "attempt_failed")
PARKED_SHOWN = 200  # the page lists (and "replay all" replays) at most this many at a time


def _parked(account_id: int) -> list[str]:
    return ["webhook", "deliveries", "--state=parked", f"--account={account_id}",
            f"--limit={PARKED_SHOWN}"]  # fmt: skip


async def webhooks_page(request: Request, account_id: int, flash: Flash | None = None) -> Response:
    account = await account_or_404(request, account_id)
    hooks = await admin_data(request, ["webhook", "list", str(account_id)])
    parked = await admin_data(request, _parked(account_id))
    return render(request, "account_webhooks.html", account=account, hooks=hooks,
                  parked=parked, parked_argv=_parked(account_id), events=EVENTS,
                  section="webhooks", **shown(flash))  # fmt: skip


async def webhooks(request: Request) -> Response:
    return await webhooks_page(request, int(request.path_params["account_id"]))


async def webhook_add(request: Request) -> Response:
    """``webhook add``; a body template typed in the form goes to ``--template`` as a file."""
    require_operator(request)
    account_id = int(request.path_params["account_id"])
    await account_or_404(request, account_id)
    form = await request.form()
    events = ",".join(str(e) for e in form.getlist("events"))
    try:
        url = positional(form, "url", "URL")
    except AdminRefused as exc:
        return await webhooks_page(request, account_id, refused(str(exc)))
    head = ["webhook", "add", str(account_id), url, f"--events={events}"]
    argv = [*head, f"--secret={form.get('secret') or ''}"]
    template = str(form.get("template") or "")
    with tempfile.TemporaryDirectory(prefix="vestnik-template-") as folder:
        if template.strip():
            path = Path(folder) / "template.json"
            path.write_text(template, encoding="utf-8")
            argv += option("template", str(path))
        shown_argv = [*head, "--secret=SECRET", *argv[len(head) + 1 :]]
        flash = await perform(request, argv, shown_argv=shown_argv)
    return await webhooks_page(request, account_id, flash)


async def _owned(request: Request, listing: list[str], value: str) -> str:
    if not any(str(row["id"]) == value for row in await admin_data(request, listing)):
        raise HTTPException(404)  # not this account's (or no such id)
    return value


async def _remove(request: Request, account_id: int, form: FormData) -> tuple[list[str], None]:
    hook = await _owned(request, ["webhook", "list", str(account_id)], field(form, "webhook_id"))
    return ["webhook", "remove", hook], None


async def _replay(request: Request, account_id: int, form: FormData) -> tuple[list[str], None]:
    if field(form, "all"):
        ids = [str(row["id"]) for row in await admin_data(request, _parked(account_id))]
        if not ids:
            raise AdminRefused("no parked deliveries to replay")
        return ["webhook", "replay", *ids], None
    delivery = await _owned(request, _parked(account_id), field(form, "delivery_id"))
    return ["webhook", "replay", delivery], None


CONSOLE_ACTIONS[("webhook", "add")] = "/accounts/{id}/webhooks/add"

ROUTES: list[BaseRoute] = [
    Route("/accounts/{account_id:int}/webhooks", webhooks, name="webhooks"),
    Route("/accounts/{account_id:int}/webhooks/add", webhook_add, methods=["POST"]),
    account_action("webhooks/remove", ("webhook", "remove"), _remove, webhooks_page),
    account_action("webhooks/replay", ("webhook", "replay"), _replay, webhooks_page),
]
