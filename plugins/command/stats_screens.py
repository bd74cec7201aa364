"""Statistics screens (/command/stats...) and JSON API (/api/command/stats).

The table, the bar chart and the XLSX export are built from one
:func:`stats.compute` call (one SQL pass); the trend line is one more
SELECT. Every number links to ``/command/stats/cases`` which lists the cases
behind it with the same SQL condition. Page, drill-down, export and API
count only the cases of the user's scope (:func:`user_scope`: a grant of
``command.view`` at the root org = the whole city, else the districts,
streets, communities and departments inside the granted org subtrees). Bad input (unknown dimension or
measure, malformed dates, end before start) re-renders the page with the
error (422) or answers a JSON error under /api/.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ccms.api import (
    JSONResponse, Request, Response, Route, ValidationFailed, api_doc, ctx_of, dict_entries, org_info, org_names,
    person_names, render, requires, user_of,
)

from ccms.api import XLSX_TYPE, charts, is_htmx, page_number, write_table

from . import stats
from .gridnames import grid_labels
from .models import Region

VIEW = "command.view"
PAGE_SIZE = 20
CHART_TOP = 20
SOURCES = ("supervisor", "hotline", "public", "media", "superior")
STATUSES = ("reported", "verifying", "not_filed", "filed", "dispatched", "disposing", "checking", "closed",
            "voided", "suspended", "merged")
# the columns of the screen (the export and the API carry every measure); 多次派遣 and 协同 are two
# figures: a case dispatched more than once, and one dispatch to several departments at once
MAIN_MEASURES = ("reported", "filed", "voided", "due", "closed", "closed_on_time", "self_disposed", "disposed",
                 "disposed_on_time", "overdue_open", "reworked", "extended", "suspended", "sent_back", "redispatched",
                 "cooperative")
MAIN_RATES = ("close_rate", "ontime_close_rate", "dispose_rate", "ontime_dispose_rate", "rework_rate")


# --- input ------------------------------------------------------------------------------------

def _tz(ctx: Any) -> ZoneInfo:
    return ZoneInfo(ctx.timezone)


def _params(request: Request) -> dict[str, str]:
    return {k: v[:40] for k, v in request.query_params.items()}


def _inputs(request: Request) -> tuple[stats.Dimension, stats.Period, str]:
    ctx, p = ctx_of(request), _params(request)
    dim = stats.get_dimension(p.get("dim") or "district")
    period = stats.parse_period(p, _tz(ctx))
    chart = stats.get_measure(p.get("chart") or "reported")
    return dim, period, chart


# --- scope ------------------------------------------------------------------------------------

def user_scope(ctx: Any, session: Session, user: Any, permission: str = VIEW) -> stats.Scope:
    """The cases ``user`` may count (:func:`stats.user_scope` with ``command.view``)."""
    return stats.user_scope(ctx, session, user, permission)


def scope_label(ctx: Any, session: Session, scope: stats.Scope) -> str:
    """全市, or the names of the granted orgs (shown above the figures)."""
    if scope.everything:
        return ctx.gettext("stats.scope.city")
    names = org_names(session, scope.org_ids)
    return "、".join(names[o] for o in scope.org_ids if o in names) or ctx.gettext("stats.scope.none")


# --- labels -------------------------------------------------------------------------------------

def _person_names(session: Session, ids: list[int]) -> dict[int, str]:
    return person_names(session, ids)


def district_names(ctx: Any, session: Session) -> dict[str, str]:
    """Region code -> name of the org that stands for it: the ``region`` org
    nearest the root (streets and communities carry their district's code)."""
    best: dict[str, tuple[tuple[int, int, int], str]] = {}
    for o in org_info(session).values():
        if not o.region_code:
            continue
        rank = (0 if o.kind == "region" else 1, (ctx.org_path(o.id) or "").count("/"), o.id)
        if o.region_code not in best or rank < best[o.region_code][0]:
            best[o.region_code] = (rank, o.name)
    return {code: name for code, (_rank, name) in best.items()}


def labeller(ctx: Any, session: Session) -> Any:
    """Names for the keys of a dimension (org, person, region, class, enum)."""
    g = ctx.gettext

    def labels(dim: stats.Dimension, keys: list[str]) -> dict[str, str]:
        if not keys:
            return {}
        if dim.kind == "org":
            names = org_names(session, [int(k) for k in keys if k.isdigit()])
            return {k: names.get(int(k), k) for k in keys if k.isdigit()}
        if dim.kind == "person":
            names = _person_names(session, [int(k) for k in keys if k.isdigit()])
            return {k: names.get(int(k), k) for k in keys if k.isdigit()}
        if dim.kind == "enum":
            return {k: g(f"stats.{dim.key}.{k}") for k in keys}
        if dim.kind == "class":
            out = {}
            dicts = {"C": dict_entries(session, "gbt30428.component"), "E": dict_entries(session, "gbt30428.event")}
            for k in keys:
                e = dicts.get(k[:1].upper(), {}).get(k[1:])
                out[k] = f"{k} {e.name}" if e else k
            return out
        if dim.key == "district":
            by_code = district_names(ctx, session)
            return {k: by_code.get(k, k) for k in keys}
        if dim.key == "grid":  # the name people read; the code is the export's code column
            return {k: g.text for k, g in grid_labels(session, keys).items()}
        names = dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(keys))).all())
        return {k: names.get(k, k) for k in keys}
    return labels


