"""The dialer's side of ``collect_speech``: the session's options become
``DialSpec.listen.collect_speech`` (the whole path, with a real SIPp callee and the real
recogniser, is tests/dialer/test_session_speech.py)."""

from __future__ import annotations

from vestnik.calls.options import CallOptions, CollectDtmf, CollectSpeech
from vestnik.calls.ports import Listen
from vestnik.dialer.session import listen_spec

YES_NO = {"yes": ["да", "подтверждаю"], "no": ["нет"]}
SPEECH = CollectSpeech(4.0, "ru", (("yes", ("да", "подтверждаю")), ("no", ("нет",))))


def test_listen_spec_asks_for_the_spoken_reply() -> None:
    assert listen_spec(CallOptions(collect_speech=SPEECH)) == Listen(collect_speech=SPEECH)
    both = CallOptions(collect_speech=SPEECH, detect_machine=True, record=True)
    assert listen_spec(both) == Listen(None, True, True, SPEECH)
    assert listen_spec(CallOptions(collect_dtmf=CollectDtmf())) == Listen(CollectDtmf())
    assert listen_spec(None) is None
