"""绩效考核 (GB/T 30428.4): scores of departments and regions from the statistics.

The figures are those of :func:`stats.compute` (same definitions, same scope,
same drill-down); this module only turns them into scores:

* each indicator gives a *rate* (percent) and a 0–100 *score*: the rate itself
  (higher is better), ``100 − rate`` (lower is better), or, for a count, the
  count relative to the best peer in the table (best = 100);
* an indicator without data (denominator 0, or every peer's count 0) is left
  out and the remaining weights are renormalised, so a department with no case
  due is not punished for it;
* composite = Σ weight × score ÷ Σ weight (of the indicators with data),
  grade by the bands (A ≥ 90, B ≥ 75, …), rank by composite (ties share a rank).

Weights and bands are the plugin's settings (``eval_weight_<group>_<indicator>``,
``eval_grade_a..d``; defaults in plugin.json = the seed data), editable in
应用维护 → 系统配置. JSON Schema cannot say "sums to 100", so :func:`problems`
reports that as a bilingual warning on the page; scores stay computable
because the weights are renormalised anyway.

Posts (岗位): ``supervisor`` (监督员), ``shift_leader`` (值班长), ``dispatcher``
(派遣员) are scored the same way from per-person counts, each counted in SQL
grouped by the post's person column, with the statistics' period bounds and
scope. Time limits are clock minutes (settings ``eval_limit_*_minutes``):

* supervisor — by ``reporter_id``: *reported* = cases of source ``supervisor``
  reported in the period, *effective* = those filed (not merged); 有效上报率 =
  effective ÷ reported. By ``verifier_id`` (who did 核实 of a public, hotline
  or media report): *verified* = ``verified_at`` in the period, on time when
  ``verified_at − reported_at ≤ eval_limit_verify_minutes`` (60). By
  ``checker_id``: *checked* = ``checked_at`` in the period (after a disposal),
  on time when ``checked_at − disposed_at ≤ eval_limit_check_minutes`` (120).
  By the grid's 责任监督员 (``command_grid.supervisor_id``, joined on
  ``grid_code``): *grid reported* = cases located in the supervisor's grids
  reported in the period, *missed* = those of them not reported by a
  supervisor (source public, hotline, media or superior); 漏报率 = missed ÷
  grid reported (lower is better). A supervisor without assigned grids has no
  data for it (shown "—", the weights renormalised).
  The four groupings are four statements (reporter, verifier, checker, grid
  supervisor), merged per person; default weights are the standard's 40/20/20/20;
* shift leader — by ``filer_id``: *filed* = the statistics' ``filed``, on time
  when ``filed_at − coalesce(verified_at, reported_at) ≤ eval_limit_file_minutes``
  (30); accurate filing = (filed − voided at any time) ÷ filed; on-time closing =
  the statistics' ``closed_on_time ÷ due`` (drill-down by 立案人);
* dispatcher — by ``dispatcher_id``: *dispatched* = the statistics'
  ``dispatched`` (count relative to the best peer, drill-down by 派遣人), on time
  when ``dispatched_at − filed_at ≤ eval_limit_dispatch_minutes`` (30), accurate
  = without rework and dispatched once (``rework_count = 0``, ``dispatch_count ≤ 1``:
  a 协同 dispatch to several departments at once is one dispatch, not a wrong one).

The intake operator (受理员) is not evaluated: the loop records no separate
intake timestamps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, case, func, or_, select
from sqlalchemy.orm import Session

from ccms.api import ValidationFailed, field_error

from . import stats
from .models import Grid
from .sqltime import epoch

OBJECT_TYPES = ("dept", "district", "street", "community", "grid", "supervisor", "shift_leader", "dispatcher")
POSTS = ("supervisor", "shift_leader", "dispatcher")
PUBLIC_REPORTED = "public_reported"  # extra count: reports from the public (source = public)
MISSED_SOURCES = ("public", "hotline", "media", "superior")  # reports no supervisor made (漏报)


@dataclass(frozen=True)
class Indicator:
    """One evaluation indicator: ``kind`` is ``rate`` (higher is better),
    ``inverse`` (lower is better) or ``count`` (relative to the best peer)."""

    key: str
    kind: str
    num: str  # the count (a stats measure, or PUBLIC_REPORTED, or a post count)
    den: str | None = None  # the denominator measure of a rate
    strict: bool = False  # posts: link only when the numerator itself is a statistics measure

    @property
    def drill(self) -> str | None:
        """The statistics measure whose drill-down lists the cases behind the figure (None: no link)."""
        if self.num in stats.MEASURES:
            return self.num
        return None if self.strict else (self.den or "reported")


INDICATORS: dict[str, tuple[Indicator, ...]] = {
    "dept": (
        Indicator("dispose_rate", "rate", "disposed", "due"),
        Indicator("ontime_dispose_rate", "rate", "disposed_on_time", "due"),
        Indicator("rework_rate", "inverse", "reworked", "filed"),
        Indicator("overdue_rate", "inverse", "due_overdue", "due"),  # ⊆ due: never above 100 %
        Indicator("extend_rate", "inverse", "extended", "filed"),
    ),
    "region": (
        Indicator("public_share", "inverse", PUBLIC_REPORTED, "reported"),
        Indicator("filed_count", "count", "filed"),
        Indicator("close_rate", "rate", "closed", "due"),
        Indicator("ontime_close_rate", "rate", "closed_on_time", "due"),
    ),
    "supervisor": (
        Indicator("effective_rate", "rate", "sv_effective", "sv_reported", True),
        Indicator("miss_rate", "inverse", "sv_missed", "sv_grid_reported", True),
        Indicator("verify_ontime_rate", "rate", "sv_verified_on_time", "sv_verified", True),
        Indicator("check_ontime_rate", "rate", "sv_checked_on_time", "sv_checked", True),
    ),
    "shift_leader": (
        Indicator("file_ontime_rate", "rate", "sl_filed_on_time", "filed", True),
        Indicator("file_accurate_rate", "rate", "sl_filed_kept", "filed", True),
        Indicator("ontime_close_rate", "rate", "closed_on_time", "due", True),
    ),
    "dispatcher": (
        Indicator("dispatch_count", "count", "dispatched", None, True),
        Indicator("dispatch_ontime_rate", "rate", "dp_on_time", "dispatched", True),
        Indicator("dispatch_accurate_rate", "rate", "dp_accurate", "dispatched", True),
    ),
}
# the statistics dimension whose drill-down (and person names) a post uses
POST_DIMS = {"supervisor": "reporter", "shift_leader": "filer", "dispatcher": "dispatcher"}
LIMITS = {"verify": 60, "check": 120, "file": 30, "dispatch": 30}  # eval_limit_<x>_minutes defaults
GROUP_NAMES = {"dept": ("部门", "department"), "region": ("区域（区/街道/社区/网格）", "region"),
               "supervisor": ("监督员", "supervisor"), "shift_leader": ("值班长", "shift leader"),
               "dispatcher": ("派遣员", "dispatcher")}
GRADES = ("A", "B", "C", "D")  # E = below D's band


def group_of(object_type: str) -> str:
    if object_type in POSTS:
        return object_type
    return "dept" if object_type == "dept" else "region"


def dimension_of(object_type: str) -> stats.Dimension:
    """The statistics dimension of an object type (a post: its person column)."""
    return stats.get_dimension(POST_DIMS.get(object_type, object_type))


def get_object_type(key: str) -> str:
    """The object type from a query parameter; anything else is a bilingual 422."""
    key = (key or "").strip()
    if key not in OBJECT_TYPES:
        zh = f"考核对象“{key}”无效，可选：部门、区、街道、社区、单元网格、监督员、值班长、派遣员"
        en = f"unknown object type {key!r}; choose one of {', '.join(OBJECT_TYPES)}"
        raise ValidationFailed(zh, en, fields=field_error("type", zh, en))
    return key


def weight_key(group: str, indicator: str) -> str:
    return f"eval_weight_{group}_{indicator}"


def weights_from(settings: Mapping[str, Any], group: str) -> dict[str, float]:
    """The configured weights of an object group, by indicator key."""
    return {i.key: float(settings.get(weight_key(group, i.key), 0) or 0) for i in INDICATORS[group]}


def grades_from(settings: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The grade bands ``[(A, 90), (B, 75), …]`` (the lowest bound each grade needs)."""
    return [(g, float(settings.get(f"eval_grade_{g.lower()}", 0) or 0)) for g in GRADES]