# --- charts (specs for static/charts.js: ccms.charts) -------------------------------------------

def bar_chart(ctx: Any, rows: list[stats.Row], measure: str, title: str, link: Any = None,
              integer: bool = True) -> dict[str, Any]:
    """The top :data:`CHART_TOP` rows by ``measure`` as a horizontal bar chart (zero rows left out)."""
    none_label = ctx.gettext("stats.unspecified")
    rows = [r for r in sorted(rows, key=lambda r: -(r.counts[measure] or 0))[:CHART_TOP] if r.counts[measure]]

    def label(r: stats.Row) -> str:  # a grid's 14-digit code would fill the axis: its name does
        text = r.label or (none_label if r.key == stats.NONE_KEY else r.key)
        code, _sp, name = text.partition(" ")
        return name if code.isdigit() and len(code) >= 8 and name else text
    return charts.bar(rows, label=label,
                      values={title: lambda r: r.counts[measure]}, title=title, integer=integer,
                      link=(lambda r: link(measure, r.key)) if link else None)


def trend_chart(months: list[stats.Period], values: list[int], title: str, name: str) -> dict[str, Any]:
    rows = [{"label": m.label, "value": v} for m, v in zip(months, values)]
    return charts.line(rows, label="label", values={name: "value"}, title=title, area=True)


# --- pages --------------------------------------------------------------------------------------

def _base_query(dim: stats.Dimension, period: stats.Period, chart: str) -> dict[str, str]:
    return {"dim": dim.key, **period.query(), "chart": chart}


def _context(request: Request, dim: stats.Dimension, period: stats.Period, chart: str) -> dict[str, Any]:
    ctx = ctx_of(request)
    with ctx.session() as s:
        scope = user_scope(ctx, s, user_of(request))
        tab = stats.compute(s, dim, period, labels=labeller(ctx, s), scope=scope)
        months = stats.month_periods(period.last, 12, _tz(ctx))
        values = stats.trend(s, chart, months, scope=scope)
        scope_text = scope_label(ctx, s, scope)
    q = _base_query(dim, period, chart)

    def drill_url(measure: str, key: str | None = None) -> str:
        where = {"dim": dim.key, "key": key} if key is not None else {}
        return "/command/stats/cases?" + urlencode({**where, "measure": measure, **period.query()})
    g = ctx.gettext
    bar_title = g("stats.bar_title", measure=g(f"stats.m.{chart}"), dim=g(f"stats.dim.{dim.key}"))
    trend_title = g("stats.trend_title", measure=g(f"stats.m.{chart}"))
    return {"drill_url": drill_url, "tab": tab, "dim": dim, "period": period, "chart": chart, "q": q, "qs": urlencode(q),
            "measures": MAIN_MEASURES, "rates": MAIN_RATES, "all_measures": list(stats.MEASURES),
            "dimensions": list(stats.DIMENSIONS), "none_key": stats.NONE_KEY,
            "bar": bar_chart(ctx, tab.rows, chart, bar_title, drill_url),
            "line": trend_chart(months, values, trend_title, ctx.gettext(f"stats.m.{chart}")),
            "trend": list(zip(months, values)),
            "urlencode": urlencode, "errors": {}, "error": None, "scope_text": scope_text}


def _form_values(request: Request) -> dict[str, str]:
    p = _params(request)
    today = dt.date.today()
    return {"dim": p.get("dim") or "district", "period": p.get("period") or "month",
            "month": p.get("month") or f"{today:%Y-%m}", "quarter": p.get("quarter") or "",
            "year": p.get("year") or "", "start": p.get("start") or "", "end": p.get("end") or "",
            "chart": p.get("chart") or "reported",
            "quarter_hint": f"{today.year}-Q{(today.month - 1) // 3 + 1}", "year_hint": str(today.year)}


@requires(VIEW)
async def stats_page(request: Request) -> Response:
    ctx = ctx_of(request)
    base = {"title": ctx.gettext("stats.title"), "form": _form_values(request), "dimensions": list(stats.DIMENSIONS),
            "all_measures": list(stats.MEASURES)}
    try:
        dim, period, chart = _inputs(request)
    except ValidationFailed as exc:
        data = {**base, "error": exc, "errors": exc.fields or {}, "tab": None}
        if is_htmx(request):  # htmx swaps 2xx only: the fragment carries the error
            return render(request, "command/_stats.html", data)
        return render(request, "command/stats.html", data, status_code=422)
    data = {**base, **_context(request, dim, period, chart)}
    if is_htmx(request):
        return render(request, "command/_stats.html", data)
    return render(request, "command/stats.html", data)


