"""应用维护 → 审计日志: search the append-only audit log, expand entries, export them.

Filters: free text, action, object type, actor (exact user name), a date
range in the deployment's time zone (Asia/Shanghai: a day is a local day),
success or failure. The list is an htmx partial with paging; each row
expands (``<details>``, no script) to its before/after values.

Export (``core.audit.export``) streams the filtered rows as CSV (UTF-8 with a
BOM so Excel shows Chinese correctly) or XLSX (openpyxl, header row in
Chinese). The export is itself audited and is a snapshot: rows written after
the request (including its own audit entry) are not in the file. Cells that
a spreadsheet would run as a formula are prefixed with ``'``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterator
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import audit, audit_chain, tabular
from ..audit import actor_of
from ..errors import ValidationFailed
from ..flows.models import FlowInstance
from ..models import AuditLog, Org, Person, Role
from .openapi import api_doc
from .pages import paging, wants_fragment
from .render import render
from .routing import requires, validate

VIEW, EXPORT = "core.audit.view", "core.audit.export"
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit minus the header row
EXPORT_HEADER = ["编号", "时间", "操作人", "操作人ID", "来源IP", "操作", "对象类型", "对象ID", "摘要", "结果",
                 "变更前", "变更后"]


class AuditFilter(BaseModel):
    """Query parameters of the audit list, its export and ``GET /api/audit``."""

    model_config = ConfigDict(extra="ignore")
    q: str = Field("", max_length=200, description="摘要、对象ID、操作人、IP 包含 / text contained in summary, object id, actor or IP")
    action: str = Field("", max_length=64)
    object_type: str = Field("", max_length=64)
    actor: str = Field("", max_length=100, description="操作人用户名（精确）/ actor user name (exact)")
    date_from: dt.date | None = Field(None, description="起始日期（含），北京时间 / first day (local time)")
    date_to: dt.date | None = Field(None, description="截止日期（含），北京时间 / last day (local time)")
    success: bool | None = None
    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(50, ge=1, le=500)

    @field_validator("date_from", "date_to", "success", mode="before")
    @classmethod
    def _blank(cls, v: Any) -> Any:
        return None if isinstance(v, str) and v.strip() == "" else v

    @field_validator("q", "action", "object_type", "actor")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip()

    def query(self, tz: ZoneInfo) -> audit.AuditQuery:
        since = until = None
        if self.date_from:
            since = dt.datetime.combine(self.date_from, dt.time(0), tzinfo=tz).astimezone(dt.timezone.utc)
        if self.date_to:
            until = dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time(0), tzinfo=tz) \
                .astimezone(dt.timezone.utc)
        return audit.AuditQuery(q=self.q, action=self.action, object_type=self.object_type, actor=self.actor,
                                since=since, until=until, success=self.success)

    def params(self) -> dict[str, str]:
        """The active filters as query parameters (for paging and export links)."""
        out = {k: str(v) for k, v in (("q", self.q), ("action", self.action), ("object_type", self.object_type),
                                       ("actor", self.actor), ("date_from", self.date_from or ""),
                                       ("date_to", self.date_to or "")) if v}
        if self.success is not None:
            out["success"] = "1" if self.success else "0"
        return out


class AuditEntry(BaseModel):
    id: int
    at: dt.datetime
    actor_id: int | None
    actor_name: str
    client_ip: str
    action: str
    object_type: str
    object_id: str
    summary: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    success: bool


class AuditPage(BaseModel):
    items: list[AuditEntry]
    total: int
    page: int
    per_page: int


def parse_filter(request: Request) -> AuditFilter:
    f = validate(AuditFilter, dict(request.query_params))
    if f.date_from and f.date_to and f.date_to < f.date_from:
        zh, en = "截止日期不能早于起始日期", "the last day must not be before the first day"
        raise ValidationFailed(zh, en, fields={"date_to": {"message": zh, "message_en": en}})
    return f


def _tz(ctx: Any) -> ZoneInfo:
    return ZoneInfo(ctx.deployment.timezone)


def _page(ctx: Any, f: AuditFilter) -> tuple[list[AuditLog], dict[str, int]]:
    stmt = f.query(_tz(ctx)).statement()
    with ctx.db.Session() as s:
        total = s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        p = paging(total, f.page, f.per_page)
        rows = list(s.scalars(stmt.limit(f.per_page).offset((p["page"] - 1) * f.per_page)))
    return rows, p


def _choices(ctx: Any) -> tuple[list[str], list[str]]:
    with ctx.db.Session() as s:
        actions = sorted(s.scalars(select(AuditLog.action).distinct().limit(500)))
        types = sorted(s.scalars(select(AuditLog.object_type).distinct().limit(500)))
    return actions, types


def _message(ctx: Any, key: str) -> str | None:
    return ctx.catalog.messages.get(ctx.deployment.locale, {}).get(key) or ctx.catalog.messages["zh-CN"].get(key)


def action_label(ctx: Any, action: str) -> str:
    """Localized name of an action code (``audit.action.<code>``); a code nobody named (a
    third-party plugin's) reads "其他操作" and the page shows the code beside it for auditors."""
    return _message(ctx, f"audit.action.{action}") or (_message(ctx, "audit.action.other") or action if action else "")


def object_label(ctx: Any, object_type: str) -> str:
    """Localized name of an object type (``audit.object.<type>``), like :func:`action_label`."""
    if not object_type:
        return ""
    return _message(ctx, f"audit.object.{object_type}") or _message(ctx, "audit.object.other") or object_type


def object_url(object_type: str, object_id: str) -> str | None:
    """Where the audited object is shown, if it has a screen."""
    if not object_id:
        return None
    return {"person": f"/admin/people/{object_id}", "org": f"/admin/orgs/{object_id}",
            "role": f"/admin/roles/{object_id}", "settings": f"/admin/settings/{object_id}",
            "flow_instance": f"/flows/instances/{object_id}", "command_case": f"/command/cases/{object_id}"}.get(object_type)


def object_titles(session: Any, rows: list[AuditLog]) -> dict[tuple[str, str], str]:
    """Titles of the audited objects of a page, one query per object type: a person's name, an
    org's name, a role's name, a flow instance's title (the id is what is left when none)."""
    ids: dict[str, set[str]] = {}
    for e in rows:
        if e.object_id:
            ids.setdefault(e.object_type, set()).add(str(e.object_id))
    out: dict[tuple[str, str], str] = {}

    def numeric(kind: str) -> list[int]:
        return [int(i) for i in ids.get(kind, ()) if i.isdigit()][:500]
    for kind, model, col in (("person", Person, Person.display_name), ("org", Org, Org.name),
                             ("flow_instance", FlowInstance, FlowInstance.title)):
        if numeric(kind):
            for oid, title in session.execute(select(model.id, col).where(model.id.in_(numeric(kind)))):
                if title:
                    out[(kind, str(oid))] = title
    codes = list(ids.get("role", ()))[:500]
    if codes:  # a role is audited by its code
        for code, name in session.execute(select(Role.code, Role.name).where(Role.code.in_(codes))):
            out[("role", code)] = name
    return out


def actor_names(session: Any, rows: list[AuditLog]) -> dict[int, str]:
    """People's names of a page's actors (the log keeps the user name as written at the time)."""
    ids = {e.actor_id for e in rows if e.actor_id}
    if not ids:
        return {}
    return dict(session.execute(select(Person.id, Person.display_name).where(Person.id.in_(ids))).all())


def _chain_status(ctx: Any) -> list[tuple[str, str]]:
    """Lines for the chain card: sealed up to, waiting, last verification (three indexed lookups)."""
    tz = _tz(ctx)

    def when(v: dt.datetime | None) -> str:
        return v.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if v else ""

    with ctx.db.engine.connect() as conn:
        st = audit_chain.status(conn)
    lines = [("sealed", ctx.gettext("audit.chain.sealed", seq=st["seq"], audit_id=st["audit_id"], at=when(st["sealed_at"])))
             if st["seq"] else ("none", ctx.gettext("audit.chain.none"))]
    if st["waiting"]:
        lines.append(("waiting", ctx.gettext("audit.chain.waiting", count=st["waiting"])))
    if st["verified_ok"] is None:
        lines.append(("never", ctx.gettext("audit.chain.never_verified")))
    elif st["verified_ok"]:
        lines.append(("ok", ctx.gettext("audit.chain.verify_ok", at=when(st["verified_at"]))))
    else:
        lines.append(("failed", ctx.gettext("audit.chain.verify_failed", at=when(st["verified_at"]),
                                            summary=st["verified_summary"])))
    return lines


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) if value is not None else ""


