"""One log format for every record of ``vestnik serve``, ours and the libraries'."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port
from tests.support.serve import ServeProcess
from vestnik.config import LogConfig
from vestnik.logs import QUIET_LOGGERS, JsonFormatter, configure_logging

TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: \S"
)
NOISE = ("Started server process", "Waiting for application", "Context impl", "Will assume")


def _serve_twice(tmp_path: Path, log_format: str) -> list[str]:
    """Start an API-only service twice on a fresh database, one request each; the log lines."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VESTNIK_")}
    env.update(
        VESTNIK_DATA_DIR=str(tmp_path / "data"),
        VESTNIK_DIALER_ENABLED="false",
        VESTNIK_SERVER_PORT=str(port),
        VESTNIK_LOG_FORMAT=log_format,
    )
    log = tmp_path / "serve.log"
    for _ in range(2):
        service = ServeProcess(env, log, port)
        try:
            service.wait_ready()
            httpx.post(service.url + "/v4.0", json={"jsonrpc": "2.0", "id": 1, "method": "x"})
            # A malformed upload: python-multipart would log a warning of its own for it.
            bad = {"content-type": "multipart/form-data; boundary=x"}
            httpx.post(service.url + "/v4.0/media", content=b"{not multipart}", headers=bad)
            assert service.terminate() == 0
        finally:
            service.cleanup()
    return log.read_text().splitlines()


def test_text_log_is_one_format_without_library_noise(tmp_path: Path) -> None:
    lines = _serve_twice(tmp_path, "text")
    assert lines and all(TEXT_LINE.match(line) for line in lines), lines
    assert not any(noise in line for line in lines for noise in NOISE), lines
    migrated = [line for line in lines if "database schema migrated from empty to" in line]
    assert len(migrated) == 1  # the first start only: nothing to say at the second
    assert sum("vestnik serving on http://127.0.0.1" in line for line in lines) == 2
    access = [line for line in lines if " INFO vestnik.access: " in line]
    assert len(access) == 4 and all("POST /v4.0" in line for line in access), access
    assert not any("WARNING" in line for line in lines), lines


def test_json_log_is_one_object_per_line(tmp_path: Path) -> None:
    lines = _serve_twice(tmp_path, "json")
    records = [json.loads(line) for line in lines]  # every line parses
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert not any(noise in r["message"] for r in records for noise in NOISE)
    assert {r["logger"] for r in records} >= {"vestnik.service", "vestnik.store"}
    access = [r for r in records if r["logger"] == "vestnik.access"]
    assert len(access) == 4  # one per request, with its facts as fields
    assert all(r["result"] == "invalid_request" and r["duration_ms"] >= 0 for r in access)


def test_json_formatter_keeps_extras_and_the_traceback() -> None:
    logger = logging.getLogger("vestnik.test")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logger.makeRecord(
            "vestnik.test", logging.ERROR, __file__, 1, "call %d failed", (7,),
            exc_info=sys.exc_info(), extra={"session_id": 7, "account": "acme"},
        )  # fmt: skip
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "call 7 failed" and entry["level"] == "error"
    assert (entry["session_id"], entry["account"]) == (7, "acme")
    assert "ValueError: boom" in entry["exception"]
    assert entry["time"].endswith("+00:00")


@pytest.mark.parametrize("level", ["warning", "info"])
def test_quiet_libraries_follow_a_stricter_level(level: str) -> None:
    loggers = [logging.getLogger(name) for name in ("", *QUIET_LOGGERS)]
    saved = [(lg, lg.handlers[:], lg.level) for lg in loggers]
    try:
        configure_logging(LogConfig(level=level))
        assert logging.getLogger("uvicorn.error").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("vestnik").getEffectiveLevel() == getattr(logging, level.upper())
    finally:
        for lg, handlers, lvl in saved:
            lg.handlers[:] = handlers
            lg.setLevel(lvl)
