"""Structured JSON logs: one line per request (access log) and the system log.

Configured per deployment in ``[logging]`` (a file path relative to the
deployment folder, ``"stdout"``, or ``""`` for off; rotation by size with
``logging.handlers.RotatingFileHandler``). The request thread only puts a
small dict on a queue; a :class:`logging.handlers.QueueListener` thread
formats and writes it, so file I/O never delays a response.

:func:`read_lines` reads those files back (newest first) for 日志分析.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import queue
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Deployment

SYSTEM_LOGGER = "ccms"


def iso(ts: float) -> str:
    """UTC time with milliseconds, e.g. ``2026-12-07T08:15:02.123Z``."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class JsonFormatter(logging.Formatter):
    """An access record (``record.ccms_access``) as it is; any other record as
    ``{time, type: "system", level, logger, msg[, exc]}``."""

    def format(self, record: logging.LogRecord) -> str:
        data = getattr(record, "ccms_access", None)
        if data is None:
            data = {"time": iso(record.created), "type": "system", "level": record.levelname,
                    "logger": record.name, "msg": record.getMessage()}
            if record.exc_info:
                data["exc"] = self.formatException(record.exc_info)
            elif record.exc_text:
                data["exc"] = record.exc_text
        return json.dumps(data, ensure_ascii=False, default=str)


class _Listener(logging.handlers.QueueListener):
    """Turns the plain dicts of the access log into records, off the request thread."""

    def prepare(self, record: Any) -> logging.LogRecord:
        if isinstance(record, dict):
            rec = logging.makeLogRecord({"name": "ccms.access", "levelno": logging.INFO, "levelname": "INFO",
                                         "msg": "access"})
            rec.ccms_access = {"time": iso(record.pop("ts")), "type": "access", **record}
            return rec
        return record


class _SystemQueueHandler(logging.handlers.QueueHandler):
    """Keeps the message and the traceback apart for the JSON formatter."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        rec = logging.makeLogRecord(record.__dict__)
        rec.msg = record.getMessage()
        rec.args = None
        if record.exc_info:
            rec.exc_text = logging.Formatter().formatException(record.exc_info)
        rec.exc_info = None
        return rec


def _handler(dep: Deployment, target: str) -> logging.Handler:
    if target == "stdout":
        h: logging.Handler = logging.StreamHandler(sys.stdout)
    else:
        path = dep.resolve(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        h = logging.handlers.RotatingFileHandler(path, maxBytes=dep.logging.max_mb * 1024 * 1024,
                                                 backupCount=dep.logging.backups, encoding="utf-8")
    h.setFormatter(JsonFormatter())
    return h


class LogPipes:
    """The access and system log of one deployment; :meth:`start` at app start-up."""

    def __init__(self, deployment: Deployment) -> None:
        self.dep = deployment
        self._access_q: queue.SimpleQueue[Any] | None = None
        self._listeners: list[logging.handlers.QueueListener] = []
        self._system_handler: logging.Handler | None = None

    def start(self) -> None:
        settings = self.dep.logging
        if settings.access and self._access_q is None:
            q: queue.SimpleQueue[Any] = queue.SimpleQueue()
            listener = _Listener(q, _handler(self.dep, settings.access))
            listener.start()
            self._listeners.append(listener)
            self._access_q = q
        if settings.system and self._system_handler is None:
            sq: queue.SimpleQueue[Any] = queue.SimpleQueue()
            listener = logging.handlers.QueueListener(sq, _handler(self.dep, settings.system))
            listener.start()
            self._listeners.append(listener)
            self._system_handler = _SystemQueueHandler(sq)
            self._system_handler.setLevel(settings.level)
            root = logging.getLogger(SYSTEM_LOGGER)
            root.addHandler(self._system_handler)
            if root.level == logging.NOTSET or root.level > logging.getLevelName(settings.level):
                root.setLevel(settings.level)

    def stop(self) -> None:
        if self._system_handler is not None:
            logging.getLogger(SYSTEM_LOGGER).removeHandler(self._system_handler)
            self._system_handler = None
        self._access_q = None
        for listener in self._listeners:
            listener.stop()  # drains what is queued
            for h in listener.handlers:
                h.close()
        self._listeners = []

    @property
    def access_on(self) -> bool:
        return self._access_q is not None

    def access(self, fields: dict[str, Any]) -> None:
        """Queue one access line (``fields`` must hold ``ts``, a Unix time)."""
        q = self._access_q
        if q is not None:
            q.put_nowait(fields)


# --- reading back ---------------------------------------------------------------------

def log_files(dep: Deployment, kind: str) -> list[Path]:
    """The current file of ``kind`` (``access``/``system``) then its rotated ones, newest first."""
    target = getattr(dep.logging, kind)
    if not target or target == "stdout":
        return []
    path = dep.resolve(target)
    files = [path] + [path.with_name(f"{path.name}.{i}") for i in range(1, dep.logging.backups + 1)]
    return [f for f in files if f.is_file()]


def read_lines(dep: Deployment, kind: str, *, contains: str = "") -> Iterator[dict[str, Any]]:
    """Parsed lines of the ``kind`` log, newest first, at most ``search_max_mb``
    read; lines that are not JSON objects are skipped. ``contains`` filters the
    raw line before parsing (cheap text search)."""
    budget = dep.logging.search_max_mb * 1024 * 1024
    needle = contains.lower()
    for f in log_files(dep, kind):
        if budget <= 0:
            return
        try:
            size = f.stat().st_size
            with f.open("rb") as fh:
                if size > budget:
                    fh.seek(size - budget)
                    fh.readline()  # skip the cut line
                data = fh.read(budget)
        except OSError:
            continue
        budget -= len(data)
        for raw in reversed(data.decode("utf-8", "replace").splitlines()):
            if needle and needle not in raw.lower():
                continue
            try:
                item = json.loads(raw)
            except ValueError:
                continue
            if isinstance(item, dict):
                yield item
