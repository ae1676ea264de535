"""The admin commands as a library: ``run_admin(["key", "create", "acme"], config, engine)``,
the console's ``AdminRunner`` (``vestnik.console.commands``), given to the service by
``vestnik serve``.

The console performs every change through the very command the operator would type (one
implementation: the same checks, the same store calls, the same messages), parsed by the same
parser; the command's JSON data and text come back instead of being printed. A refused
command raises :class:`AdminRefused` with the message the command line would print.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

from vestnik.config import Config, ConfigError
from vestnik.console.commands import AdminOutcome, AdminRefused
from vestnik.store.db import Engine


class _RaisingParser(argparse.ArgumentParser):
    # argparse prints and exits on a malformed command line; in a server it must raise.
    def error(self, message: str) -> NoReturn:
        raise AdminRefused(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise AdminRefused(message or f"exit {status}")


_parser: list[argparse.ArgumentParser] = []


def admin_parser() -> argparse.ArgumentParser:
    """``vestnik admin``'s parser (built once): objects, actions, arguments."""
    if not _parser:
        from vestnik.cli.main import command_modules

        root = _RaisingParser(prog="vestnik admin", add_help=False)
        objects = root.add_subparsers(dest="admin_object", metavar="OBJECT", required=True)
        for module in command_modules():
            register_admin = getattr(module, "register_admin", None)
            if register_admin is not None:
                register_admin(objects)
        _parser.append(root)
    return _parser[0]


def run_admin(
    argv: Sequence[str], config: Config, engine: Engine, *, stdin: str | None = None
) -> AdminOutcome:
    """Run ``vestnik admin ARGV`` on ``engine`` (blocking: call it off the event loop);
    ``stdin`` is what a password read from standard input (``-``) gets."""
    from vestnik.cli.common import CliError
    from vestnik.store.errors import AdminError

    args = admin_parser().parse_args(list(argv))
    sink: list[tuple[Any, str]] = []
    args.bound_config, args.bound_engine, args.sink = config, engine, sink
    args.stdin_text = "" if stdin is None else stdin
    try:
        args.handler(args)
    except (CliError, AdminError, ConfigError) as exc:
        raise AdminRefused(str(exc)) from None
    data, text = sink[-1] if sink else (None, "")
    return AdminOutcome(data, text)
