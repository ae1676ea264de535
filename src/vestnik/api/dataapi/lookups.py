"""The account's lists (media files, virtual numbers, blacklist), the blacklist's edits and
``get.account``.

The blacklist methods are the vendor's (``create.phone_number_to_blacklist``,
``delete.phone_number_from_blacklist``); vestnik's earlier names stay as aliases with their
own replies (``create/delete.blacklist_phone_numbers``, docs/data-api.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vestnik.api.dataapi.query import LIST_PARAMS, USER_ID, in_reply_format, page_query
from vestnik.api.errors import ApiError
from vestnik.api.jsonrpc import MethodCall, MethodSpec
from vestnik.api.params import Kind, Param, db_id, id_in_range
from vestnik.calls.numbers import normalize_e164
from vestnik.store.admin_blacklist import blacklist_add, blacklist_entry, blacklist_remove
from vestnik.store.blacklist import remove_entry
from vestnik.store.db import Connection
from vestnik.store.reports.lookups import account_row
from vestnik.store.reports.pages import Dataset, Page, PageQuery

MAX_BLACKLIST_NUMBER_LENGTH = 255
MAX_COMMENT_LENGTH = 1000

TOKEN = Param("access_token", Kind.STRING, True)
# A lookup's rows: (account id, checked query) → page.
Lookup = Callable[[Connection, int, PageQuery], Page]


def account_list(dataset: Dataset, lookup: Lookup) -> MethodSpec:
    """A list method over ``dataset`` rows of the caller's account."""

    def handler(call: MethodCall, conn: Connection) -> Page:
        page = lookup(conn, call.principal.account_id, page_query(dataset, call.params))
        return in_reply_format(dataset, page)

    return MethodSpec(params=(TOKEN, *LIST_PARAMS), handler=handler)


def get_account(call: MethodCall, conn: Connection) -> list[dict[str, Any]]:
    return [account_row(conn, call.principal.account_id)]  # a list, as the vendor's example


def _blacklist_number(raw: str) -> str:
    """E.164 numbers are stored as digits (as the Call API compares them); SIP URIs as given."""
    text = raw.strip()
    digits = normalize_e164(text)
    if digits is not None and 0 < len(digits) <= 15:
        return digits
    if text.startswith("sip:") and len(text) > 4 and len(text) <= MAX_BLACKLIST_NUMBER_LENGTH:
        return text
    raise ApiError("invalid_parameter_value", field="phone_number", value=raw)


def _comment(call: MethodCall, name: str) -> str | None:
    comment = call.params.get(name)
    if comment is not None and len(comment) > MAX_COMMENT_LENGTH:
        raise ApiError("invalid_parameter_value", field=name, value=comment)
    return comment


def create_phone_number_to_blacklist(call: MethodCall, conn: Connection) -> dict[str, Any]:
    """The vendor's: a listed number is ``duplicate_entity``."""
    number = _blacklist_number(call.params["phone_number"])
    comment = _comment(call, "add_comment")
    account_id = call.principal.account_id
    if blacklist_entry(conn, account_id, number) is not None:
        raise ApiError("duplicate_entity", field="phone_number", value=call.params["phone_number"])
    entry_id = blacklist_add(conn, account_id, number, comment, user_id=call.principal.user_id)
    return {"id": entry_id, "phone_number": number}


def delete_phone_number_from_blacklist(call: MethodCall, conn: Connection) -> dict[str, Any]:
    """The vendor's: by the entry's id; none of that id in this account is ``entity_not_found``."""
    raw = call.params["id"]
    entry_id = int(raw)
    # An id no row can have is an unknown entry too (as release.call's unknown session).
    if not id_in_range(entry_id) or not remove_entry(conn, call.principal.account_id, entry_id):
        raise ApiError("entity_not_found", field="id", value=raw)
    return {}


def create_blacklist_phone_numbers(call: MethodCall, conn: Connection) -> dict[str, Any]:
    """Our alias: adding a listed number changes nothing and gives back its id."""
    number = _blacklist_number(call.params["phone_number"])
    comment = _comment(call, "comment")
    account_id, user_id = call.principal.account_id, call.principal.user_id
    return {"id": blacklist_add(conn, account_id, number, comment, user_id=user_id)}


def delete_blacklist_phone_numbers(call: MethodCall, conn: Connection) -> dict[str, Any]:
    """Our alias: by ``id`` or by ``phone_number``."""
    entry_id, raw_number = call.params.get("id"), call.params.get("phone_number")
    if (entry_id is None) == (raw_number is None):
        raise ApiError("invalid_parameters_combination", field="id", value=entry_id)
    account_id = call.principal.account_id
    if raw_number is None:
        deleted = remove_entry(conn, account_id, db_id(entry_id, "id"))
    else:
        deleted = blacklist_remove(conn, account_id, _blacklist_number(raw_number))
    if not deleted:
        field, value = ("id", entry_id) if entry_id is not None else ("phone_number", raw_number)
        raise ApiError("invalid_parameter_value", field=field, value=value)
    return {"success": True}


GET_ACCOUNT = MethodSpec(params=(TOKEN, USER_ID), handler=get_account)
CREATE_PHONE_NUMBER_TO_BLACKLIST = MethodSpec(
    params=(TOKEN, USER_ID, Param("phone_number", Kind.STRING, True),
            Param("add_comment", Kind.STRING)),
    handler=create_phone_number_to_blacklist,
)  # fmt: skip
DELETE_PHONE_NUMBER_FROM_BLACKLIST = MethodSpec(
    params=(TOKEN, USER_ID, Param("id", Kind.INTEGER, True)),
    handler=delete_phone_number_from_blacklist,
)
CREATE_BLACKLIST_PHONE_NUMBERS = MethodSpec(
    params=(TOKEN, USER_ID, Param("phone_number", Kind.STRING, True),
            Param("comment", Kind.STRING)),
    handler=create_blacklist_phone_numbers,
)  # fmt: skip
DELETE_BLACKLIST_PHONE_NUMBERS = MethodSpec(
    params=(TOKEN, USER_ID, Param("id", Kind.INTEGER), Param("phone_number", Kind.STRING)),
    handler=delete_blacklist_phone_numbers,
)