@requires(VIEW)
async def audit_page(request: Request) -> Response:
    ctx = request.scope["ccms"]
    errors: dict[str, Any] = {}
    try:
        f = parse_filter(request)
    except ValidationFailed as exc:
        errors = dict(exc.fields or {})
        f = AuditFilter()
    rows, p = ([], paging(0, 1, f.per_page)) if errors else _page(ctx, f)
    params = f.params()
    paged = {**params, **({"per_page": str(f.per_page)} if f.per_page != AuditFilter().per_page else {})}
    base = "/admin/audit?" + (urlencode(paged) + "&" if paged else "")
    with ctx.db.Session() as s:
        titles, names = object_titles(s, rows), actor_names(s, rows)
    for e in rows:  # a refused permission: its name, as the roles page shows it
        info = ctx.permissions.get(e.object_id) if e.object_type == "permission" else None
        if info:
            titles[("permission", e.object_id)] = ctx.catalog.localize(info["name"], ctx.deployment.locale)
    entries = [{"e": e, "label": action_label(ctx, e.action), "url": object_url(e.object_type, e.object_id),
                "object_label": object_label(ctx, e.object_type),
                "object_title": titles.get((e.object_type, str(e.object_id))) or e.object_id,
                "actor": names.get(e.actor_id) or e.actor_name,
                "before": _pretty(e.before), "after": _pretty(e.after)} for e in rows]
    data = {"entries": entries, **p, "f": f, "errors": errors, "page_url": base,
            "export_query": urlencode(params), "can_export": ctx.can_anywhere(request.scope["user"], EXPORT),
            "breadcrumbs": [(ctx.gettext("audit.title"), None)]}
    if wants_fragment(request, "list"):
        return render(request, "admin/audit_list.html", data)  # 200 even with errors: htmx swaps only 2xx
    actions, types = _choices(ctx)
    other_a, other_t = action_label(ctx, "\0"), object_label(ctx, "\0")  # the fallbacks: name the code beside them

    def choice(code: str, label: str, other: str) -> tuple[str, str]:
        return (code, f"{label}（{code}）" if label == other else label)
    data.update({"actions": [choice(a, action_label(ctx, a), other_a) for a in actions],
                 "types": [choice(t, object_label(ctx, t), other_t) for t in types],
                 "chain": _chain_status(ctx)})
    return render(request, "admin/audit.html", data, status_code=422 if errors else 200)


