"""The API speaks HTTP and JSON-RPC; its SQL lives in vestnik.store (checked on the source)."""

from __future__ import annotations

import ast
from pathlib import Path

import vestnik

SRC = Path(vestnik.__file__).parent
# Engineer B's part of the re-layout moves the upload's SQL into the store.
PENDING = {SRC / "api" / "upload.py"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def offending(paths: list[Path], forbidden: tuple[str, ...]) -> dict[str, set[str]]:
    """Per module, the imports that are one of ``forbidden`` or inside one of them."""
    found = {}
    for path in paths:
        imports = imported_modules(path)
        bad = {m for m in imports for f in forbidden if m == f or m.startswith(f + ".")}
        if bad:
            found[str(path.relative_to(SRC))] = bad
    return found


def test_api_imports_no_sqlalchemy() -> None:
    modules = sorted(set((SRC / "api").rglob("*.py")) - PENDING)
    assert len(modules) > 10
    assert offending(modules, ("sqlalchemy",)) == {}


def test_process_metrics_know_no_database_or_http() -> None:
    forbidden = ("sqlalchemy", "starlette", "vestnik.store", "vestnik.api")
    assert offending([SRC / "metrics.py"], forbidden) == {}


def test_intake_rules_import_only_the_domain() -> None:
    imports = imported_modules(SRC / "calls" / "intake.py")
    assert {m for m in imports if m.startswith("vestnik.")} <= {
        "vestnik.calls.model",
        "vestnik.calls.numbers",
    }
    assert offending([SRC / "calls" / "intake.py"], ("sqlalchemy", "starlette")) == {}
