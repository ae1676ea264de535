"""Property test: random JSON, envelopes and params at every method, through real HTTP.

Never a 5xx, never an unhandled exception (it would surface as internal_error), always the
documented error shape, and a rejected request creates no session and charges nothing.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.api import CONTACT, VPN, Api
from vestnik.api.app import CALL_API_METHODS
from vestnik.api.errors import ERRORS, format_message

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
PARAM_NAMES = sorted(
    {p.name for spec in CALL_API_METHODS.values() for p in spec.params}
    | {"type", "value", "extra", "login", "password"}
)
PLAUSIBLE = {
    "virtual_phone_number": st.sampled_from([VPN, "+" + VPN, "74990000000", "1", ""]),
    "contact": st.sampled_from([CONTACT, VPN, "101", "sip:a@b", "4930123456", "x"]),
    "virtual_phone_usage_rule": st.sampled_from(["fixed", "random", "regional_random", "x"]),
    "direction": st.sampled_from(["in", "out", "x"]),
    "dtmf_string": st.sampled_from(["", "..1", "1a", "#*."]),
    "dialing_timeout": st.sampled_from([0, 1, 30, 120, 121, 2.5, -1, 1e308]),
    "call_session_id": st.sampled_from([1, 0, -1, 2**40, 3.0]),
    "contact_message": st.fixed_dictionaries(
        {"type": st.sampled_from(["tts", "media", "x"])},
        optional={
            "value": st.sampled_from(["", " ", "текст", "1", "abc", "9" * 12]) | JSON,
            "extra": JSON,
        },
    ),
}


def _value(name: str) -> st.SearchStrategy[Any]:
    plausible = PLAUSIBLE.get(name)
    return JSON if plausible is None else plausible | JSON


def _valid(method: str, token: str) -> dict[str, Any]:
    base: dict[str, Any] = {"access_token": token}
    if method == "start.informer_call":
        base.update(virtual_phone_number=VPN, contact=CONTACT,
                    contact_message={"type": "tts", "value": "текст"})  # fmt: skip
    elif method == "release.call":
        base["call_session_id"] = 1
    elif method == "login.user":
        base = {"login": "nobody", "password": "x"}
    return base


@st.composite
def params(draw: st.DrawFn, method: str, token: str) -> Any:
    """A valid request for ``method`` with a few random mutations."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    spec = CALL_API_METHODS.get(method)
    names = [p.name for p in spec.params] if spec else PARAM_NAMES
    out = _valid(method, token)
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.integers(0, 5))
        if action == 0 and out:
            out.pop(draw(st.sampled_from(sorted(out))))
        elif action == 1:
            out[draw(st.text(max_size=6))] = draw(JSON)
        else:
            name = draw(st.sampled_from(names))
            out[name] = draw(_value(name))
    return out


@st.composite
def envelopes(draw: st.DrawFn, token: str) -> Any:
    shape = draw(st.integers(0, 9))
    method = draw(st.sampled_from(sorted(CALL_API_METHODS)))
    if draw(st.integers(0, 19)) == 0:
        method = draw(st.text(max_size=10))
    if shape == 0:
        return draw(JSON)
    if shape == 1:
        return [draw(JSON)]
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": draw(st.text(max_size=10) | st.integers()),
                            "method": method, "params": draw(params(method, token))}  # fmt: skip
    if shape == 2:  # break the envelope
        key = draw(st.sampled_from(["jsonrpc", "id", "method", "params", "extra"]))
        if draw(st.booleans()):
            body.pop(key, None)
        else:
            body[key] = draw(JSON)
    return body


def _check_reply(api: Api, response: Any, before: tuple[int, int]) -> None:
    assert response.status_code in (200, 413), response.text
    reply = response.json()
    assert reply["jsonrpc"] == "2.0"
    assert ("result" in reply) != ("error" in reply)
    if "result" in reply:
        assert set(reply["result"]) == {"data", "metadata"}
        assert set(reply["result"]["metadata"]["limits"]) >= {"day_remaining", "minute_remaining"}
        return
    error = reply["error"]
    data = error["data"]
    assert set(data) == {"mnemonic", "field", "value", "params", "extended_helper", "metadata"}
    spec = ERRORS[data["mnemonic"]]
    assert data["mnemonic"] != "internal_error", reply
    assert error["code"] == spec.code
    assert error["message"] == format_message(spec.message, data["params"])
    assert data["extended_helper"] is None
    assert isinstance(data["metadata"], dict)
    assert (len(api.sessions()), api.charged()) == before, reply


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_requests_never_break_the_contract(api: Api, data: st.DataObject) -> None:
    before = (len(api.sessions()), api.charged())
    body = data.draw(envelopes(api.token))
    response = api.http.post("/v4.0", content=json.dumps(body).encode())
    _check_reply(api, response, before)


CONTENT_TYPES = [None, "application/json", "text/plain", "application/json; charset=koi8-r"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=st.binary(max_size=64), content_type=st.sampled_from(CONTENT_TYPES))
def test_random_bytes(api: Api, raw: bytes, content_type: str | None) -> None:
    before = (len(api.sessions()), api.charged())
    _check_reply(api, api.post(raw, content_type), before)