@requires(VIEW)
async def drill_page(request: Request) -> Response:
    ctx, p = ctx_of(request), _params(request)
    dim = stats.get_dimension(p["dim"]) if p.get("dim") else None
    measure = stats.get_measure(p.get("measure") or "")
    period = stats.parse_period(p, _tz(ctx))
    key = p.get("key")
    page = page_number(request)
    with ctx.session() as s:
        scope = user_scope(ctx, s, user_of(request))
        rows, total = stats.drill(s, dim, key, measure, period, page=page, size=PAGE_SIZE, scope=scope)
        scope_text = scope_label(ctx, s, scope)
        depts = org_names(s, [r["dept_id"] for r in rows])
        grid_names = grid_labels(s, [r["grid_code"] for r in rows])
        label = labeller(ctx, s)(dim, [key]).get(key, key) if dim and key and key != stats.NONE_KEY else ""
    q = {**({"dim": dim.key, "key": key or ""} if dim else {}), "measure": measure, **period.query()}
    data = {"title": ctx.gettext("stats.drill.title"), "rows": rows, "total": total, "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)), "depts": depts, "dim": dim, "key": key, "key_label": label,
            "measure": measure, "period": period, "url": "/command/stats/cases?" + urlencode(q) + "&",
            "back": "/command/stats?" + urlencode({"dim": dim.key if dim else "district", **period.query()}),
            "none_key": stats.NONE_KEY, "scope_text": scope_text, "grid_names": grid_names}
    if is_htmx(request):
        return render(request, "command/_stats_cases.html", data)
    return render(request, "command/stats_cases.html", data)


def export_header(ctx: Any, dim: stats.Dimension) -> list[str]:
    g = ctx.gettext
    return [g("stats.col.code"), g(f"stats.dim.{dim.key}"), *[g(f"stats.m.{m}") for m in stats.MEASURES],
            *[g(f"stats.r.{r}") + " %" for r in stats.RATES]]


@requires(VIEW)
async def export_xlsx(request: Request) -> Response:
    ctx = ctx_of(request)
    dim, period, _chart = _inputs(request)
    with ctx.session() as s:
        tab = stats.compute(s, dim, period, labels=labeller(ctx, s), scope=user_scope(ctx, s, user_of(request)))
    rows = stats.table_rows(tab)
    rows[-1][1] = ctx.gettext("stats.total")
    for r in rows[:-1]:
        if not r[0]:
            r[1] = ctx.gettext("stats.unspecified")
    content, _ = write_table(rows, "xlsx", f"{dim.key} {period.label}", header=export_header(ctx, dim))
    name = f"command-stats-{dim.key}-{period.label.replace(' ', '')}.xlsx".replace("~", "_")
    return Response(content, media_type=XLSX_TYPE, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@requires(VIEW)
async def api_stats(request: Request) -> Response:
    ctx = ctx_of(request)
    dim, period, _chart = _inputs(request)
    with ctx.session() as s:
        scope = user_scope(ctx, s, user_of(request))
        tab = stats.compute(s, dim, period, labels=labeller(ctx, s), scope=scope)
        scope_text = scope_label(ctx, s, scope)

    def out(r: stats.Row) -> dict[str, Any]:
        return {"key": None if r.key == stats.NONE_KEY else r.key, "label": r.label, "counts": r.counts,
                "rates": r.rates}
    return JSONResponse({"dimension": dim.key, "scope": {"city": scope.everything, "org_ids": list(scope.org_ids),
                                                         "label": scope_text},
                         "period": {"kind": period.kind, "first": period.first.isoformat(),
                                                          "last": period.last.isoformat()},
                         "rows": [out(r) for r in tab.rows], "total": {"counts": tab.total.counts,
                                                                        "rates": tab.total.rates}})


routes = [
    Route("/command/stats", stats_page, name="command-stats"),
    Route("/command/stats/cases", drill_page, name="command-stats-cases"),
    Route("/command/stats/export.xlsx", export_xlsx, name="command-stats-export"),
    Route("/api/command/stats", api_stats, name="api-command-stats"),
]

api_docs = [
    api_doc("/api/command/stats", "get",
            "案件统计（GB/T 30428.4，限于本人有权查看的机构范围）/ case statistics by a dimension over a period "
            "(only the cases of the user's org subtrees)",
            permission=VIEW, tag="command",
            query={"dim": "district|street|community|grid|dept|reporter|filer|dispatcher|source|big_class|class|status",
                   "period": "month|quarter|year|custom", "month": "YYYY-MM", "quarter": "YYYY-Qn", "year": "YYYY",
                   "start": "YYYY-MM-DD", "end": "YYYY-MM-DD"}),
]
