"""The ``vestnik`` command.

Subcommands come from plug-in modules listed in :data:`COMMAND_MODULES`. Each module may define
``register(subparsers)`` for top-level commands (``vestnik serve``) and
``register_admin(admin_subparsers)`` for administration objects (``vestnik admin webhook``).
A listed module that does not exist (yet) is skipped; any other import error is a bug and shows.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType

from vestnik.cli.common import EXIT_USAGE, EXIT_USER_ERROR, CliError, add_config_option

COMMAND_MODULES: tuple[str, ...] = (
    "vestnik.cli.admin",
    "vestnik.cli.serve",
    "vestnik.cli.config_cmd",
    "vestnik.cli.demo",
    "vestnik.cli.phone",
    "vestnik.cli.webhooks",
)


def command_modules(names: Sequence[str] | None = None) -> Iterator[ModuleType]:
    for name in COMMAND_MODULES if names is None else names:
        try:
            yield importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def build_parser(module_names: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vestnik",
        description="Self-hosted informer calls behind the UIS Call API v4.0.",
        epilog="Run 'vestnik COMMAND --help' for a command's options. Docs: docs/admin.md, "
        "docs/configuration.md.",
    )
    add_config_option(parser, suppress_default=False)
    parser.add_argument("--version", action="version", version=f"vestnik {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    admin = commands.add_parser(
        "admin",
        help="manage accounts, users, keys, numbers, media, sessions",
        description="Administration. Every command prints text, or JSON with --json.",
    )
    add_config_option(admin, suppress_default=True)
    admin_commands = admin.add_subparsers(dest="admin_object", metavar="OBJECT", required=True)
    for module in command_modules(module_names):
        register_admin = getattr(module, "register_admin", None)
        if register_admin is not None:
            register_admin(admin_commands)
        register = getattr(module, "register", None)
        if register is not None:
            register(commands)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vestnik")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (also used as the console script)."""
    from vestnik.config import ConfigError
    from vestnik.store.errors import (
        DATABASE_ERRORS,
        AdminError,
        DatabaseUrlError,
        describe_database_error,
    )

    argv = sys.argv[1:] if argv is None else list(argv)
    # Bytes that are not UTF-8 reach Python as lone surrogates (surrogateescape): neither the
    # database nor an error message can carry them (a file path must be UTF-8 too), so they
    # stop here, before anything stores or echoes them.
    for position, arg in enumerate(argv, 1):
        if any("\ud800" <= char <= "\udfff" for char in arg):
            sys.stderr.write(f"vestnik: error: argument {position} is not valid UTF-8 text\n")
            return EXIT_USAGE
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:  # a plug-in parser without a handler: show what exists
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        status = handler(args)
    except (CliError, AdminError, ConfigError, DatabaseUrlError) as exc:
        return _fail(str(exc))
    except DATABASE_ERRORS as exc:
        return _fail(describe_database_error(exc))
    except BrokenPipeError:  # "vestnik admin session list | head": the reader left
        _silence_stdout()
        return EXIT_USER_ERROR
    except OSError as exc:  # a file or folder the user named cannot be used
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}")
    except KeyboardInterrupt:
        return 130
    return 0 if status is None else int(status)


def _silence_stdout() -> None:
    # Python flushes stdout at exit, which would raise again into the closed pipe.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _fail(message: str) -> int:
    sys.stderr.write(f"vestnik: error: {message}\n")
    return EXIT_USER_ERROR


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
