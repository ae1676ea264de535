"""What each of ``vestnik serve --workers N``'s processes is given: its own SIP port, slice of
the RTP range, dialer id and edge ports, derived from the one configuration.

Worker ``i`` (0-based) of ``n``: ``[sip] port + i`` (0 stays 0: any free port); the ``i``-th of
``n`` equal, even-aligned slices of ``[rtp] port_min..port_max``; dialer id ``<[dialer] id>-<i>``
when an id is set, else the default ``<hostname>:<sip port>`` (stable across restarts, so a
restarted worker settles its previous run's calls at once); ``[edge] tcp_port``/``tls_port``
``+ i`` when fixed (0 stays 0).
"""

from __future__ import annotations

import copy
import os

from vestnik.config.checks import rtp_port_count
from vestnik.config.settings import Config, ConfigError


def worker_count(requested: int) -> int:
    """``0`` means one per core."""
    return requested if requested > 0 else max(1, os.cpu_count() or 1)


def check_workers(config: Config, count: int) -> None:
    """Refuse a worker count the configuration cannot give every worker its own ports."""
    if count <= 1:
        return
    if config.database_url.startswith("sqlite"):
        raise ConfigError(
            f"{count} workers need PostgreSQL ([database] url, VESTNIK_DATABASE_URL): the "
            "workers share one database, and on SQLite every write of every worker would wait "
            "for the one writer lock; use PostgreSQL or run one process (workers = 1)"
        )
    for name, port in (
        ("sip.port", config.sip.port),
        ("edge.tcp_port", config.edge.tcp_port),
        ("edge.tls_port", config.edge.tls_port),
    ):
        if port and port + count - 1 > 65535:
            raise ConfigError(f"{name} {port} + {count - 1} (one port per worker) is above 65535")
    per_worker = rtp_port_count(config.rtp) // count
    if per_worker < 1:
        raise ConfigError(
            f"rtp.port_min..rtp.port_max ({config.rtp.port_min}..{config.rtp.port_max}) has "
            f"{rtp_port_count(config.rtp)} even ports, fewer than the {count} workers (each needs "
            "its own slice)"
        )


def worker_config(config: Config, index: int, count: int) -> Config:
    """A copy of ``config`` for worker ``index`` of ``count`` (see the module docstring)."""
    worker = copy.deepcopy(config)
    worker.server.workers = 1
    if config.sip.port:
        worker.sip.port = config.sip.port + index
    per_worker = rtp_port_count(config.rtp) // count
    first = config.rtp.port_min + config.rtp.port_min % 2 + 2 * per_worker * index
    worker.rtp.port_min = first
    # The odd port above the slice's last even port is its RTCP port: it stays in the slice.
    worker.rtp.port_max = min(first + 2 * per_worker - 1, config.rtp.port_max)
    if config.dialer.id:
        worker.dialer.id = f"{config.dialer.id}-{index}"
    if config.edge.tcp_port:
        worker.edge.tcp_port = config.edge.tcp_port + index
    if config.edge.tls_port:
        worker.edge.tls_port = config.edge.tls_port + index
    return worker
