"""The whole tree's layout rules, read from the code: each rule is a test that can fail.

Source (``src/vestnik``):

* the database libraries (SQLAlchemy, Alembic) and SQL text live in ``vestnik.store`` only
  (its migrations included);
* no import cycle between packages (a top-level module such as ``service`` counts as one);
* the middle packages (api, dialer, events, telephony, media, speech) do not import one
  another, and nothing below ``cli`` and ``service`` imports them; only ``service`` and ``cli``
  import ``console`` (it sits above the adapters);
* ``calls`` (the domain) imports nothing of vestnik but ``config``; ``calls.intake`` only the
  domain's model and numbers; ``metrics`` knows no database and no HTTP; ``telephony.rtp``
  (the pacer's child process) no SIP;
* no module over 500 lines (migrations excepted), no function over 80.

Tests (``tests/``):

* ``tests`` is this checkout's package (sippy installs a ``tests`` package of its own);
* ``tests/<dir>/…`` mirrors ``src/vestnik/<dir>/…``; the others are ``support`` (every helper,
  ``support/scenarios`` every SIPp scenario, ``support/data`` data files) and ``interop`` (the
  whole stack against baresip and Kamailio: cross-cutting on purpose); a top-level
  ``tests/test_<module>[_<topic>].py`` tests the top-level module ``vestnik/<module>.py``;
* a test imports helpers from ``tests.support`` only: never another test module, never a
  conftest; no helper is named like a standard module (scripts run from that folder);
* one SIPp launcher: ``tests/support/sipp.py``; no other module under ``tests/`` or ``bench/``
  starts ``sipp``.
"""

from __future__ import annotations

import ast
import graphlib
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import tests
import vestnik

SRC = Path(vestnik.__file__).resolve().parent
ROOT = SRC.parents[1]
TESTS = ROOT / "tests"
MIGRATIONS = SRC / "store" / "migrations"
MIDDLE_PACKAGES = ("api", "dialer", "events", "telephony", "media", "speech")
DATABASE_LIBRARIES = ("sqlalchemy", "alembic")
# Test folders that mirror no source package (see the module docstring).
NOT_MIRRORS = {"support", "interop"}
SIPP_LAUNCHER = TESTS / "support" / "sipp.py"
# SQL statements as they appear in string literals (upper case, as SQL is written here).
SQL_TEXT = re.compile(
    r"\b(SELECT\b[^;]*\bFROM|INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|"
    r"(CREATE|DROP|ALTER)\s+(TABLE|INDEX|DATABASE)|TRUNCATE)\b"
)


def source_modules(*, migrations: bool = True) -> list[Path]:
    return sorted(
        path
        for path in SRC.rglob("*.py")
        if migrations or not path.is_relative_to(MIGRATIONS / "versions")
    )


