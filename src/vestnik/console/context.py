"""What every console handler gets: the service's config and engine, the signed-in viewer, and
the one way to run blocking work (database, admin commands) off the event loop."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request

from vestnik.calls.ports import MessageRenderer
from vestnik.config import Config
from vestnik.console.commands import AdminOutcome, AdminRefused, AdminRunner
from vestnik.store import db
from vestnik.store.console import Person
from vestnik.store.db import Connection, Engine
from vestnik.threads import run_in_thread

T = TypeVar("T")


@dataclass(frozen=True)
class Viewer:
    """The signed-in person: an operator sees every account, a user only ``account_id``."""

    person: Person
    csrf_token: str

    @property
    def is_operator(self) -> bool:
        return self.person.is_operator

    @property
    def account_id(self) -> int | None:
        """The one account this viewer may see; None: every account (an operator)."""
        return self.person.account_id

    def may_see(self, account_id: int) -> bool:
        return self.account_id is None or self.account_id == account_id


@dataclass(frozen=True)
class Console:
    config: Config
    engine: Engine
    admin_runner: AdminRunner | None = None  # None: a read-only console (no command line)
    renderer: MessageRenderer | None = None  # the dialer's (None: made when first needed)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """``fn(conn)`` on a reading connection, in a worker thread."""

        def work() -> T:
            with db.connection(self.engine) as conn:
                return fn(conn)

        return await run_in_thread(work)

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """``fn(conn)`` in one transaction, in a worker thread."""

        def work() -> T:
            with db.transaction(self.engine) as conn:
                return fn(conn)

        return await run_in_thread(work)

    async def admin(self, argv: Sequence[str], *, stdin: str | None = None) -> AdminOutcome:
        """``vestnik admin ARGV`` in-process (raises ``AdminRefused`` with its message)."""
        if self.admin_runner is None:
            raise AdminRefused(
                "changes are not available here: this service was started without the admin "
                "commands (start it with 'vestnik serve')"
            )
        runner = self.admin_runner
        return await run_in_thread(lambda: runner(argv, self.config, self.engine, stdin=stdin))


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def viewer_of(request: Request) -> Viewer:
    """The signed-in viewer (the session gate put it there before any page runs)."""
    viewer: Viewer | None = request.scope.get("vestnik.viewer")
    if viewer is None:  # only pages behind the gate call this
        raise HTTPException(401)
    return viewer


def require_operator(request: Request) -> Viewer:
    """The viewer, who must be an operator (an account user gets 404: the page is not theirs)."""
    viewer = viewer_of(request)
    if not viewer.is_operator:
        raise HTTPException(404)
    return viewer


def require_account(request: Request, account_id: int) -> Viewer:
    """The viewer, who must be allowed to see ``account_id`` (else 404, as for an unknown id)."""
    viewer = viewer_of(request)
    if not viewer.may_see(account_id):
        raise HTTPException(404)
    return viewer


def visible_accounts(viewer: Viewer) -> Sequence[int] | None:
    """The accounts a list may show: None (all) for an operator, the user's own otherwise."""
    return None if viewer.account_id is None else (viewer.account_id,)
