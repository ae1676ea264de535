"""mypy on ``src/`` (strict; the exceptions are listed in pyproject.toml, ``[tool.mypy]``).

CI runs the README's test command, so the type check runs as a test: it fails with mypy's
report when mypy finds anything. Without mypy (the ``dev`` extra) it is skipped outside CI and
fails in CI (``VESTNIK_CI``/``CI``), where every check must run. mypy keeps its cache in
``.mypy_cache`` at the repository's root, so a run after a small change takes a few seconds.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.strict_ci import strict

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_nothing_in_src() -> None:
    if importlib.util.find_spec("mypy") is None:
        reason = f"mypy is not installed in {sys.prefix} (pip install -e '.[dev]')"
        if strict():
            pytest.fail(f"the type check must run in CI: {reason}", pytrace=False)
        pytest.skip(reason)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, f"mypy reports problems in src/:\n{report}"
    assert report.startswith("Success: no issues found"), report
