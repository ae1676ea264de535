"""Every field the vendor documents for each implemented list method, asked for one by one.

The field lists and flags are the facts file's (copied to
tests/support/data/data_api_vendor_fields.json): each name is accepted in ``fields``; in
``filter`` where the vendor filters by it (else ``filter_prohibited``, unless vestnik allows
more, as docs/data-api.md says); in ``sort`` likewise (``sort_prohibited``). With no
``fields``, the reports answer the vendor's default set, the lookups every vendor field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.dataapi import DAY, DataApi, seed_many
from vestnik.api.dataapi.methods import DATA_API_METHODS

VENDOR = json.loads(
    (
        Path(__file__).resolve().parents[2] / "support" / "data" / "data_api_vendor_fields.json"
    ).read_text(encoding="utf-8")
)
METHODS = [name for name in VENDOR if not name.startswith("_")]
DATED = {"get.calls_report", "get.call_legs_report"}
# What vestnik allows beyond the vendor's flags (docs/data-api.md renders the same table).
MORE_FILTERS = {
    "get.calls_report": {"start_time", "finish_time"},
    "get.call_legs_report": {"start_time", "connect_time"},
}
MORE_SORTS = {
    "get.calls_report": {"id", "finish_time", "contact_phone_number", "communication_id",
                         "wait_duration", "total_wait_duration", "talk_duration",
                         "clean_talk_duration", "total_duration", "call_api_external_id"},
    "get.call_legs_report": {"id", "connect_time"},
    "get.virtual_numbers": {"id", "virtual_phone_number", "activation_date"},
}  # fmt: skip


def test_every_implemented_method_is_in_the_facts() -> None:
    assert set(METHODS) <= set(DATA_API_METHODS)
    assert len(VENDOR["get.calls_report"]) == 105 and len(VENDOR["get.call_legs_report"]) == 34


@pytest.mark.parametrize("method", METHODS)
def test_every_vendor_field_is_accepted(api: DataApi, method: str) -> None:
    seed_many(api, 3)
    dates: dict[str, Any] = DAY if method in DATED else {}
    vendor: dict[str, str] = VENDOR[method]
    for name, flags in vendor.items():
        rows = api.call(method, fields=[name], limit=5, **dates)["data"]
        assert all(list(row) == [name] for row in rows), (method, name)
        if method in DATED:
            assert rows, (method, name)
        # `is_null` is an operator of every kind of field.
        where = {"field": name, "operator": "is_null"}
        if "F" in flags or name in MORE_FILTERS.get(method, ()):
            api.call(method, fields=["id"], filter=where, **dates)
        else:
            error = api.error(method, filter=where, **dates)
            assert error["data"]["mnemonic"] == "filter_prohibited", (method, name)
        order = [{"field": name, "order": "desc"}]
        if "S" in flags or name in MORE_SORTS.get(method, ()):
            api.call(method, fields=["id"], sort=order, **dates)
        else:
            error = api.error(method, sort=order, **dates)
            assert error["data"]["mnemonic"] == "sort_prohibited", (method, name)


@pytest.mark.parametrize("method", METHODS)
def test_default_set(api: DataApi, method: str) -> None:
    seed_many(api, 1)
    dates: dict[str, Any] = DAY if method in DATED else {}
    vendor: dict[str, str] = VENDOR[method]
    expected = [n for n, f in vendor.items() if "D" in f] if method in DATED else list(vendor)
    reply = api.call(method, **dates)
    for row in reply["data"]:
        assert list(row) == expected


def test_fields_vestnik_has_no_data_for_are_the_empty_value(api: DataApi) -> None:
    seed_many(api, 2)
    fields = ["gclid", "tags", "employees", "call_records", "cpn_region_id", "sale_date",
              "is_transfer", "communication_type"]  # fmt: skip
    rows = api.call("get.calls_report", fields=fields, **DAY)["data"]
    assert rows == [
        {"gclid": None, "tags": [], "employees": [], "call_records": [], "cpn_region_id": None,
         "sale_date": None, "is_transfer": False, "communication_type": "call"},
    ] * 2  # fmt: skip
    # Conditions on them behave as on SQL NULL / an empty list.
    for flt, total in [
        ({"field": "gclid", "operator": "=", "value": "x"}, 0),
        ({"field": "gclid", "operator": "is_null"}, 2),
        ({"field": "gclid"}, 0),  # no operator
        ({"field": "tags", "operator": "overlap", "value": ["vip"]}, 0),
        ({"field": "tags", "operator": "not_overlap", "value": ["vip"]}, 2),
        ({"field": "is_transfer", "operator": "=", "value": False}, 2),
    ]:
        if "operator" not in flt:
            error = api.error("get.calls_report", filter=flt, **DAY)
            assert error["data"]["field"] == "filter.operator"
            continue
        result = api.call("get.calls_report", fields=["id"], filter=flt, **DAY)
        assert result["metadata"]["total_items"] == total, flt
