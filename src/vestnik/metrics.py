"""Prometheus metrics of this process: counters and histograms, and the RTP pacer's totals.

API requests, webhook outcomes and lag, time to answer, answer to first audio, SIP final
responses: kept in this process and updated by the code that sees the event, through the
``observe_*`` functions below; the pacer's totals are read at scrape time from the pacers
registered with :func:`register_pacer`. Each process exposes its own at ``GET /metrics``
(:mod:`vestnik.api.metrics`, which adds the gauges counted from the database); a worker of
``serve --workers`` exposes every worker's (:func:`share_with_workers`).

``docs/metrics.md`` lists every metric.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.utils import INF

SUCCESS = "success"  # the mnemonic label of a request that succeeded

REGISTRY = CollectorRegistry(auto_describe=True)

_CALL_BUCKETS = (0.5, 1, 2, 3, 5, 8, 13, 20, 30, 45, 60, 90, 120, INF)
_FAST_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, INF)
_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, INF)

API_REQUESTS = Counter(
    "vestnik_api_requests",
    "JSON-RPC requests answered, by method and result mnemonic ('success' when no error).",
    ["method", "mnemonic"],
    registry=REGISTRY,
)
API_REQUEST_SECONDS = Histogram(
    "vestnik_api_request_duration_seconds",
    "JSON-RPC requests answered, by method: from the request's arrival to its reply ready.",
    ["method"],
    buckets=_FAST_BUCKETS,
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "vestnik_webhook_deliveries",
    "Webhook delivery attempts by outcome: delivered, failed (will retry), parked.",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_LAG = Histogram(
    "vestnik_webhook_delivery_lag_seconds",
    "From the event being recorded to the endpoint's 2xx answer.",
    buckets=_LAG_BUCKETS,
    registry=REGISTRY,
)
TIME_TO_ANSWER = Histogram(
    "vestnik_call_time_to_answer_seconds",
    "From sending the INVITE to the callee's 200 OK.",
    buckets=_CALL_BUCKETS,
    registry=REGISTRY,
)
ANSWER_TO_FIRST_AUDIO = Histogram(
    "vestnik_call_answer_to_first_audio_seconds",
    "From the 200 OK to the first RTP packet of the call (DTMF or message).",
    buckets=_FAST_BUCKETS,
    registry=REGISTRY,
)

SIP_FINAL_RESPONSES = Counter(
    "vestnik_sip_final_responses",
    "INVITEs sent, by trunk and the trunk's final SIP response code ('none': no final "
    "response before the INVITE ended: no answer by dialing_timeout, release, no response "
    "(the next trunk was tried), transport error).",
    ["trunk", "code"],
    registry=REGISTRY,
)

SIP_INVITES = Counter(
    "vestnik_sip_invites",
    "INVITEs sent, by trunk (a call that fails over sends one to each trunk it tries).",
    ["trunk"],
    registry=REGISTRY,
)

_KNOWN_API_METHODS: set[str] = set()
# Unknown method names from clients are folded into one label (bounded cardinality).
_OTHER_METHOD = "other"
# A request refused before it named a method of ours (always its own label).
_NO_METHOD = "none"
# The methods the endpoints serve: always their own labels, whatever was counted before.
_API_METHODS: set[str] = {_NO_METHOD}


def register_api_methods(names: Iterable[str]) -> None:
    """Methods an endpoint serves (called when it is built)."""
    _API_METHODS.update(names)


_MAX_METHOD_LABELS = 64


def observe_api_request(
    method: str | None, mnemonic: str | None = None, seconds: float | None = None
) -> None:
    """Count one answered JSON-RPC request (``mnemonic`` None = success) and, given, the
    ``seconds`` it took.

    The endpoints' own methods (and ``none``: refused before naming one) have their own
    labels; any other name is counted as itself for the first few, then as ``other``, so the
    number of series stays bounded.
    """
    name = method or _NO_METHOD
    if name not in _API_METHODS and name not in _KNOWN_API_METHODS:
        if len(_KNOWN_API_METHODS) >= _MAX_METHOD_LABELS:
            name = _OTHER_METHOD
        else:
            _KNOWN_API_METHODS.add(name)
    API_REQUESTS.labels(name, mnemonic or SUCCESS).inc()
    if seconds is not None:
        API_REQUEST_SECONDS.labels(name).observe(max(0.0, seconds))


def observe_webhook_outcome(outcome: str, lag_seconds: float | None = None) -> None:
    WEBHOOK_DELIVERIES.labels(outcome).inc()
    if lag_seconds is not None:
        WEBHOOK_LAG.observe(max(0.0, lag_seconds))


def observe_sip_final_response(code: int | None, trunk: str) -> None:
    label = "none" if code is None else str(code) if 100 <= code <= 699 else "other"
    SIP_FINAL_RESPONSES.labels(trunk, label).inc()


def observe_invite(trunk: str) -> None:
    SIP_INVITES.labels(trunk).inc()


SPEECH_OUTCOMES = ("recognised", "saturated", "timeout", "failed")
SPEECH_RECOGNITIONS = Counter(
    "vestnik_speech_recognitions",
    "Spoken replies handed to the recogniser, by outcome: recognised (text, maybe empty), "
    "saturated (no free worker or queue place: not recognised), timeout, failed.",
    ["outcome"],
    registry=REGISTRY,
)


for _outcome in SPEECH_OUTCOMES:  # every outcome is shown from the start, at 0
    SPEECH_RECOGNITIONS.labels(_outcome)


def observe_speech_recognition(outcome: str) -> None:
    SPEECH_RECOGNITIONS.labels(outcome).inc()


def observe_time_to_answer(seconds: float) -> None:
    TIME_TO_ANSWER.observe(max(0.0, seconds))


def observe_answer_to_first_audio(seconds: float) -> None:
    ANSWER_TO_FIRST_AUDIO.observe(max(0.0, seconds))


# -- RTP pacer ---------------------------------------------------------------------------

# Anything with the pacer's running totals: an ``RtpPacer`` (its ``.stats``), a ``PacerStats``,
# a mapping, or a callable returning one of those.
PacerSource = Any
_pacer_sources: list[PacerSource] = []
_PACER_COUNTERS = ("packets_sent", "late_ticks", "ticks", "send_errors")


def register_pacer(source: PacerSource) -> None:
    """Report a pacer's totals at each scrape (several pacers are summed).

    The telephony adapter calls ``metrics.register_pacer(pacer)`` once its ``RtpPacer`` runs
    (and :func:`unregister_pacer` when it closes).
    """
    _pacer_sources.append(source)


def unregister_pacer(source: PacerSource) -> None:
    if source in _pacer_sources:
        _pacer_sources.remove(source)


def _pacer_value(source: PacerSource, key: str) -> float:
    stats = source() if callable(source) else source
    stats = getattr(stats, "stats", stats)
    value = stats.get(key, 0) if isinstance(stats, Mapping) else getattr(stats, key, 0)
    return float(value or 0)


class _PacerCollector(Collector):
    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        totals = dict.fromkeys(_PACER_COUNTERS, 0.0)
        streams = 0.0
        for source in list(_pacer_sources):
            for key in _PACER_COUNTERS:
                totals[key] += _pacer_value(source, key)
            streams += _pacer_value(source, "active_streams")
        help_text = {
            "packets_sent": "RTP packets sent by the pacer.",
            "late_ticks": "Pacer ticks that started late (the 20 ms clock slipped).",
            "ticks": "Pacer ticks (one every 20 ms while streams are active).",
            "send_errors": "RTP packets the kernel refused to send.",
        }
        for key in _PACER_COUNTERS:
            yield CounterMetricFamily(f"vestnik_rtp_{key}", help_text[key], value=totals[key])
        yield GaugeMetricFamily(
            "vestnik_rtp_active_streams", "RTP streams being paced now.", value=streams
        )


REGISTRY.register(_PacerCollector())


# -- trunks ------------------------------------------------------------------------------

TRUNK_STATES = ("up", "down", "unknown")

TRUNK_STATE = Gauge(
    "vestnik_trunk_state",
    "1 for the trunk's state as this process's OPTIONS probes see it (up, down, or unknown: "
    "not probed yet or probes off), 0 for the other states.",
    ["trunk", "state"],
    registry=REGISTRY,
)
TRUNK_REGISTERED = Gauge(
    "vestnik_trunk_registered",
    "1 while this process is registered at the trunk, 0 while not (trunks with register = "
    "true only).",
    ["trunk"],
    registry=REGISTRY,
)


def observe_trunk(trunk: str, state: str, registered: bool | None) -> None:
    """A trunk's status now (the telephony calls this at start and on every change)."""
    for name in TRUNK_STATES:
        TRUNK_STATE.labels(trunk, name).set(1.0 if name == state else 0.0)
    if registered is not None:
        TRUNK_REGISTERED.labels(trunk).set(1.0 if registered else 0.0)


