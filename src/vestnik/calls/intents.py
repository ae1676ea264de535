"""Which intent a spoken reply names: its words against each intent's phrases, by stems.

Words are lower-cased, ``ё`` read as ``е``, punctuation dropped, and reduced to their Snowball
stems (``подтверждаю`` and ``подтверждаем`` meet), so a recogniser's inflection or comma
does not miss. Two words are the same when their stems are, or when each word starts with
the other's stem: Snowball cuts ``отмена`` to ``отм`` but ``отмену`` to ``отмен``, and they
must meet, while ``дача`` (stem ``дач``) stays apart from ``да``. An intent matches when one
of its phrases appears in the reply as a run of consecutive such words; the first intent in
the client's order that matches wins.
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
    return tuple(stem for _word, stem in _words(text, language))


def _words(text: str, language: str) -> tuple[tuple[str, str], ...]:
    """(word, stem) of each word of ``text``."""
    words = WORD.findall(text.lower().replace("ё", "е"))
    return tuple(zip(words, _stemmer(language).stemWords(words), strict=True))


def match_intent(
    text: str, intents: tuple[tuple[str, tuple[str, ...]], ...], language: str = "ru"
) -> str | None:
    """The first intent (name) one of whose phrases the reply contains; None: none."""
    said = _words(text, language)
    for name, phrases in intents:
        for phrase in phrases:
            wanted = _words(phrase, language)
            if wanted and _contains(said, wanted):
                return name
    return None


def _same(a: tuple[str, str], b: tuple[str, str]) -> bool:
    return a[1] == b[1] or (a[0].startswith(b[1]) and b[0].startswith(a[1]))


def _contains(said: tuple[tuple[str, str], ...], wanted: tuple[tuple[str, str], ...]) -> bool:
    n = len(wanted)
    return any(
        all(_same(s, w) for s, w in zip(said[i : i + n], wanted, strict=True))
        for i in range(len(said) - n + 1)
    )
