"""docs/admin.md names every ``vestnik admin`` command."""

from __future__ import annotations

import argparse
from pathlib import Path

from vestnik.cli.main import build_parser


def test_docs_name_every_admin_verb() -> None:
    """docs/admin.md mentions ``vestnik admin OBJECT ACTION`` for every command there is."""
    docs = (Path(__file__).parents[3] / "docs" / "admin.md").read_text(encoding="utf-8")

    def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return dict(sub.choices)

    admin = commands(build_parser())["admin"]
    verbs = [
        f"{name} {action}" for name, obj in commands(admin).items() for action in commands(obj)
    ]
    assert "session release" in verbs and "media remove" in verbs
    assert [v for v in verbs if f"vestnik admin {v}" not in docs] == []