def python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def imports_of(path: Path) -> set[str]:
    """Every absolute module an ``import`` in the file names (functions and TYPE_CHECKING too)."""
    names: set[str] = set()
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def within(name: str, packages: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def forbidden_imports(paths: Iterable[Path], forbidden: Iterable[str]) -> dict[str, set[str]]:
    """file → its imports of ``forbidden`` modules or packages."""
    forbidden = tuple(forbidden)
    found: dict[str, set[str]] = {}
    for path in paths:
        bad = {name for name in imports_of(path) if within(name, forbidden)}
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


def package_of(path: Path) -> str:
    """The top-level part of vestnik a source file belongs to: a package, or a module."""
    relative = path.relative_to(SRC)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def package_imports() -> dict[str, set[str]]:
    """Top-level part → the other top-level parts of vestnik it imports."""
    graph: dict[str, set[str]] = {}
    for path in source_modules():
        source = package_of(path)
        for name in imports_of(path):
            parts = name.split(".")
            if parts[0] == "vestnik" and len(parts) > 1 and parts[1] != source:
                graph.setdefault(source, set()).add(parts[1])
    return graph


def modules_of(package: str) -> list[Path]:
    root = SRC / package
    return python_files(root) if root.is_dir() else [root.with_suffix(".py")]


# --- source: the database --------------------------------------------------------------------


def test_database_libraries_are_imported_in_the_store_only() -> None:
    outside = [p for p in source_modules() if not p.is_relative_to(SRC / "store")]
    assert len(outside) > 100
    assert forbidden_imports(outside, DATABASE_LIBRARIES) == {}


def test_sql_text_is_in_the_store_only() -> None:
    assert SQL_TEXT.search('SELECT id FROM "accounts"') and SQL_TEXT.search("TRUNCATE x")
    found = []
    for path in source_modules():
        if path.is_relative_to(SRC / "store"):
            continue
        for node in ast.walk(parse(path)):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and SQL_TEXT.search(text):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


# --- source: dependencies between packages ---------------------------------------------------


def test_no_import_cycle_between_packages() -> None:
    graph = package_imports()
    assert {"api", "dialer", "store", "service", "cli"} <= graph.keys()
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as cycle:
        raise AssertionError(f"import cycle: {' -> '.join(cycle.args[1])}") from None
    assert order


def test_middle_packages_do_not_import_one_another() -> None:
    found = {}
    for package in MIDDLE_PACKAGES:
        others = [f"vestnik.{p}" for p in MIDDLE_PACKAGES if p != package]
        found.update(forbidden_imports(modules_of(package), others))
    assert found == {}


def test_nothing_but_service_and_cli_imports_the_console() -> None:
    """The console sits above the adapters: none of them (nor the store) knows it."""
    below = [p for p in source_modules() if package_of(p) not in ("console", "cli", "service")]
    assert forbidden_imports(below, ("vestnik.console",)) == {}


def test_nothing_below_cli_and_service_imports_them() -> None:
    """Only the command line (and ``python -m vestnik``) imports ``cli``; only it ``service``."""
    below = [p for p in source_modules() if package_of(p) not in ("cli", "__main__", "service")]
    assert forbidden_imports(below, ("vestnik.cli", "vestnik.service")) == {}
    assert forbidden_imports(modules_of("service"), ("vestnik.cli",)) == {}


def test_calls_imports_nothing_of_vestnik_but_config() -> None:
    calls = modules_of("calls")
    assert len(calls) > 5
    found = {
        str(path.relative_to(ROOT)): bad
        for path in calls
        if (
            bad := {
                name
                for name in imports_of(path)
                if within(name, ("vestnik",))
                and not within(name, ("vestnik.calls", "vestnik.config"))
            }
        )
    }
    assert found == {}


def test_intake_rules_import_only_the_domain() -> None:
    intake = SRC / "calls" / "intake.py"
    assert {m for m in imports_of(intake) if m.startswith("vestnik.")} <= {
        "vestnik.calls.model",
        "vestnik.calls.numbers",
    }
    assert forbidden_imports([intake], ("sqlalchemy", "starlette")) == {}


def test_process_metrics_know_no_database_or_http() -> None:
    forbidden = ("sqlalchemy", "starlette", "vestnik.store", "vestnik.api")
    assert forbidden_imports([SRC / "metrics.py"], forbidden) == {}


def test_rtp_needs_no_sip() -> None:
    """The pacer's child process imports ``telephony.rtp`` only: no sippy in it."""
    rtp = python_files(SRC / "telephony" / "rtp")
    assert forbidden_imports(rtp, ("sippy", "vestnik.telephony.sip")) == {}


# --- source: sizes ---------------------------------------------------------------------------


def test_no_module_over_500_lines() -> None:
    too_big = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for path in source_modules(migrations=False)
        if (lines := path.read_text(encoding="utf-8").count("\n")) > 500
    ]
    assert too_big == []


def test_no_function_over_80_lines() -> None:
    too_long = []
    for path in source_modules(migrations=False):
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 80:
                    too_long.append(f"{path.relative_to(ROOT)}: {node.name} {length} lines")
    assert too_long == []