@requires(VIEW)
async def api_audit(request: Request) -> Response:
    ctx = request.scope["ccms"]
    f = parse_filter(request)
    rows, p = _page(ctx, f)
    return JSONResponse({"items": [audit.as_dict(e) for e in rows], "total": p["total"],
                         "page": p["page"], "per_page": f.per_page})


# --- export ----------------------------------------------------------------------------

def _export_row(e: AuditLog, tz: ZoneInfo) -> list[Any]:
    return [e.id, e.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"), e.actor_name, e.actor_id or "",
            e.client_ip, e.action, e.object_type, e.object_id, e.summary, "成功" if e.success else "失败",
            json.dumps(e.before, ensure_ascii=False, sort_keys=True) if e.before is not None else "",
            json.dumps(e.after, ensure_ascii=False, sort_keys=True) if e.after is not None else ""]


def _rows(ctx: Any, stmt: Any) -> Iterator[AuditLog]:
    with ctx.db.Session() as s:
        yield from s.scalars(stmt.execution_options(yield_per=1000))


def _csv_stream(ctx: Any, stmt: Any) -> Iterator[bytes]:
    tz = _tz(ctx)
    return tabular.iter_csv((_export_row(e, tz) for e in _rows(ctx, stmt)), header=EXPORT_HEADER)


def _xlsx_stream(ctx: Any, stmt: Any) -> Iterator[bytes]:
    tz = _tz(ctx)
    return tabular.iter_xlsx((_export_row(e, tz) for e in _rows(ctx, stmt.limit(XLSX_MAX_ROWS))), "审计日志",
                             header=EXPORT_HEADER)


@requires(EXPORT)
async def export(request: Request) -> Response:
    ctx = request.scope["ccms"]
    fmt = request.query_params.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        zh, en = "导出格式只能是 csv 或 xlsx", "format must be csv or xlsx"
        raise ValidationFailed(zh, en, fields={"format": {"message": zh, "message_en": en}})
    f = parse_filter(request)
    stmt = f.query(_tz(ctx)).statement()
    with ctx.db.session() as s:
        last_id = s.scalar(select(func.max(AuditLog.id))) or 0
        stmt = stmt.where(AuditLog.id <= last_id)
        count = s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        audit.record(s, actor_of(request), "audit_export", "audit", "",
                     after={"format": fmt, "filters": f.params(), "rows": count, "up_to_id": last_id},
                     summary=f"导出审计日志（{fmt.upper()}，{count} 条）")
    stamp = dt.datetime.now(_tz(ctx)).strftime("%Y%m%d-%H%M%S")
    headers = {"Content-Disposition": f'attachment; filename="audit-{stamp}.{fmt}"'}
    if fmt == "csv":
        return StreamingResponse(_csv_stream(ctx, stmt), media_type=tabular.CSV_TYPE, headers=headers)
    return StreamingResponse(_xlsx_stream(ctx, stmt), headers=headers,
                             media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


routes = [
    Route("/admin/audit", audit_page, name="admin-audit"),
    Route("/admin/audit/export", export, name="admin-audit-export"),
    Route("/api/audit", api_audit, methods=["GET"], name="api-audit"),
    Route("/api/audit/export", export, methods=["GET"], name="api-audit-export"),
]

_FILTER_DOC = {"q": "文本 / text", "action": "操作 / action", "object_type": "对象类型 / object type",
               "actor": "操作人用户名 / actor user name", "date_from": "起始日期 YYYY-MM-DD（北京时间）/ first day",
               "date_to": "截止日期 YYYY-MM-DD（含）/ last day (inclusive)", "success": "1 成功 / 0 失败",
               "page": "页码 / page", "per_page": "每页条数（≤500）/ page size (≤500)"}

api_docs = [
    api_doc("/api/audit", "get", "查询审计日志 / search the audit log", permission=VIEW, response=AuditPage,
            query=_FILTER_DOC),
    api_doc("/api/audit/export", "get", "导出审计日志（CSV 或 XLSX 文件流）/ export the filtered log as a file",
            permission=EXPORT, query={**_FILTER_DOC, "format": "csv | xlsx"}),
]
