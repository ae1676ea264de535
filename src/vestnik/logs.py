"""Logging for the service: one format for every record, ours and the libraries'.

``configure_logging(config.log)`` sends every record to standard error, as text (one readable
line) or JSON (one object per line, for log shippers). Libraries log through the same root
handler, so their lines look like ours; their start-up chatter (uvicorn's "Started server
process", alembic's "Context impl") is below the threshold. Fields passed with ``extra=``
(``method``, ``session_id`` …) appear as keys in JSON and are already part of the text message.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from vestnik.config import LogConfig

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries whose INFO lines repeat at every start and say nothing an operator needs.
QUIET_LOGGERS = ("uvicorn", "uvicorn.error", "alembic")
# Libraries that log a WARNING for each malformed client request: a hostile client could fill
# the log; the API already answers such a request with an error and one access-log line.
CLIENT_NOISE_LOGGERS = ("python_multipart",)
# What every LogRecord carries; anything else on a record came from ``extra=``.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(config: LogConfig) -> None:
    """Route every record to standard error in ``config.format`` at ``config.level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(config.format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for name in CLIENT_NOISE_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.ERROR, root.level))
