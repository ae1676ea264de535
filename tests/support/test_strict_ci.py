"""The suite's own honesty: in CI a skipped test fails (tests/support/strict_ci.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SAMPLE = """
import pytest

pytest.importorskip("no_such_module_anywhere")
"""
SAMPLE_IN_TEST = """
import pytest

def test_needs_a_peer():
    pytest.skip("peer is not installed")

def test_plain():
    assert True
"""


def _run(tmp_path: Path, source: str, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(source)
    environ = {k: v for k, v in os.environ.items() if k not in ("CI", "VESTNIK_CI")}
    environ.update(env, PYTHONPATH=str(ROOT / "tests" / "support"))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "strict_ci", "-p", "no:cacheprovider",
         "-q", "-rA", str(tmp_path / "test_sample.py")],
        cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("source", [SAMPLE, SAMPLE_IN_TEST], ids=["collection", "test"])
def test_a_skip_fails_in_ci(tmp_path: Path, source: str) -> None:
    result = _run(tmp_path, source, VESTNIK_CI="1")
    assert result.returncode in (1, 2), result.stdout  # 2: a collection error
    assert "skipped in CI" in result.stdout
    assert " skipped" not in result.stdout.splitlines()[-1]


def test_ci_true_is_strict_too(tmp_path: Path) -> None:
    result = _run(tmp_path, SAMPLE_IN_TEST, CI="true")
    assert result.returncode == 1
    assert "1 failed, 1 passed" in result.stdout.splitlines()[-1]


def test_a_skip_is_a_skip_outside_ci(tmp_path: Path) -> None:
    result = _run(tmp_path, SAMPLE_IN_TEST)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 1 skipped" in result.stdout.splitlines()[-1]


def test_ci_script_runs_the_readme_test_command_strictly() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "VESTNIK_CI=1" in script
    assert "./scripts/test" in script
    assert "./scripts/test" in (ROOT / "README.md").read_text()
