"""Run ``vestnik`` commands in-process against the test database of each backend."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.cli import CliRunner, Run
from vestnik.cli.main import main
from vestnik.store import create_db_engine


@pytest.fixture
def cli(
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> CliRunner:
    """``cli("admin", "account", "create", "acme", "--json")`` → Run(status, out, err)."""
    monkeypatch.setenv("VESTNIK_DATABASE_URL", db_url)
    monkeypatch.setenv("VESTNIK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VESTNIK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray ./vestnik.toml is picked up

    def run(*argv: str, stdin: str | None = None) -> Run:
        capsys.readouterr()
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            status = main(list(argv))
        except SystemExit as exc:  # argparse usage errors and --help
            status = int(exc.code or 0)
        captured = capsys.readouterr()
        return Run(status, captured.out, captured.err)

    return run


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    """An engine on the same database, to check what the commands did."""
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()
