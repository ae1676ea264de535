"""What the source imports, read from the code (the dependency rules' tests)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def imports_of(path: Path) -> set[str]:
    """Every module an ``import`` in the file names (functions and TYPE_CHECKING included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def forbidden_imports(relative: str, forbidden: tuple[str, ...]) -> dict[str, set[str]]:
    """file → the imports of ``forbidden`` packages in ``src/<relative>`` (a file or a folder)."""
    root = SRC / relative
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
    found: dict[str, set[str]] = {}
    for path in files:
        bad = {
            name
            for name in imports_of(path)
            if any(name == pkg or name.startswith(pkg + ".") for pkg in forbidden)
        }
        if bad:
            found[str(path.relative_to(SRC))] = bad
    return found
