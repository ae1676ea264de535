"""Operators' own pages: the trunks (``trunk list``) and the operators (``operator list``,
create, block, unblock, remove). An operator cannot block or remove themselves: the console
refuses (the command line, run by whoever has the database, allows it)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vestnik.console.commands import AdminRefused
from vestnik.console.context import require_operator
from vestnik.console.manage_common import (
    CONSOLE_ACTIONS,
    Flash,
    admin_data,
    perform,
    positional,
    refused,
    shown,
    viewing,
)
from vestnik.console.render import render

TRUNKS = viewing("/trunks", ("trunk", "list"))
OPERATORS = viewing("/operators", ("operator", "list"))
# The operator actions on a login (the create form is apart: it sends a password).
LOGIN_ACTIONS = ("block", "unblock", "remove", "password")


async def trunks(request: Request) -> Response:
    require_operator(request)
    rows = await admin_data(request, ["trunk", "list"])
    return render(request, "trunks.html", trunks=rows)


async def operators_page(request: Request, flash: Flash | None = None) -> Response:
    require_operator(request)
    rows = await admin_data(request, ["operator", "list"])
    return render(request, "operators.html", operators=rows, **shown(flash))


async def operators(request: Request) -> Response:
    return await operators_page(request)


async def operator_create(request: Request) -> Response:
    require_operator(request)
    form = await request.form()
    try:
        login = positional(form, "login", "login")
    except AdminRefused as exc:
        return await operators_page(request, refused(str(exc)))
    password = str(form.get("password") or "")
    argv = ["operator", "create", login, "--password-stdin"]
    return await operators_page(request, await perform(request, argv, stdin=password))


async def operator_action(request: Request) -> Response:
    viewer = require_operator(request)
    action = request.path_params["action"]
    if action not in LOGIN_ACTIONS:
        raise HTTPException(404)
    form = await request.form()
    try:
        login = positional(form, "login", "login")
    except AdminRefused as exc:
        return await operators_page(request, refused(str(exc)))
    if action in ("block", "remove") and login == viewer.person.login:
        return await operators_page(
            request, refused(f"you cannot {action} yourself: another operator can", 409)
        )
    argv = ["operator", action, login]
    stdin = None
    if action == "password":
        argv.append("--password-stdin")
        stdin = str(form.get("password") or "")
    return await operators_page(request, await perform(request, argv, stdin=stdin))


CONSOLE_ACTIONS[("operator", "create")] = OPERATORS
for _action in LOGIN_ACTIONS:
    CONSOLE_ACTIONS[("operator", _action)] = f"{OPERATORS}/{_action}"

ROUTES: list[BaseRoute] = [
    Route(TRUNKS, trunks, name="trunks"),
    Route(OPERATORS, operators, name="operators"),
    Route(OPERATORS, operator_create, methods=["POST"]),
    Route("/operators/{action:str}", operator_action, methods=["POST"]),
]
