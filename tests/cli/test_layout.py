"""The command line's code keeps to the layout rules: no database library, small parts.

All SQL and every SQLAlchemy or Alembic name belong to ``vestnik.store``; the commands reach
the database through its functions. No module over 500 lines, no function over 80.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vestnik.cli

CLI_DIR = Path(vestnik.cli.__file__).parent
MODULES = sorted(CLI_DIR.rglob("*.py"))
DATABASE_LIBRARIES = ("sqlalchemy", "alembic")


def _imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_cli_modules_import_no_database_library() -> None:
    found = {
        f"{path.relative_to(CLI_DIR)}: {name}"
        for path in MODULES
        for name in _imported(ast.parse(path.read_text(encoding="utf-8")))
        if name.split(".")[0] in DATABASE_LIBRARIES
    }
    assert MODULES and sorted(found) == []


def test_cli_modules_and_functions_are_small() -> None:
    too_big = []
    for path in MODULES:
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 500:
            too_big.append(f"{path.relative_to(CLI_DIR)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 80:
                    too_big.append(f"{path.relative_to(CLI_DIR)}: {node.name} {length} lines")
    assert too_big == []
