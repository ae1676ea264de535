"""``start.informer_call``'s hot path on PostgreSQL (``[server] db_calls`` async: asyncpg, two
statements, the charge in ``vestnik_charge_points()``) against the general path (``thread``: the
transaction of ``store/intake.py`` and ``api/limits.py``), on one real database.

Every case is sent to both servers, one after the other, on the same account: the replies must
be the same (errors with their ``metadata.limits``) and the sessions stored the same. Then the
points: requests from several processes at once against a remaining quota of K admit exactly K
on the hot path, whichever window (day, minute) runs out, and a refused minute leaves no day
charge behind.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.support.api import VPN, Api, error_of, seed_account, serve
from tests.support.hot_path import run_requests
from vestnik.auth import TokenKind
from vestnik.calls.options import CallingWindow, CallOptions, RetryPolicy, parse_hhmm
from vestnik.config import Config
from vestnik.store import create_db_engine
from vestnik.store.accounts import set_call_policy
from vestnik.store.admin_blacklist import blacklist_add
from vestnik.store.admin_numbers import add_number
from vestnik.store.admin_users import block_key, issue_token
from vestnik.store.intake_pg import AsyncIntake
from vestnik.store.schema import call_sessions, limit_counters

pytestmark = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)

# Columns that differ between two sessions of the same request.
_OWN = {"id", "created_at"}


def _config(db_calls: str) -> Config:
    config = Config()
    config.server.db_calls = db_calls
    return config


@pytest.fixture
def paths(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Api, Api, list[int]]]:
    """(hot, general) servers on one database and account; the list counts the hot path's
    charges (so a case known to take it is seen taking it)."""
    taken: list[int] = []
    accept = AsyncIntake.accept

    async def counted(*args: Any, **kwargs: Any) -> Any:
        taken.append(1)
        return await accept(*args, **kwargs)

    monkeypatch.setattr(AsyncIntake, "accept", staticmethod(counted))
    engine = create_db_engine(db_url)
    account_id, token = seed_account(engine)
    hot_config, general_config = _config("async"), _config("thread")
    with (
        serve(engine, hot_config) as (hot_url, hot_http),
        serve(engine, general_config) as (
            general_url,
            general_http,
        ),
    ):
        hot = Api(hot_url, hot_http, engine, hot_config, account_id, token)
        general = Api(general_url, general_http, engine, general_config, account_id, token)
        yield hot, general, taken
    engine.dispose()


def _same_limits(a: dict[str, Any] | None, b: dict[str, Any] | None) -> None:
    """``metadata.limits`` alike but for the seconds to the reset (taken a moment apart)."""
    if a is None or b is None:
        assert a == b
        return
    assert {k: v for k, v in a.items() if not k.endswith("_reset")} == {
        k: v for k, v in b.items() if not k.endswith("_reset")
    }
    for key in ("day_reset", "minute_reset"):
        assert abs(a[key] - b[key]) <= 1 or {a[key], b[key]} & {1, 60}  # a window turned


def _both(hot: Api, general: Api, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    one, other = hot.start(**params), general.start(**params)
    if "error" in one or "error" in other:
        assert error_of(one) == error_of(other)
        left, right = dict(one["error"]["data"]), dict(other["error"]["data"])
        meta_left, meta_right = left.pop("metadata", {}), right.pop("metadata", {})
        assert left == right
        _same_limits(meta_left.get("limits"), meta_right.get("limits"))
    return one, other


def _session(api: Api, session_id: int) -> dict[str, Any]:
    with api.engine.connect() as conn:
        row = conn.execute(sa.select(call_sessions).where(call_sessions.c.id == session_id)).one()
    return {k: v for k, v in row._mapping.items() if k not in _OWN}


def test_accepted_requests_store_the_same_session(paths: tuple[Api, Api, list[int]]) -> None:
    hot, general, taken = paths
    cases: list[dict[str, Any]] = [
        {},
        {"external_id": "order-17", "dtmf_string": "1.2#", "direction": "out",
         "dialing_timeout": 25},
        {"contact": "+74991234567"},  # a Moscow landline, with its plus
        {"contact": "79261234567", "virtual_phone_usage_rule": "fixed"},
    ]  # fmt: skip
    for params in cases:
        one, other = _both(hot, general, **params)
        assert "result" in one and "result" in other, (params, one, other)
        first = _session(hot, one["result"]["data"]["call_session_id"])
        second = _session(general, other["result"]["data"]["call_session_id"])
        assert first == second, params
        limits_one = one["result"]["metadata"]["limits"]
        limits_other = other["result"]["metadata"]["limits"]
        # The second request was charged after the first: one point less left.
        assert limits_other["day_remaining"] == limits_one["day_remaining"] - 1
    assert len(taken) == len(cases)


def test_the_account_policy_applies_on_both_paths(paths: tuple[Api, Api, list[int]]) -> None:
    """A plain request takes the hot path and runs with the account's policy, exactly as on the
    general path (the window's zone resolved for the contact, scheduled at its next opening
    when closed); a request with vestnik's own parameters goes the general way on both."""
    hot, general, taken = paths
    local = datetime.now(ZoneInfo("Asia/Novosibirsk"))
    opens, closes = ((local + timedelta(hours=h)).strftime("%H:%M") for h in (2, 3))
    closed = CallingWindow(parse_hhmm(opens) or 0, parse_hhmm(closes) or 0, "contact")
    policies = [
        CallOptions(retry=RetryPolicy(3, 60), detect_machine=True),
        CallOptions(calling_window=closed, record=True),
        CallOptions(calling_window=CallingWindow(0, 1440, "Asia/Vladivostok")),
    ]
    contacts = ["79261234567", "73832123456", "74232123456"]  # mobile, Novosibirsk, Primorye
    for policy in policies:
        with hot.engine.begin() as conn:
            set_call_policy(conn, hot.account_id, policy)
        for contact in contacts:
            one, other = _both(hot, general, contact=contact)
            first = _session(hot, one["result"]["data"]["call_session_id"])
            second = _session(general, other["result"]["data"]["call_session_id"])
            assert first == second, (policy, contact)
            assert first["options"]["source"] == "account"
    scheduled = [s for s in hot.sessions() if s["scheduled_at"] is not None]
    assert len(scheduled) == 2 * len(contacts)  # the closed window's, on both paths
    assert {s["options"]["calling_window"]["zone"] for s in scheduled} == {
        "Europe/Moscow", "Asia/Novosibirsk", "Asia/Vladivostok",
    }  # fmt: skip
    assert len(taken) == len(policies) * len(contacts)
    # vestnik's own parameters: the general path on both servers, the same session.
    one, other = _both(hot, general, record=True, retry={"attempts": 2, "interval": 10})
    assert _session(hot, one["result"]["data"]["call_session_id"]) == _session(
        general, other["result"]["data"]["call_session_id"]
    )
    assert len(taken) == len(policies) * len(contacts)


