"""Log lines as one JSON object each (``DIFYCHAT_LOG_FORMAT=json``) or as text for a terminal.

Both formats add the request's context (``request_id``, and ``app_id``/``task_id`` once known)
from ``context``. Nothing here logs request headers or bodies: credentials never reach a line.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Literal

from difychat.server.observability import context

LogFormat = Literal["json", "text"]


def _context_fields() -> dict[str, str]:
    found = context.current.get()
    if found is None:
        return {}
    fields: dict[str, str] = {}
    if found.request_id is not None:
        fields["request_id"] = found.request_id
    if found.app_id is not None:
        fields["app_id"] = found.app_id
    if found.task_id is not None:
        fields["task_id"] = found.task_id
    return fields


def _iso_time(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id"?, "app_id"?, "task_id"?, "exception"?}``."""

    def __init__(self, **_: Any) -> None:
        # Extra keys (uvicorn's ``use_colors``) are accepted and ignored.
        super().__init__()

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context_fields(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``LEVEL:    logger: message [request_id=... app_id=... task_id=...]``, like uvicorn's lines."""

    def __init__(self, **_: Any) -> None:
        super().__init__()

    def format(self, record: logging.LogRecord) -> str:
        head = f"{record.levelname + ':':<9} {record.name}: {record.getMessage()}"
        fields = _context_fields()
        if fields:
            head += " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]"
        if record.exc_info:
            head += "\n" + self.formatException(record.exc_info)
        return head


def logging_config(log_format: LogFormat, level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document for ``difychat serve`` (uvicorn applies it in
    every worker). JSON: every logger's lines are JSON, uvicorn's included. Text: uvicorn keeps
    its own look; difychat's lines gain their request context."""
    level = level.upper()
    here = f"{__name__}."
    if log_format == "json":
        formatters: dict[str, Any] = {
            "default": {"()": here + "JsonFormatter"},
            "access": {"()": here + "JsonFormatter"},
            "difychat": {"()": here + "JsonFormatter"},
        }
    else:
        formatters = {
            "default": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s"},
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
            "difychat": {"()": here + "TextFormatter"},
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "handlers": {
            "default": {
                "formatter": "default",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },
            "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
            "difychat": {
                "formatter": "difychat",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
            "difychat": {"handlers": ["difychat"], "level": level, "propagate": False},
        },
    }
