"""SipEndpoint: the public request handler and what outlives close()."""

from __future__ import annotations

import socket
from typing import Any

from vestnik.telephony.sip.endpoint import SipEndpoint


def _options(port: int, reply_port: int) -> bytes:
    return (
        f"OPTIONS sip:probe@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{reply_port};branch=z9hG4bK-endpoint-test\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@127.0.0.1:{reply_port}>;tag=probe\r\n"
        f"To: <sip:probe@127.0.0.1:{port}>\r\n"
        "Call-ID: endpoint-test@127.0.0.1\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def _probe(endpoint: SipEndpoint) -> bytes:
    """Send one OPTIONS to ``endpoint`` (opened and closed here); its response status line."""
    port = endpoint.open()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            peer.settimeout(5)
            peer.sendto(_options(port, peer.getsockname()[1]), ("127.0.0.1", port))
            return peer.recv(65536).split(b"\r\n", 1)[0]
    finally:
        endpoint.close()


def test_out_of_dialog_requests_go_to_the_given_handler() -> None:
    seen: list[str] = []

    def on_request(req: Any, sip_t: Any) -> Any:
        seen.append(req.getMethod())
        return (req.genResponse(480, "Temporarily Unavailable"), None, None)

    endpoint = SipEndpoint("127.0.0.1", 0, on_request=on_request)
    status_line = _probe(endpoint)
    assert seen == ["OPTIONS"]
    assert status_line == b"SIP/2.0 480 Temporarily Unavailable"


def test_the_default_handler_answers_options_probes() -> None:
    endpoint = SipEndpoint("127.0.0.1", 0)
    status_line = _probe(endpoint)
    assert status_line == b"SIP/2.0 200 OK"


def test_a_ua_may_unregister_after_the_endpoint_closed() -> None:
    """A UA that ended unregisters 32 s later (sippy's godead timer), maybe after close():
    that must not raise on the sippy thread (sippy's own shutdown() drops the tables)."""
    endpoint = SipEndpoint("127.0.0.1", 0)
    endpoint.open()
    tm = endpoint.global_config["_sip_tm"]
    ua = object()
    endpoint.loop.call_sync(tm.regConsumer, ua, "late-call@127.0.0.1")
    endpoint.close()
    endpoint.loop.call_sync(tm.unregConsumer, ua, "late-call@127.0.0.1")
    assert tm.req_consumers == {}
