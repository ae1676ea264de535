"""The account's virtual (caller) numbers and its employees (SIP URIs callable as contacts).

Removing either deletes its row: sessions keep the number or contact as a plain value.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.store.db import inserted_id, now
from vestnik.store.errors import AdminError
from vestnik.store.schema import employees, numa_caller_numbers, text_length, virtual_numbers

# virtual_numbers.status, from the vendor's list (get.virtual_numbers): only active numbers
# place calls; manual_lock is a number the operator disabled.
NUMBER_ACTIVE = "active"
NUMBER_DISABLED = "manual_lock"
REGION_LENGTH = text_length(virtual_numbers.c.region)
SIP_URI_LENGTH = text_length(employees.c.sip_uri)


def add_number(conn: Connection, account_id: int, number: str, region: str | None) -> int:
    if conn.execute(
        sa.select(virtual_numbers.c.id).where(virtual_numbers.c.number == number)
    ).first():
        raise AdminError(f"number {number} is already registered")
    return inserted_id(
        conn.execute(
            virtual_numbers.insert().values(
                account_id=account_id,
                number=number,
                region=region,
                status=NUMBER_ACTIVE,
                created_at=now(),
            )
        )
    )


def list_numbers(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(
            virtual_numbers.c.id,
            virtual_numbers.c.number,
            virtual_numbers.c.region,
            virtual_numbers.c.status,
            virtual_numbers.c.created_at,
        )
        .where(virtual_numbers.c.account_id == account_id)
        .order_by(virtual_numbers.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def get_number(conn: Connection, account_id: int, number: str) -> dict[str, Any]:
    row = (
        conn.execute(
            sa.select(virtual_numbers).where(
                virtual_numbers.c.account_id == account_id, virtual_numbers.c.number == number
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise AdminError(f"number {number} is not a number of account {account_id}")
    return dict(row)


def set_number_status(conn: Connection, account_id: int, number: str, status: str) -> str:
    """Set a number's status; returns the status it had."""
    before = str(get_number(conn, account_id, number)["status"])
    conn.execute(
        virtual_numbers.update()
        .where(virtual_numbers.c.account_id == account_id, virtual_numbers.c.number == number)
        .values(status=status)
    )
    return before


def remove_number(conn: Connection, account_id: int, number: str) -> dict[str, Any]:
    """Delete the account's number and the contacts it was remembered for (sticky rules)."""
    row = get_number(conn, account_id, number)
    conn.execute(
        numa_caller_numbers.delete().where(
            numa_caller_numbers.c.account_id == account_id,
            numa_caller_numbers.c.number == number,
        )
    )
    conn.execute(virtual_numbers.delete().where(virtual_numbers.c.id == row["id"]))
    return row


def add_employee(conn: Connection, account_id: int, sip_uri: str) -> int:
    if conn.execute(
        sa.select(employees.c.id).where(
            employees.c.account_id == account_id, employees.c.sip_uri == sip_uri
        )
    ).first():
        raise AdminError(f"employee {sip_uri} is already registered for this account")
    return inserted_id(
        conn.execute(
            employees.insert().values(account_id=account_id, sip_uri=sip_uri, created_at=now())
        )
    )


def list_employees(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(employees.c.id, employees.c.sip_uri, employees.c.created_at)
        .where(employees.c.account_id == account_id)
        .order_by(employees.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def remove_employee(conn: Connection, account_id: int, employee_id: int) -> None:
    conn.execute(
        employees.delete().where(
            employees.c.account_id == account_id, employees.c.id == employee_id
        )
    )
