"""``start.informer_call``'s hot path on PostgreSQL: the same checks, two round trips.

Taken when the endpoint runs it asynchronously (``[server] db_calls`` ``async``, the default on
PostgreSQL) and the request is the common one: its parameters are valid, the contact is a
phone number, the rule is ``fixed`` and none of vestnik's own parameters (``collect_dtmf``,
``collect_speech``, ``retry`` …) is sent; the account's policy (``accounts.call_policy``, read
in the same statement as the token) applies to it as on the general path. Anything else, a
parameter error included (its place in the check order comes after the account's gates),
returns None and goes the general way
(:func:`vestnik.api.methods.informer.start_informer_call` in a transaction), so each error is
the one the general path gives, in the same order:

token → account gates → component → (parameters: already valid) → the rules of
:func:`vestnik.calls.intake.decide` → the points charge, where the session is inserted only
when the charge passed (:mod:`vestnik.store.intake_pg`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from vestnik.api.auth import Component, check_account, check_component, principal_of
from vestnik.api.errors import ApiError
from vestnik.api.jsonrpc import FastCall, FastResult, MethodCall, MethodSpec
from vestnik.api.limits import (
    DAY,
    MINUTE,
    LimitExceeded,
    method_weight,
    render_limits,
    window_start,
)
from vestnik.api.methods.informer import (
    CALLER_RNG,
    PARAMS,
    parse_request,
    refusal_error,
    session_plan,
    start_informer_call,
)
from vestnik.api.params import check_params
from vestnik.auth import hash_token
from vestnik.calls import ContactKind, MessageType, UsageRule
from vestnik.calls.intake import AccountRules, InformerRequest, IntakeFacts, Refused, decide
from vestnik.calls.policy import sends
from vestnik.store.intake import region_from, session_values
from vestnik.store.intake_pg import AsyncIntake, IntakeRead


def _common(params: dict[str, Any]) -> InformerRequest | None:
    """The request when it is one the hot path takes (none of vestnik's own parameters: the
    account's policy, read with the token, applies here as on the general path)."""
    if sends(params):
        return None
    try:
        check_params(PARAMS, params)
        request = parse_request(params)
    except ApiError:
        return None
    if request.rule is not UsageRule.FIXED or request.contact_kind is not ContactKind.PHONE:
        return None
    return request


async def fast_start_informer_call(fast: FastCall) -> FastResult | None:
    token = fast.token
    request = _common(fast.params) if token else None
    if request is None:
        return None
    intake: AsyncIntake = fast.intake

    async def on(conn: Any) -> FastResult:
        return await _accept(conn, fast, request)

    # One connection for both statements and the rules between them.
    return await intake.run(on, fast.deadline)


async def _accept(conn: Any, fast: FastCall, request: InformerRequest) -> FastResult:
    at = fast.at
    windows = {period: window_start(period, at) for period in (DAY, MINUTE)}
    contact = request.contact.value
    media_id = request.media_file_id if request.message_type is MessageType.MEDIA else None
    found = await AsyncIntake.read(
        conn, token_hash=hash_token(fast.token), virtual_number=request.virtual_number,
        contact=contact, media_id=media_id, windows=windows,
    )  # fmt: skip
    principal = principal_of(found.token, fast.token, at)
    fast.exchange.account_id = principal.account_id
    call = MethodCall(
        fast.method, fast.params, fast.request_id, principal, fast.exchange.client, at,
        fast.config,
    )  # fmt: skip
    limits = principal.limits
    try:
        check_account(principal, call.client_ip)
        check_component(principal, Component.INFORMER_CALL)
        rules = AccountRules.of(principal.account)
        decision = decide(request, rules, _facts(found, contact), CALLER_RNG)
        if isinstance(decision, Refused):
            raise refusal_error(decision, fast.params, rules)
        assert not decision.caller.remember  # only the *_fixed_for_numa rules remember
        plan = session_plan(fast.params, None, decision, principal.account, at)
        session = session_values(
            request, decision, account_id=principal.account_id, token_id=principal.token_id,
            request_id=call.request_id_json, at=at, plan=plan,
        )  # fmt: skip
        weight = method_weight(principal.account, fast.method, fast.config.limits.default_weight)
        caps = {DAY: limits.day_limit, MINUTE: limits.minute_limit}
        charged = await AsyncIntake.accept(conn, session, weight=weight, windows=windows, caps=caps)
    except ApiError as exc:
        if exc.spec.with_limits:
            exc.limits = render_limits(limits, found.used, at)
        raise
    if charged.refused is not None:
        period = charged.refused
        cap = limits.limit(period)
        raise LimitExceeded(period, cap, render_limits(limits, charged.used, at))
    return {"call_session_id": charged.session_id}, render_limits(limits, charged.used, at), call


def _facts(found: IntakeRead, contact: str) -> IntakeFacts:
    return IntakeFacts(
        owned=found.owned,
        media_usable=found.media_usable,
        blacklisted=found.blacklisted,
        contact_region=region_from(found.registry, contact),
    )


def informer_spec(speech_unavailable: str | None = None) -> MethodSpec:
    """``start.informer_call`` on a server that refuses ``collect_speech`` with
    ``speech_unavailable`` (None: it takes it). The hot path never sees ``collect_speech``."""
    handler = start_informer_call
    if speech_unavailable is not None:
        handler = partial(start_informer_call, speech_unavailable=speech_unavailable)
    return MethodSpec(
        params=PARAMS,
        handler=handler,
        component=Component.INFORMER_CALL,
        fast=fast_start_informer_call,
    )


START_INFORMER_CALL = informer_spec()
