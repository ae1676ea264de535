"""The Data API's methods: name → spec.

* ``login.user`` / ``logout.user``: the Call API's session tokens (a token from either API works
  on both), with the Data API's replies: ``app_id`` added, ``{}`` on logout;
* ``get.account``; ``get.calls_report``, ``get.call_legs_report`` (:mod:`.reports`);
* ``get.media_files``, ``get.virtual_numbers``, ``get.blacklist_phone_numbers`` and the
  blacklist's edits (:mod:`.lookups`).

List methods answer ``result.data`` = list of rows, ``result.metadata.total_items`` = rows
matching.
"""

from __future__ import annotations

from typing import Any

from vestnik.api.dataapi import lookups
from vestnik.api.dataapi.reports import GET_CALL_LEGS_REPORT, GET_CALLS_REPORT
from vestnik.api.jsonrpc import MethodCall, MethodSpec
from vestnik.api.methods.sessions import LOGIN_USER, LOGOUT_USER
from vestnik.store.db import Connection
from vestnik.store.reports import lookups as datasets


def login_user(call: MethodCall, conn: Connection) -> dict[str, Any]:
    # app_id: the customer's id (the vendor's meaning; get.account gives the same).
    return {**LOGIN_USER.handler(call, conn), "app_id": call.principal.account_id}


def logout_user(call: MethodCall, conn: Connection) -> dict[str, Any]:
    LOGOUT_USER.handler(call, conn)
    return {}


DATA_API_METHODS: dict[str, MethodSpec] = {
    "login.user": MethodSpec(params=LOGIN_USER.params, handler=login_user, login=LOGIN_USER.login),
    "logout.user": MethodSpec(params=LOGOUT_USER.params, handler=logout_user),
    "get.account": lookups.GET_ACCOUNT,
    "get.calls_report": GET_CALLS_REPORT,
    "get.call_legs_report": GET_CALL_LEGS_REPORT,
    "get.media_files": lookups.account_list(datasets.MEDIA_FILES, datasets.media_files_page),
    "get.virtual_numbers": lookups.account_list(
        datasets.VIRTUAL_NUMBERS, datasets.virtual_numbers_page
    ),
    "get.blacklist_phone_numbers": lookups.account_list(
        datasets.BLACKLIST, datasets.blacklist_page
    ),
    "create.phone_number_to_blacklist": lookups.CREATE_PHONE_NUMBER_TO_BLACKLIST,
    "delete.phone_number_from_blacklist": lookups.DELETE_PHONE_NUMBER_FROM_BLACKLIST,
    # Our earlier names (docs/data-api.md, "Blacklist").
    "create.blacklist_phone_numbers": lookups.CREATE_BLACKLIST_PHONE_NUMBERS,
    "delete.blacklist_phone_numbers": lookups.DELETE_BLACKLIST_PHONE_NUMBERS,
}