# --- tests -----------------------------------------------------------------------------------


def test_tests_is_this_checkouts_package() -> None:
    assert Path(tests.__file__).resolve().parent == TESTS
    folders = [p for p in TESTS.rglob("*") if p.is_dir() and p.name != "__pycache__"]
    folders = [p for p in folders if not p.is_relative_to(TESTS / "support" / "scenarios")]
    folders = [p for p in folders if not p.is_relative_to(TESTS / "support" / "data")]
    missing = [
        str(p.relative_to(ROOT)) for p in [TESTS, *folders] if not (p / "__init__.py").is_file()
    ]
    assert missing == []


def test_no_helper_shadows_a_standard_module() -> None:
    """Scripts in tests/support run with that folder first on ``sys.path`` (the webhook worker,
    strict_ci's own test): a ``queue.py`` there would replace the standard ``queue``."""
    support = TESTS / "support"
    assert [p.stem for p in support.glob("*.py") if p.stem in sys.stdlib_module_names] == []


def test_test_folders_mirror_the_source_packages() -> None:
    strays = []
    for folder in sorted(p for p in TESTS.rglob("*") if p.is_dir() and p.name != "__pycache__"):
        relative = folder.relative_to(TESTS)
        if relative.parts[0] in NOT_MIRRORS:
            continue
        if not (SRC / relative / "__init__.py").exists():
            strays.append(str(relative))
    assert strays == []


# Tests of the whole tree rather than of one module.
WHOLE_TREE_TESTS = {"layout", "packaging", "typing"}


def test_top_level_test_modules_name_a_top_level_module() -> None:
    modules = {p.stem for p in SRC.glob("*.py") if not p.stem.startswith("_")}
    strays = []
    for path in TESTS.glob("test_*.py"):
        name = path.stem.removeprefix("test_")
        named = any(name == m or name.startswith(m + "_") for m in modules)
        if name not in WHOLE_TREE_TESTS and not named:
            strays.append(path.name)
    assert {"service", "logs"} <= modules
    assert strays == []


def test_tests_import_helpers_from_support_only() -> None:
    found = {}
    for path in python_files(TESTS):
        bad = {
            name
            for name in imports_of(path)
            if within(name, ("tests",)) and name != "tests" and not within(name, ("tests.support",))
        }
        bad |= {name for name in imports_of(path) if name.split(".")[-1] == "conftest"}
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    assert found == {}


def starts_sipp(path: Path) -> list[int]:
    """Lines where the module runs a process (or looks up a binary) named ``sipp``."""
    runners = {"run", "Popen", "call", "check_call", "check_output", "which", "require_binary"}
    runners |= {"PeerProcess", "create_subprocess_exec", "create_subprocess_shell", "system"}
    lines = []
    for node in ast.walk(parse(path)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name not in runners:
            continue
        for inner in ast.walk(node):
            text = inner.value if isinstance(inner, ast.Constant) else None
            if isinstance(text, str) and re.match(r"(\S*/)?sipp(\s|$)", text):
                lines.append(node.lineno)
    return lines


def test_one_sipp_launcher() -> None:
    assert starts_sipp(SIPP_LAUNCHER)  # the check finds the launcher itself
    found = {
        str(path.relative_to(ROOT)): lines
        for path in [*python_files(TESTS), *python_files(ROOT / "bench")]
        if path != SIPP_LAUNCHER and (lines := starts_sipp(path))
    }
    assert found == {}


def test_one_folder_of_sipp_scenarios() -> None:
    scenarios = TESTS / "support" / "scenarios"
    everywhere = sorted([*TESTS.rglob("*.xml"), *(ROOT / "bench").rglob("*.xml")])
    elsewhere = [str(p.relative_to(ROOT)) for p in everywhere if p.parent != scenarios]
    assert len(list(scenarios.glob("*.xml"))) > 10
    assert elsewhere == []
