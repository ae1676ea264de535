"""virtual_phone_usage_rule through the API, with regions from the geocoder and the registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.api import VPN, VPN_KAZAN, VPN_SPB, Api
from vestnik.store.admin_numbers import add_number
from vestnik.store.numbering import import_csv
from vestnik.store.schema import numa_caller_numbers, numbering_plan, virtual_numbers

DATA = Path(__file__).resolve().parents[1] / "support" / "data" / "numbering_plan.csv"
KAZAN_LANDLINE = "78432123456"
KAZAN_MOBILE = "79872500000"  # region only in the registry
TVER = "74822123456"  # no pool number in Тверская обл.


@pytest.fixture
def pool_api(api: Api) -> Iterator[Api]:
    """VPN (Moscow by geocoder), VPN_KAZAN (region stored), VPN_SPB (geocoder)."""
    api.update_account(number_management_enabled=True)
    with api.engine.begin() as conn:
        conn.execute(
            virtual_numbers.delete().where(virtual_numbers.c.number.in_([VPN_KAZAN, VPN_SPB]))
        )
        add_number(conn, api.account_id, VPN_KAZAN, "Республика Татарстан")
        add_number(conn, api.account_id, VPN_SPB, None)
    yield api
    with api.engine.begin() as conn:
        conn.execute(numbering_plan.delete())


def _callers(api: Api) -> list[str]:
    return [row["caller_number"] for row in api.sessions()]


def test_random(pool_api: Api) -> None:
    for i in range(30):
        assert "result" in pool_api.start(
            virtual_phone_usage_rule="random", contact=f"7926000{i:04d}"
        )
    callers = set(_callers(pool_api))
    assert callers <= {VPN, VPN_KAZAN, VPN_SPB} and len(callers) >= 2
    assert {row["usage_rule"] for row in pool_api.sessions()} == {"random"}
    assert {row["virtual_phone_number"] for row in pool_api.sessions()} == {VPN}


def test_fixed_for_numa_is_sticky(pool_api: Api) -> None:
    for _ in range(8):
        pool_api.start(virtual_phone_usage_rule="fixed_for_numa", contact="79260000001")
    callers = _callers(pool_api)
    assert len(set(callers)) == 1
    with pool_api.engine.connect() as conn:
        stored = conn.execute(
            sa.select(numa_caller_numbers.c.number).where(
                numa_caller_numbers.c.account_id == pool_api.account_id,
                numa_caller_numbers.c.contact == "79260000001",
                numa_caller_numbers.c.rule == "fixed_for_numa",
            )
        ).scalar()
    assert stored == callers[0]
    # fixed ignores the remembered number.
    pool_api.start(virtual_phone_usage_rule="fixed", virtual_phone_number=VPN_SPB,
                   contact="79260000001")  # fmt: skip
    assert _callers(pool_api)[-1] == VPN_SPB


def test_regional_random_by_geocoder(pool_api: Api) -> None:
    pool_api.start(virtual_phone_usage_rule="regional_random", contact=KAZAN_LANDLINE)
    pool_api.start(virtual_phone_usage_rule="regional_random", contact="78121234567")
    pool_api.start(virtual_phone_usage_rule="regional_random", contact="74991234567")
    pool_api.start(virtual_phone_usage_rule="regional_random", virtual_phone_number=VPN_SPB,
                   contact=TVER)  # fmt: skip
    assert _callers(pool_api) == [VPN_KAZAN, VPN_SPB, VPN, VPN_SPB]  # last: the fallback
    regions = [row["contact_region"] for row in pool_api.sessions()]
    assert regions == ["Республика Татарстан", "г. Санкт-Петербург", "г. Москва", "Тверская обл."]


def test_regional_rules_use_the_registry_for_mobiles(pool_api: Api) -> None:
    pool_api.start(virtual_phone_usage_rule="regional_random", contact=KAZAN_MOBILE)
    assert _callers(pool_api) == [VPN]  # no region known: fallback
    with pool_api.engine.begin() as conn:
        import_csv(conn, DATA)
    pool_api.start(virtual_phone_usage_rule="regional_random", contact=KAZAN_MOBILE)
    pool_api.start(virtual_phone_usage_rule="regional_fixed_for_numa", contact=KAZAN_MOBILE)
    pool_api.start(virtual_phone_usage_rule="regional_fixed_for_numa", contact="79260000005")
    assert _callers(pool_api) == [VPN, VPN_KAZAN, VPN_KAZAN, VPN]
    regions = [row["contact_region"] for row in pool_api.sessions()]
    assert regions == [None, "Республика Татарстан", "Республика Татарстан", "г. Москва"]


def test_regional_fixed_for_numa_keeps_and_falls_back(pool_api: Api) -> None:
    for _ in range(3):
        pool_api.start(virtual_phone_usage_rule="regional_fixed_for_numa", contact=KAZAN_LANDLINE)
    pool_api.start(virtual_phone_usage_rule="regional_fixed_for_numa", contact=TVER)
    assert _callers(pool_api) == [VPN_KAZAN] * 3 + [VPN]
    with pool_api.engine.connect() as conn:
        remembered = conn.execute(
            sa.select(numa_caller_numbers.c.contact, numa_caller_numbers.c.number).where(
                numa_caller_numbers.c.account_id == pool_api.account_id
            )
        ).all()
    assert [tuple(r) for r in remembered] == [(KAZAN_LANDLINE, VPN_KAZAN)]
