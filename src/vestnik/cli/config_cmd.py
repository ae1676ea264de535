"""``vestnik config show``: the effective configuration (file + environment), secrets hidden."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from vestnik.cli.common import SubParsers, command_parser, emit, load_cli_config
from vestnik.config import Config
from vestnik.store.db import masked_url

# Keys whose names contain one of these are never printed; passwords in URLs are masked.
SECRET_WORDS = ("password", "secret", "token")
HIDDEN = "********"


def register(commands: SubParsers) -> None:
    p = commands.add_parser(
        "config",
        help="inspect the configuration",
        description="Inspect the configuration (docs/configuration.md).",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    command_parser(
        actions,
        "show",
        help="print the effective configuration, secrets hidden",
        handler=config_show,
    )


def _hide_secrets(table: dict[str, Any]) -> None:
    for key, value in table.items():
        if any(word in key for word in SECRET_WORDS) and value:
            table[key] = HIDDEN
        elif key.endswith("url") and isinstance(value, str) and value:
            table[key] = masked_url(value)


def effective_config(config: Config) -> dict[str, Any]:
    """Every setting by section, secrets hidden, plus ``database_url`` (the one in use). With
    ``[[trunks]]`` the ``[trunk]`` shorthand is left out (the two forms exclude each other)."""
    data = dataclasses.asdict(config)
    if config.trunks:
        del data["trunk"]
    else:
        del data["trunks"]
    for section in data.values():
        tables = section if isinstance(section, list) else [section]
        for table in tables:
            if isinstance(table, dict):
                _hide_secrets(table)
    data["database_url"] = masked_url(config.database_url)
    return data


def config_show(args: argparse.Namespace) -> None:
    data = effective_config(load_cli_config(args))

    def text() -> str:
        # The TOML stays a valid config file: the derived URL is a comment, not a key.
        settings = {k: v for k, v in data.items() if k != "database_url"}
        return f"# database in use: {data['database_url']}\n{to_toml(settings)}"

    emit(args, data, text)


def to_toml(data: dict[str, Any]) -> str:
    """Plain TOML for the config: scalars, then one table per section, then ``[[trunks]]``."""

    def is_tables(value: Any) -> bool:
        return isinstance(value, list) and bool(value) and isinstance(value[0], dict)

    lines = [
        f"{k} = {toml_value(v)}"
        for k, v in data.items()
        if not isinstance(v, dict) and not is_tables(v)
    ]
    for name, section in data.items():
        if isinstance(section, dict):
            lines.append(f"\n[{name}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in section.items()]
    for name, tables in data.items():
        if is_tables(tables):
            for table in tables:
                lines.append(f"\n[[{name}]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines)


def toml_value(value: Any) -> str:
    """One TOML literal (strings, numbers, booleans, lists, inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{toml_string(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    return toml_string("" if value is None else str(value))


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch < " " or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