def test_refusals_are_the_same_errors_in_the_same_order(
    paths: tuple[Api, Api, list[int]],
) -> None:
    hot, general, taken = paths
    with hot.engine.begin() as conn:
        blacklist_add(conn, hot.account_id, "+79261111111")
        add_number(conn, hot.account_id, "74993720693", None)
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"virtual_phone_number": "74950000000"}, "virtual_phone_number_not_found"),
        ({"contact": "74993720693"}, "own_virtual_phone_number_not_allowed"),
        ({"contact": "79261111111"}, "contact_in_blacklist"),
        ({"contact": "442079460000"}, "call_direction_not_allowed"),  # international
        ({"contact_message": {"type": "tts", "value": "x" * 2000}}, "tts_text_exceeded"),
        ({"contact_message": {"type": "media", "value": "999999"}}, "media_file_not_found"),
        ({"access_token": "no-such-token"}, "access_token_invalid"),
        ({"contact": "not a number"}, "invalid_parameter_value"),  # general path on both
    ]
    hot.update_account(allow_international=False, tts_max_length=1000)
    for params, mnemonic in refusals:
        one, _ = _both(hot, general, **params)
        assert error_of(one)[1] == mnemonic, (params, one)
    # Account gates before the rules, on both.
    hot.update_account(informer_call_enabled=False)
    assert error_of(_both(hot, general, contact="79261111111")[0])[1] == "component_disabled"
    hot.update_account(is_active=False)
    assert error_of(_both(hot, general)[0])[1] == "account_inactive"
    hot.update_account(is_active=True, informer_call_enabled=True)
    with hot.engine.begin() as conn:
        key = issue_token(conn, hot.account_id, TokenKind.PERMANENT)
        block_key(conn, key.id)
    assert error_of(_both(hot, general, access_token=key.access_token)[0])[1] == (
        "access_token_blocked"
    )
    assert not hot.sessions()  # nothing refused was stored, and nothing charged
    assert hot.charged() == 0
    assert not taken  # no refusal reached the charge


def test_points_exhausted_give_the_same_limit_error(paths: tuple[Api, Api, list[int]]) -> None:
    hot, general, taken = paths
    hot.update_account(minute_limit=3, day_limit=100)
    taken.clear()
    _wait_away_from_a_minute_turn()
    results = [hot.start(), general.start(), hot.start()]
    assert all("result" in r for r in results)
    one, _ = _both(hot, general)
    assert error_of(one)[1] == "limit_exceeded"
    assert one["error"]["data"]["params"] == {"limit_type": "minute", "limit_max_value": 3}
    limits = one["error"]["data"]["metadata"]["limits"]
    assert (limits["minute_remaining"], limits["day_remaining"]) == (0, 97)
    assert hot.charged() == 6  # 3 in the day window, 3 in the minute window: no day leftover
    assert len(taken) == 3  # the hot path's two successes and its refusal


def _wait_away_from_a_minute_turn() -> None:
    """Counting a minute window's points across its turn would count two windows."""
    if time.time() % 60 > 40:
        time.sleep(61 - time.time() % 60)


def _used(api: Api) -> dict[str, int]:
    with api.engine.connect() as conn:
        rows = conn.execute(
            sa.select(limit_counters.c.period, sa.func.sum(limit_counters.c.used))
            .where(limit_counters.c.account_id == api.account_id)
            .group_by(limit_counters.c.period)
        ).all()
    return {str(period): int(used) for period, used in rows}


@pytest.mark.parametrize("window", ["day", "minute"])
def test_exact_points_from_several_processes_at_once(
    paths: tuple[Api, Api, list[int]], db_url: str, window: str
) -> None:
    hot, _, _ = paths
    quota, processes, each = 25, 3, 20  # 60 requests at once for 25 points
    hot.update_account(
        minute_limit=quota if window == "minute" else 10_000,
        day_limit=quota if window == "day" else 10_000,
    )
    _wait_away_from_a_minute_turn()
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(processes) as pool:
        batches = pool.starmap(run_requests, [(db_url, "async", hot.token, VPN, each)] * processes)
    replies = [reply for batch in batches for reply in batch]
    accepted = [r for r in replies if r.startswith("ok ")]
    assert len(accepted) == quota, replies
    assert sorted(set(replies) - set(accepted)) == ["limit_exceeded"]
    assert len(hot.sessions()) == quota
    assert {r.split()[1] for r in accepted} == {str(s["id"]) for s in hot.sessions()}
    # Both windows charged once per accepted request: no refused minute left a day point.
    assert _used(hot) == {"day": quota, "minute": quota}
