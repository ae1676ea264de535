"""The rules of a collect_dtmf reply."""

from __future__ import annotations

from vestnik.calls.options import CollectDtmf
from vestnik.telephony.listen.collector import DtmfCollector


def test_max_digits_ends_the_reply_and_later_keys_are_ignored() -> None:
    c = DtmfCollector(CollectDtmf(max_digits=3, timeout=5, finish_on="#"))
    assert [c.press(k) for k in "12"] == [False, False]
    assert c.press("3") is True
    assert c.press("4") is True
    assert (c.reply, c.ended_by) == ("123", "max_digits")


def test_finish_on_ends_the_reply_and_is_not_part_of_it() -> None:
    c = DtmfCollector(CollectDtmf(max_digits=5, timeout=5, finish_on="#"))
    for k in "4*":
        c.press(k)
    assert c.press("#") is True
    assert (c.reply, c.ended_by) == ("4*", "finish_on")
    only = DtmfCollector(CollectDtmf(max_digits=5, timeout=5, finish_on="*"))
    assert only.press("*") and only.reply == "" and only.pressed


def test_no_finish_key_and_the_timeout() -> None:
    c = DtmfCollector(CollectDtmf(max_digits=4, timeout=5, finish_on=""))
    c.press("#")  # an ordinary key when finish_on is empty
    assert not c.done
    c.time_out()
    assert (c.reply, c.ended_by) == ("#", "timeout")
    nothing = DtmfCollector(CollectDtmf())
    nothing.time_out()
    assert (nothing.reply, nothing.pressed, nothing.ended_by) == ("", False, "timeout")