def problems(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Bilingual warnings about the configuration (weights not summing to 100,
    bands out of order); the page shows them above the table."""
    out: list[tuple[str, str]] = []
    for group in INDICATORS:
        total = sum(weights_from(settings, group).values())
        if abs(total - 100) > 1e-6:
            zh, en = GROUP_NAMES[group]
            out.append((f"{zh}考核权重合计为 {total:g}，应为 100；已按比例折算（应用维护 → 系统配置 → 指挥协调）",
                        f"the {en} weights add up to {total:g}, not 100; they were scaled proportionally (settings → command)"))
    bounds = [b for _g, b in grades_from(settings)]
    if any(a <= b for a, b in pairwise(bounds)):
        out.append(("等级分数线应从 A 到 D 依次降低（系统配置 → 指挥协调）",
                    "the grade bands must fall from A to D (settings → command)"))
    return out


def settings_errors(settings: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The same rules as :func:`problems`, as field errors that refuse a settings
    save (``ccms_check_settings``): a group's weights must add up to 100, the
    grade bands must fall from A to D."""
    out: dict[str, dict[str, str]] = {}
    for group in INDICATORS:
        total = sum(weights_from(settings, group).values())
        if abs(total - 100) > 1e-6:
            zh, en = f"该组考核权重合计为 {total:g}，应为 100", f"these weights add up to {total:g}, not 100"
            for i in INDICATORS[group]:
                out[weight_key(group, i.key)] = {"message": zh, "message_en": en}
    bounds = [b for _g, b in grades_from(settings)]
    if any(a <= b for a, b in pairwise(bounds)):
        for g in GRADES:
            out[f"eval_grade_{g.lower()}"] = {"message": "等级分数线应从 A 到 D 依次降低",
                                              "message_en": "the grade bands must fall from A to D"}
    return out


def grade_of(composite: float | None, grades: list[tuple[str, float]]) -> str | None:
    if composite is None:
        return None
    for g, bound in grades:
        if composite >= bound:
            return g
    return "E"


# --- scoring (pure) --------------------------------------------------------------------------

@dataclass
class Mark:
    """One indicator of one object: its rate (or count), its 0–100 score, its weight."""

    value: float | int | None
    score: float | None
    weight: float


@dataclass
class Scored:
    key: str
    label: str
    counts: dict[str, int]
    marks: dict[str, Mark] = field(default_factory=dict)
    composite: float | None = None
    grade: str | None = None
    rank: int | None = None


def score(rows: list[tuple[str, str, Mapping[str, int]]], group: str, weights: Mapping[str, float],
          grades: list[tuple[str, float]]) -> list[Scored]:
    """Score ``(key, label, counts)`` rows of one object group; sorted best first
    (objects without any scored indicator last, unranked)."""
    indicators = INDICATORS[group]
    best = {i.key: max((int(c.get(i.num, 0)) for _k, _l, c in rows), default=0)
            for i in indicators if i.kind == "count"}
    out = []
    for key, label, counts in rows:
        s = Scored(key, label, dict(counts))
        num = den = 0.0
        for i in indicators:
            w = float(weights.get(i.key, 0))
            value: float | int | None
            if i.kind == "count":
                value = int(counts.get(i.num, 0))
                sc = round(100.0 * value / best[i.key], 2) if best[i.key] else None
            else:
                value = stats.rate(int(counts.get(i.num, 0)), int(counts.get(i.den or "", 0)))
                sc = None if value is None else (value if i.kind == "rate" else round(100.0 - value, 2))
            s.marks[i.key] = Mark(value, sc, w)
            if sc is not None:
                num += w * sc
                den += w
        s.composite = round(num / den, 2) if den > 0 else None
        s.grade = grade_of(s.composite, grades)
        out.append(s)
    out.sort(key=lambda r: (r.composite is None, -(r.composite or 0), r.key))
    prev: float | None = None
    rank = 0
    for n, r in enumerate(out, start=1):
        if r.composite is None:
            break
        if r.composite != prev:
            rank, prev = n, r.composite
        r.rank = rank
    return out


# --- data ------------------------------------------------------------------------------------

def public_counts(session: Session, dim: stats.Dimension, period: stats.Period, now: dt.datetime,
                  scope: stats.Scope | None = None) -> dict[str, int]:
    """Reports from the public (source ``public``) by the dimension: the
    numerator of the public-report share (``reported`` is its denominator)."""
    t = stats.case_table()
    col = t.c[dim.column]
    cond = and_(stats.MEASURES["reported"](t, stats.bounds(period, now)), t.c.source == "public")
    if scope is not None and not scope.everything:
        cond = and_(cond, scope.condition(t))
    out: dict[str, int] = {}
    for k, n in session.execute(select(col, func.count()).where(cond).group_by(col)):
        key = stats.NONE_KEY if k is None or k == "" else str(k)
        out[key] = out.get(key, 0) + int(n)
    return out


def _within(late: Any, early: Any, minutes: float) -> ColumnElement[bool]:
    """``late − early ≤ minutes`` (clock minutes), both set; half a second of slack
    absorbs SQLite's floating-point julianday (exactly the limit is on time)."""
    return and_(late.is_not(None), early.is_not(None), epoch(late) - epoch(early) <= minutes * 60.0 + 0.5)


def limit_minutes(settings: Mapping[str, Any], name: str) -> float:
    """The ``eval_limit_<name>_minutes`` setting (its default when unset or not a positive number)."""
    try:
        v = float(settings.get(f"eval_limit_{name}_minutes") or 0)
    except (TypeError, ValueError):
        v = 0
    return v if v > 0 else float(LIMITS[name])


Conds = dict[str, ColumnElement[bool]]


def post_conditions(t: Table, b: stats.Bounds, settings: Mapping[str, Any]) -> list[tuple[str, Conds]]:
    """Per post: ``(person column, {count: condition})`` statements (the supervisor has two)."""
    m = stats.MEASURES
    filed, dispatched = m["filed"](t, b), m["dispatched"](t, b)
    sv_reported = and_(stats.in_period(t.c.reported_at, b), t.c.source == "supervisor")
    verified = stats.in_period(t.c.verified_at, b)
    checked = and_(stats.in_period(t.c.checked_at, b), t.c.disposed_at.is_not(None))
    return [
        ("supervisor", "reporter_id", {
            "sv_reported": sv_reported,
            "sv_effective": and_(sv_reported, t.c.filed_at.is_not(None), t.c.status != stats.MERGED)}),
        ("supervisor", "verifier_id", {
            "sv_verified": verified,
            "sv_verified_on_time": and_(verified, _within(t.c.verified_at, t.c.reported_at,
                                                          limit_minutes(settings, "verify")))}),
        ("supervisor", "checker_id", {
            "sv_checked": checked,
            "sv_checked_on_time": and_(checked, _within(t.c.checked_at, t.c.disposed_at,
                                                        limit_minutes(settings, "check")))}),
        ("shift_leader", "filer_id", {
            "filed": filed,
            "sl_filed_on_time": and_(filed, _within(t.c.filed_at, func.coalesce(t.c.verified_at, t.c.reported_at),
                                                    limit_minutes(settings, "file"))),
            "sl_filed_kept": and_(filed, t.c.voided_at.is_(None)),
            "due": m["due"](t, b),
            "closed_on_time": m["closed_on_time"](t, b)}),
        ("dispatcher", "dispatcher_id", {
            "dispatched": dispatched,
            "dp_on_time": and_(dispatched, _within(t.c.dispatched_at, t.c.filed_at,
                                                   limit_minutes(settings, "dispatch"))),
            "dp_accurate": and_(dispatched, t.c.rework_count == 0, t.c.dispatch_count <= 1)}),
    ]


def post_counts(session: Session, post: str, period: stats.Period, settings: Mapping[str, Any],
                now: dt.datetime, scope: stats.Scope | None = None) -> dict[str, dict[str, int]]:
    """Per-person counts of a post: one ``SUM(CASE …) … GROUP BY <person column>``
    per person column (cases without the person are not evaluated)."""
    t = stats.case_table()
    b = stats.bounds(period, now)
    out: dict[str, dict[str, int]] = {}
    for p, column, conds in post_conditions(t, b, settings):
        if p != post:
            continue
        col = t.c[column]
        where = and_(col.is_not(None), or_(*conds.values()))
        if scope is not None and not scope.everything:
            where = and_(where, scope.condition(t))
        sums = [func.coalesce(func.sum(case((c, 1), else_=0)), 0).label(k) for k, c in conds.items()]
        for r in session.execute(select(col.label("k"), *sums).where(where).group_by(col)).mappings():
            acc = out.setdefault(str(r["k"]), {})
            for k in conds:
                acc[k] = acc.get(k, 0) + int(r[k] or 0)
    if post == "supervisor":
        for k, c in miss_counts(session, b, scope).items():
            out.setdefault(k, {}).update(c)
    return {k: c for k, c in out.items() if any(c.values())}


def miss_counts(session: Session, b: stats.Bounds, scope: stats.Scope | None = None) -> dict[str, dict[str, int]]:
    """Per 责任监督员: cases in their grids reported in the period, and those of
    them not reported by a supervisor (the 漏报率), one GROUP BY over the grid join."""
    t = stats.case_table()
    g = Grid.__table__
    missed = t.c.source.in_(MISSED_SOURCES)
    where = and_(stats.in_period(t.c.reported_at, b), g.c.supervisor_id.is_not(None))
    if scope is not None and not scope.everything:
        where = and_(where, scope.condition(t))
    stmt = (select(g.c.supervisor_id.label("k"), func.count().label("sv_grid_reported"),
                   func.coalesce(func.sum(case((missed, 1), else_=0)), 0).label("sv_missed"))
            .select_from(t.join(g, g.c.code == t.c.grid_code)).where(where).group_by(g.c.supervisor_id))
    return {str(r["k"]): {"sv_grid_reported": int(r["sv_grid_reported"]), "sv_missed": int(r["sv_missed"] or 0)}
            for r in session.execute(stmt).mappings()}


@dataclass
class Evaluation:
    object_type: str
    group: str
    period: stats.Period
    rows: list[Scored]
    weights: dict[str, float]
    grades: list[tuple[str, float]]
    warnings: list[tuple[str, str]]

    @property
    def indicators(self) -> tuple[Indicator, ...]:
        return INDICATORS[self.group]


def evaluate(session: Session, object_type: str, period: stats.Period, settings: Mapping[str, Any],
             now: dt.datetime | None = None, scope: stats.Scope | None = None,
             labels: Callable[[stats.Dimension, list[str]], dict[str, str]] | None = None) -> Evaluation:
    """The evaluation table of one object type over a period (cases limited to ``scope``).
    Cases without the object (no department, no grid …) are not evaluated."""
    now = now or dt.datetime.now(dt.UTC)
    group = group_of(object_type)
    dim = dimension_of(object_type)
    rows: list[tuple[str, str, Mapping[str, int]]]
    if group in POSTS:
        counts = post_counts(session, group, period, settings, now, scope)
        names = labels(dim, sorted(counts)) if labels else {}
        rows = [(k, names.get(k, k), c) for k, c in sorted(counts.items(), key=lambda kv: int(kv[0]))]
    else:
        tab = stats.compute(session, dim, period, now=now, labels=labels, scope=scope)
        public = public_counts(session, dim, period, now, scope) if group == "region" else {}
        rows = [(r.key, r.label, {**r.counts, PUBLIC_REPORTED: public.get(r.key, 0)})
                for r in tab.rows if r.key != stats.NONE_KEY]
    weights, grades = weights_from(settings, group), grades_from(settings)
    return Evaluation(object_type, group, period, score(rows, group, weights, grades), weights, grades,
                      problems(settings))


def export_rows(ev: Evaluation) -> list[list[Any]]:
    """XLSX rows: rank, code, name, composite, grade, then rate and score of each indicator."""
    out = []
    for r in ev.rows:
        row: list[Any] = [r.rank, r.key, r.label, r.composite, r.grade or ""]
        for i in ev.indicators:
            m = r.marks[i.key]
            row += [m.value, m.score]
        out.append(row)
    return out
