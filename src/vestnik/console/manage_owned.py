"""The forms for what an account owns, on its page: users, API keys (a new key's token is shown
once, on the page answering the form), numbers, employees, blacklist entries.

Commands that name the object without its account (``key block KEY_ID``, ``user set LOGIN``)
run only for an object of the account in the address: another account's is a 404.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vestnik.auth import KEY_SHOWN_ONCE
from vestnik.console.context import require_operator
from vestnik.console.manage_accounts import PAGE, account_page
from vestnik.console.manage_common import (
    CONSOLE_ACTIONS,
    account_action,
    account_or_404,
    admin_data,
    field,
    option,
    perform,
    positional,
    viewing,
)
from vestnik.console.render import render

Argv = tuple[list[str], str | None]


async def _owned(request: Request, listing: list[str], key: str, value: str) -> None:
    """404 unless ``listing`` (an account's ``… list``) has a row whose ``key`` is ``value``."""
    rows = await admin_data(request, listing)
    if not any(str(row[key]) == value for row in rows):
        raise HTTPException(404)


# --- users -------------------------------------------------------------------------------


async def _user_create(request: Request, account_id: int, form: FormData) -> Argv:
    login = positional(form, "login", "login")
    # The password goes through stdin ('-'): never on a command line.
    return ["user", "create", str(account_id), login, "-"], str(form.get("password") or "")


async def _user_login(request: Request, account_id: int, form: FormData) -> str:
    login = field(form, "login")
    await _owned(request, ["user", "list", str(account_id)], "login", login)
    return login


async def _user_set(request: Request, account_id: int, form: FormData) -> Argv:
    login = await _user_login(request, account_id, form)
    argv = ["user", "set", login]
    password = str(form.get("password") or "")
    if password:
        argv.append("--password=-")
    state = field(form, "state")
    if state in ("active", "inactive"):
        argv.append(f"--{state}")
    return argv, password or None


async def _user_remove(request: Request, account_id: int, form: FormData) -> Argv:
    return ["user", "remove", await _user_login(request, account_id, form)], None


# --- keys --------------------------------------------------------------------------------


async def _key_id(request: Request, account_id: int, form: FormData) -> str:
    key_id = field(form, "key_id")
    await _owned(request, ["key", "list", str(account_id)], "id", key_id)
    return key_id


async def _key_block(request: Request, account_id: int, form: FormData) -> Argv:
    return ["key", "block", await _key_id(request, account_id, form)], None


async def _key_remove(request: Request, account_id: int, form: FormData) -> Argv:
    return ["key", "remove", await _key_id(request, account_id, form)], None


async def key_create(request: Request) -> Response:
    """A new key: its token on this page only (the page is not stored: ``no-store``)."""
    require_operator(request)
    account_id = int(request.path_params["account_id"])
    account = await account_or_404(request, account_id)
    form = await request.form()
    argv = ["key", "create", str(account_id), *option("expires", field(form, "expires"))]
    flash = await perform(request, argv)
    if flash.kind != "ok":
        return await account_page(request, account_id, flash)
    return render(request, "account_key.html", account=account, key=flash.data,
                  shown_once=KEY_SHOWN_ONCE, argv=argv, section="account")  # fmt: skip


# --- numbers, employees, blacklist -------------------------------------------------------


async def _number_add(request: Request, account_id: int, form: FormData) -> Argv:
    number = positional(form, "number", "number")
    region = option("region", field(form, "region"))
    return ["number", "add", str(account_id), number, *region], None


async def _employee_add(request: Request, account_id: int, form: FormData) -> Argv:
    return ["employee", "add", str(account_id), positional(form, "sip_uri", "SIP URI")], None


async def _employee_remove(request: Request, account_id: int, form: FormData) -> Argv:
    return ["employee", "remove", str(account_id), positional(form, "sip_uri", "SIP URI")], None


async def _blacklist_add(request: Request, account_id: int, form: FormData) -> Argv:
    number = positional(form, "number", "number")
    comment = option("comment", field(form, "comment"))
    return ["blacklist", "add", str(account_id), number, *comment], None


async def _blacklist_remove(request: Request, account_id: int, form: FormData) -> Argv:
    return ["blacklist", "remove", str(account_id), positional(form, "number", "number")], None


async def _number_disable(request: Request, account_id: int, form: FormData) -> Argv:
    return ["number", "disable", str(account_id), positional(form, "number", "number")], None


async def _number_enable(request: Request, account_id: int, form: FormData) -> Argv:
    return ["number", "enable", str(account_id), positional(form, "number", "number")], None


async def _number_remove(request: Request, account_id: int, form: FormData) -> Argv:
    return ["number", "remove", str(account_id), positional(form, "number", "number")], None


viewing(PAGE, ("user", "list"), ("key", "list"), ("number", "list"), ("employee", "list"))
CONSOLE_ACTIONS[("key", "create")] = "/accounts/{id}/keys/create"

ROUTES: list[BaseRoute] = [
    account_action("users/create", ("user", "create"), _user_create, account_page),
    account_action("users/set", ("user", "set"), _user_set, account_page),
    account_action("users/remove", ("user", "remove"), _user_remove, account_page),
    Route("/accounts/{account_id:int}/keys/create", key_create, methods=["POST"]),
    account_action("keys/block", ("key", "block"), _key_block, account_page),
    account_action("keys/remove", ("key", "remove"), _key_remove, account_page),
    account_action("numbers/add", ("number", "add"), _number_add, account_page),
    account_action("numbers/disable", ("number", "disable"), _number_disable, account_page),
    account_action("numbers/enable", ("number", "enable"), _number_enable, account_page),
    account_action("numbers/remove", ("number", "remove"), _number_remove, account_page),
    account_action("employees/add", ("employee", "add"), _employee_add, account_page),
    account_action("employees/remove", ("employee", "remove"), _employee_remove, account_page),
    account_action("blacklist/add", ("blacklist", "add"), _blacklist_add, account_page),
    account_action("blacklist/remove", ("blacklist", "remove"), _blacklist_remove, account_page),
]
