"""match_intent: a recognised reply against the client's intents, by Snowball stems."""

from __future__ import annotations

import pytest

from vestnik.calls.intents import match_intent, stems

INTENTS = (("yes", ("да", "подтверждаю")), ("no", ("нет", "отмена")))


@pytest.mark.parametrize(
    ("reply", "intent"),
    [
        ("Да.", "yes"),
        ("да", "yes"),
        ("ДА!", "yes"),
        ("Нет, спасибо", "no"),
        ("подтверждаю", "yes"),
        ("Подтверждаем", "yes"),  # another inflection, one stem
        ("Отмену, пожалуйста", "no"),  # Snowball: отмена → отм, отмену → отмен
        ("отмены не будет", "no"),
        ("— Да?!", "yes"),
        ("", None),
        ("Алло, кто это?", None),
        ("дача", None),  # a longer word is not the word
        ("надо подумать", None),
    ],
)
def test_replies(reply: str, intent: str | None) -> None:
    assert match_intent(reply, INTENTS) == intent


def test_yo_is_read_as_ye() -> None:
    intents = (("ok", ("всё верно",)),)
    assert match_intent("Все верно", intents) == "ok"
    assert match_intent("всё ВЕРНО.", intents) == "ok"
    assert stems("ёлка") == stems("елка")


def test_a_phrase_is_a_run_of_consecutive_words() -> None:
    intents = (("no", ("не надо",)), ("later", ("перезвоните позже",)))
    assert match_intent("Нет-нет, не надо звонить", intents) == "no"
    assert match_intent("не знаю, надо ли", intents) is None  # both words, not in a run
    assert match_intent("надо не", intents) is None  # order matters
    assert match_intent("Перезвоните, пожалуйста, позже", intents) is None
    assert match_intent("перезвоните мне позже", intents) is None
    assert match_intent("Перезвоните позже, пожалуйста", intents) == "later"


def test_the_first_intent_in_the_clients_order_wins() -> None:
    reply = "да нет наверное"
    assert match_intent(reply, INTENTS) == "yes"
    assert match_intent(reply, tuple(reversed(INTENTS))) == "no"


def test_punctuation_and_empty_phrases() -> None:
    assert match_intent("да,да,да", INTENTS) == "yes"
    assert match_intent("нет...", INTENTS) == "no"
    assert match_intent("да", (("empty", ("", "!!")), ("yes", ("да",)))) == "yes"
    assert match_intent("что-нибудь", ()) is None
