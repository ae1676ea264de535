"""In CI a skipped test is a failed test.

Outside CI a test whose peer (SIPp, baresip, PostgreSQL, sox …) is missing is skipped with the
reason printed, so a developer's laptop can run what it can. CI must prove what it claims: with
``VESTNIK_CI=1`` (set by ``.ci/run``) or ``CI=true`` every skip, at collection or in a test, is
reported as a failure carrying the skip's reason. Loaded by ``tests/conftest.py``.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

STRICT_VARIABLES = ("VESTNIK_CI", "CI")


def strict() -> bool:
    """True when running in CI: ``VESTNIK_CI`` or ``CI`` set to a true value."""
    return any(
        os.environ.get(name, "").strip().lower() in ("1", "true", "yes")
        for name in STRICT_VARIABLES
    )


def _fail_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, where every test must run (VESTNIK_CI/CI is set): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if strict() and report.skipped and not hasattr(report, "wasxfail"):
        _fail_skip(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    if strict() and report.skipped:
        _fail_skip(report)
