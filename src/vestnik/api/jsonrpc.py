"""A JSON-RPC 2.0 endpoint in the vendor's dialect, reusable by every API of the service.

``JsonRpcEndpoint(methods, config, engine)`` is a plain ASGI app. It reads the body (refusing
oversized ones), enforces the Content-Type and UTF-8 rules, parses JSON with msgspec (refusing
nesting deeper than ``MAX_JSON_DEPTH``), checks the envelope, finds the method and runs it:

1. authentication: ``access_token`` from the params (or the method's own ``login`` step),
2. in ONE database transaction: account gates (active, IP allow-list), the method's component,
   the params schema, the method's handler, and the points charge,
3. the reply: ``result.data`` + ``result.metadata.limits``, or the error object of ``errors.py``.

Every reply is HTTP 200 except an oversized body (413), both with the JSON-RPC body. An error
raised inside the transaction rolls it back: a rejected request changes nothing. Each request
is one line of the access log (``vestnik.access``).

The request's database work must be done within ``[database] timeout`` of its arrival
(:mod:`vestnik.store.deadline`); a database that does not answer in time, or cannot be
reached, gives ``internal_error``, reported to :data:`vestnik.store.health.DATABASE` (which
logs the outage once) instead of a traceback per request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from vestnik import metrics
from vestnik.api.access import Exchange
from vestnik.api.auth import (
    Component,
    Principal,
    authenticate,
    check_account,
    check_component,
)
from vestnik.api.client import client_address, trusted_networks
from vestnik.api.errors import ApiError, error_object
from vestnik.api.limits import AccountLimits, LimitExceeded, charge, method_weight, peek
from vestnik.api.params import Param, check_params
from vestnik.config import DB_CALLS_MODES, Config
from vestnik.store.db import Connection, Engine, now
from vestnik.store.health import DATABASE, summary
from vestnik.store.intake_pg import AsyncIntake
from vestnik.store.runner import DbRunner

log = logging.getLogger("vestnik.api")

# call_sessions.request_id holds the JSON-encoded id.
MAX_ID_JSON_LENGTH = 255
# Arrays and objects nested deeper than this (the request object is level 1) are refused: no
# method needs more than a few levels, and code that walks a value need not fear recursion.
MAX_JSON_DEPTH = 32
_JSON_HEADERS = [(b"content-type", b"application/json; charset=utf-8")]
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


@dataclass
class MethodCall:
    """One authenticated call as a handler sees it."""

    method: str
    params: dict[str, Any]
    request_id: str | int | float
    principal: Principal
    client_ip: str | None
    at: float
    config: Config
    # Run after the transaction commits (e.g. wake the dialer); exceptions are logged.
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    @property
    def request_id_json(self) -> str:
        return _encode(self.request_id).decode()


# A handler runs inside the request's transaction and returns ``result.data``.
Handler = Callable[[MethodCall, Connection], Any]


@dataclass
class FastCall:
    """A request for a method's asynchronous hot path (``MethodSpec.fast``), before its
    token was checked."""

    method: str
    params: dict[str, Any]
    request_id: str | int | float
    token: str
    exchange: Exchange
    config: Config
    intake: AsyncIntake
    at: float
    deadline: float  # time.monotonic() by which its database work must be done


# ``result.data``, ``metadata.limits`` and the call, committed; or the ApiError the general
# path would raise. None: not a request the hot path takes (the general path answers it).
FastResult = tuple[Any, dict[str, int], MethodCall]
FastHandler = Callable[[FastCall], Awaitable[FastResult | None]]
# A method that authenticates by other means than access_token (login.user): given the checked
# params and the runner, return the principal or raise ApiError.
LoginStep = Callable[[Mapping[str, Any], DbRunner], Awaitable[Principal]]


@dataclass(frozen=True)
class MethodSpec:
    params: Sequence[Param]
    handler: Handler
    component: Component | None = None
    login: LoginStep | None = None
    # On PostgreSQL with ``[server] db_calls`` async: tried first (see FastCall).
    fast: FastHandler | None = None


def _id_ok(value: Any) -> bool:
    """A string or a number, at most MAX_ID_JSON_LENGTH characters as JSON (it is stored)."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return False
    return len(_encode(value)) <= MAX_ID_JSON_LENGTH


def nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays/objects nest deeper than ``limit`` in a decoded JSON ``value`` (walked
    without recursion)."""
    pending: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        node, depth = pending.pop()
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                if depth >= limit:
                    return True
                pending.append((child, depth + 1))
    return False


def _too_deep(body: bytes, request: Any) -> bool:
    # Nesting N deep needs N opening brackets: most bodies are cleared by a count in C.
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False
    return nesting_exceeds(request, MAX_JSON_DEPTH)


def _media_type_ok(content_type: str | None) -> str | None:
    """None if acceptable, else the mnemonic of the refusal."""
    if content_type is None:
        return None  # no header: JSON assumed (UTF-8 by RFC 8259)
    media, _, rest = content_type.partition(";")
    if media.strip().lower() != "application/json":
        return "unsupported_content_type"
    for part in rest.split(";"):
        name, _, value = part.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            return "character_encoding_not_allowed"
    return None


class JsonRpcEndpoint:
    """ASGI app answering JSON-RPC POSTs for ``methods``."""

    def __init__(
        self,
        methods: Mapping[str, MethodSpec],
        config: Config,
        engine: Engine,
        *,
        db_in_thread: bool | None = None,
        on_commit: Mapping[str, Callable[[], None]] | None = None,
    ) -> None:
        """``on_commit``: method → callback run after each committed success of it (e.g. wake
        the dialer when a session was queued, instead of waiting for its next poll)."""
        self.methods = dict(methods)
        metrics.register_api_methods(self.methods)
        self.config = config
        self.engine = engine
        if db_in_thread is None:
            mode = config.server.db_calls
            if mode not in DB_CALLS_MODES:  # a Config built in code skips load()'s check
                modes = ", ".join(DB_CALLS_MODES)
                raise ValueError(f"server.db_calls must be one of {modes}, not {mode!r}")
            db_in_thread = mode != "inline" and engine.dialect.name != "sqlite"
            db_in_thread |= mode == "thread"
            use_async = mode in ("async", "auto") and engine.dialect.name == "postgresql"
        else:
            use_async = False
        self.runner = DbRunner(engine, in_thread=db_in_thread, timeout=config.database.timeout)
        # The hot paths' own connections (asyncpg), when a method has one.
        self.intake: AsyncIntake | None = None
        if use_async and any(spec.fast is not None for spec in self.methods.values()):
            self.intake = AsyncIntake(engine.url, timeout=config.database.timeout)
        self.max_body = config.server.max_body_bytes
        self.trusted_proxies = trusted_networks(config.server.trusted_proxies)
        self.on_commit = dict(on_commit or {})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        exchange = Exchange(scope.get("path", ""), client_address(scope, self.trusted_proxies))
        status, reply = await self._respond(scope, receive, exchange)
        error = reply.get("error")
        mnemonic = error["data"]["mnemonic"] if error else None
        metrics.observe_api_request(exchange.method, mnemonic, exchange.elapsed())
        exchange.log(status, mnemonic)
        body = _encode(reply)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _respond(
        self, scope: Any, receive: Any, exchange: Exchange
    ) -> tuple[int, dict[str, Any]]:
        """HTTP status and reply object; ``exchange`` learns the method when it is one of
        ours."""
        content_type: str | None = None
        declared_length: int | None = None
        for name, value in scope.get("headers", ()):
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                try:
                    declared_length = int(value)
                except ValueError:
                    declared_length = None
        if declared_length is not None and declared_length > self.max_body:
            return 413, self._too_large()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return 400, _error_reply(None, ApiError("invalid_request"))
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return 413, self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        refusal = _media_type_ok(content_type)
        if refusal is not None:
            return 200, _error_reply(None, ApiError(refusal, value=content_type))
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return 200, _error_reply(None, ApiError("character_encoding_not_allowed"))
        if body.startswith(b"\xef\xbb\xbf"):
            body = body[3:]
        try:
            request = _decode(body)
            too_deep = _too_deep(body, request)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return 200, _error_reply(None, ApiError("parse_error"))
        except RecursionError:  # msgspec's own limit, far above MAX_JSON_DEPTH
            too_deep = True
        if too_deep:
            error = ApiError("invalid_request", params={"max_depth": MAX_JSON_DEPTH})
            return 200, _error_reply(None, error)
        method = request.get("method") if isinstance(request, dict) else None
        if isinstance(method, str) and method in self.methods:
            exchange.method = method
        return 200, await self.dispatch(request, exchange)

    def _too_large(self) -> dict[str, Any]:
        error = ApiError("request_too_large", params={"max_body_bytes": self.max_body})
        return _error_reply(None, error)

    def close(self) -> None:
        """Release the runner's connection and the hot path's (at shutdown)."""
        self.runner.close()
        if self.intake is not None:
            self.intake.close()

    async def dispatch(self, request: Any, exchange: Exchange) -> dict[str, Any]:
        """The reply object for one decoded JSON value (``exchange`` learns the account)."""
        if isinstance(request, list):
            mnemonic = "batch_opreations_not_supported" if request else "invalid_request"
            return _error_reply(None, ApiError(mnemonic))
        if not isinstance(request, dict):
            return _error_reply(None, ApiError("invalid_request", value=request))
        raw_id = request.get("id")
        echo_id = raw_id if _id_ok(raw_id) else None
        try:
            method, params = self._envelope(request, echo_id)
        except ApiError as exc:
            return _error_reply(echo_id, exc)
        assert echo_id is not None
        spec = self.methods.get(method)
        if spec is None:
            return _error_reply(echo_id, ApiError("method_not_found", field="method", value=method))
        arrived = self.runner.start_request()
        try:
            data, limits = await self._call(method, spec, params, echo_id, exchange, arrived)
        except ApiError as exc:
            return _error_reply(echo_id, exc, exc.limits)
        except Exception as exc:
            if not _database_failed(method, exc, arrived):
                log.exception("internal error in %s", method)
            return _error_reply(echo_id, ApiError("internal_error"))
        DATABASE.ok("api", arrived)
        return {
            "jsonrpc": "2.0",
            "id": echo_id,
            "result": {"data": data, "metadata": {"limits": limits}},
        }

    @staticmethod
    def _envelope(request: dict[str, Any], valid_id: Any) -> tuple[str, dict[str, Any]]:
        """Method and params of the request; ``valid_id`` is its id if that passed ``_id_ok``."""
        if request.get("jsonrpc") != "2.0":
            raise ApiError("invalid_request", field="jsonrpc", value=request.get("jsonrpc"))
        if "id" not in request:
            raise ApiError("notifications_not_supported")
        if valid_id is None:
            raise ApiError("invalid_request", field="id", value=request["id"])
        method = request.get("method")
        if not isinstance(method, str):
            raise ApiError("invalid_request", field="method", value=method)
        params = request.get("params")
        if not isinstance(params, dict):
            raise ApiError("invalid_request", field="params", value=params)
        # Other members are ignored: JSON-RPC 2.0 defines none and no error for them, the
        # vendor documents none, and a client that adds one (a version of comagic-wrapper puts
        # "limit" there) must get the reply a server that ignores it gives (docs/api.md).
        return method, params

    async def _call(
        self,
        method: str,
        spec: MethodSpec,
        params: dict[str, Any],
        request_id: str | int | float,
        exchange: Exchange,
        arrived: float,
    ) -> tuple[Any, dict[str, int]]:
        given: Principal | None = None
        token: str | None = None
        if spec.login is not None:
            check_params(spec.params, params)
            given = await spec.login(params, self.runner)
        else:
            raw = params.get("access_token")
            if raw is None:
                raise ApiError("required_parameter_missed", field="access_token")
            if not isinstance(raw, str):
                raise ApiError(
                    "data_type_error", field="access_token", value=raw,
                    params={"expected_type": "string"},
                )  # fmt: skip
            token = raw
            if spec.fast is not None and self.intake is not None:
                fast = FastCall(
                    method, params, request_id, raw, exchange, self.config, self.intake, now(),
                    self.runner.deadline(),
                )  # fmt: skip
                done = await spec.fast(fast)
                if done is not None:
                    self._after_commit(method, done[2])
                    return done[0], done[1]

        default_weight = self.config.limits.default_weight

        def transaction() -> tuple[Any, dict[str, int], MethodCall]:
            at = now()
            with self.runner.transaction() as conn:
                principal = given if given is not None else authenticate(conn, token or "", at)
                exchange.account_id = principal.account_id
                client_ip = exchange.client
                call = MethodCall(method, params, request_id, principal, client_ip, at, self.config)
                try:
                    check_account(principal, client_ip)
                    if spec.component is not None:
                        check_component(principal, spec.component)
                    check_params(spec.params, params)
                    data = spec.handler(call, conn)
                    weight = method_weight(principal.account, method, default_weight)
                    limits = charge(conn, principal.limits, weight, at)
                except LimitExceeded:
                    raise
                except ApiError as exc:
                    if exc.spec.with_limits:
                        exc.limits = peek(conn, principal.limits, at)
                    raise
                except Exception as exc:
                    raise _FaultWithAccount(principal.limits) from exc
            return data, limits, call

        try:
            data, limits, call = await self.runner.run(transaction)
        except _FaultWithAccount as fault:
            error = ApiError("internal_error")
            # The limits need the database: not worth another wait when it is the fault.
            if not _database_failed(method, fault.__cause__, arrived):
                log.error("internal error in %s", method, exc_info=fault.__cause__)
                error.limits = await self._peek_after_fault(fault.limits)
            raise error from None
        self._after_commit(method, call)
        return data, limits

    def _after_commit(self, method: str, call: MethodCall) -> None:
        hooks = list(call.after_commit)
        if method in self.on_commit:
            hooks.append(self.on_commit[method])
        for hook in hooks:
            try:
                hook()
            except Exception:
                log.exception("after-commit hook of %s failed", method)

    async def _peek_after_fault(self, limits: AccountLimits) -> dict[str, int] | None:
        """``metadata.limits`` in a fresh transaction (the failed one is rolled back), or None
        when the database cannot answer either."""

        def read() -> dict[str, int]:
            with self.runner.transaction() as conn:
                return peek(conn, limits, now())

        try:
            return await self.runner.run(read)
        except Exception:
            log.exception("reading the limits after an internal error failed")
            return None


def _database_failed(method: str, exc: BaseException | None, arrived: float) -> bool:
    """Report ``exc`` to the database health; True when the database was the fault (the
    outage is logged once there, not per request)."""
    if exc is None or not DATABASE.failed("api", exc, arrived):
        return False
    log.debug("internal error in %s: %s", method, summary(exc))
    return True


class _FaultWithAccount(Exception):
    """An unexpected exception once the account was known: its reply carries the limits."""

    def __init__(self, limits: AccountLimits) -> None:
        super().__init__()
        self.limits = limits


def _error_reply(
    request_id: Any, error: ApiError, limits: Mapping[str, int] | None = None
) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error_object(error, limits)}
