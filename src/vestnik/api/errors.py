"""The one error table of the API, the ``ApiError`` exception and the JSON-RPC error object.

Every error the Call API (and the Data API built on the same machinery) can return is a row of
``ERRORS``: mnemonic → code and message template. Vendor rows quote the vendor's wire strings
exactly (clients match on them); rows marked ``ours=True`` are our additions, documented in
``docs/api.md``. ``code`` is a group and not unique; ``data.mnemonic`` is the key clients branch on.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorSpec:
    mnemonic: str
    code: int
    message: str  # a str.format template; placeholders are the keys of ``data.params``
    ours: bool = False
    # Whether ``data.metadata.limits`` belongs in the reply (the facts file: not for envelope
    # errors, method_not_found, the auth errors and ip_not_whitelisted).
    with_limits: bool = True


PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL = -32603
AUTH = -32001
DIRECTION_FORBIDDEN = -32002
ACCESS = -32003
WRONG_STATE = -32004
VIRTUAL_NUMBER = -32007
COMPONENT = -32008
ACCOUNT = -32009
LIMITS = -32029
UNSUPPORTED = -32099

_TABLE: tuple[ErrorSpec, ...] = (
    # Errors common to all methods (uis-call-api-facts.md).
    ErrorSpec("parse_error", PARSE_ERROR, "Invalid JSON was received by the server.",
              with_limits=False),
    ErrorSpec("invalid_request", INVALID_REQUEST,
              "Invalid Request The JSON sent is not a valid Request object", with_limits=False),
    ErrorSpec("method_not_found", METHOD_NOT_FOUND, "The method does not exist / is not available",
              with_limits=False),
    ErrorSpec("data_type_error", INVALID_PARAMS, "Data supplied is of wrong type"),
    ErrorSpec("required_parameter_missed", INVALID_PARAMS,
              "The required parameter has been missed"),
    ErrorSpec("invalid_parameter_value", INVALID_PARAMS, "Invalid parameter value"),
    ErrorSpec("unexpected_parameters", INVALID_PARAMS, "Unexpected method parameter(s)"),
    ErrorSpec("call_session_not_found", INVALID_PARAMS, "Call session not found"),
    ErrorSpec("internal_error", INTERNAL, "Internal error, contact the support service"),
    ErrorSpec("access_token_invalid", AUTH, "Access token is invalid", with_limits=False),
    ErrorSpec("access_token_expired", AUTH, "Access token has been expired", with_limits=False),
    ErrorSpec("access_token_blocked", AUTH, "Access token has been blocked", with_limits=False),
    ErrorSpec("auth_error", AUTH, "Login or password is wrong", with_limits=False),
    ErrorSpec("ip_not_whitelisted", ACCESS, "Your IP {ip} is not whitelisted", with_limits=False),
    ErrorSpec("forbidden", ACCESS, "Permission denied"),
    ErrorSpec("component_disabled", COMPONENT, "Component {component_name} has been disabled"),
    ErrorSpec("account_inactive", ACCOUNT,
              "Your account has been disabled, contact the support service"),
    ErrorSpec("limit_exceeded", LIMITS,
              "Limit per {limit_type} has been exceeded. "
              "Value of current limit per {limit_type} is {limit_max_value}"),
    ErrorSpec("batch_opreations_not_supported", UNSUPPORTED, "Batch operations not supported",
              with_limits=False),
    ErrorSpec("notifications_not_supported", UNSUPPORTED, "Notifications not supported",
              with_limits=False),
    # Other vendor errors of the API family.
    ErrorSpec("invalid_state", WRONG_STATE, "This method can not be called in this state"),
    ErrorSpec("invalid_parameters_combination", INVALID_PARAMS,
              "The combination of parameters is not permitted"),
    # start.informer_call (start.informer_call.txt).
    ErrorSpec("tts_text_exceeded", INVALID_PARAMS,
              "The maximum length of Text-to-Speech message is {tts_message_max_length}. "
              "The length of your message is {sent_tts_message_length}"),
    ErrorSpec("media_file_not_found", INVALID_PARAMS,
              "The media file with id {media_file_id} not found"),
    ErrorSpec("virtual_phone_number_not_found", VIRTUAL_NUMBER,
              "Virtual phone number {virtual_phone_number} not found. "
              "It is not your virtual phone number."),
    ErrorSpec("own_virtual_phone_number_not_allowed", INVALID_PARAMS,
              "Parameter contact can not contain own virtual phone number"),
    ErrorSpec("contact_in_blacklist", INVALID_PARAMS,
              "The contact {contact} has been found in the blacklist"),
    ErrorSpec("character_encoding_not_allowed", INVALID_PARAMS,
              "The character encoding must be UTF-8"),
    # Data API v2.0 (uis-data-api-facts.md, errors of the get / create / delete verbs).
    ErrorSpec("sort_prohibited", INVALID_PARAMS, "Sort by parameter is prohibited"),
    ErrorSpec("filter_prohibited", INVALID_PARAMS, "Filter by parameter is prohibited"),
    ErrorSpec("date_interval_limit_reached", INVALID_PARAMS,
              "Max value of requested date interval is {max_interval}"),
    ErrorSpec("entity_not_found", INVALID_PARAMS, "Entity not found"),
    ErrorSpec("duplicate_entity", INVALID_PARAMS, "Duplicate entity"),
    # Ours.
    ErrorSpec("call_direction_not_allowed", DIRECTION_FORBIDDEN,
              "Calls to {call_direction} numbers are forbidden by the security rules "
              "of your account", ours=True),
    ErrorSpec("request_too_large", INVALID_REQUEST,
              "Request body is larger than {max_body_bytes} bytes", ours=True, with_limits=False),
    ErrorSpec("unsupported_content_type", INVALID_REQUEST,
              "Content-Type must be application/json; charset=UTF-8", ours=True,
              with_limits=False),
)  # fmt: skip

ERRORS: Mapping[str, ErrorSpec] = {spec.mnemonic: spec for spec in _TABLE}


class ApiError(Exception):
    """A documented API error: raise it anywhere below an endpoint, it becomes the reply."""

    def __init__(
        self,
        mnemonic: str,
        *,
        field: str | None = None,
        value: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        if mnemonic not in ERRORS:
            raise KeyError(f"unknown error mnemonic {mnemonic!r}")
        self.spec = ERRORS[mnemonic]
        self.field = field
        self.value = value
        self.params: dict[str, Any] = dict(params or {})
        # metadata.limits for the reply, filled in by the endpoint once the account is known.
        self.limits: Mapping[str, int] | None = None
        super().__init__(self.message)

    @property
    def mnemonic(self) -> str:
        return self.spec.mnemonic

    @property
    def code(self) -> int:
        return self.spec.code

    @property
    def message(self) -> str:
        return format_message(self.spec.message, self.params)


class _Keep(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def format_message(template: str, params: Mapping[str, Any]) -> str:
    """Substitute ``params`` into a template; unknown placeholders stay as written."""
    return string.Formatter().vformat(template, (), _Keep(params))


def error_object(error: ApiError, limits: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The JSON-RPC ``error`` member for ``error``; ``limits`` is added when the row allows it."""
    metadata: dict[str, Any] = {}
    if limits is not None and error.spec.with_limits:
        metadata["limits"] = dict(limits)
    return {
        "code": error.code,
        "message": error.message,
        "data": {
            "mnemonic": error.mnemonic,
            "field": error.field,
            "value": error.value,
            "params": error.params,
            "extended_helper": None,
            "metadata": metadata,
        },
    }
