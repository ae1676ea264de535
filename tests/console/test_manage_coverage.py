"""Every admin command has a console twin, or is excluded with a reason (and vice versa)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vestnik.cli.admin.inprocess import admin_parser
from vestnik.console.manage import CONSOLE_ACTIONS, CONSOLE_VIEWS, EXCLUDED

DOCS = Path(__file__).resolve().parents[2] / "docs" / "console.md"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def admin_commands() -> set[tuple[str, str]]:
    """(object, action) of every ``vestnik admin`` command, from the parser itself."""
    return {
        (obj, action)
        for obj, sub in _subcommands(admin_parser()).items()
        for action in _subcommands(sub)
    }


def test_every_admin_command_is_a_console_action_a_view_or_excluded_with_a_reason() -> None:
    commands = admin_commands()
    assert ("account", "set") in commands and ("operator", "create") in commands
    covered = set(CONSOLE_ACTIONS) | set(CONSOLE_VIEWS) | set(EXCLUDED)
    assert sorted(commands - covered) == []
    assert sorted(covered - commands) == []  # nothing listed that the CLI does not have
    assert not set(CONSOLE_ACTIONS) & set(EXCLUDED)
    assert all(reason.strip() for reason in EXCLUDED.values())


def test_the_docs_list_every_command_and_its_console_twin() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for obj, action in admin_commands():
        assert f"`{obj} {action}`" in text, f"{obj} {action} is not in {DOCS.name}"
