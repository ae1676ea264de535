"""Parameter walkers on values deeper than any request may be (no recursion limit to hit)."""

from __future__ import annotations

from typing import Any

import pytest

from vestnik.api.errors import ApiError
from vestnik.api.params import check_text

DEPTH = 100_000  # far beyond Python's recursion limit


def deep(leaf: Any) -> Any:
    value: Any = leaf
    for i in range(DEPTH):
        value = [value] if i % 2 else {"k": value}
    return value


def test_check_text_walks_any_depth() -> None:
    check_text(deep("fine"), "x")
    with pytest.raises(ApiError) as raised:
        check_text(deep("bad\x00"), "x")
    assert raised.value.mnemonic == "invalid_parameter_value"
    assert raised.value.value == "bad\x00"


def test_check_text_checks_keys_in_order() -> None:
    with pytest.raises(ApiError) as raised:
        check_text({"ok": ["a", {"k\x00": "v"}], "later": "\x00"}, "x")
    assert raised.value.value == "k\x00"
