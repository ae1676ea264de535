"""The options at intake, pure: read and checked, request against policy, the session's plan."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from vestnik.calls.model import ContactKind, FinishReason
from vestnik.calls.options import (
    DEFAULT_RETRY_ON,
    CallingWindow,
    CallOptions,
    CollectSpeech,
    RetryPolicy,
)
from vestnik.calls.policy import (
    EXTENSION_KEYS,
    ONE_REPLY,
    POLICY_KEYS,
    OptionError,
    effective_options,
    plan_session,
    policy_of,
    read_options,
    sends,
)

POLICY = CallOptions(retry=RetryPolicy(2, 60), record=True, source="account")


def test_nothing_sent_is_none() -> None:
    assert read_options({"contact": "79260000000"}) is None
    assert read_options({"retry": None, "record": None}) is None
    assert not sends({"collect_dtmf": {}}, POLICY_KEYS)
    assert sends({"record": False}, POLICY_KEYS)
    assert sends({"collect_dtmf": {}}) and not sends({"collect_dtmf": None})


def test_defaults() -> None:
    options = read_options({"collect_dtmf": {}, "retry": {"attempts": 2, "interval": 10.0}})
    assert options is not None and options.collect_dtmf is not None
    assert (options.collect_dtmf.max_digits, options.collect_dtmf.timeout) == (1, 5.0)
    assert options.collect_dtmf.finish_on == "#"
    assert options.retry == RetryPolicy(2, 10, DEFAULT_RETRY_ON)
    window = read_options({"calling_window": {"from": "22:00", "till": "06:00"}})
    assert window is not None
    assert window.calling_window == CallingWindow(22 * 60, 6 * 60, "contact")
    assert read_options({"collect_dtmf": {"finish_on": ""}}).collect_dtmf.finish_on == ""  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"retry": {"attempts": 2.5, "interval": 10}}, "retry.attempts"),
        ({"retry": {"attempts": 2, "interval": 10, "on": "timeout"}}, "retry.on"),
        ({"retry": {"attempts": 2, "interval": 10, "on": ["released"]}}, "retry.on"),
        ({"calling_window": {"from": "07:00", "till": "7:30"}}, "calling_window.till"),
        ({"calling_window": {"from": "07:00", "till": "08:00", "timezone": ""}},
         "calling_window.timezone"),
        ({"detect_machine": 1}, "detect_machine"),
    ],
)  # fmt: skip
def test_refusals_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(OptionError) as refused:
        read_options(data)
    assert refused.value.field == field and refused.value.reason


def test_request_replaces_the_policy_as_a_whole() -> None:
    requested = read_options({"detect_machine": True, "collect_dtmf": {}})
    chosen = effective_options(requested, True, POLICY)
    assert chosen is not None and chosen.source == "request"
    assert chosen.retry is None and not chosen.record and chosen.detect_machine
    # Only collect_dtmf sent: the policy, with the request's collect_dtmf.
    requested = read_options({"collect_dtmf": {"max_digits": 3}})
    chosen = effective_options(requested, False, POLICY)
    assert chosen is not None and chosen.source == "account" and chosen.record
    assert chosen.collect_dtmf is not None and chosen.collect_dtmf.max_digits == 3
    assert effective_options(None, False, None) is None
    assert effective_options(read_options({"record": False}), True, POLICY) is None
    assert effective_options(None, False, POLICY) == POLICY


def test_policy_of_the_stored_form() -> None:
    assert policy_of(None) is None and policy_of({}) is None
    assert policy_of({"source": "account"}) is None
    stored = POLICY.to_json()
    assert policy_of(stored) == POLICY
    assert policy_of({**stored, "source": "request"}) == POLICY  # always the account's


def _at(text: str, zone: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def test_plan_closed_window_waits_for_the_contacts_morning() -> None:
    options = CallOptions(calling_window=CallingWindow(9 * 60, 21 * 60, "contact"))
    now = _at("2026-12-07 23:30", "Asia/Vladivostok")  # 16:30 in Moscow
    plan = plan_session(
        options, contact="74232123456", contact_kind=ContactKind.PHONE,
        contact_region="Приморский край", home_region=None, at=now,
    )  # fmt: skip
    assert plan.options is not None and plan.options.calling_window is not None
    assert plan.options.calling_window.zone == "Asia/Vladivostok"
    assert plan.scheduled_at == _at("2026-12-08 09:00", "Asia/Vladivostok")
    moscow = plan_session(
        options, contact="74991234567", contact_kind=ContactKind.PHONE,
        contact_region="г. Москва", home_region=None, at=now,
    )  # fmt: skip
    assert moscow.scheduled_at is None  # open in Moscow


def test_plan_sip_contact_takes_the_home_region() -> None:
    options = CallOptions(
        retry=RetryPolicy(3, 60, (FinishReason.TIMEOUT,)),
        calling_window=CallingWindow(9 * 60, 21 * 60, "contact"),
    )
    now = _at("2026-12-07 08:00", "Asia/Novosibirsk")
    plan = plan_session(
        options, contact="sip:ivanov@pbx.example", contact_kind=ContactKind.SIP,
        contact_region=None, home_region="Новосибирская обл.", at=now,
    )  # fmt: skip
    assert plan.options is not None and plan.options.calling_window is not None
    assert plan.options.calling_window.zone == "Asia/Novosibirsk"
    assert plan.scheduled_at == _at("2026-12-07 09:00", "Asia/Novosibirsk")
    assert plan.options.retry == options.retry
    # Without a window, nothing waits; without options, nothing at all.
    assert plan_session(
        CallOptions(record=True), contact="x", contact_kind=ContactKind.SIP,
        contact_region=None, home_region=None, at=now,
    ).scheduled_at is None  # fmt: skip


def test_collect_speech_read_with_defaults_and_kept_in_order() -> None:
    assert EXTENSION_KEYS[:2] == ("collect_dtmf", "collect_speech")
    assert "collect_speech" not in POLICY_KEYS and not sends({"collect_speech": {}}, POLICY_KEYS)
    bare = read_options({"collect_speech": {}})
    assert bare == CallOptions(collect_speech=CollectSpeech(5.0, "ru", ()))
    assert bare.listens and not bare.empty
    read = read_options(
        {"collect_speech": {"timeout": 7, "intents": {"no": ["нет"], "yes": ["да", "ага"]}}}
    )
    assert read is not None and read.collect_speech == CollectSpeech(
        7.0, "ru", (("no", ("нет",)), ("yes", ("да", "ага")))
    )
    assert CallOptions.from_json(read.to_json()) == read  # the stored form round-trips


def test_collect_speech_refusals_in_their_order() -> None:
    with pytest.raises(OptionError) as refused:
        read_options(
            {"collect_dtmf": {}, "collect_speech": {"timeout": 0}}, speech_unavailable="off"
        )
    assert (refused.value.field, refused.value.reason) == ("collect_speech", "off")
    with pytest.raises(OptionError) as refused:
        read_options({"collect_dtmf": {}, "collect_speech": {"timeout": 0}})
    assert (refused.value.field, refused.value.reason) == ("collect_speech", ONE_REPLY)
    with pytest.raises(OptionError) as refused:
        read_options({"collect_speech": {"intents": {"yes": "да"}}})
    assert refused.value.mnemonic == "data_type_error" and refused.value.expected_type == "array"
    # Unavailable speech concerns collect_speech only.
    assert read_options({"collect_dtmf": {}}, speech_unavailable="off") is not None


def test_collect_speech_is_the_requests_beside_a_policy() -> None:
    requested = read_options({"collect_speech": {"intents": {"yes": ["да"]}}})
    chosen = effective_options(requested, False, POLICY)
    assert chosen is not None and chosen.source == "account" and chosen.record
    assert chosen.collect_speech == CollectSpeech(intents=(("yes", ("да",)),))
    alone = effective_options(requested, False, None)
    assert alone == CallOptions(collect_speech=CollectSpeech(intents=(("yes", ("да",)),)))
