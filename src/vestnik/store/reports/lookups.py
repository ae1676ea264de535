"""``get.media_files``, ``get.virtual_numbers``, ``get.blacklist_phone_numbers``, ``get.account``.

The vendor gives these methods no default-set column: every vendor field is returned when the
client names none (our own fields only when named).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from vestnik.store.media import usable_by
from vestnik.store.reports.pages import Dataset, Page, PageQuery, int_or_zero, no_data, run_page
from vestnik.store.reports.pages import FieldSpec as F
from vestnik.store.reports.pages import ValueKind as K
from vestnik.store.schema import accounts, blacklist, media_files, virtual_numbers

# The zone of every date-time the Data API sends and takes (get.account's ``timezone``).
REPORT_TIMEZONE = "UTC"


_mf = media_files.c
MEDIA_FILES = Dataset(
    fields={
        "id": F(K.NUMBER, "number", "FSD", "the file's id (`contact_message.value`)", _mf.id,
                row_id=True),
        "name": F(K.STRING, "string", "FSD", "its name", _mf.name),
        # Whole seconds, rounded up: a 0.4 s clip lasts 1 s, never 0.
        "duration": F(K.NUMBER, "number", "FSD", "seconds, rounded up",
                      sa.cast((_mf.duration_ms + 999) / 1000, sa.Integer), int_or_zero),
        "play_link": no_data(K.STRING, "string", "D"),
        "normalization": F(K.BOOLEAN, "boolean", "FSD", "`true`: every file is level-"
                           "normalised when it is added", sa.true(), bool),
        "size": F(K.NUMBER, "number", "FSD", "bytes of the uploaded original", _mf.size),
        "type": F(K.STRING, "enum", "FSD", "`system` or `user`", _mf.type),
    },
    source=media_files,
    tiebreaker=_mf.id,
)  # fmt: skip

_vn = virtual_numbers.c
VIRTUAL_NUMBERS = Dataset(
    fields={
        "id": F(K.NUMBER, "number", "FD", "the number's id", _vn.id, more_flags="S",
                row_id=True),
        "child_customer_id": no_data(K.NUMBER, "number", "FSD"),
        "virtual_phone_number": F(K.STRING, "string", "FD", "E.164 digits", _vn.number,
                                  more_flags="S"),
        "redirection_phone_number": no_data(K.STRING, "string", "FD"),
        "activation_date": F(K.DATETIME, "iso8601", "FD", "added to vestnik", _vn.created_at,
                             more_flags="S"),
        "status": F(K.STRING, "enum", "FSD", "`active`, or `manual_lock` when disabled",
                    _vn.status),
        "category": no_data(K.STRING, "enum", "FSD"),
        "type": no_data(K.STRING, "enum", "FSD"),
        "comment": no_data(K.STRING, "string", "FSD"),
        "name": no_data(K.STRING, "string", "FSD"),
        "campaigns": no_data(K.ARRAY, "array", "FD"),
        "scenarios": no_data(K.ARRAY, "array", "FD"),
        # A key inside `campaigns`; comagic-data-api-sdk asks for it as a field.
        "site_blocks": no_data(K.ARRAY, "array", "", ours=True),
        "region_name": F(K.STRING, "string", "", "the number's region (used by the regional "
                         "usage rules)", _vn.region, more_flags="FS", ours=True),
    },
    source=virtual_numbers,
    tiebreaker=_vn.id,
)  # fmt: skip

_bl = blacklist.c
BLACKLIST = Dataset(
    fields={
        "id": F(K.NUMBER, "number", "FSD", "the entry's id", _bl.id, row_id=True),
        "phone_number": F(K.STRING, "string", "FSD", "E.164 digits or a SIP URI", _bl.number),
        "add_user_name": F(K.STRING, "string", "FSD", "login of the user whose `login.user` "
                           "token added it; null for an API key or the admin CLI",
                           _bl.added_by),
        "add_comment": F(K.STRING, "string", "FSD", "`add_comment` as given", _bl.comment),
        "add_date_time": F(K.DATETIME, "iso8601", "FSD", "when it was added", _bl.created_at),
        # The names vestnik used before it had the vendor's (kept for its own clients).
        "comment": F(K.STRING, "string", "", "= `add_comment`", _bl.comment,
                     more_flags="FS", ours=True),
        "create_date": F(K.DATETIME, "iso8601", "", "= `add_date_time`", _bl.created_at,
                         more_flags="FS", ours=True),
    },
    source=blacklist,
    tiebreaker=_bl.id,
)  # fmt: skip


def media_files_page(conn: Connection, account_id: int, query: PageQuery) -> Page:
    # What is listed is what a new call may play (the rule start.informer_call applies).
    return run_page(conn, MEDIA_FILES, query, [usable_by(account_id)])


def virtual_numbers_page(conn: Connection, account_id: int, query: PageQuery) -> Page:
    return run_page(conn, VIRTUAL_NUMBERS, query, [_vn.account_id == account_id])


def blacklist_page(conn: Connection, account_id: int, query: PageQuery) -> Page:
    return run_page(conn, BLACKLIST, query, [_bl.account_id == account_id])


def account_row(conn: Connection, account_id: int) -> dict[str, Any]:
    """``get.account``: the account's id (``app_id``, as ``login.user`` gives it), name and
    the zone of report times."""
    name = conn.execute(sa.select(accounts.c.name).where(accounts.c.id == account_id)).scalar()
    return {"app_id": account_id, "name": name, "timezone": REPORT_TIMEZONE}
