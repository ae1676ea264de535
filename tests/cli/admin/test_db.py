"""``vestnik admin db migrate`` and a database that does not answer."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory

from tests.support.admin_cli import assert_refused
from tests.support.cli import CliRunner
from vestnik.store.db import alembic_config


def test_db_migrate_reports_revision(cli: CliRunner, db_url: str) -> None:
    run = cli("admin", "db", "migrate", "--json")
    assert run.status == 0, run.err
    assert (
        run.json["revision"]
        == ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
    )
    assert run.json["database"].split("/")[-1] == db_url.split("/")[-1]


def test_unreachable_database_is_a_clean_error(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VESTNIK_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    run = cli("admin", "account", "list")
    assert_refused(run, "database error")
