"""Refusals and exports are audited: every 403 on a screen or an API
(aggregated), and every file handed out as an attachment (an export).

:class:`AccessAuditMiddleware` (outermost) watches each response; on a 403 it
records who (user or anonymous, client address), what (the permission that
``ctx.require`` refused, else the refusal's error code) and where (method and
path, which names the object). The first refusal of a (person, address,
permission) in a one-minute window is written at once with ``count`` 1; later
ones in the same window only count, and one summary entry carries their
number when the window closes (timer, next refusal, or shutdown). So a scan of
thousands of forbidden URLs writes two entries per minute per source, and the
``count`` values of the entries add up to the refusals. The log stays
insert-only: counters live in memory, one aggregator per process.

Exports: a successful response with ``Content-Disposition: attachment``
(CSV, XLSX, JSON, BPMN, GeoJSON … from core or any plugin) is written as one
``export`` entry (who, path and query, file name, bytes) unless the endpoint
audited its own export (``audit.record`` with an ``…export`` action, e.g.
the audit log's export with its row count). Attachment downloads
(``/attachments/…``) are reads of one uploaded file, not exports.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from sqlalchemy import insert
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import audit
from .audit import note  # noqa: F401  (ctx.require and the error renderer call audit_refusals.note)
from .db import utcnow
from .models import AuditLog

log = logging.getLogger("ccms.audit")

WINDOW_SECONDS = 60.0
MAX_KEYS = 10_000  # beyond this many open windows, refusals fold into one catch-all window
MAX_PATHS = 10
NOT_EXPORTS = ("/attachments/", "/static/")
DENIED = "permission denied: "
ACTION = "access_denied"

def _filename(disposition: str) -> str:
    """The file name of a ``Content-Disposition`` header (plain or RFC 5987 form)."""

    for part in disposition.split(";"):
        k, _, v = part.strip().partition("=")
        if k.lower() == "filename*" and "''" in v:
            return unquote(v.split("''", 1)[1])[:200]
    for part in disposition.split(";"):
        k, _, v = part.strip().partition("=")
        if k.lower() == "filename":
            return unquote(v.strip('"'))[:200]
    return ""


@dataclass
class _Window:
    start: float
    first_at: dt.datetime
    actor: audit.Actor
    permission: str
    label: str
    count: int = 0  # refusals after the first, not yet written
    paths: list[str] = field(default_factory=list)


class RefusalLog:
    """Per-process aggregator of refusals, writing to the audit log."""

    def __init__(self, ctx: Any, *, window: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.ctx, self.window, self.clock = ctx, window, clock
        self._open: dict[tuple[Any, ...], _Window] = {}
        self._lock = threading.Lock()

    def _label(self, permission: str, details: dict[str, Any]) -> str:
        """What was refused, in Chinese: the permission's name, else the refusal's own message."""
        info = self.ctx.permissions.get(permission)
        if info:
            return f"没有“{self.ctx.catalog.localize(info['name'], 'zh-CN')}”权限（{permission}）"
        if details.get("reason_zh"):
            return f"{details['reason_zh']}（{permission}）"
        return f"拒绝（{permission}）"

    def refused(self, actor: audit.Actor, permission: str, method: str, path: str,
                details: dict[str, Any] | None = None) -> bool:
        """Count one refusal; returns True when it opened a window (and was written)."""
        now = self.clock()
        key: tuple[Any, ...] = (actor.id, actor.name if actor.id is None else "", actor.client_ip, permission)
        rows: list[dict[str, Any]] = []
        opened = False
        with self._lock:
            rows += self._due(now)
            if key not in self._open and len(self._open) >= MAX_KEYS:
                key, actor, permission = ("*",), audit.Actor(None, "*", "*"), "*"
            w = self._open.get(key)
            if w is None:
                label = self._label(permission, details or {})
                self._open[key] = _Window(now, utcnow(), actor, permission, label)
                opened = True
                after = {"permission": permission, "method": method, "path": path[:300], "count": 1,
                         **{k: v for k, v in (details or {}).items() if k in ("org_id", "code", "reason")}}
                rows.append(audit.entry(actor, ACTION, "permission", permission, after=after, success=False,
                                        summary=f"拒绝访问：{label}，{method} {path}"))
            else:
                w.count += 1
                if len(w.paths) < MAX_PATHS and path not in w.paths:
                    w.paths.append(path[:300])
        self._write(rows)
        return opened

    def _due(self, now: float, force: bool = False) -> list[dict[str, Any]]:
        rows = []
        for key, w in list(self._open.items()):
            if force or now - w.start >= self.window:
                del self._open[key]
                if w.count:
                    rows.append(audit.entry(
                        w.actor, ACTION, "permission", w.permission, success=False,
                        after={"permission": w.permission, "count": w.count, "window_start": w.first_at.isoformat(),
                               "window_seconds": self.window, "paths": w.paths},
                        summary=f"同一来源 {int(self.window)} 秒内又被拒绝 {w.count} 次：{w.label}"))
        return rows

    def flush(self, force: bool = False) -> int:
        """Write the summaries of closed windows (all open ones with ``force``)."""
        with self._lock:
            rows = self._due(self.clock(), force)
        self._write(rows)
        return len(rows)

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        try:
            with self.ctx.db.session() as s:
                s.execute(insert(AuditLog.__table__), rows)
                for e in rows:
                    audit.announce(s, e)
        except Exception:  # auditing a refusal must never turn the 403 into a 500
            log.exception("writing refusal audit entries failed")


class AccessAuditMiddleware:
    """Outermost middleware: audits every 403 (through :class:`RefusalLog`) and every export."""

    def __init__(self, app: ASGIApp, ctx: Any) -> None:
        self.app, self.ctx = app, ctx
        if getattr(ctx, "refusals", None) is None:
            ctx.refusals = RefusalLog(ctx)
        self.refusals: RefusalLog = ctx.refusals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await self.app(scope, self._on_shutdown(receive), send)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status, size, filename = 0, 0, None

        async def send_wrapper(message: Message) -> None:
            nonlocal status, size, filename
            if message["type"] == "http.response.start":
                status = message["status"]
                for k, v in message.get("headers", ()):
                    if k.lower() == b"content-disposition" and v.lower().startswith(b"attachment"):
                        filename = _filename(v.decode("latin-1"))
            elif message["type"] == "http.response.body" and filename is not None:
                size += len(message.get("body", b""))
            await send(message)

        details: dict[str, Any] = {}
        token = audit.refusal_details.set(details)
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            audit.refusal_details.reset(token)
        if status == 403:
            await self._record(scope, details)
        elif filename is not None and 200 <= status < 300 and not details.get("export_audited") \
                and not scope["path"].startswith(NOT_EXPORTS):
            await run_in_threadpool(self._export, scope, filename, size)

    def _export(self, scope: Scope, filename: str, size: int) -> None:
        actor = audit.actor_of_scope(scope)
        query = scope.get("query_string", b"").decode("latin-1")[:500]
        e = audit.entry(actor, "export", "download", scope["path"], summary=f"导出文件 {filename}（{size} 字节）",
                        after={"path": scope["path"][:300], "query": query, "file": filename, "bytes": size})
        self.refusals._write([e])

    async def _record(self, scope: Scope, details: dict[str, Any]) -> None:
        actor = audit.actor_of_scope(scope)
        permission = details.get("permission")
        reason = str(details.get("reason", ""))
        if not permission and reason.startswith(DENIED):  # Forbidden raised with the permission in its text
            permission = reason[len(DENIED):].strip()
        permission = str(permission or details.get("code") or "forbidden")[:64]
        opened = await run_in_threadpool(self.refusals.refused, actor, permission, scope["method"], scope["path"],
                                         details)
        if opened:  # close this window on time even if no further request comes
            loop = asyncio.get_running_loop()
            loop.call_later(self.refusals.window + 0.5, lambda: loop.run_in_executor(None, self.refusals.flush))

    def _on_shutdown(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await run_in_threadpool(self.refusals.flush, True)
            return message
        return wrapped
