"""Which intent a spoken reply names: its words against each intent's phrases, by stems.

Words are lower-cased, ``ё`` read as ``е``, punctuation dropped, and reduced to their Snowball
stems (``подтверждаю`` and ``подтверждаем`` meet), so a recogniser's inflection or comma
does not miss. An intent matches when one of its phrases' stems appears in the reply as a
run of consecutive words; the first intent in the client's order that matches wins.
"""

from __future__ import annotations

import functools
import re

import snowballstemmer

STEMMER_LANGUAGES = {"ru": "russian", "en": "english"}
WORD = re.compile(r"[^\W_]+", re.UNICODE)


@functools.lru_cache(maxsize=8)
def _stemmer(language: str) -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer(STEMMER_LANGUAGES.get(language, "russian"))


def stems(text: str, language: str = "ru") -> tuple[str, ...]:
    words = WORD.findall(text.lower().replace("ё", "е"))
    return tuple(_stemmer(language).stemWords(words))


def match_intent(
    text: str, intents: tuple[tuple[str, tuple[str, ...]], ...], language: str = "ru"
) -> str | None:
    """The first intent (name) one of whose phrases the reply contains; None: none."""
    said = stems(text, language)
    for name, phrases in intents:
        for phrase in phrases:
            wanted = stems(phrase, language)
            if wanted and _contains(said, wanted):
                return name
    return None


def _contains(said: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    n = len(wanted)
    return any(said[i : i + n] == wanted for i in range(len(said) - n + 1))
