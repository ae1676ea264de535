"""``vestnik admin trunk list``: the configured trunks with what the service last stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.cli import CliRunner
from vestnik.store.db import transaction
from vestnik.store.trunks import TrunkRow, record_status

TWO_TRUNKS = """
[[trunks]]
name = "carrier"
host = "sbc.example"
register = true
username = "acme"
password = "secret"

[[trunks]]
name = "backup"
host = "10.0.0.7"
port = 5070
"""

FIELDS = ["name", "transport", "host", "port", "registered", "state", "last_error", "dialer"]


@pytest.fixture
def config_file(tmp_path: Path) -> str:
    path = tmp_path / "vestnik.toml"
    path.write_text(TWO_TRUNKS)
    return str(path)


def test_trunks_never_stored_are_listed_from_the_config_as_unknown(
    cli: CliRunner, config_file: str
) -> None:
    run = cli("admin", "trunk", "list", "--json", "--config", config_file)
    assert run.status == 0, run.err
    assert run.json == [
        {"name": "carrier", "transport": "udp", "host": "sbc.example", "port": 5060,
         "registered": False, "state": "unknown", "last_error": None, "dialer": None,
         "updated_at": None, "updated_at_iso": None},
        {"name": "backup", "transport": "udp", "host": "10.0.0.7", "port": 5070,
         "registered": None, "state": "unknown", "last_error": None, "dialer": None,
         "updated_at": None, "updated_at_iso": None},
    ]  # fmt: skip


def test_the_latest_stored_status_of_each_trunk_is_shown(
    cli: CliRunner, db: Engine, config_file: str
) -> None:
    down = TrunkRow("backup", "udp", "10.0.0.7", 5070, None, "down",
                    "no answer to OPTIONS within 8 s")  # fmt: skip
    up = TrunkRow("carrier", "udp", "sbc.example", 5060, True, "up", None)
    with transaction(db) as conn:
        record_status(conn, "host1:5060", [up, down], 100.0)
        # A second dialer saw the backup trunk answer later: its row is the newest.
        record_status(conn, "host2:5060", [TrunkRow("backup", "udp", "10.0.0.7", 5070, None,
                                                    "up", None)], 200.0)  # fmt: skip
        record_status(conn, "host1:5060", [TrunkRow("old", "udp", "10.0.0.9", 5060, None,
                                                    "down", "gone")], 50.0)  # fmt: skip
    run = cli("admin", "trunk", "list", "--json", "--config", config_file)
    assert run.status == 0, run.err
    assert [[row[f] for f in FIELDS] for row in run.json] == [
        ["carrier", "udp", "sbc.example", 5060, True, "up", None, "host1:5060"],
        ["backup", "udp", "10.0.0.7", 5070, None, "up", None, "host2:5060"],
        ["old", "udp", "10.0.0.9", 5060, None, "down", "gone", "host1:5060"],
    ]
    # When each row was stored (the JSON only; the console's trunks page shows it).
    assert [row["updated_at"] for row in run.json] == [100.0, 200.0, 50.0]
    assert run.json[0]["updated_at_iso"].startswith("1970-01-01T00:01:40")
    with transaction(db) as conn:  # the same dialer stores again: its row is replaced
        record_status(conn, "host2:5060", [down], 300.0)
    text = cli("admin", "trunk", "list", "--config", config_file)
    assert text.status == 0, text.err
    lines = text.out.splitlines()
    assert lines[0].split() == FIELDS
    assert lines[2].split()[:6] == ["backup", "udp", "10.0.0.7", "5070", "-", "down"]
    assert "no answer to OPTIONS within 8 s" in lines[2]
