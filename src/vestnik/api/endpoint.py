"""What the HTTP endpoints outside JSON-RPC share (the media upload, the recording download):
one refusal type, the account gates in the Call API's order, and the reply to a refusal or a
failure with its access-log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from starlette.responses import JSONResponse, Response

from vestnik.api.access import Exchange
from vestnik.api.auth import Principal, authenticate, check_account
from vestnik.api.errors import AUTH, ApiError, error_object
from vestnik.api.limits import LimitExceeded, charge, method_weight
from vestnik.config import Config
from vestnik.store.db import Connection
from vestnik.store.health import DATABASE


class Refused(Exception):
    """A request refused: its HTTP status and the API error its JSON body carries."""

    def __init__(self, status: int, error: ApiError, headers: dict[str, str] | None = None) -> None:
        super().__init__(error.message)
        self.status = status
        self.error = error
        self.headers = headers


def refuse(
    status: int,
    mnemonic: str,
    *,
    field: str | None = None,
    value: Any = None,
    params: Mapping[str, Any] | None = None,
) -> Refused:
    return Refused(status, ApiError(mnemonic, field=field, value=value, params=params))


@contextmanager
def gate_errors() -> Iterator[None]:
    """The gates' errors as refusals: limits 429, the token 401, the account 403."""
    try:
        yield
    except LimitExceeded as exc:
        raise Refused(429, exc) from None
    except ApiError as exc:
        raise Refused(401 if exc.code == AUTH else 403, exc) from None


def admit(conn: Connection, token: str, exchange: Exchange, at: float) -> Principal:
    """The token's principal, once its account may use the API from this client."""
    principal = authenticate(conn, token, at)
    exchange.account_id = principal.account_id
    check_account(principal, exchange.client)
    return principal


def charge_request(
    conn: Connection, config: Config, principal: Principal, method: str, at: float
) -> None:
    """Charge the account's points for one request of ``method`` (its weight)."""
    weight = method_weight(principal.account, method, config.limits.default_weight)
    charge(conn, principal.limits, weight, at)


async def respond(
    exchange: Exchange, name: str, log: logging.Logger, work: Callable[[], Awaitable[Response]]
) -> Response:
    """``work``'s response; a refusal as ``{"error": …}`` with its status, any other failure
    500 ``internal_error`` (a database outage is logged once by ``store.health``)."""
    error: ApiError | None = None
    started = time.monotonic()
    response: Response
    try:
        response = await work()
    except Refused as exc:
        error = exc.error
        body = {"error": error_object(error)}
        response = JSONResponse(body, status_code=exc.status, headers=exc.headers)
    except Exception as exc:
        if not DATABASE.failed(name, exc, started):
            log.exception("%s failed", name)
        error = ApiError("internal_error")
        response = JSONResponse({"error": error_object(error)}, 500)
    else:
        DATABASE.ok(name, started)
    exchange.log(response.status_code, error.mnemonic if error else None)
    return response
