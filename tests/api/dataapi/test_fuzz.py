"""Random Data API parameters never produce internal_error, change anything they should not,
or show another account's rows."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.dataapi import DAY, T0, DataApi, seed_many
from tests.support.events import make_session
from vestnik.api.dataapi import DATA_API_METHODS, DATA_API_PATH, query
from vestnik.config import LimitsConfig
from vestnik.store.accounts import create_account
from vestnik.store.admin_blacklist import blacklist_add
from vestnik.store.admin_numbers import add_number
from vestnik.store.reports.calls import CALLS_REPORT
from vestnik.store.schema import blacklist, call_sessions, media_files, virtual_numbers

FIELDS = [*CALLS_REPORT.fields, "nope", ""]
# Every operator the API takes, those it refuses, and nonsense.
OPERATORS = [*query.OPERATORS, *query.UNSUPPORTED_OPERATORS, "~", None]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["2026-11-01 00:00:00", "0001-01-01T00:00:00+14:00", "9999-12-31", "%"]),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(st.text(max_size=3), scalars, max_size=2),
)
conditions = st.fixed_dictionaries(
    {"field": st.sampled_from(FIELDS), "operator": st.sampled_from(OPERATORS), "value": values}
)
filters = st.recursive(
    conditions,
    lambda inner: st.fixed_dictionaries(
        {"filters": st.lists(inner, max_size=3), "condition": st.sampled_from(["and", "or", "x"])}
    ),
    max_leaves=6,
)
params = st.fixed_dictionaries(
    {},
    optional={
        "filter": st.one_of(filters, values),
        "fields": st.one_of(st.lists(st.sampled_from(FIELDS), max_size=4), values),
        "sort": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {"field": st.sampled_from(FIELDS), "order": st.sampled_from(["asc", "desc", 1])}
                ),
                max_size=3,
            ),
            values,
        ),
        "limit": st.one_of(st.integers(min_value=-5, max_value=20_000), scalars),
        "offset": st.one_of(st.integers(min_value=-5, max_value=2**64), scalars),
        "date_from": st.one_of(st.just(DAY["date_from"]), scalars),
        "include_ongoing_calls": scalars,
    },
)


def count(api: DataApi) -> int:
    with api.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(call_sessions)).scalar_one())


def test_random_report_parameters(api: DataApi) -> None:
    seed_many(api, 5)
    before = count(api)

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(params)
    def check(extra: dict[str, Any]) -> None:
        reply = api.rpc("get.calls_report", {"access_token": api.token, **DAY, **extra})
        if "error" in reply:
            assert reply["error"]["data"]["mnemonic"] != "internal_error", (extra, reply)
        else:
            assert isinstance(reply["result"]["data"], list)
            assert reply["result"]["metadata"]["total_items"] >= len(reply["result"]["data"])

    check()
    assert count(api) == before


# --- every method, with another account's rows within reach -------------------------------

# Another account's rows carry this marker (the caller cannot write it: no strategy draws it).
VICTIM = "victim-secret"
VICTIM_LISTED, VICTIM_VPN = "79990001122", "74951112233"
ids = st.one_of(
    st.integers(-2, 40),  # the other account's rows among them
    st.sampled_from([2**31 - 1, 2**31, 2**63, 10**30, 1e20, 3.0, 1.5]),
)
id_filters = st.fixed_dictionaries(
    {
        "field": st.just("id"),
        "operator": st.sampled_from(["=", "!=", ">", "<=", "in", "not in"]),
        "value": st.one_of(ids, st.lists(ids, min_size=1, max_size=3)),
    }
)
sorts = st.lists(
    st.fixed_dictionaries(
        {"field": st.sampled_from(FIELDS), "order": st.sampled_from(["asc", "desc"])}
    ),
    max_size=2,
)
# Well-typed values mostly (a type error stops a request before the method runs).
WELL_TYPED: dict[str, st.SearchStrategy[Any]] = {
    "id": ids,
    "phone_number": st.sampled_from([VICTIM_LISTED, "+79265550001", "+7999", "sip:a@b"]),
    "comment": st.text(max_size=8),
    "add_comment": st.text(max_size=8),
    "user_id": ids,
    "login": st.sampled_from(["acme", "victim", ""]),
    "password": st.text(max_size=8),
    "filter": st.one_of(id_filters, filters),
    "fields": st.lists(st.sampled_from(FIELDS), max_size=3),
    "sort": sorts,
    "limit": st.integers(min_value=-2, max_value=20_000),
    "offset": st.integers(min_value=-2, max_value=2**64),
    "date_from": st.just(DAY["date_from"]),
    "date_till": st.just(DAY["date_till"]),
    "include_ongoing_calls": st.booleans(),
}


def value_for(name: str) -> st.SearchStrategy[Any]:
    return st.one_of(WELL_TYPED[name], WELL_TYPED[name], WELL_TYPED[name], values)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A method and a random subset of its own parameters (now and then one more)."""
    method = draw(st.sampled_from(sorted(DATA_API_METHODS)))
    names = [p.name for p in DATA_API_METHODS[method].params if p.name != "access_token"]
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=3)) if names else []
    params = {name: draw(value_for(name)) for name in chosen}
    if draw(st.integers(0, 9)) == 0:
        params[draw(st.text(max_size=6))] = draw(values)
    return method, params


def victim_rows(api: DataApi, account_id: int) -> list[Any]:
    with api.engine.connect() as conn:
        return [
            sorted(
                map(tuple, conn.execute(sa.select(table).where(table.c.account_id == account_id)))
            )
            for table in (blacklist, virtual_numbers, media_files, call_sessions)
        ]


def test_random_requests_at_every_method_touch_only_the_callers_rows(api: DataApi) -> None:
    """Random parameters at each Data API method: never internal_error, never a row of
    another account in a reply, never a change to another account's rows."""
    with api.engine.begin() as conn:
        victim = create_account(conn, "victim", LimitsConfig())
        blacklist_add(conn, victim, VICTIM_LISTED, VICTIM)
        add_number(conn, victim, VICTIM_VPN, VICTIM)
        make_session(conn, victim, external_id=VICTIM, created_at=T0 + 60)
        conn.execute(
            media_files.insert().values(
                account_id=victim, name=VICTIM, type="user", duration_ms=1000, size=1,
                original_path="x", pcm_path="x", created_at=T0,
            )
        )  # fmt: skip
    before = victim_rows(api, victim)

    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(requests())
    def check(request: tuple[str, dict[str, Any]]) -> None:
        method, params = request
        body = {"jsonrpc": "2.0", "id": 7, "method": method,
                "params": {"access_token": api.token, **params}}  # fmt: skip
        response = api.http.post(DATA_API_PATH, content=json.dumps(body).encode())
        assert response.status_code == 200, response.text
        reply = response.json()
        if "error" in reply:
            assert reply["error"]["data"]["mnemonic"] != "internal_error", (body, reply)
            return
        for row in reply["result"]["data"] if isinstance(reply["result"]["data"], list) else []:
            text = json.dumps(row, ensure_ascii=False)
            assert VICTIM not in text and VICTIM_VPN not in text, (body, row)

    check()
    assert victim_rows(api, victim) == before
