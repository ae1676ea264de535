"""The accounts: their list and the create form (operators), an account's page (what
``account show`` shows: limits, components, allow-list, direction rules, call policy, users,
keys, numbers, employees, blacklist) with the forms of ``account set``, activate, deactivate."""

from __future__ import annotations

from starlette.datastructures import FormData
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
    shown,
    viewing,
)
from vestnik.console.render import render

# The options of ``account set`` the settings form offers: (option, label, kind); an empty
# field leaves the setting as it is. --active/--inactive are the activate/deactivate buttons.
SET_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("name", "Name", "text"),
    ("informer-call", "Informer-call component", "onoff"),
    ("number-management", "Number management component", "onoff"),
    ("minute-limit", "Points per minute", "text"),
    ("day-limit", "Points per day", "text"),
    ("tts-max-length", "Longest TTS text", "text"),
    ("max-concurrent-calls", "Concurrent calls", "text"),
    ("ip-allowlist", "IP allow-list (CIDR,CIDR)", "text"),
    ("mobile", "Mobile numbers", "onoff"),
    ("long-distance", "Long distance", "onoff"),
    ("international", "International", "onoff"),
    ("home-region", "Home region", "text"),
    ("home-country", "Home country", "text"),
    ("method-weight", "Method weight (METHOD=N)", "text"),
    ("retry-attempts", "Retry: attempts in all", "text"),
    ("retry-interval", "Retry: interval, s", "text"),
    ("retry-on", "Retry on (R1,R2)", "text"),
    ("calling-window", "Calling window (HH:MM-HH:MM)", "text"),
    ("calling-timezone", "Calling window zone", "text"),
    ("detect-machine", "Detect answering machines", "onoff"),
    ("record", "Record calls", "onoff"),
)


async def accounts_page(request: Request, flash: Flash | None = None) -> Response:
    require_operator(request)
    rows = await admin_data(request, ["account", "list"])
    return render(request, "accounts.html", accounts=rows, **shown(flash))


async def accounts(request: Request) -> Response:
    return await accounts_page(request)


async def account_create(request: Request) -> Response:
    require_operator(request)
    form = await request.form()
    try:
        argv = ["account", "create", positional(form, "name", "account name")]
    except AdminRefused as exc:
        return await accounts_page(request, Flash(str(exc), "error", 400))
    flash = await perform(request, argv)
    if flash.kind == "ok":  # the new account's page, with the outcome
        return await account_page(request, int(flash.data["id"]), flash)
    return await accounts_page(request, flash)


async def account_page(request: Request, account_id: int, flash: Flash | None = None) -> Response:
    account = await account_or_404(request, account_id)
    blacklist = await admin_data(request, ["blacklist", "list", str(account_id)])
    return render(request, "account.html", account=account, blacklist=blacklist,
                  set_options=SET_OPTIONS, section="account", **shown(flash))  # fmt: skip


async def account(request: Request) -> Response:
    return await account_page(request, int(request.path_params["account_id"]))


async def _set(request: Request, account_id: int, form: FormData) -> tuple[list[str], None]:
    argv = ["account", "set", str(account_id)]
    for name, _label, _kind in SET_OPTIONS:
        argv += option(name, field(form, name))
    if field(form, "clear-policy"):
        argv.append("--clear-policy")
    return argv, None


async def _activate(request: Request, account_id: int, form: FormData) -> tuple[list[str], None]:
    return ["account", "activate", str(account_id)], None


async def _deactivate(request: Request, account_id: int, form: FormData) -> tuple[list[str], None]:
    release = ["--release-calls"] if field(form, "release-calls") else []
    return ["account", "deactivate", str(account_id), *release], None


async def account_remove(request: Request) -> Response:
    """``account remove``: refused while the account has call sessions (the CLI's message)."""
    require_operator(request)
    account_id = int(request.path_params["account_id"])
    await account_or_404(request, account_id)
    flash = await perform(request, ["account", "remove", str(account_id)])
    if flash.kind == "ok":
        return await accounts_page(request, flash)
    return await account_page(request, account_id, flash)


PAGE = viewing("/accounts/{id}", ("account", "show"), ("blacklist", "list"))
CONSOLE_ACTIONS[("account", "create")] = viewing("/accounts", ("account", "list"))
CONSOLE_ACTIONS[("account", "remove")] = "/accounts/{id}/remove"

ROUTES: list[BaseRoute] = [
    Route("/accounts", accounts, name="accounts"),
    Route("/accounts", account_create, methods=["POST"]),
    Route("/accounts/{account_id:int}", account, name="account"),
    account_action("settings", ("account", "set"), _set, account_page),
    account_action("activate", ("account", "activate"), _activate, account_page),
    Route("/accounts/{account_id:int}/remove", account_remove, methods=["POST"]),
    account_action("deactivate", ("account", "deactivate"), _deactivate, account_page),
]