def process_metrics() -> bytes:
    """This process's metrics in the Prometheus text format; for a worker of ``serve
    --workers``, every worker's, each series labelled with its ``worker``."""
    if _shared is None:
        return generate_latest(REGISTRY)
    _shared.write()  # this worker's own numbers as of now
    return _shared.merged()


# -- serve --workers: every worker's numbers from any worker -----------------------------

SNAPSHOT_SECONDS = 1.0


class _SharedSnapshots:
    """Each worker writes its metrics to ``<folder>/worker-<i>.prom`` every second (a
    ``metrics-snapshot`` thread); whichever worker a scrape reaches reads them all, so the
    scrape sees every worker's series (at most a second old) with a ``worker`` label."""

    def __init__(self, folder: Path, index: int) -> None:
        self.folder = folder
        self.index = index
        self._lock = threading.Lock()

    def write(self) -> None:
        text = generate_latest(REGISTRY)
        with self._lock:  # the thread and a scrape: one writer at a time
            partial = self.folder / f".worker-{self.index}.prom"
            partial.write_bytes(text)
            os.replace(partial, self.folder / f"worker-{self.index}.prom")

    def run(self) -> None:
        while True:
            with contextlib.suppress(OSError):
                self.write()
            time.sleep(SNAPSHOT_SECONDS)

    def merged(self) -> bytes:
        families: dict[str, Metric] = {}
        for path in sorted(self.folder.glob("worker-*.prom")):
            worker = path.stem.removeprefix("worker-")
            for family in text_string_to_metric_families(path.read_text()):
                into = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                into.samples += [
                    sample._replace(labels={**sample.labels, "worker": worker})
                    for sample in family.samples
                ]
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(list(families.values())))
        return generate_latest(registry)


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


_shared: _SharedSnapshots | None = None


def share_with_workers(folder: Path, index: int) -> None:
    """Make this process worker ``index`` of ``serve --workers``, whose snapshots go to
    ``folder`` (the supervisor's, one per run): from now on :func:`process_metrics` gives
    every worker's numbers."""
    global _shared
    _shared = _SharedSnapshots(folder, index)
    threading.Thread(target=_shared.run, name="metrics-snapshot", daemon=True).start()
