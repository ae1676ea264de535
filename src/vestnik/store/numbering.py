"""The national numbering-plan registry: number ranges → operator and region.

``import_csv`` reads the Russian registry's published CSV (Минцифры / Россвязь "Выписка из
реестра Российской системы и плана нумерации"), one file per code block (ABC-3xx, ABC-4xx,
ABC-8xx, DEF-9xx)::

    АВС/ DEF;От;До;Емкость;Оператор;Регион;ИНН
    301;2110000;2129999;20000;ПАО "Ростелеком";Республика Бурятия;7707049388

Semicolon-separated, UTF-8 (a BOM is fine) or Windows-1251; the header row is recognised and
skipped; columns are taken by position (code, from, to, capacity, operator, region; more columns
are ignored). A full number is the country code + the 3-digit code + the 7-digit subscriber
number: ``7`` ``301`` ``2110000``. Importing a file first removes the stored ranges of every code
it contains, so re-importing a newer file replaces the old one and files of different code blocks
add up.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.store.schema import numbering_plan

_BATCH = 5000
SUBSCRIBER_DIGITS = 7


class NumberingPlanError(ValueError):
    """The file is not a numbering-plan CSV (message names the line)."""


def _read_text(path: str | os.PathLike[str]) -> str:
    raw = Path(path).read_bytes()
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise NumberingPlanError(f"{path}: neither UTF-8 nor Windows-1251")


def _rows(text: str, country_code: str) -> Iterator[tuple[str, int, int, str | None, str | None]]:
    for line_no, row in enumerate(csv.reader(io.StringIO(text), delimiter=";"), start=1):
        if not row or not any(cell.strip() for cell in row):
            continue
        code = row[0].strip()
        if line_no == 1 and not code.isdigit():
            continue  # header
        if len(row) < 6:
            raise NumberingPlanError(f"line {line_no}: expected at least 6 columns")
        first, last = row[1].strip(), row[2].strip()
        if not (code.isdigit() and first.isdigit() and last.isdigit()):
            raise NumberingPlanError(f"line {line_no}: code and range must be digits")
        if len(first) > SUBSCRIBER_DIGITS or len(last) > SUBSCRIBER_DIGITS:
            raise NumberingPlanError(f"line {line_no}: range longer than 7 digits")
        low = int(country_code + code + first.zfill(SUBSCRIBER_DIGITS))
        high = int(country_code + code + last.zfill(SUBSCRIBER_DIGITS))
        if high < low:
            raise NumberingPlanError(f"line {line_no}: range ends before it starts")
        operator = " ".join(row[4].split()) or None
        region = " ".join(row[5].split()) or None
        yield code, low, high, operator, region


def import_csv(conn: Connection, path: str | os.PathLike[str], country_code: str = "7") -> int:
    """Import one registry file; returns the number of ranges stored."""
    rows = list(_rows(_read_text(path), country_code))
    for code in sorted({r[0] for r in rows}):
        low = int(country_code + code + "0" * SUBSCRIBER_DIGITS)
        high = int(country_code + code + "9" * SUBSCRIBER_DIGITS)
        conn.execute(
            numbering_plan.delete().where(
                numbering_plan.c.number_from >= low, numbering_plan.c.number_from <= high
            )
        )
    for i in range(0, len(rows), _BATCH):
        conn.execute(
            numbering_plan.insert(),
            [
                {"number_from": lo, "number_to": hi, "operator": op, "region": reg}
                for _, lo, hi, op, reg in rows[i : i + _BATCH]
            ],
        )
    return len(rows)


LOOKUP = (
    sa.select(numbering_plan.c.number_to, numbering_plan.c.operator, numbering_plan.c.region)
    .where(numbering_plan.c.number_from <= sa.bindparam("n"))
    .order_by(numbering_plan.c.number_from.desc())
    .limit(1)
)


def lookup(conn: Connection, e164: str) -> tuple[str | None, str | None] | None:
    """(operator, region) of the range holding ``e164`` (digits, optional "+"), or None."""
    digits = e164.lstrip("+")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        return None
    number = int(digits)
    row = conn.execute(LOOKUP, {"n": number}).first()
    if row is None or row.number_to < number:
        return None
    return row.operator, row.region
