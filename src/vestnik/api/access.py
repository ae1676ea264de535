"""The access log: one line per API request (Call API, Data API, media upload).

Logger ``vestnik.access``, level INFO. The message is for people::

    POST /v4.0 start.informer_call account=12 client=192.0.2.7 ok 3.4 ms

and the same facts are record attributes for structured output: ``method`` (a method of the
API, or None when the request named none of them), ``account_id`` (None before
authentication), ``client`` (``vestnik.api.client.client_address``), ``result`` (``ok`` or
the error mnemonic), ``duration_ms``, ``path``, ``status`` (HTTP).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

log = logging.getLogger("vestnik.access")

OK = "ok"


@dataclass
class Exchange:
    """One API request as the access log tells it; the handlers fill it in as they learn."""

    path: str
    client: str | None
    method: str | None = None
    account_id: int | None = None
    started: float = field(default_factory=time.perf_counter)
    verb: str = "POST"  # the HTTP method (GET: a recording's download)

    def elapsed(self) -> float:
        """Seconds since the request arrived."""
        return time.perf_counter() - self.started

    def log(self, status: int, error: str | None) -> None:
        """Write the line: ``error`` is the reply's mnemonic, None for a success."""
        if not log.isEnabledFor(logging.INFO):
            return
        result = error or OK
        duration_ms = round(self.elapsed() * 1000, 1)
        account = "-" if self.account_id is None else self.account_id
        log.info(
            "%s %s %s account=%s client=%s %s %.1f ms",
            self.verb, self.path, self.method or "-", account, self.client or "-", result,
            duration_ms,
            extra={
                "method": self.method, "account_id": self.account_id, "client": self.client,
                "result": result, "duration_ms": duration_ms, "path": self.path,
                "status": status,
            },
        )  # fmt: skip
