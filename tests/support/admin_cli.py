"""What the ``vestnik admin`` tests share: stored rows, an account, a refusal, a session, audio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from tests.support.cli import CliRunner
from tests.support.sessions import queue_session


def rows(db: Engine, table: sa.Table) -> list[dict[str, Any]]:
    with db.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table).order_by(table.c.id)).mappings()]


def make_account(cli: CliRunner, name: str = "acme") -> int:
    run = cli("admin", "account", "create", name, "--json")
    assert run.status == 0, run.err
    return int(run.json["id"])


def assert_refused(run: Any, *fragments: str) -> None:
    assert run.status != 0
    assert run.out == ""
    assert "Traceback" not in run.err
    for fragment in fragments:
        assert fragment in run.err, run.err


def insert_session(db: Engine, account_id: int, **values: Any) -> int:
    """A queued session with what the listings show besides: request id, external id, DTMF."""
    fields: dict[str, Any] = {
        "request_id": '"req-1"',
        "external_id": "ext-1",
        "contact": "79161234567",
        "dtmf_string": "1.2",
        **values,
    }
    with db.begin() as conn:
        return queue_session(conn, account_id, **fields)


def write_tone(path: Path, seconds: float = 1.0) -> Path:
    import numpy as np
    import soundfile

    samples = np.arange(int(16_000 * seconds)) / 16_000
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * 440 * samples), 16_000, subtype="PCM_16")
    return path


def add_media(cli: CliRunner, account: str, wav: Path) -> int:
    run = cli("admin", "media", "add", account, str(wav), "--json")
    assert run.status == 0, run.err
    return int(run.json["media_file_id"])
