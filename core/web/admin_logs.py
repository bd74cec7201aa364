"""应用维护 → 日志分析: search access, system and audit logs together; flag
suspicious patterns, each linking to the search that shows the rows behind it.

The flags cover the chosen time range (default: the last 7 days); the search
shows the newest rows that match the filters (at most ``limit``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..accesslog import log_files
from ..errors import ValidationFailed
from ..loganalysis import LogFilter, analyse, search
from .admin_audit import action_label
from .openapi import api_doc
from .pages import wants_fragment
from .render import render
from .routing import pydantic_fields, requires

VIEW = "core.logs.view"
DEFAULT_DAYS = 7


class LogRowOut(BaseModel):
    source: str
    at: dt.datetime
    user: str
    client: str
    what: str
    status: str
    ok: bool


class LogFlagOut(BaseModel):
    kind: str
    subject: str
    who: str
    note: str
    count: int
    start: dt.datetime
    end: dt.datetime
    filter: dict[str, str]


class LogsOut(BaseModel):
    items: list[LogRowOut]
    flags: list[LogFlagOut]


def parse_filter(request: Request) -> LogFilter:
    try:
        f = LogFilter.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise ValidationFailed("筛选条件有误", "invalid filters", fields=pydantic_fields(exc)) from None
    if f.since and f.until and f.until <= f.since:
        zh, en = "截止时间必须晚于起始时间", "the end must be after the start"
        raise ValidationFailed(zh, en, fields={"until": {"message": zh, "message_en": en}})
    return f


def _range(ctx: Any, f: LogFilter) -> tuple[dt.datetime, dt.datetime]:
    since, until = f.bounds(ZoneInfo(ctx.deployment.timezone))
    until = until or dt.datetime.now(dt.UTC)
    return since or until - dt.timedelta(days=DEFAULT_DAYS), until


@requires(VIEW)
def logs_page(request: Request) -> Response:
    ctx = request.scope["ccms"]
    ctx.require(request.scope.get("user"), VIEW, None)  # platform-wide figures: a grant at the root org only
    errors: dict[str, Any] = {}
    try:
        f = parse_filter(request)
    except ValidationFailed as exc:
        errors = dict(exc.fields or {})
        f = LogFilter()
    since, until = _range(ctx, f)
    rows = [] if errors else search(ctx, f)
    for r in rows:
        if r.source == "audit":
            r.detail["label"] = action_label(ctx, r.detail["action"])
    flags = [] if errors else analyse(ctx, since, until)
    tz = ZoneInfo(ctx.deployment.timezone)
    data = {
        "f": f, "errors": errors, "rows": rows, "flags": [{"f": fl, "url": "/admin/logs?" + urlencode(fl.link)}
                                                          for fl in flags],
        "since": since.astimezone(tz), "until": until.astimezone(tz), "cfg": ctx.deployment.logging,
        "files": {k: bool(log_files(ctx.deployment, k)) for k in ("access", "system")},
        "breadcrumbs": [(ctx.gettext("logs.title"), None)],
    }
    if wants_fragment(request, "log-results"):
        return render(request, "admin/logs_results.html", data)
    return render(request, "admin/logs.html", data, status_code=422 if errors else 200)


@requires(VIEW)
def api_logs(request: Request) -> Response:
    ctx = request.scope["ccms"]
    ctx.require(request.scope.get("user"), VIEW, None)  # platform-wide figures: a grant at the root org only
    f = parse_filter(request)
    since, until = _range(ctx, f)
    rows = search(ctx, f)
    flags = analyse(ctx, since, until)
    return JSONResponse({
        "items": [{"source": r.source, "at": r.at.isoformat(), "user": r.user, "client": r.client, "what": r.what,
                   "status": r.status, "ok": r.ok} for r in rows],
        "flags": [{"kind": fl.kind, "subject": fl.subject, "who": fl.who, "note": fl.note, "count": fl.count,
                   "start": fl.start.isoformat(), "end": fl.end.isoformat(), "filter": fl.link} for fl in flags]})


routes = [
    Route("/admin/logs", logs_page, name="admin-logs"),
    Route("/api/logs", api_logs, methods=["GET"], name="api-logs"),
]

api_docs = [
    api_doc("/api/logs", "get", "搜索访问、系统与审计日志并标出可疑模式 / search the logs and flag suspicious patterns",
            permission=VIEW, response=LogsOut,
            query={"source": "access | system | audit（空：全部 / empty: all）",
                   "since": "起始时间（本地）YYYY-MM-DDTHH:MM / start (local time)",
                   "until": "截止时间（本地）/ end (local time)", "user": "用户名或ID / user name or id",
                   "client": "客户端地址 / client address", "status": "HTTP 状态（访问日志）/ HTTP status",
                   "action": "审计操作 / audit action", "q": "文本 / text", "limit": "条数（≤1000）/ rows (≤1000)"}),
]
