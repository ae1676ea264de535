"""SDP offer/answer for G.711 with telephone-event."""

from __future__ import annotations

import pytest

from vestnik.telephony.rtp import sdp

SIPP_ANSWER = (
    "v=0\r\n"
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.2\r\n"
    "t=0 0\r\n"
    "m=audio 6000 RTP/AVP 0 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
)


def test_offer_lists_codecs_in_preference_order_then_events() -> None:
    offer = sdp.build_offer("127.0.0.1", 20000, ["PCMA", "PCMU"])
    parsed = sdp.parse(offer)
    audio = parsed.audio()
    assert audio.formats == [8, 0, 101]
    assert audio.rtpmap[101] == ("telephone-event", 8000)
    assert audio.ptime == 20
    assert parsed.audio_address() == ("127.0.0.1", 20000)
    assert offer.endswith("\r\n") and "\n" not in offer.replace("\r\n", "")


def test_offer_without_telephone_event_and_unknown_codec() -> None:
    assert "telephone-event" not in sdp.build_offer("127.0.0.1", 1, ["PCMU"], telephone_event=None)
    with pytest.raises(sdp.SdpError, match="unknown codec"):
        sdp.build_offer("127.0.0.1", 1, ["G729"])


def test_answer_negotiation_takes_the_answerers_choice() -> None:
    chosen = sdp.negotiate(sdp.parse(SIPP_ANSWER), ["PCMA", "PCMU"], remote_order=True)
    assert chosen.codec == sdp.Codec("PCMU", 0)
    assert chosen.telephone_event == 101
    assert chosen.remote == ("127.0.0.2", 6000)
    assert chosen.ptime == 20


def test_media_level_connection_overrides_session_level() -> None:
    text = SIPP_ANSWER.replace("a=rtpmap:0", "c=IN IP4 127.0.0.9\r\na=rtpmap:0")
    assert sdp.parse(text).audio_address() == ("127.0.0.9", 6000)


def test_static_payload_without_rtpmap_and_no_events() -> None:
    text = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 18 8\r\n"
    chosen = sdp.negotiate(sdp.parse(text), ["PCMU", "PCMA"], remote_order=True)
    assert chosen.codec == sdp.Codec("PCMA", 8)
    assert chosen.telephone_event is None


def test_offer_side_prefers_our_order_and_answer_mirrors_it() -> None:
    offer = sdp.parse(sdp.build_offer("127.0.0.1", 30000, ["PCMU", "PCMA"], telephone_event=96))
    answer_text, chosen = sdp.build_answer(offer, "127.0.0.1", 30002, ["PCMA", "PCMU"])
    assert chosen.codec.name == "PCMA" and chosen.telephone_event == 96
    answer = sdp.parse(answer_text)
    assert answer.audio().formats == [8, 96]
    assert answer.audio_address() == ("127.0.0.1", 30002)


@pytest.mark.parametrize(
    "text,match",
    [
        ("v=0\r\nc=IN IP4 1.2.3.4\r\n", "no media"),
        ("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n", "no active audio"),
        ("v=0\r\nm=audio 4000 RTP/AVP 0\r\n", "no connection address"),
        ("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 18\r\n", "no common codec"),
        ("v=0\r\nm=audio x RTP/AVP 0\r\n", "bad SDP line"),
    ],
)
def test_unusable_sdp_raises(text: str, match: str) -> None:
    with pytest.raises(sdp.SdpError, match=match):
        sdp.negotiate(sdp.parse(text), ["PCMA", "PCMU"], remote_order=True)
