"""PostgreSQL: vestnik_charge_points(), a request's points charge in one round trip

The same rule as ``vestnik.api.limits.charge`` with ``vestnik.store.points.spend`` (the day
window, then the minute window, each a conditional UPDATE of its counter, a missing window row
created and the account's older windows of that period dropped), as one function, so the
asynchronous hot path of ``start.informer_call`` (``vestnik.store.intake_pg``) charges and
inserts its session in one statement. A refused minute charge undoes the day charge in the same
transaction (the day row stays locked by it: nobody saw the intermediate value). Returns
the windows' totals: after the charge, or as they stood without it when ``refused`` names the
window that could not take it. SQLite has no such function: it runs the Python rule.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 15:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_SPEND = """
CREATE OR REPLACE FUNCTION vestnik_spend_points(
    p_account integer, p_period varchar, p_start bigint, p_weight integer, p_cap integer
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    total integer;
BEGIN
    UPDATE limit_counters SET used = used + p_weight
     WHERE account_id = p_account AND period = p_period AND window_start = p_start
       AND used + p_weight <= p_cap
    RETURNING used INTO total;
    IF FOUND THEN
        RETURN total;
    END IF;
    INSERT INTO limit_counters (account_id, period, window_start, used)
    VALUES (p_account, p_period, p_start, 0) ON CONFLICT DO NOTHING;
    IF FOUND THEN
        DELETE FROM limit_counters
         WHERE account_id = p_account AND period = p_period AND window_start < p_start;
    END IF;
    UPDATE limit_counters SET used = used + p_weight
     WHERE account_id = p_account AND period = p_period AND window_start = p_start
       AND used + p_weight <= p_cap
    RETURNING used INTO total;
    RETURN total;
END $$
"""

_USED = """
CREATE OR REPLACE FUNCTION vestnik_used_points(
    p_account integer, p_period varchar, p_start bigint
) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT used FROM limit_counters
     WHERE account_id = p_account AND period = p_period AND window_start = p_start
$$
"""

_CHARGE = """
CREATE OR REPLACE FUNCTION vestnik_charge_points(
    p_account integer, p_weight integer,
    p_day_start bigint, p_day_cap integer, p_minute_start bigint, p_minute_cap integer,
    OUT day_used integer, OUT minute_used integer, OUT refused varchar
) LANGUAGE plpgsql AS $$
BEGIN
    day_used := vestnik_spend_points(p_account, 'day', p_day_start, p_weight, p_day_cap);
    IF day_used IS NULL THEN
        refused := 'day';
        day_used := vestnik_used_points(p_account, 'day', p_day_start);
        minute_used := vestnik_used_points(p_account, 'minute', p_minute_start);
        RETURN;
    END IF;
    minute_used := vestnik_spend_points(
        p_account, 'minute', p_minute_start, p_weight, p_minute_cap);
    IF minute_used IS NULL THEN
        refused := 'minute';
        UPDATE limit_counters SET used = used - p_weight
         WHERE account_id = p_account AND period = 'day' AND window_start = p_day_start
        RETURNING used INTO day_used;
        minute_used := vestnik_used_points(p_account, 'minute', p_minute_start);
    END IF;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in (_SPEND, _USED, _CHARGE):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS vestnik_charge_points")
    op.execute("DROP FUNCTION IF EXISTS vestnik_used_points")
    op.execute("DROP FUNCTION IF EXISTS vestnik_spend_points")
