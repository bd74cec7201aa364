"""绩效考核 screen: ``/command/evaluation`` (htmx), its XLSX export and the
JSON twin ``/api/command/evaluation``.

Same permission, periods and scope as 统计分析 (:mod:`stats_screens`): the
figures are the statistics of the chosen object type, every rate links to
the statistics drill-down behind it. Bad input (unknown object type or
period) re-renders the page with the error (422; an htmx fragment gets 200 so
it is swapped in) or answers a JSON error under /api/.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from ccms.api import (
    JSONResponse,
    Request,
    Response,
    Route,
    ValidationFailed,
    api_doc,
    ctx_of,
    render,
    requires,
    user_of,
)
from ccms.api import XLSX_TYPE, is_htmx, write_table

from . import evaluation, stats
from .common import settings
from .stats_screens import VIEW, bar_chart, labeller, scope_label, user_scope


def _params(request: Request) -> dict[str, str]:
    return {k: v[:40] for k, v in request.query_params.items()}


def _inputs(request: Request) -> tuple[str, stats.Period]:
    ctx, p = ctx_of(request), _params(request)
    object_type = evaluation.get_object_type(p.get("type") or "dept")
    period = stats.parse_period(p, ZoneInfo(ctx.timezone))
    return object_type, period


def _evaluate(request: Request, object_type: str, period: stats.Period) -> tuple[evaluation.Evaluation, str, Any]:
    ctx = ctx_of(request)
    with ctx.session() as s:
        scope = user_scope(ctx, s, user_of(request))
        ev = evaluation.evaluate(s, object_type, period, settings(ctx, s), scope=scope, labels=labeller(ctx, s))
        return ev, scope_label(ctx, s, scope), scope


def _chart(ctx: Any, ev: evaluation.Evaluation, drill_url: Any = None) -> dict[str, Any]:
    """The composite scores as a bar chart (stats_screens' chart, one "measure": composite)."""
    rows = [stats.Row(r.key, r.label, {"composite": r.composite}) for r in ev.rows if r.composite is not None]
    title = ctx.gettext("eval.chart_title", type=ctx.gettext(f"eval.type.{ev.object_type}"))
    return bar_chart(ctx, rows, "composite", title, integer=False)


def _form_values(request: Request) -> dict[str, str]:
    p = _params(request)
    today = dt.date.today()
    return {"type": p.get("type") or "dept", "period": p.get("period") or "month",
            "month": p.get("month") or f"{today:%Y-%m}", "quarter": p.get("quarter") or "",
            "year": p.get("year") or "", "start": p.get("start") or "", "end": p.get("end") or ""}


@requires(VIEW)
async def evaluation_page(request: Request) -> Response:
    ctx = ctx_of(request)
    base = {"title": ctx.gettext("eval.title"), "form": _form_values(request), "types": evaluation.OBJECT_TYPES,
            "ev": None, "error": None}
    fragment = is_htmx(request)
    try:
        object_type, period = _inputs(request)
    except ValidationFailed as exc:
        data = {**base, "error": exc}
        if fragment:  # htmx swaps 2xx only: the fragment carries the error
            return render(request, "command/_evaluation.html", data)
        return render(request, "command/evaluation.html", data, status_code=422)
    ev, scope_text, _scope = _evaluate(request, object_type, period)
    q = {"type": object_type, **period.query()}

    def drill_url(measure: str, key: str) -> str:
        return "/command/stats/cases?" + urlencode({"dim": evaluation.dimension_of(object_type).key, "key": key, "measure": measure,
                                                    **period.query()})
    data = {**base, "ev": ev, "scope_text": scope_text, "qs": urlencode(q), "drill_url": drill_url,
            "bar": _chart(ctx, ev)}
    return render(request, "command/_evaluation.html" if fragment else "command/evaluation.html", data)


def export_header(ctx: Any, ev: evaluation.Evaluation) -> list[str]:
    g = ctx.gettext
    head = [g("eval.col.rank"), g("eval.col.code"), g(f"eval.type.{ev.object_type}"), g("eval.col.composite"),
            g("eval.col.grade")]
    for i in ev.indicators:
        head += [g(f"eval.i.{i.key}") + ("" if i.kind == "count" else " %"), g(f"eval.i.{i.key}") + " " +
                 g("eval.col.score")]
    return head


@requires(VIEW)
async def export_xlsx(request: Request) -> Response:
    ctx = ctx_of(request)
    object_type, period = _inputs(request)
    ev, _text, _scope = _evaluate(request, object_type, period)
    content, _ = write_table(evaluation.export_rows(ev), "xlsx", f"{object_type} {period.label}", header=export_header(ctx, ev))
    name = f"command-evaluation-{object_type}-{period.label.replace(' ', '')}.xlsx".replace("~", "_")
    return Response(content, media_type=XLSX_TYPE, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@requires(VIEW)
async def api_evaluation(request: Request) -> Response:
    object_type, period = _inputs(request)
    ev, scope_text, scope = _evaluate(request, object_type, period)

    def out(r: evaluation.Scored) -> dict[str, Any]:
        return {"key": r.key, "label": r.label, "rank": r.rank, "composite": r.composite, "grade": r.grade,
                "indicators": {k: {"value": m.value, "score": m.score, "weight": m.weight}
                               for k, m in r.marks.items()}}
    return JSONResponse({
        "object_type": object_type,
        "period": {"kind": period.kind, "first": period.first.isoformat(), "last": period.last.isoformat()},
        "scope": {"city": scope.everything, "org_ids": list(scope.org_ids), "label": scope_text},
        "weights": ev.weights, "grades": dict(ev.grades),
        "warnings": [{"message": zh, "message_en": en} for zh, en in ev.warnings],
        "rows": [out(r) for r in ev.rows]})


routes = [
    Route("/command/evaluation", evaluation_page, name="command-evaluation"),
    Route("/command/evaluation/export.xlsx", export_xlsx, name="command-evaluation-export"),
    Route("/api/command/evaluation", api_evaluation, name="api-command-evaluation"),
]

api_docs = [
    api_doc("/api/command/evaluation", "get",
            "绩效考核（GB/T 30428.4：部门、区、街道、社区、网格及监督员、值班长、派遣员的指标得分、综合得分、等级、排名；权重见系统配置；"
            "限于本人有权查看的机构范围）/ performance evaluation of departments, regions and posts: indicator scores, "
            "composite, grade and rank; also of supervisors, shift leaders and dispatchers (weights in the settings; only the cases of the user's org subtrees)",
            permission=VIEW, tag="command",
            query={"type": "dept|district|street|community|grid|supervisor|shift_leader|dispatcher", "period": "month|quarter|year|custom",
                   "month": "YYYY-MM", "quarter": "YYYY-Qn", "year": "YYYY", "start": "YYYY-MM-DD",
                   "end": "YYYY-MM-DD"}),
]
