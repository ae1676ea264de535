"""Random report parameters never produce internal_error or change anything."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.dataapi.conftest import DataApi
from tests.dataapi.test_calls_report import DAY, seed_many

from vestnik.api.dataapi.methods import CALLS_REPORT
from vestnik.store.schema import call_sessions

FIELDS = [*CALLS_REPORT.fields, "nope", ""]
OPERATORS = ["=", "!=", ">", ">=", "<", "<=", "in", "not in", "like", "not like", "~", None]
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
