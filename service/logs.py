"""Logging: the request id lives in a context variable and is stamped on every record.

Production logs are one JSON object per line; development logs are plain text with the same fields.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "requestId": getattr(record, "request_id", request_id_var.get()),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRS and name != "request_id":
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def configure_logging(json_lines: bool, level: str = "INFO") -> dict[str, Any]:
    """Returns a logging dictConfig for Sanic (which applies it in every worker)."""
    formatter = {"()": JsonFormatter} if json_lines else {"format": TEXT_FORMAT}
    handler = {
        "class": "logging.StreamHandler",
        "stream": sys.stdout,
        "formatter": "default",
        "filters": ["request_id"],
    }
    quiet = {"level": level, "handlers": ["console"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {"console": handler},
        "root": {"level": level, "handlers": ["console"]},
        "loggers": {
            "sanic.root": quiet,
            "sanic.error": quiet,
            "sanic.server": quiet,
            "sanic.access": {**quiet, "level": "WARNING"},
            "service": quiet,
            "tortoise": {**quiet, "level": "WARNING"},
            "aerich": quiet,
        },
    }
