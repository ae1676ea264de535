"""The console's port to the admin commands: every change the console makes is the very
``vestnik admin`` command an operator would type (one implementation). The command line
provides the runner (``vestnik.cli.admin.inprocess.run_admin``) when it starts the service;
the console names only this interface, so it does not depend on the command line."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from vestnik.config import Config
from vestnik.store.db import Engine


class AdminRefused(Exception):
    """The command refused its input or could not be carried out; the message says why."""


@dataclass(frozen=True)
class AdminOutcome:
    data: Any  # what ``--json`` prints
    text: str  # what the command prints without ``--json``


class AdminRunner(Protocol):
    def __call__(
        self, argv: Sequence[str], config: Config, engine: Engine, *, stdin: str | None = None
    ) -> AdminOutcome: ...


def cli_text(argv: Sequence[str]) -> str:
    """The command line an operator would type for ``argv`` (shown beside console forms)."""
    return shlex.join(["vestnik", "admin", *argv])
