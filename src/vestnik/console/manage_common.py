"""What the management pages share: reading through the admin commands, running the command a
form stands for, the message that answers it, and the registry of console actions.

Every change is the admin command itself (``console.admin(argv)``): its checks, its messages.
A refused command (``AdminRefused``) is shown as the page's error and changed nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vestnik.console.commands import AdminRefused, cli_text
from vestnik.console.context import console_of, require_account, require_operator
from vestnik.console.render import templates

templates.env.globals["cli_text"] = cli_text

# (object, action) of every admin command a console form runs → the address the form posts to
# (below /console; {id}: the account's id).
CONSOLE_ACTIONS: dict[tuple[str, str], str] = {}
# (object, action) of every admin command a console page shows the data of → that page.
CONSOLE_VIEWS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Flash:
    """The answer to a form: the command run and what it said (or why it was refused)."""

    text: str
    kind: str = "ok"  # "ok" | "error"
    status: int = 200
    data: Any = None


def refused(message: str, status: int = 400) -> Flash:
    return Flash(message, "error", status)


async def admin_data(request: Request, argv: Sequence[str]) -> Any:
    """The JSON data of a reading admin command (what ``--json`` prints)."""
    return (await console_of(request).admin(argv)).data


async def perform(
    request: Request,
    argv: Sequence[str],
    *,
    stdin: str | None = None,
    shown_argv: Sequence[str] | None = None,
    summary: Callable[[Any], str] | None = None,
) -> Flash:
    """Run the admin command a form stands for: its first line of text, or its refusal, with
    the command line (``shown_argv`` when a secret in ``argv`` must not be shown);
    ``summary`` makes the line from the data when the text says it poorly."""
    line = cli_text(argv if shown_argv is None else shown_argv)
    try:
        outcome = await console_of(request).admin(argv, stdin=stdin)
    except AdminRefused as exc:
        return refused(f"{exc} (nothing changed: {line})")
    first = summary(outcome.data) if summary else (outcome.text or "done").splitlines()[0]
    return Flash(f"{first} ({line})", data=outcome.data)


async def account_or_404(request: Request, account_id: int) -> dict[str, Any]:
    """``account show`` of an account the viewer may see; 404 for another or unknown one."""
    require_account(request, account_id)
    try:
        account: dict[str, Any] = await admin_data(request, ["account", "show", str(account_id)])
    except AdminRefused:
        raise HTTPException(404) from None
    return account


def field(form: FormData, name: str) -> str:
    """A text field of the form ('' when absent)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def positional(form: FormData, name: str, what: str) -> str:
    """A field that becomes a positional argument: never taken for an option."""
    value = field(form, name)
    if value.startswith("-"):
        raise AdminRefused(f"{what} must not begin with '-'")
    return value


def option(name: str, value: str) -> list[str]:
    """``--name=value`` (one word, so a value beginning with '-' stays a value), or nothing."""
    return [f"--{name}={value}"] if value else []


Page = Callable[[Request, int, Flash | None], Awaitable[Response]]
Build = Callable[[Request, int, FormData], Awaitable[tuple[list[str], str | None]]]


def account_action(path: str, command: tuple[str, str], build: Build, page: Page) -> Route:
    """A form below ``/accounts/{id}`` (operators only): run the command ``build`` makes
    from the form, then show ``page`` with the outcome."""

    async def handle(request: Request) -> Response:
        require_operator(request)
        account_id = int(request.path_params["account_id"])
        await account_or_404(request, account_id)
        form = await request.form()
        try:
            argv, stdin = await build(request, account_id, form)
        except AdminRefused as exc:
            return await page(request, account_id, refused(str(exc)))
        return await page(request, account_id, await perform(request, argv, stdin=stdin))

    CONSOLE_ACTIONS[command] = f"/accounts/{{id}}/{path}"
    return Route(f"/accounts/{{account_id:int}}/{path}", handle, methods=["POST"])


def viewing(path: str, *commands: tuple[str, str]) -> str:
    """Note that the page at ``path`` shows the data of ``commands``; returns ``path``."""
    for command in commands:
        CONSOLE_VIEWS.setdefault(command, path)
    return path


def shown(flash: Flash | None) -> dict[str, Any]:
    """What ``render`` gets to show ``flash`` (its message, kind and the page's status)."""
    if flash is None:
        return {"status": 200}
    return {"status": flash.status, "flash": flash.text, "flash_kind": flash.kind}
