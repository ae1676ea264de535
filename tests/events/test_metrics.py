"""The metrics module: counters fed by the code, the pacer's totals, the exposition."""

from __future__ import annotations

import socket
import time

from prometheus_client.parser import text_string_to_metric_families

from vestnik import metrics
from vestnik.telephony.rtp.g711 import PCMA
from vestnik.telephony.rtp.pacer.scheduler import RtpPacer


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    text = metrics.process_metrics().decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and (labels is None or s.labels == labels):
                return float(s.value)
    return 0.0


def test_api_requests_by_method_and_mnemonic() -> None:
    name = "vestnik_api_requests_total"
    before_ok = sample(name, {"method": "get.calls_report", "mnemonic": "success"})
    before_err = sample(name, {"method": "get.calls_report", "mnemonic": "limit_exceeded"})
    metrics.observe_api_request("get.calls_report")
    metrics.observe_api_request("get.calls_report")
    metrics.observe_api_request("get.calls_report", "limit_exceeded")
    assert sample(name, {"method": "get.calls_report", "mnemonic": "success"}) == before_ok + 2
    assert sample(name, {"method": "get.calls_report", "mnemonic": "limit_exceeded"}) == (
        before_err + 1
    )


def test_client_method_names_cannot_blow_up_label_count() -> None:
    for i in range(200):
        metrics.observe_api_request(f"junk.method_{i}", "method_not_found")
    text = metrics.process_metrics().decode()
    methods = {
        s.labels["method"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "vestnik_api_requests_total"
    }
    # The endpoints' own methods always have their labels; names from clients are capped.
    assert len({m for m in methods if m.startswith("junk.")}) <= 64
    assert "other" in methods


def test_webhook_outcomes_and_lag() -> None:
    before = sample("vestnik_webhook_deliveries_total", {"outcome": "parked"})
    count_before = sample("vestnik_webhook_delivery_lag_seconds_count")
    metrics.observe_webhook_outcome("parked")
    metrics.observe_webhook_outcome("delivered", lag_seconds=0.2)
    assert sample("vestnik_webhook_deliveries_total", {"outcome": "parked"}) == before + 1
    assert sample("vestnik_webhook_delivery_lag_seconds_count") == count_before + 1


def test_call_timing_histograms() -> None:
    before = sample("vestnik_call_time_to_answer_seconds_count")
    metrics.observe_time_to_answer(2.5)
    metrics.observe_answer_to_first_audio(0.03)
    assert sample("vestnik_call_time_to_answer_seconds_count") == before + 1
    assert sample("vestnik_call_answer_to_first_audio_seconds_bucket", {"le": "0.04"}) >= 1


def test_pacer_packets_reported_from_a_running_pacer() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.connect(receiver.getsockname())
    pacer = RtpPacer()
    pacer.start()
    metrics.register_pacer(pacer)
    try:
        stream = pacer.open_stream(sender, PCMA, None)
        stream.pause(0.2)  # 10 packets of silence
        stream.finish()
        deadline = time.monotonic() + 5
        while not stream.finished and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sample("vestnik_rtp_packets_sent_total") >= 10
        assert sample("vestnik_rtp_ticks_total") >= 10
    finally:
        metrics.unregister_pacer(pacer)
        pacer.close()
        sender.close()
        receiver.close()
