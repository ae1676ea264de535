"""start.informer_call's ``collect_speech``: every check with its field and reason, the check
order, what the session stores, the account's policy beside it, and the refusal of a server
that cannot recognise speech (``create_app(speech_unavailable=...)``), over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.api import Api, ThreadServer, error_of, seed_account
from vestnik.api import create_app
from vestnik.calls.model import FinishReason
from vestnik.calls.options import CallOptions, CollectSpeech, RetryPolicy
from vestnik.calls.policy import (
    INTENT_COUNT,
    INTENT_NAME,
    ONE_REPLY,
    PHRASE,
    PHRASE_COUNT,
    SECONDS_FROM_TO,
    SPEECH_LANGUAGE,
)
from vestnik.store.accounts import get_call_policy, set_call_policy

YES_NO = {"yes": ["да", "подтверждаю"], "no": ["нет", "отмена"]}
# What vestnik.speech.unavailable_reason says with [speech] enabled = false (the api package
# may not import vestnik.speech; tests/test_service_speech.py checks the real text end to end).
SWITCHED_OFF = "spoken replies are switched off on this server ([speech] enabled = false)"


def _rejected(api: Api, reply: dict[str, Any], mnemonic: str, field: str) -> dict[str, Any]:
    assert error_of(reply) == (-32602, mnemonic), reply
    data: dict[str, Any] = reply["error"]["data"]
    assert data["field"] == field, data
    assert api.sessions() == [] and api.charged() == 0
    return data


@pytest.mark.parametrize(
    ("speech", "field", "expected"),
    [
        ("yes", "collect_speech", "object"),
        ([YES_NO], "collect_speech", "object"),
        ({"timeout": "5"}, "collect_speech.timeout", "number"),
        ({"timeout": True}, "collect_speech.timeout", "number"),
        ({"language": 7}, "collect_speech.language", "string"),
        ({"intents": [["да"]]}, "collect_speech.intents", "object"),
        ({"intents": {"yes": "да"}}, "collect_speech.intents.yes", "array"),
        ({"intents": {"yes": ["да", 1]}}, "collect_speech.intents.yes", "string"),
        ({"intents": {"yes": [None]}}, "collect_speech.intents.yes", "string"),
    ],
)
def test_data_type_errors(api: Api, speech: Any, field: str, expected: str) -> None:
    data = _rejected(api, api.start(collect_speech=speech), "data_type_error", field)
    assert data["params"] == {"expected_type": expected}


def test_unknown_key_inside(api: Api) -> None:
    reply = api.start(collect_speech={"timeout": 5, "model": "large"})
    data = _rejected(api, reply, "unexpected_parameters", "collect_speech.model")
    assert data["params"]["parameters"] == ["model"]


TOO_MANY_INTENTS = {f"i{n}": ["да"] for n in range(17)}
SECONDS = SECONDS_FROM_TO.format(1, 30)
LANGUAGE = SPEECH_LANGUAGE.format('"ru"')
PHRASE_REASON = PHRASE.format(100)
PHRASES = PHRASE_COUNT.format(1, 16)


@pytest.mark.parametrize(
    ("speech", "field", "value", "reason"),
    [
        ({"timeout": 0.9}, "collect_speech.timeout", 0.9, SECONDS),
        ({"timeout": 31}, "collect_speech.timeout", 31, SECONDS),
        ({"timeout": -5}, "collect_speech.timeout", -5, SECONDS),
        ({"language": "en"}, "collect_speech.language", "en", LANGUAGE),
        ({"language": "RU"}, "collect_speech.language", "RU", LANGUAGE),
        ({"language": ""}, "collect_speech.language", "", LANGUAGE),
        ({"intents": TOO_MANY_INTENTS}, "collect_speech.intents", TOO_MANY_INTENTS,
         INTENT_COUNT.format(16)),
        ({"intents": {"Yes": ["да"]}}, "collect_speech.intents", "Yes", INTENT_NAME),
        ({"intents": {"": ["да"]}}, "collect_speech.intents", "", INTENT_NAME),
        ({"intents": {"да": ["да"]}}, "collect_speech.intents", "да", INTENT_NAME),
        ({"intents": {"x" * 33: ["да"]}}, "collect_speech.intents", "x" * 33, INTENT_NAME),
        ({"intents": {"yes-no": ["да"]}}, "collect_speech.intents", "yes-no", INTENT_NAME),
        ({"intents": {"yes": []}}, "collect_speech.intents.yes", [], PHRASES),
        ({"intents": {"yes": ["да"] * 17}}, "collect_speech.intents.yes", ["да"] * 17,
         PHRASES),
        ({"intents": {"yes": [""]}}, "collect_speech.intents.yes", "", PHRASE_REASON),
        ({"intents": {"yes": ["  "]}}, "collect_speech.intents.yes", "  ", PHRASE_REASON),
        ({"intents": {"yes": ["да", "?!"]}}, "collect_speech.intents.yes", "?!", PHRASE_REASON),
        ({"intents": {"yes": ["да " * 34]}}, "collect_speech.intents.yes", "да " * 34,
         PHRASE_REASON),
    ],
)  # fmt: skip
def test_invalid_values(
    api: Api, speech: dict[str, Any], field: str, value: Any, reason: str
) -> None:
    data = _rejected(api, api.start(collect_speech=speech), "invalid_parameter_value", field)
    assert data["value"] == value
    assert data["params"] == {"reason": reason}


def test_collect_dtmf_beside_it_is_refused(api: Api) -> None:
    speech = {"intents": YES_NO}
    reply = api.start(collect_dtmf={"max_digits": 1}, collect_speech=speech)
    data = _rejected(api, reply, "invalid_parameter_value", "collect_speech")
    assert data["value"] == speech
    assert data["params"] == {"reason": ONE_REPLY}
    assert ONE_REPLY == "cannot be combined with collect_dtmf: ask for one reply"


def test_check_order(api: Api) -> None:
    # The vendor's values first, then collect_dtmf's, then collect_speech's, then retry's.
    bad_speech = {"timeout": 99}
    reply = api.start(contact="abc", collect_speech=bad_speech)
    _rejected(api, reply, "invalid_parameter_value", "contact")
    reply = api.start(collect_dtmf={"max_digits": 0}, collect_speech=bad_speech)
    _rejected(api, reply, "invalid_parameter_value", "collect_dtmf.max_digits")
    reply = api.start(collect_speech=bad_speech, retry={"attempts": 0, "interval": 1})
    _rejected(api, reply, "invalid_parameter_value", "collect_speech.timeout")
    # Both replies asked: refused before collect_speech's own values are looked at.
    reply = api.start(collect_dtmf={}, collect_speech=bad_speech)
    _rejected(api, reply, "invalid_parameter_value", "collect_speech")
    # Inside: timeout, then language, then intents (their names, then each one's phrases).
    reply = api.start(collect_speech={"timeout": 0, "language": "en", "intents": {"A": []}})
    _rejected(api, reply, "invalid_parameter_value", "collect_speech.timeout")
    reply = api.start(collect_speech={"language": "en", "intents": {"A": []}})
    _rejected(api, reply, "invalid_parameter_value", "collect_speech.language")
    # JSON types of every field come before any value (the parameter schema's pass).
    reply = api.start(collect_speech={"timeout": 0, "language": 1})
    _rejected(api, reply, "data_type_error", "collect_speech.language")


def test_stored_with_defaults_and_in_the_clients_order(api: Api) -> None:
    assert "result" in api.start(collect_speech={})
    intents = {"no": ["нет", "отмена"], "yes": ["да", "подтверждаю"], "later_1": ["позже"]}
    reply = api.start(collect_speech={"timeout": 2.5, "language": "ru", "intents": intents})
    assert list(reply["result"]["data"]) == ["call_session_id"]
    bare, full = api.sessions()
    assert bare["options"] == {
        "source": "request",
        "collect_speech": {"timeout": 5.0, "language": "ru", "intents": {}},
    }
    assert full["options"]["collect_speech"] == {
        "timeout": 2.5, "language": "ru", "intents": intents,
    }  # fmt: skip
    assert list(full["options"]["collect_speech"]["intents"]) == ["no", "yes", "later_1"]
    stored = CallOptions.from_json(full["options"])
    assert stored is not None and stored.collect_speech == CollectSpeech(
        2.5, "ru", (("no", ("нет", "отмена")), ("yes", ("да", "подтверждаю")),
                    ("later_1", ("позже",))),
    )  # fmt: skip
    # Asked: "" (nothing said yet) until a reply is recognised; the intent none yet.
    for row in (bare, full):
        assert (row["speech_reply"], row["speech_intent"], row["dtmf_reply"]) == ("", None, None)


def test_bounds_are_inclusive(api: Api) -> None:
    intents = {f"{'x' * 31}{n:x}": ["да"] * 16 for n in range(16)}
    intents["x" * 31 + "0"] = ["д" * 100] + ["да"] * 15
    for timeout in (1, 30):
        reply = api.start(collect_speech={"timeout": timeout, "intents": intents})
        assert "result" in reply, reply
    assert [len(row["options"]["collect_speech"]["intents"]) for row in api.sessions()] == [16, 16]


def test_without_collect_speech_nothing_changes(api: Api) -> None:
    api.start(collect_speech=None)
    api.start(collect_dtmf={})
    plain, dtmf = api.sessions()
    assert plain["options"] is None and plain["speech_reply"] is None
    assert dtmf["speech_reply"] is None and "collect_speech" not in dtmf["options"]


def test_policy_applies_beside_collect_speech(api: Api) -> None:
    policy = CallOptions(retry=RetryPolicy(2, 300, (FinishReason.SUBSCRIBER_BUSY,)),
                         source="account")  # fmt: skip
    with api.engine.begin() as conn:
        set_call_policy(conn, api.account_id, policy)
    api.start(collect_speech={"intents": YES_NO})  # collect_speech does not replace it
    api.start(collect_speech={}, record=True)  # record does, as a whole
    kept, replaced = (row["options"] for row in api.sessions())
    assert kept["source"] == "account" and kept["retry"]["attempts"] == 2
    assert kept["collect_speech"]["intents"] == YES_NO
    assert replaced == {
        "source": "request", "record": True,
        "collect_speech": {"timeout": 5.0, "language": "ru", "intents": {}},
    }  # fmt: skip


def test_a_policy_never_holds_collect_speech(api: Api) -> None:
    asked = CallOptions(collect_speech=CollectSpeech(), record=True, source="account")
    with api.engine.begin() as conn:
        set_call_policy(conn, api.account_id, asked)
        assert get_call_policy(conn, api.account_id) == CallOptions(record=True, source="account")


@pytest.fixture
def refusing(served: Any) -> Iterator[Api]:
    """A server of this backend that cannot recognise speech, as the service builds it with
    ``[speech] enabled = false``."""
    app = create_app(served.config, served.engine, speech_unavailable=SWITCHED_OFF)
    with (
        ThreadServer(app, served.config) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        account_id, token = seed_account(served.engine)
        yield Api(server.url, http, served.engine, served.config, account_id, token)


def test_refused_where_speech_cannot_be_recognised(refusing: Api) -> None:
    speech = {"timeout": 5, "intents": YES_NO}
    reply = refusing.start(collect_speech=speech)
    limits = reply["error"]["data"]["metadata"]["limits"]  # as every refusal after the token
    assert (limits["day_remaining"], limits["minute_remaining"]) == (300000, 3000)  # no charge
    assert reply["error"] == {
        "code": -32602,
        "message": "Invalid parameter value",
        "data": {
            "mnemonic": "invalid_parameter_value",
            "field": "collect_speech",
            "value": speech,
            "params": {"reason": SWITCHED_OFF},
            "extended_helper": None,
            "metadata": {"limits": limits},
        },
    }
    assert refusing.sessions() == [] and refusing.charged() == 0
    # Before any of its values, and before collect_dtmf beside it; other requests go on.
    reply = refusing.start(collect_speech={"timeout": 99}, collect_dtmf={})
    assert reply["error"]["data"]["params"] == {"reason": SWITCHED_OFF}
    assert "result" in refusing.start(collect_dtmf={})
    assert "result" in refusing.start()
