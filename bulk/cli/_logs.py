"""Logging for the ``bulk`` command: plain timestamped lines for people, JSON lines for machines.

Why not rich's handler: off a terminal it hard-wraps at 80 columns mid-sentence and drops timestamps,
which makes ``bulk submit … | tee run.log`` unreadable and ungreppable. A plain record here is one line,
however long: ``2026-12-06T07:49:30.123Z INFO bulk.fleet.worker: unit given back [action=worker.released
unit=12]``. ``--log-format json`` writes one object per record with every extra field (``action``
included), for log shippers.

Levels: the package's loggers (``bulk.*``) show warnings by default, info with ``-v``, debug with
``-vv``; a daemon (``bulk worker``) starts one step higher, since its log is its only output. The
progress lines of ``bulk submit`` off a terminal (:data:`PROGRESS`) always show at info.
Records go to the *current* ``sys.stderr`` at each write, so a live display that redirects stderr, or a
test capturing it, sees them.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

PROGRESS = "bulk.progress"  # the logger of `bulk submit`'s event lines
_MARK = "_bulk_cli_handler"  # the handler this module installed (replaced on every configure)
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def record_fields(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as ``extra=`` fields: plain values only, and a name a log record already has
    (``message``, ``name``, ``args``…) gets a trailing ``_`` instead of breaking the record."""
    return {(f"{k}_" if k in _STANDARD or k == "action" else k): v for k, v in data.items()
            if isinstance(v, str | int | float | bool) or v is None}


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller added with ``extra=`` (``action``, ``token_index``, …)."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


class PlainFormatter(logging.Formatter):
    """``TIMESTAMP LEVEL logger: message [key=value …]`` on one line (a traceback follows, indented).
    Progress lines leave their fields out: their message already says it, and JSON has them all."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line."""
        message = record.getMessage().replace("\n", " ")
        shown = {} if record.name == PROGRESS else extras(record)
        fields = " ".join(f"{k}={v}" for k, v in shown.items())
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {message}"
        if fields:
            line += f" [{fields}]"
        if record.exc_info:
            trace = self.formatException(record.exc_info).splitlines()
            line += "\n" + "\n".join("    " + part for part in trace)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts``, ``level``, ``logger``, ``message``, then every extra field."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        data: dict[str, Any] = {"ts": _timestamp(record), "level": record.levelname.lower(),
                                "logger": record.name, "message": record.getMessage(), **extras(record)}
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


class StderrHandler(logging.Handler):
    """Writes each record to whatever ``sys.stderr`` is at that moment."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write one formatted record and flush (a log read with ``tail -f`` is current)."""
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def level_for(verbosity: int, *, daemon: bool = False) -> int:
    """The ``bulk.*`` loggers' level: warning, info (-v), debug (-vv); a daemon one step lower."""
    steps = verbosity + (1 if daemon else 0)
    return logging.WARNING if steps <= 0 else logging.INFO if steps == 1 else logging.DEBUG


def configure_logging(verbosity: int = 0, log_format: str = "plain", *, daemon: bool = False) -> None:
    """Install the one handler on the ``bulk`` logger (again on every call: tests run many commands)."""
    package = logging.getLogger("bulk")
    for handler in [h for h in package.handlers if getattr(h, _MARK, False)]:
        package.removeHandler(handler)
    handler = StderrHandler()
    setattr(handler, _MARK, True)
    handler.setFormatter(JsonFormatter() if log_format == "json" else PlainFormatter())
    package.addHandler(handler)
    # a logging.config.dictConfig() run earlier in the process (a host application, a tool) disables
    # the loggers that existed then: ours must speak again
    for name in ["bulk", *[n for n in logging.Logger.manager.loggerDict if n.startswith("bulk.")]]:
        logging.getLogger(name).disabled = False
    level = level_for(verbosity, daemon=daemon)
    package.setLevel(level)
    logging.getLogger(PROGRESS).setLevel(min(level, logging.INFO))
