"""vestnik's call options at intake: their values checked, the account's policy, the plan.

One set of checks for every way options arrive: ``start.informer_call``'s params
(``collect_dtmf``, ``collect_speech``, ``retry``, ``calling_window``, ``detect_machine``,
``record``) and an account's policy set by ``vestnik admin account set`` (the same object form
without the two replies). :func:`read_options` checks the values in order and raises
:class:`OptionError` (the field as a dotted path, the value, and why) at the first bad one;
the API answers it with ``invalid_parameter_value`` (``data.params.reason``), the CLI with the
same reason after the option's name. JSON types are the caller's to check first (the API's
parameter schema, the CLI's argument types); anything else is refused here too.

Which options a session runs with (:func:`effective_options`): the request's, when it sends
any of ``retry``, ``calling_window``, ``detect_machine``, ``record`` (even ``false``): the
policy is then ignored as a whole, no merging; else the account's policy. ``collect_dtmf``
and ``collect_speech`` are always the request's (a reply needs a message that asks for it).
:func:`plan_session` resolves a window's zone for the contact and says when the session may
first be dialled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from vestnik.calls.intents import stems
from vestnik.calls.model import ContactKind, FinishReason
from vestnik.calls.numbers import number_facts
from vestnik.calls.options import (
    COLLECT_TIMEOUT_RANGE,
    CONTACT_ZONE,
    DEFAULT_RETRY_ON,
    DTMF_KEYS,
    MAX_DIGITS_RANGE,
    RETRY_ATTEMPTS_RANGE,
    RETRY_INTERVAL_RANGE,
    RETRYABLE,
    SPEECH_LANGUAGES,
    SPEECH_TIMEOUT_RANGE,
    CallingWindow,
    CallOptions,
    CollectDtmf,
    CollectSpeech,
    RetryPolicy,
    parse_hhmm,
)
from vestnik.calls.timezones import contact_zone
from vestnik.calls.window import next_opening

# The request's own keys, in the order they are checked; the policy's are all but the replies.
REPLY_KEYS = ("collect_dtmf", "collect_speech")
POLICY_KEYS = ("retry", "calling_window", "detect_machine", "record")
EXTENSION_KEYS = REPLY_KEYS + POLICY_KEYS
MISSING = "required_parameter_missed"
INVALID = "invalid_parameter_value"

# Why a value is refused (``data.params.reason``; the CLI prints the same words).
WHOLE_FROM_TO = "must be a whole number from {0} to {1}"
SECONDS_FROM_TO = "must be a number of seconds from {0} to {1}"
WHOLE_SECONDS_FROM_TO = "must be a whole number of seconds from {0} to {1}"
FINISH_ON = "must be one key of 0-9, * or #, or empty (no key ends the reply)"
RETRY_ON = "must list at least one of these finish reasons: {0}"
FROM_TIME = "must be a time of day as HH:MM, 00:00 to 23:59"
TILL_TIME = "must be a time of day as HH:MM, 00:00 to 24:00"
EMPTY_WINDOW = "must differ from calling_window.from (the window would be empty)"
TIMEZONE = '"contact" or an IANA time zone name such as Asia/Novosibirsk'
BOOLEAN = "must be true or false"
REQUIRED = "is required"
SPEECH_LANGUAGE = "must be one of the languages recognised here: {0}"
ONE_REPLY = "cannot be combined with collect_dtmf: ask for one reply"
INTENT_COUNT = "must name at most {0} intents"
INTENT_NAME = "intent names must be 1 to 32 characters of a-z, 0-9 and _"
PHRASE_COUNT = "must list from {0} to {1} phrases"
PHRASE = "each phrase must be at most {0} characters with at least one word"

# collect_speech.intents: how many, how named, how long (docs/api.md). Bounded so that a
# request's matching work (every phrase against the reply, by stems) stays trivial.
MAX_INTENTS = 16
PHRASES_RANGE = (1, 16)
MAX_PHRASE_LENGTH = 100
INTENT_NAME_PATTERN = re.compile(r"[a-z0-9_]{1,32}")


class OptionError(ValueError):
    """A value of the options refused: ``field`` as a dotted path (``retry.interval``)."""

    def __init__(
        self,
        field: str,
        value: Any,
        reason: str,
        mnemonic: str = INVALID,
        expected_type: str | None = None,
    ) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason
        self.mnemonic = mnemonic
        self.expected_type = expected_type  # data_type_error: the JSON type wanted


def retryable_names() -> str:
    return ", ".join(sorted(r.value for r in RETRYABLE))


def sends(data: Mapping[str, Any], keys: tuple[str, ...] = EXTENSION_KEYS) -> bool:
    """Whether ``data`` (a request's params) sends any of ``keys`` (null counts as absent):
    any option at all by default; ``POLICY_KEYS``: any option that replaces the policy."""
    return any(data.get(key) is not None for key in keys)


def read_options(
    data: Mapping[str, Any], *, source: str = "request", speech_unavailable: str | None = None
) -> CallOptions | None:
    """The options ``data`` sends (None when it sends none), every value checked in the order
    of :data:`EXTENSION_KEYS` and, inside each, of its fields. ``speech_unavailable``: why
    this server cannot take ``collect_speech`` (None: it can), the reason it is refused with."""
    if not sends(data):
        return None
    return CallOptions(
        collect_dtmf=_collect_dtmf(data.get("collect_dtmf")),
        collect_speech=_collect_speech(data, speech_unavailable),
        retry=_retry(data.get("retry")),
        calling_window=_calling_window(data.get("calling_window")),
        detect_machine=_boolean(data.get("detect_machine"), "detect_machine"),
        record=_boolean(data.get("record"), "record"),
        source=source,
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: Any, field: str, bounds: tuple[int, int], reason: str) -> int:
    low, high = bounds
    if not _number(value) or value != int(value) or not low <= value <= high:
        raise OptionError(field, value, reason.format(low, high))
    return int(value)


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise OptionError(field, value, "must be an object", "data_type_error")
    return value


def _required(part: Mapping[str, Any], field: str, name: str) -> Any:
    value = part.get(name)
    if value is None:
        raise OptionError(f"{field}.{name}", None, REQUIRED, MISSING)
    return value


def _collect_dtmf(value: Any) -> CollectDtmf | None:
    if value is None:
        return None
    part = _object(value, "collect_dtmf")
    default = CollectDtmf()
    digits = part.get("max_digits")
    digits = default.max_digits if digits is None else _whole(
        digits, "collect_dtmf.max_digits", MAX_DIGITS_RANGE, WHOLE_FROM_TO
    )  # fmt: skip
    timeout = part.get("timeout")
    low, high = COLLECT_TIMEOUT_RANGE
    if timeout is None:
        timeout = default.timeout
    elif not _number(timeout) or not low <= timeout <= high:
        reason = SECONDS_FROM_TO.format(*COLLECT_TIMEOUT_RANGE)
        raise OptionError("collect_dtmf.timeout", timeout, reason)
    finish_on = part.get("finish_on")
    if finish_on is None:
        finish_on = default.finish_on
    elif not isinstance(finish_on, str) or len(finish_on) > 1 or finish_on not in DTMF_KEYS:
        raise OptionError("collect_dtmf.finish_on", finish_on, FINISH_ON)
    return CollectDtmf(digits, float(timeout), finish_on)


def _collect_speech(data: Mapping[str, Any], unavailable: str | None) -> CollectSpeech | None:
    """Checked: the object, this server can recognise speech, no ``collect_dtmf`` beside it,
    then ``timeout``, ``language``, ``intents``."""
    value = data.get("collect_speech")
    if value is None:
        return None
    part = _object(value, "collect_speech")
    if unavailable is not None:
        raise OptionError("collect_speech", value, unavailable)
    if data.get("collect_dtmf") is not None:
        raise OptionError("collect_speech", value, ONE_REPLY)
    default = CollectSpeech()
    timeout = part.get("timeout")
    low, high = SPEECH_TIMEOUT_RANGE
    if timeout is None:
        timeout = default.timeout
    elif not _number(timeout) or not low <= timeout <= high:
        reason = SECONDS_FROM_TO.format(*SPEECH_TIMEOUT_RANGE)
        raise OptionError("collect_speech.timeout", timeout, reason)
    language = part.get("language")
    if language is None:
        language = default.language
    elif language not in SPEECH_LANGUAGES:
        reason = SPEECH_LANGUAGE.format(", ".join(f'"{x}"' for x in SPEECH_LANGUAGES))
        raise OptionError("collect_speech.language", language, reason)
    intents = _intents(part.get("intents"), language)
    return CollectSpeech(float(timeout), str(language), intents)


def _intents(value: Any, language: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``{name: [phrase, ...]}`` in the client's order (the first match wins); absent or
    ``{}``: none (the reply's text only)."""
    if value is None:
        return ()
    field = "collect_speech.intents"
    part = _object(value, field)
    if len(part) > MAX_INTENTS:
        raise OptionError(field, value, INTENT_COUNT.format(MAX_INTENTS))
    out: list[tuple[str, tuple[str, ...]]] = []
    for name, phrases in part.items():
        if not INTENT_NAME_PATTERN.fullmatch(name):
            raise OptionError(field, name, INTENT_NAME)
        where = f"{field}.{name}"
        if not isinstance(phrases, list | tuple):
            raise OptionError(where, phrases, "must be an array", "data_type_error", "array")
        low, high = PHRASES_RANGE
        if not low <= len(phrases) <= high:
            raise OptionError(where, phrases, PHRASE_COUNT.format(low, high))
        for phrase in phrases:
            if not isinstance(phrase, str):
                raise OptionError(where, phrase, "must be a string", "data_type_error", "string")
            if len(phrase) > MAX_PHRASE_LENGTH or not stems(phrase, language):
                raise OptionError(where, phrase, PHRASE.format(MAX_PHRASE_LENGTH))
        out.append((name, tuple(phrases)))
    return tuple(out)


def _retry(value: Any) -> RetryPolicy | None:
    if value is None:
        return None
    part = _object(value, "retry")
    attempts = _whole(
        _required(part, "retry", "attempts"), "retry.attempts", RETRY_ATTEMPTS_RANGE,
        WHOLE_FROM_TO,
    )  # fmt: skip
    interval = _whole(
        _required(part, "retry", "interval"), "retry.interval", RETRY_INTERVAL_RANGE,
        WHOLE_SECONDS_FROM_TO,
    )  # fmt: skip
    on = part.get("on")
    if on is None:
        return RetryPolicy(attempts, interval, DEFAULT_RETRY_ON)
    names = {r.value for r in RETRYABLE}
    if (
        not isinstance(on, list | tuple)
        or not on
        or any(not isinstance(item, str) or item not in names for item in on)
    ):
        raise OptionError("retry.on", on, RETRY_ON.format(retryable_names()))
    return RetryPolicy(attempts, interval, tuple(FinishReason(x) for x in dict.fromkeys(on)))


def _calling_window(value: Any) -> CallingWindow | None:
    if value is None:
        return None
    part = _object(value, "calling_window")
    start_text = _required(part, "calling_window", "from")
    start = parse_hhmm(start_text) if isinstance(start_text, str) else None
    if start is None or start >= 24 * 60:
        raise OptionError("calling_window.from", start_text, FROM_TIME)
    till_text = _required(part, "calling_window", "till")
    till = parse_hhmm(till_text) if isinstance(till_text, str) else None
    if till is None:
        raise OptionError("calling_window.till", till_text, TILL_TIME)
    if till == start:
        raise OptionError("calling_window.till", till_text, EMPTY_WINDOW)
    zone = part.get("timezone")
    if zone is None:
        zone = CONTACT_ZONE
    elif not isinstance(zone, str) or not (zone == CONTACT_ZONE or zone in iana_zones()):
        raise OptionError("calling_window.timezone", zone, "must be " + TIMEZONE)
    return CallingWindow(start, till, zone)


def _boolean(value: Any, field: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise OptionError(field, value, BOOLEAN)
    return value


@lru_cache(maxsize=1)
def iana_zones() -> frozenset[str]:
    """The zone names this machine's time-zone database knows (``zoneinfo``)."""
    return frozenset(available_timezones())


def policy_of(stored: Mapping[str, Any] | None) -> CallOptions | None:
    """An account's policy from its ``call_policy`` column (None: no policy)."""
    policy = CallOptions.from_json(dict(stored)) if stored else None
    return None if policy is None or policy.empty else replace(policy, source="account")


def effective_options(
    requested: CallOptions | None, replaces_policy: bool, policy: CallOptions | None
) -> CallOptions | None:
    """The options a new session runs with (None: none, a plain informer call)."""
    collect = requested.collect_dtmf if requested is not None else None
    speech = requested.collect_speech if requested is not None else None
    if replaces_policy and requested is not None:
        chosen = replace(requested, source="request")
    elif policy is not None:
        chosen = replace(policy, collect_dtmf=collect, collect_speech=speech, source="account")
    else:
        chosen = CallOptions(collect_dtmf=collect, collect_speech=speech)
    return None if chosen.empty else chosen


@dataclass(frozen=True)
class SessionPlan:
    """How a new session is stored: its options (the window's zone resolved) and when it may
    be dialled first (None: at once)."""

    options: CallOptions | None = None
    scheduled_at: float | None = None


def plan_session(
    options: CallOptions | None,
    *,
    contact: str,
    contact_kind: ContactKind,
    contact_region: str | None,
    home_region: str | None,
    at: float,
) -> SessionPlan:
    """Resolve the calling window's zone (``contact``: the contact's, see
    :mod:`vestnik.calls.timezones`) and, when the window is closed at ``at``, schedule the
    session for its next opening."""
    if options is None or options.calling_window is None:
        return SessionPlan(options)
    window = options.calling_window
    zone = window.timezone
    if zone == CONTACT_ZONE:
        digits = contact if contact_kind is ContactKind.PHONE else None
        russian = digits is not None and number_facts(digits).country == "RU"
        zone = contact_zone(digits, contact_region, home_region, russian=russian)
    window = replace(window, zone=zone)
    opening = next_opening(window, at)
    return SessionPlan(replace(options, calling_window=window), None if opening == at else opening)
