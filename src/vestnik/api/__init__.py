"""The HTTP API: Call API v4.0 (JSON-RPC) and the reusable endpoint machinery."""

from vestnik.api.app import CALL_API_METHODS, CALL_API_PATH, create_app
from vestnik.api.auth import Component, Principal
from vestnik.api.errors import ERRORS, ApiError, ErrorSpec, error_object
from vestnik.api.jsonrpc import JsonRpcEndpoint, MethodCall, MethodSpec
from vestnik.api.params import Kind, Param, check_params

__all__ = [
    "CALL_API_METHODS",
    "CALL_API_PATH",
    "ERRORS",
    "ApiError",
    "Component",
    "ErrorSpec",
    "JsonRpcEndpoint",
    "Kind",
    "MethodCall",
    "MethodSpec",
    "Param",
    "Principal",
    "check_params",
    "create_app",
    "error_object",
]
