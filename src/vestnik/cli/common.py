"""What every ``vestnik`` subcommand shares: config, database, errors and output.

A subcommand module registers its parsers with :func:`command_parser` (which adds ``--config``
and ``--json`` after the command name too) and sets ``handler=`` on them; a handler takes the
parsed arguments and returns an exit status (``None`` means 0). It raises :class:`CliError`
(or the store's ``AdminError`` / ``DatabaseUrlError``, or ``ConfigError``) for anything the
user got wrong: ``main`` prints the message and exits 1 without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, TypeAlias

from vestnik.calls.events import iso
from vestnik.config import Config, load_config
from vestnik.store import db
from vestnik.store.db import Connection, Engine

Handler = Callable[[argparse.Namespace], int | None]
# What ``add_subparsers()`` returns; the alias is a string because the class is generic only
# to type checkers.
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

# Exit statuses: argparse already uses 2 for a malformed command line.
EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A user mistake or unmet precondition; the message is printed as is."""


def command_parser(
    subparsers: SubParsers,
    name: str,
    *,
    help: str,
    handler: Handler | None = None,
    json_output: bool = True,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """A subcommand parser with the shared options (``--config``; ``--json`` if asked)."""
    parser = subparsers.add_parser(
        name,
        help=help,
        description=description or help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_option(parser, suppress_default=True)
    if json_output:
        parser.add_argument(
            "--json", action="store_true", help="print machine-readable JSON instead of text"
        )
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser


def add_config_option(parser: argparse.ArgumentParser, *, suppress_default: bool) -> None:
    # On the top-level parser the default is None; on subcommands it is suppressed so that a
    # value given before the subcommand is not overwritten by the subcommand's default.
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS if suppress_default else None,
        help="configuration file (default: $VESTNIK_CONFIG, else ./vestnik.toml if present)",
    )


def load_cli_config(args: argparse.Namespace) -> Config:
    """The effective configuration: ``--config`` file (or the default lookup) + environment;
    in-process (``run_admin``), the running service's."""
    bound: Config | None = getattr(args, "bound_config", None)
    if bound is not None:
        return bound
    path = getattr(args, "config", None)
    if path is not None and not _is_file(path):
        raise CliError(f"config file {path} not found")
    return load_config(path, warn=print_warning)


def print_warning(message: str) -> None:
    sys.stderr.write(f"vestnik: warning: {message}\n")


def _is_file(path: str) -> bool:
    return Path(path).is_file()


@contextmanager
def database(args: argparse.Namespace) -> Iterator[tuple[Config, Engine]]:
    """``with database(args) as (config, engine):`` the configured database, schema up to date;
    in-process (``run_admin``), the running service's engine."""
    bound: Engine | None = getattr(args, "bound_engine", None)
    if bound is not None:
        yield load_cli_config(args), bound
        return
    config = load_cli_config(args)
    with db.open_database(config.database_url) as engine:
        yield config, engine


@contextmanager
def transaction(args: argparse.Namespace) -> Iterator[Connection]:
    """The command's one transaction: committed when the block ends, rolled back on an error."""
    with database(args) as (_config, engine), db.transaction(engine) as conn:
        yield conn


@contextmanager
def reading(args: argparse.Namespace) -> Iterator[Connection]:
    """A connection for a command that only reads."""
    with database(args) as (_config, engine), db.connection(engine) as conn:
        yield conn


def with_iso_times(row: Mapping[str, Any], columns: Iterable[str]) -> dict[str, Any]:
    """A copy of ``row`` where each time column ``x`` also gets ``x_iso`` right after it."""
    wanted = set(columns)
    out: dict[str, Any] = {}
    for key, value in row.items():
        out[key] = value
        if key in wanted:
            out[f"{key}_iso"] = iso(value)
    return out


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def emit(
    args: argparse.Namespace,
    data: Any,
    text: str | Callable[[], str],
    *,
    stream: TextIO | None = None,
) -> None:
    """Print ``data`` as JSON under ``--json``, else the human-readable ``text``; in-process
    (``run_admin``), hand both to the caller instead."""
    sink: list[tuple[Any, str]] | None = getattr(args, "sink", None)
    if sink is not None:
        sink.append((data, text() if callable(text) else text))
        return
    out = stream or sys.stdout
    if wants_json(args):
        out.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        out.write((text() if callable(text) else text).rstrip("\n") + "\n")


def format_fields(fields: Mapping[str, Any], *, skip: Sequence[str] = ()) -> str:
    """``key: value`` lines, keys aligned; lists and dicts shown compactly."""
    shown = {k: v for k, v in fields.items() if k not in skip}
    if not shown:
        return ""
    width = max(len(k) for k in shown)
    return "\n".join(f"{k.ljust(width)}  {format_value(v)}" for k, v in shown.items())


def format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) if value else "(none)"
    return str(value)


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A plain text table; an empty list says so."""
    if not rows:
        return "(none)"
    cells = [[format_value(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def on_off(text: str) -> bool:
    """argparse type for ``on``/``off`` switches (yes/no, true/false, 1/0 too)."""
    low = text.strip().lower()
    if low in ("on", "yes", "true", "1"):
        return True
    if low in ("off", "no", "false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def record_id(text: str) -> int:
    """argparse type for the id of a stored row (a call session, a key, a media file)."""
    from vestnik.api.params import MAX_DB_INTEGER

    value = positive_int(text)
    if value > MAX_DB_INTEGER:
        raise argparse.ArgumentTypeError(f"no such id: ids go up to {MAX_DB_INTEGER}")
    return value


def port_number(text: str) -> int:
    value = non_negative_int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1..65535, got {value}")
    return value
