"""``vestnik admin webhook …`` in-process, against each backend."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from tests.support.events import SECRET, make_account, make_call_session
from vestnik.calls.events import EventType
from vestnik.cli.main import main
from vestnik.store.deliveries import dispatch_pending
from vestnik.store.outbox import record_event
from vestnik.store.schema import webhook_deliveries, webhooks


@pytest.fixture
def vestnik(
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Any:
    monkeypatch.setenv("VESTNIK_DATABASE_URL", db_url)
    monkeypatch.delenv("VESTNIK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            status = main(list(argv))
        except SystemExit as exc:
            status = int(exc.code or 0)
        out = capsys.readouterr()
        return status, out.out, out.err

    return run


def test_webhook_admin_commands(vestnik: Any, engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        account = make_account(conn, "acme")
        session = make_call_session(conn, account)
    template = tmp_path / "body.json"
    template.write_text('{"session": {{call_session_id}}, "reason": "{{finish_reason}}"}')
    status, out, err = vestnik(
        "admin", "webhook", "add", "acme", "http://127.0.0.1:9/hook",
        "--events", "call_finished", "--secret", SECRET, "--template", str(template), "--json",
    )  # fmt: skip
    assert status == 0, err
    added = json.loads(out)
    assert added["events"] == ["call_finished"]
    assert added["secret"] == "****"
    assert added["body_template"].startswith('{"session"')

    status, out, _ = vestnik("admin", "webhook", "list", "acme", "--json")
    assert status == 0
    assert [h["id"] for h in json.loads(out)] == [added["id"]]
    status, out, _ = vestnik("admin", "webhook", "list", str(account))
    assert "http://127.0.0.1:9/hook" in out and SECRET not in out

    # A parked delivery (as after the retry horizon) shows up and can be replayed.
    with engine.begin() as conn:
        record_event(conn, session, EventType.CALL_FINISHED, 1.0)
    dispatch_pending(engine, 1.0)
    with engine.begin() as conn:
        conn.execute(
            webhook_deliveries.update().values(state="parked", attempts=9, last_error="HTTP 500")
        )
        delivery_id = conn.execute(sa.select(webhook_deliveries.c.id)).scalar_one()
    status, out, _ = vestnik("admin", "webhook", "deliveries", "--state", "parked", "--json")
    assert status == 0
    parked = json.loads(out)
    assert [(d["id"], d["event_type"], d["last_error"]) for d in parked] == [
        (delivery_id, "call_finished", "HTTP 500")
    ]
    status, out, _ = vestnik("admin", "webhook", "replay", str(delivery_id), "--json")
    assert (status, json.loads(out)) == (0, {"replayed": 1})
    with engine.connect() as conn:
        row = conn.execute(sa.select(webhook_deliveries)).mappings().one()
    assert (row["state"], row["attempts"], row["last_error"]) == ("pending", 0, None)
    status, out, _ = vestnik("admin", "webhook", "deliveries", "--state", "parked")
    assert "(none)" in out

    status, out, _ = vestnik("admin", "webhook", "remove", str(added["id"]))
    assert status == 0
    with engine.connect() as conn:
        assert conn.execute(sa.select(webhooks.c.is_active)).scalar_one() is False
        assert conn.execute(sa.select(webhook_deliveries.c.state)).scalar_one() == "parked"
    # Deliveries of a removed endpoint stay parked.
    status, out, _ = vestnik("admin", "webhook", "replay", "--all-parked", "--json")
    assert (status, json.loads(out)) == (0, {"replayed": 0})


def test_attempt_failed_is_subscribable(vestnik: Any, engine: Engine) -> None:
    with engine.begin() as conn:
        account = make_account(conn, "acme")
        session = make_call_session(conn, account)
    status, out, err = vestnik(
        "admin", "webhook", "add", "acme", "http://127.0.0.1:9/hook",
        "--events", "attempt_failed", "--secret", SECRET, "--json",
    )  # fmt: skip
    assert status == 0, err
    assert json.loads(out)["events"] == ["attempt_failed"]
    with engine.begin() as conn:
        for kind in (EventType.CALL_STARTED, EventType.ATTEMPT_FAILED, EventType.CALL_FINISHED):
            record_event(conn, session, kind, time.time())
    dispatch_pending(engine, time.time())
    with engine.connect() as conn:
        count = sa.select(sa.func.count()).select_from(webhook_deliveries)
        assert conn.execute(count).scalar() == 1  # attempt_failed only


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["add", "acme", "http://x/h", "--events", "call_exploded", "--secret", SECRET],
         "unknown event type"),
        (["add", "acme", "gopher://x/h", "--events", "call_started", "--secret", SECRET],
         "http(s)"),
        (["add", "acme", "http://x/h", "--events", "call_started", "--secret", "short"],
         "at least 16"),
        (["add", "nobody", "http://x/h", "--events", "call_started", "--secret", SECRET],
         "not found"),
        (["add", "acme", "http://x/h", "--events", "call_started", "--secret", SECRET,
          "--template", "/nonexistent/t.json"], "cannot read template"),
        (["remove", "999"], "not found"),
        (["replay"], "--all-parked"),
        (["replay", "999"], "not found"),
    ],
)  # fmt: skip
def test_bad_input_changes_nothing(
    vestnik: Any, engine: Engine, argv: list[str], message: str
) -> None:
    with engine.begin() as conn:
        make_account(conn, "acme")
    status, _out, err = vestnik("admin", "webhook", *argv)
    assert status == 1
    assert message in err
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(webhooks)).scalar() == 0


def test_prune_keeps_what_is_not_delivered(vestnik: Any, engine: Engine) -> None:
    from vestnik.store.schema import call_events

    with engine.begin() as conn:
        account = make_account(conn, "acme")
        conn.execute(
            webhooks.insert().values(
                account_id=account, url="http://127.0.0.1:9/h", events=["call_finished"],
                secret=SECRET, is_active=True, created_at=1.0,
            )
        )  # fmt: skip
        old = [make_call_session(conn, account) for _ in range(3)]
        for s in old:
            record_event(conn, s, EventType.CALL_FINISHED, 1000.0)
        fresh = make_call_session(conn, account)
        record_event(conn, fresh, EventType.CALL_FINISHED, time.time())
    dispatch_pending(engine, 1000.0)
    with engine.begin() as conn:
        ids = [r[0] for r in conn.execute(sa.select(webhook_deliveries.c.id).order_by("id"))]
        # old: delivered, delivered, parked; fresh: delivered (but new)
        conn.execute(webhook_deliveries.update().values(state="delivered"))
        conn.execute(
            webhook_deliveries.update()
            .where(webhook_deliveries.c.id == ids[2])
            .values(state="parked")
        )
        conn.execute(
            webhook_deliveries.update()
            .where(webhook_deliveries.c.id == ids[3])
            .values(created_at=time.time())
        )
    status, out, _ = vestnik("admin", "webhook", "prune", "--older-than-days", "1", "--json")
    assert (status, json.loads(out)) == (0, {"deliveries_deleted": 2, "events_deleted": 2})
    with engine.connect() as conn:
        left = sorted(r[0] for r in conn.execute(sa.select(webhook_deliveries.c.id)))
        events_left = conn.execute(sa.select(sa.func.count()).select_from(call_events)).scalar()
    assert left == [ids[2], ids[3]]
    assert events_left == 2
