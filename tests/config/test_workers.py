"""What each worker of ``serve --workers N`` is given, and the counts that are refused."""

from __future__ import annotations

import os
import re

import pytest

from vestnik.config import Config, ConfigError
from vestnik.config.workers import check_workers, worker_config, worker_count

PG = "postgresql+psycopg://vestnik@127.0.0.1/vestnik"


def _config() -> Config:
    config = Config()
    config.database.url = PG
    return config


def test_each_worker_gets_its_own_ports_slice_and_id() -> None:
    config = _config()
    config.sip.port = 5060
    config.rtp.port_min, config.rtp.port_max = 20001, 20020  # even ports 20002..20020: 10
    config.dialer.id = "node1"
    config.edge.tcp_port, config.edge.tls_port = 5070, 0
    workers = [worker_config(config, i, 3) for i in range(3)]
    assert [w.sip.port for w in workers] == [5060, 5061, 5062]
    # 10 even ports, 3 each; the last even port (20020) is left over.
    assert [(w.rtp.port_min, w.rtp.port_max) for w in workers] == [
        (20002, 20007), (20008, 20013), (20014, 20019),
    ]  # fmt: skip
    assert [w.dialer.id for w in workers] == ["node1-0", "node1-1", "node1-2"]
    assert [(w.edge.tcp_port, w.edge.tls_port) for w in workers] == [
        (5070, 0),
        (5071, 0),
        (5072, 0),
    ]
    assert all(w.server.workers == 1 for w in workers)
    assert (config.sip.port, config.rtp.port_min, config.dialer.id) == (5060, 20001, "node1")


def test_defaults_stay_defaults() -> None:
    config = _config()
    config.sip.port = 0
    worker = worker_config(config, 1, 2)
    assert worker.sip.port == 0  # any free port
    assert worker.dialer.id == ""  # the default <hostname>:<sip port>, distinct per worker
    assert (worker.rtp.port_min, worker.rtp.port_max) == (30000, 39999)


def test_zero_means_one_per_core() -> None:
    assert worker_count(0) == (os.cpu_count() or 1)
    assert worker_count(3) == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: setattr(c.database, "url", ""), "2 workers need PostgreSQL"),
        (lambda c: setattr(c.sip, "port", 65535), "sip.port 65535 + 1 (one port per worker)"),
        (lambda c: setattr(c.edge, "tls_port", 65535), "edge.tls_port 65535 + 1"),
        (lambda c: setattr(c.rtp, "port_max", c.rtp.port_min), "fewer than the 2 workers"),
    ],
)
def test_refused(change: object, message: str) -> None:
    config = _config()
    assert callable(change)
    change(config)
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_workers(config, 2)
    check_workers(config, 1)  # one process: nothing to share
