"""TrunkStatusRecorder: the newest status of each trunk reaches the database, off the loop."""

from __future__ import annotations

from sqlalchemy import Engine

from tests.support.processes import async_wait_until
from vestnik.dialer.trunk_status import TrunkStatusRecorder
from vestnik.store.db import connection
from vestnik.store.trunks import TrunkRow, stored_status


def row(trunk: str, state: str, error: str | None = None) -> TrunkRow:
    return TrunkRow(trunk, "udp", "sbc.example", 5060, None, state, error)


def stored(engine: Engine) -> dict[str, tuple[str, str | None, str]]:
    with connection(engine) as conn:
        return {
            name: (r["state"], r["last_error"], r["dialer"])
            for name, r in stored_status(conn).items()
        }


async def test_start_stores_every_trunk_then_each_change(engine: Engine) -> None:
    recorder = TrunkStatusRecorder(engine, "host1:5060")
    recorder.start([row("carrier", "unknown"), row("backup", "unknown")])
    try:
        await async_wait_until(lambda: len(stored(engine)) == 2, 5, "both trunks stored")
        assert stored(engine)["carrier"] == ("unknown", None, "host1:5060")
        for state in ("up", "down", "up"):  # changes faster than writes: the newest wins
            recorder.record(row("carrier", state))
        recorder.record(row("backup", "down", "no answer to OPTIONS within 8 s"))
    finally:
        await recorder.stop()  # writes what is pending
    assert stored(engine) == {
        "carrier": ("up", None, "host1:5060"),
        "backup": ("down", "no answer to OPTIONS within 8 s", "host1:5060"),
    }
