"""指挥协调's panels on the home page (工作台), through ``ccms_register_dashboard_panels``.

* 今日要情 (``figures``) for leaders — holders of ``command.figures.view`` (值班长,
  领导): today's 受理, 立案, 派遣, 结案, 超期未结案 and 按期处置率, by the statistics'
  own query (:func:`.stats.compute`, GB/T 30428.4) over today's local day, counted
  in the user's statistics scope (the districts, streets, communities and
  departments their grants cover). ONE aggregate query; each figure links to
  the drill-down list of the same measure, period and scope, so the number and
  the list agree.
* 案件工作台 (``counts``) for those who see all cases of their scope (受理员,
  值班长, 派遣员): cases waiting to be filed, dispatched, closed, and possible
  duplicates — the case list's own views, so each count is its list's total.

A person's own tasks (待办, 即将超期, 超期, 今日新增) come from core's panels.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ccms.api import utcnow

from . import stats
from .models import Case

FIGURES = "command.figures.view"
VIEW_ALL = "command.case.view_all"
# today's key figures (measures of stats.MEASURES) and the rate shown after them
FIGURE_MEASURES = ("reported", "filed", "dispatched", "closed", "overdue_open")
RATE = "ontime_dispose_rate"


def today(ctx: Any, now: dt.datetime | None = None) -> stats.Period:
    """Today (the deployment's local day) as a statistics period."""
    tz = ZoneInfo(ctx.timezone)
    day = (now or utcnow()).astimezone(tz).date()
    return stats.make_period("custom", day, day, tz)


def day_figures(session: Session, period: stats.Period, scope: stats.Scope,
                now: dt.datetime | None = None) -> stats.Row:
    """Every measure and rate over ``period`` in ``scope``: the statistics' own one-pass query
    (:func:`stats.compute`, its totals row), so each figure IS the statistics page's number
    for the same day and scope, and costs what the period costs once that query reads only
    the period's rows."""
    return stats.compute(session, stats.get_dimension("district"), period, now=now, scope=scope).total


def _drill_url(measure: str, period: stats.Period) -> str:
    return "/command/stats/cases?" + urlencode({"measure": measure, **period.query()})


def figures_panel(ctx: Any, user: Any, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """今日要情 for a leader, or None when the user may not see it."""
    if not ctx.can_anywhere(user, FIGURES) or not ctx.can_anywhere(user, "command.view"):
        return None
    from .stats_screens import scope_label, user_scope
    g = ctx.gettext
    period = today(ctx, now)
    with ctx.session() as s:
        scope = user_scope(ctx, s, user)
        total = day_figures(s, period, scope, now)
        where = scope_label(ctx, s, scope)
    n, r = total.counts, total.rates[RATE]
    items = [{"key": m, "label": g(f"workbench.fig.{m}"), "value": n[m], "url": _drill_url(m, period),
              "tone": "bad" if m == "overdue_open" and n[m] else ""} for m in FIGURE_MEASURES]
    items.append({"key": RATE, "label": g("stats.r." + RATE), "value": r,
                  "value_text": "—" if r is None else f"{r:.2f}%",
                  "url": "/command/stats?" + urlencode({"dim": "district", **period.query()})})
    caption = g("workbench.figures_caption", scope=where, day=period.first.isoformat())
    return {"id": "command.figures", "kind": "figures", "order": 5, "title": g("workbench.figures"),
            "data": {"items": items, "caption": caption,
                     "more_url": "/command/stats?" + urlencode({"dim": "district", **period.query()}),
                     "more_text": g("workbench.figures_more")}}


CASE_VIEWS = (("to_file", {"view": "to_file"}), ("to_dispatch", {"status": "filed"}),
              ("to_close", {"view": "to_close"}), ("duplicates", {"view": "duplicates"}))


def cases_panel(ctx: Any, user: Any) -> dict[str, Any] | None:
    """案件工作台: the case list's work views with their totals (the list's own query)."""
    if not ctx.can_anywhere(user, VIEW_ALL):
        return None
    from .case_screens import _list_query
    g = ctx.gettext
    items = []
    with ctx.session() as s:
        for key, params in CASE_VIEWS:
            total = s.scalar(select(func.count()).select_from(
                _list_query(ctx, s, user, params).with_only_columns(Case.id).subquery())) or 0
            items.append({"key": key, "label": g(f"workbench.cases.{key}"), "value": total,
                          "url": "/command/cases?" + urlencode(params)})
    return {"id": "command.cases", "kind": "counts", "order": 15, "title": g("workbench.cases"),
            "data": {"items": items}}


def dashboard_panels(ctx: Any, user: Any) -> list[dict[str, Any]]:
    if user is None:
        return []
    return [p for p in (figures_panel(ctx, user), cases_panel(ctx, user)) if p]
