"""GB/T 30428.4 case statistics: counts and rates by a dimension over a period.

Everything is computed in SQL in ONE pass over ``command_case``: one
``SUM(CASE WHEN <measure condition> THEN 1 ELSE 0 END)`` per measure,
``GROUP BY`` the dimension's column. The very same condition objects build
the drill-down list, so the cases behind a number always add up to it.
The SQL is plain SQLAlchemy Core (CASE, comparisons, IS NULL), identical on
SQLite and PostgreSQL.

Definitions (period = ``[start, end)``, local calendar boundaries of the
deployment's time zone, compared in UTC; the plugin's README, 指标口径, gives the
reasons):

* reported (受理/上报) — ``reported_at`` in the period (merged duplicates included:
  they were reports); reported_filed — of those, the ones filed (at any time);
* not_filed (不予立案) — status ``not_filed`` and reported in the period;
* self_disposed (自行处置) — closed in the period on the spot by the supervisor
  with the shift leader's approval, never filed: outside 立案, 应结案 and 结案;
* filed (立案) — ``filed_at`` in the period;
* dispatched (派遣) — ``dispatched_at`` in the period;
* voided (作废) — ``voided_at`` in the period; filed_voided — cases filed in the
  period that were voided (at any time);
* due (应结案) — filed (``filed_at`` not null, before the period's end), not
  voided before the period's end, not merged, and either its deadline ``due_at`` falls in the period,
  or it was disposed or closed in the period (finished ahead of a later
  deadline). 挂账 (suspended) cases stay in ``due``; the pool is counted by ``suspended``;
* closed / closed_on_time (结案 / 按期结案) — due cases closed in the period (and
  ``closed_on_time`` true);
* disposed / disposed_on_time (处置 / 按期处置) — due cases whose CURRENT disposal
  round was done in the period (and on time against that round's deadline): a
  failed 核查 (返工) reopens the disposal, so the accepted disposal is the one counted;
* overdue_open (超期未处置/未结案) — a snapshot at the end of the period (or now,
  if earlier): filed before it, not disposed, closed or voided by then, and its
  disposal deadline ``due_at`` passed (a case disposed in time and waiting for
  核查 is not overdue; one sent back for rework is, once the rework's deadline passed);
  due_overdue — those of them that are due in the period (the 超期率 numerator);
* reworked, extended, suspended, sent_back (返工, 延期, 挂账, 回退) — cases FILED in
  the period whose counter is > 0 (the counters carry no date, so they are
  attributed to the filing cohort); redispatched (多次派遣) — filed in the period
  and dispatched more than once; cooperative (协同派遣) — filed in the period and
  dispatched to several departments at once.

Rates (percent, ``None`` when the denominator is 0), each numerator the
denominator's condition AND more (so every rate is 0–100 %): 立案率
reported_filed/reported, 结案率 closed/due, 按期结案率 closed_on_time/due,
处置率 disposed/due, 按期处置率 disposed_on_time/due, 超期率 due_overdue/due,
返工率, 延期率, 挂账率, 回退率, 多次派遣率, 协同派遣率 over filed, 作废率
filed_voided/filed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import (ARRAY, ColumnElement, Integer, Table, and_, any_, bindparam, case, cast, false, func, or_,
                        select, text, true, union)
from sqlalchemy.orm import Session

from ccms.api import UTCDateTime, ValidationFailed, field_error, org_info

from .models import Case, Region

MERGED = "merged"
OPEN_END = ("closed", "voided", "not_filed", MERGED)
NONE_KEY = "__none__"  # drill-down key of the "(unspecified)" group


def case_table() -> Table:
    return Case.__table__  # type: ignore[return-value]


# --- period ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """A local-calendar period ``[first, last]`` (inclusive days) and its UTC bounds."""

    kind: str  # month | quarter | year | custom
    first: dt.date
    last: dt.date
    start: dt.datetime  # UTC, inclusive
    end: dt.datetime  # UTC, exclusive

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{self.first:%Y-%m}"
        if self.kind == "quarter":
            return f"{self.first.year}-Q{(self.first.month - 1) // 3 + 1}"
        if self.kind == "year":
            return str(self.first.year)
        return f"{self.first:%Y-%m-%d} ~ {self.last:%Y-%m-%d}"

    def query(self) -> dict[str, str]:
        """The query parameters that select this period again (links, export)."""
        if self.kind == "month":
            return {"period": "month", "month": f"{self.first:%Y-%m}"}
        if self.kind == "quarter":
            return {"period": "quarter", "quarter": self.label}
        if self.kind == "year":
            return {"period": "year", "year": str(self.first.year)}
        return {"period": "custom", "start": f"{self.first:%Y-%m-%d}", "end": f"{self.last:%Y-%m-%d}"}


PERIOD_KINDS = ("month", "quarter", "year", "custom")
MAX_CUSTOM_DAYS = 3660


def _bad(name: str, zh: str, en: str) -> ValidationFailed:
    return ValidationFailed(zh, en, fields=field_error(name, zh, en))


def _utc(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.timezone.utc)


def make_period(kind: str, first: dt.date, last: dt.date, tz: ZoneInfo) -> Period:
    return Period(kind, first, last, _utc(first, tz), _utc(last + dt.timedelta(days=1), tz))


def _add_months(d: dt.date, n: int) -> dt.date:
    m = d.month - 1 + n
    return dt.date(d.year + m // 12, m % 12 + 1, 1)


def parse_period(params: dict[str, str], tz: ZoneInfo, today: dt.date | None = None) -> Period:
    """A period from query parameters; bad input raises ValidationFailed naming the field.

    ``period=month&month=2024-05`` · ``period=quarter&quarter=2024-Q2`` ·
    ``period=year&year=2024`` · ``period=custom&start=2024-05-01&end=2024-05-31``
    (both days included). Default: the current month.
    """
    today = today or dt.datetime.now(tz).date()
    kind = (params.get("period") or "month").strip()
    if kind not in PERIOD_KINDS:
        raise _bad("period", f"统计周期“{kind}”无效，应为 月/季/年/自定义",
                   f"unknown period {kind!r}: use month, quarter, year or custom")
    if kind == "month":
        raw = (params.get("month") or f"{today:%Y-%m}").strip()
        m = re.fullmatch(r"(\d{4})-(\d{1,2})", raw)
        if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
            raise _bad("month", f"月份“{raw}”格式不正确，应为 YYYY-MM", f"bad month {raw!r}: use YYYY-MM")
        first = dt.date(int(m.group(1)), int(m.group(2)), 1)
        return make_period(kind, first, _add_months(first, 1) - dt.timedelta(days=1), tz)
    if kind == "quarter":
        raw = (params.get("quarter") or f"{today.year}-Q{(today.month - 1) // 3 + 1}").strip().upper()
        m = re.fullmatch(r"(\d{4})-?Q([1-4])", raw)
        if not m or int(m.group(1)) < 1900:
            raise _bad("quarter", f"季度“{raw}”格式不正确，应为 YYYY-Q1…Q4", f"bad quarter {raw!r}: use YYYY-Q1..Q4")
        first = dt.date(int(m.group(1)), 3 * int(m.group(2)) - 2, 1)
        return make_period(kind, first, _add_months(first, 3) - dt.timedelta(days=1), tz)
    if kind == "year":
        raw = (params.get("year") or str(today.year)).strip()
        if not re.fullmatch(r"\d{4}", raw) or int(raw) < 1900:
            raise _bad("year", f"年份“{raw}”格式不正确，应为 YYYY", f"bad year {raw!r}: use YYYY")
        return make_period(kind, dt.date(int(raw), 1, 1), dt.date(int(raw), 12, 31), tz)
    days: list[dt.date] = []
    for name, zh in (("start", "开始日期"), ("end", "结束日期")):
        raw = (params.get(name) or "").strip()
        if not raw:
            raise _bad(name, f"请填写{zh}（YYYY-MM-DD）", f"the {name} date is required (YYYY-MM-DD)")
        try:
            days.append(dt.date.fromisoformat(raw))
        except ValueError:
            raise _bad(name, f"{zh}“{raw}”不是有效日期（YYYY-MM-DD）",
                       f"{name} date {raw!r} is not a valid date (YYYY-MM-DD)") from None
    first, last = days
    if last < first:
        raise _bad("end", "结束日期早于开始日期", "the end date is before the start date")
    if (last - first).days > MAX_CUSTOM_DAYS:
        raise _bad("end", "自定义区间最长 10 年", "a custom range may span at most 10 years")
    return make_period(kind, first, last, tz)


# --- dimensions -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Dimension:
    key: str
    column: str
    kind: str  # code | org | person | enum | class


DIMENSIONS: dict[str, Dimension] = {d.key: d for d in (
    Dimension("district", "district_code", "code"),
    Dimension("street", "street_code", "code"),
    Dimension("community", "community_code", "code"),
    Dimension("grid", "grid_code", "code"),
    Dimension("dept", "dept_id", "org"),
    Dimension("reporter", "reporter_id", "person"),
    Dimension("filer", "filer_id", "person"),
    Dimension("dispatcher", "dispatcher_id", "person"),
    Dimension("source", "source", "enum"),
    Dimension("big_class", "big_class", "class"),
    Dimension("class", "class_code", "class"),
    Dimension("status", "status", "enum"),
)}


def get_dimension(key: str) -> Dimension:
    d = DIMENSIONS.get((key or "").strip())
    if d is None:
        raise _bad("dim", f"统计维度“{key}”无效，可选：{'、'.join(DIMENSIONS)}",
                   f"unknown dimension {key!r}; choose one of {', '.join(DIMENSIONS)}")
    return d


# --- measures -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bounds:
    """What a condition needs: the period's UTC bounds and the snapshot time
    ``at`` = min(end, now) — plain values, or bind parameters for the cached statement."""

    start: Any
    end: Any
    at: Any


def bounds(p: Period, now: dt.datetime) -> Bounds:
    return Bounds(p.start, p.end, min(p.end, now))


PARAMS = Bounds(bindparam("s", type_=UTCDateTime), bindparam("e", type_=UTCDateTime),
                bindparam("at", type_=UTCDateTime))


def in_period(col: Any, p: Bounds) -> ColumnElement[bool]:
    """``col`` falls in the period (start inclusive, end exclusive); also used by 绩效考核."""
    return and_(col >= p.start, col < p.end)


Cond = Callable[[Table, Bounds], ColumnElement[bool]]


def _not_merged(t: Table) -> ColumnElement[bool]:
    return t.c.status != MERGED


def _filed_cohort(t: Table, p: Bounds) -> ColumnElement[bool]:
    return and_(in_period(t.c.filed_at, p), _not_merged(t))


def _counted(t: Table, p: Bounds) -> ColumnElement[bool]:
    """What 应结案 and everything it is the denominator of share: filed before the period's
    end, not merged, not voided before it (a self-disposed case, never filed, is not in it)."""
    return and_(t.c.filed_at.is_not(None), t.c.filed_at < p.end, _not_merged(t),
                or_(t.c.voided_at.is_(None), t.c.voided_at >= p.end))


def _due(t: Table, p: Bounds) -> ColumnElement[bool]:
    return and_(_counted(t, p),
                or_(in_period(t.c.due_at, p), in_period(t.c.disposed_at, p), in_period(t.c.closed_at, p)))


def _closed(t: Table, p: Bounds) -> ColumnElement[bool]:
    return and_(_counted(t, p), in_period(t.c.closed_at, p))


def _disposed(t: Table, p: Bounds) -> ColumnElement[bool]:
    return and_(_counted(t, p), in_period(t.c.disposed_at, p))


def _overdue_open(t: Table, p: Bounds) -> ColumnElement[bool]:
    at = p.at
    return and_(t.c.filed_at.is_not(None), t.c.filed_at < at, _not_merged(t),
                or_(t.c.disposed_at.is_(None), t.c.disposed_at >= at),
                or_(t.c.closed_at.is_(None), t.c.closed_at >= at),
                or_(t.c.voided_at.is_(None), t.c.voided_at >= at),
                t.c.due_at.is_not(None), t.c.due_at < at)


# Every rate's numerator is its denominator AND a further condition (``RATES``), so no case
# counts above the line without counting below it: 0 <= rate <= 100 % in every row.
MEASURES: dict[str, Cond] = {
    "reported": lambda t, p: in_period(t.c.reported_at, p),
    "reported_filed": lambda t, p: and_(in_period(t.c.reported_at, p), t.c.filed_at.is_not(None), _not_merged(t)),
    "not_filed": lambda t, p: and_(in_period(t.c.reported_at, p), t.c.status == "not_filed"),
    "self_disposed": lambda t, p: and_(in_period(t.c.closed_at, p), t.c.self_disposed.is_(true()),
                                       t.c.filed_at.is_(None)),
    "filed": lambda t, p: _filed_cohort(t, p),
    "dispatched": lambda t, p: and_(in_period(t.c.dispatched_at, p), _not_merged(t)),
    "voided": lambda t, p: and_(in_period(t.c.voided_at, p), _not_merged(t)),
    "filed_voided": lambda t, p: and_(_filed_cohort(t, p), t.c.voided_at.is_not(None)),
    "due": _due,
    "closed": _closed,
    "closed_on_time": lambda t, p: and_(_closed(t, p), t.c.closed_on_time.is_(true())),
    "disposed": _disposed,
    "disposed_on_time": lambda t, p: and_(_disposed(t, p), t.c.disposed_on_time.is_(true())),
    "overdue_open": _overdue_open,
    "due_overdue": lambda t, p: and_(_due(t, p), _overdue_open(t, p)),
    "reworked": lambda t, p: and_(_filed_cohort(t, p), t.c.rework_count > 0),
    "extended": lambda t, p: and_(_filed_cohort(t, p), t.c.extend_count > 0),
    "suspended": lambda t, p: and_(_filed_cohort(t, p), t.c.suspend_count > 0),
    "sent_back": lambda t, p: and_(_filed_cohort(t, p), t.c.return_count > 0),
    "redispatched": lambda t, p: and_(_filed_cohort(t, p), t.c.dispatch_count > 1),
    "cooperative": lambda t, p: and_(_filed_cohort(t, p), t.c.cooperative.is_(true())),
}

# rate key -> (numerator, denominator); the numerator's condition implies the denominator's
RATES: dict[str, tuple[str, str]] = {
    "filing_rate": ("reported_filed", "reported"),
    "close_rate": ("closed", "due"),
    "ontime_close_rate": ("closed_on_time", "due"),
    "dispose_rate": ("disposed", "due"),
    "ontime_dispose_rate": ("disposed_on_time", "due"),
    "overdue_rate": ("due_overdue", "due"),
    "rework_rate": ("reworked", "filed"),
    "extend_rate": ("extended", "filed"),
    "suspend_rate": ("suspended", "filed"),
    "return_rate": ("sent_back", "filed"),
    "void_rate": ("filed_voided", "filed"),
    "redispatch_rate": ("redispatched", "filed"),
    "cooperative_rate": ("cooperative", "filed"),
}


def get_measure(key: str) -> str:
    if key not in MEASURES:
        raise _bad("measure", f"统计指标“{key}”无效", f"unknown measure {key!r}")
    return key


def rate(num: int, den: int) -> float | None:
    """A percentage rounded to two places (GB/T 30428.4 reports 93.72 %)."""
    return None if not den else round(100.0 * num / den, 2)


# The columns whose value inside the period can make a case count; each has an index
# (models.py, migration 0008_stats_indexes), so each range below is an index range scan.
ACTIVITY_COLUMNS = ("reported_at", "filed_at", "dispatched_at", "voided_at", "disposed_at", "closed_at", "due_at")
# What the measures, dimensions, scope and drill-down read of a case (``period_rows``).
STATS_COLUMNS = tuple(dict.fromkeys((
    "id", "case_no", *ACTIVITY_COLUMNS, "status", "self_disposed", "closed_on_time", "disposed_on_time",
    "rework_count", "extend_count", "suspend_count", "return_count", "dispatch_count", "cooperative",
    *(d.column for d in DIMENSIONS.values()), "district_code", "street_code", "community_code", "dept_id")))


def _snapshot(t: Table, at: Any) -> ColumnElement[bool]:
    """Overdue at ``at``, except for the closed/voided conditions (the callers split them)."""
    return and_(t.c.filed_at < at, t.c.due_at < at, or_(t.c.disposed_at.is_(None), t.c.disposed_at >= at))


def _any_activity(t: Table, p: Bounds) -> ColumnElement[bool]:
    """A row that may count in some measure (a superset: the measures decide).

    The reference form of :func:`_activity_ids` (the tests check both select the same rows)."""
    at = p.at
    return or_(*(in_period(t.c[c], p) for c in ACTIVITY_COLUMNS),
               and_(_snapshot(t, at), or_(t.c.closed_at.is_(None), t.c.closed_at >= at),
                    or_(t.c.voided_at.is_(None), t.c.voided_at >= at)))


def _activity_parts(t: Table, p: Bounds) -> list[ColumnElement[bool]]:
    """:func:`_any_activity` as conditions each served by one index range, so a period reads
    its own rows and not the whole history (an OR over several columns is a full scan for
    SQLite's planner, and PostgreSQL's switches to one as the history grows).

    The snapshot part (open and overdue at ``at``) is split three ways on how the case stood
    at ``at``: closed after it, voided after it (not closed), or neither closed nor voided
    yet — the last one served by the partial index ``ix_command_case_live_due``, whose rows
    are the live cases only. Together the parts select exactly ``_any_activity``'s rows.
    """
    at = p.at
    snap = _snapshot(t, at)
    return [*(in_period(t.c[c], p) for c in ACTIVITY_COLUMNS),
            and_(t.c.closed_at >= at, or_(t.c.voided_at.is_(None), t.c.voided_at >= at), snap),
            and_(t.c.voided_at >= at, t.c.closed_at.is_(None), snap),
            and_(t.c.closed_at.is_(None), t.c.voided_at.is_(None), t.c.filed_at.is_not(None), snap)]


def _activity_ids(t: Table, p: Bounds) -> Any:
    """The ids of :func:`_activity_parts` (the tests compare them with ``_any_activity``)."""
    return union(*(select(t.c.id).where(c) for c in _activity_parts(t, p)))


def period_rows(t: Table, p: Bounds, dialect: str = "") -> Any:
    """The period's candidate rows — the columns statistics and drill-downs read — as a
    subquery over the index ranges of :func:`_activity_parts`: the UNION of their ids (narrow,
    cheap to deduplicate), then one primary-key lookup per id. SQLite: ``id IN (…)``.
    PostgreSQL: ``id = ANY((SELECT array_agg(id) FROM …))`` — for ``id IN (…)`` its planner
    hash-joins a full scan once the history is large, and a UNION of whole rows sorts them
    on disk."""
    cols = [t.c[c] for c in STATS_COLUMNS if c in t.c]
    if dialect == "sqlite":
        return select(*cols).where(t.c.id.in_(_activity_ids(t, p))).subquery("period_rows")
    ids = _activity_ids(t, p).subquery("period_ids")
    id_array = cast(select(func.array_agg(ids.c.id)).scalar_subquery(), ARRAY(Integer))  # one value, not rows
    return select(*cols).where(t.c.id == any_(id_array)).subquery("period_rows")


# --- scope: the cases a user may count --------------------------------------------------------
# --- scope: the cases a user may count --------------------------------------------------------

@dataclass(frozen=True)
class Scope:
    """The cases a user may see in statistics and on the map.

    A case belongs to the places it lies in (district, street, community) and
    to its main department (``dept_id``). A user sees the cases of every place
    and department inside the org subtrees where they hold the view
    permission; a grant at the root org (the city) sees everything, including
    cases without a place. See ``scope_of`` and the plugin's README.
    """

    everything: bool = False
    districts: frozenset[str] = frozenset()
    streets: frozenset[str] = frozenset()
    communities: frozenset[str] = frozenset()
    depts: frozenset[int] = frozenset()
    org_ids: tuple[int, ...] = ()  # the granted orgs (for the caption)

    def condition(self, t: Table) -> ColumnElement[bool]:
        """A WHERE clause over ``command_case`` (``true()`` for the whole city)."""
        if self.everything:
            return true()
        parts: list[ColumnElement[bool]] = []
        for values, col in ((self.districts, t.c.district_code), (self.streets, t.c.street_code),
                            (self.communities, t.c.community_code)):
            if values:
                parts.append(col.in_(sorted(values)))
        if self.depts:
            parts.append(t.c.dept_id.in_(sorted(self.depts)))
        return or_(*parts) if parts else false()

    def contains(self, c: Any) -> bool:
        """The same rule as :meth:`condition`, for one case already loaded."""
        return self.everything or bool(
            (c.district_code and c.district_code in self.districts)
            or (c.street_code and c.street_code in self.streets)
            or (c.community_code and c.community_code in self.communities)
            or (c.dept_id is not None and c.dept_id in self.depts))


EVERYTHING = Scope(everything=True)


def scope_of(granted: Iterable[int], paths: dict[int, str | None], orgs: dict[int, tuple[str, str | None]],
             regions: Iterable[tuple[str, str, int | None]]) -> Scope:
    """The scope of a user from the orgs where they hold the view permission.

    ``paths``: org id -> materialised path (``/1/4/``); ``orgs``: org id ->
    (kind, region code); ``regions``: (level, code, org id) of 街道社区.
    A granted root org = everything. Otherwise every org inside a granted
    subtree counts: as a department (``dept_id``), as a street or community
    (through ``command_region.org_id``), and a ``region`` org whose region
    code differs from its parent's is a district (cases by ``district_code``;
    streets and communities carry their district's code, so they do not
    widen to the whole district).
    """
    granted = [g for g in granted if paths.get(g)]
    if not granted:
        return Scope()
    prefixes = [paths[g] or "" for g in granted]
    if any(p.count("/") == 2 for p in prefixes):
        return Scope(everything=True, org_ids=tuple(sorted(granted)))
    covered = {o for o, p in paths.items() if p and any(p.startswith(g) for g in prefixes)}
    districts = set()
    for o in covered:
        kind, code = orgs.get(o, ("", None))
        if kind != "region" or not code:
            continue
        parent = _parent_id(paths[o] or "")
        if parent is None or orgs.get(parent, ("", None))[1] != code:
            districts.add(code)
    streets = {code for level, code, org in regions if level == "street" and org in covered}
    communities = {code for level, code, org in regions if level == "community" and org in covered}
    return Scope(False, frozenset(districts), frozenset(streets), frozenset(communities), frozenset(covered),
                 tuple(sorted(granted)))


def user_scope(ctx: Any, session: Session, user: Any, permission: str) -> Scope:
    """The cases ``user`` may see through ``permission``: from the orgs where they hold it
    (a grant at the root org = the whole city; see :func:`scope_of`)."""
    if user is None:
        return Scope()
    granted = ctx.grant_orgs(user, permission)  # empty too when an API token's scopes do not allow it
    if not granted:
        return Scope()
    granted_paths = {g: ctx.org_path(g) for g in granted}
    if any(p and p.count("/") == 2 for p in granted_paths.values()):
        return Scope(everything=True, org_ids=tuple(granted))
    infos = org_info(session)
    paths = {o: ctx.org_path(o) for o in infos}
    regions = [tuple(r) for r in session.execute(select(Region.level, Region.code, Region.org_id))]
    return scope_of(granted, paths, {o: (i.kind, i.region_code) for o, i in infos.items()}, regions)


def _parent_id(path: str) -> int | None:
    parts = [p for p in path.split("/") if p]
    return int(parts[-2]) if len(parts) >= 2 and parts[-2].isdigit() else None


# --- the one-pass query ---------------------------------------------------------------------

@dataclass
class Row:
    key: str  # NONE_KEY when the dimension is empty
    label: str
    counts: dict[str, int]
    rates: dict[str, float | None] = field(default_factory=dict)


@dataclass
class Table_:
    dim: Dimension
    period: Period
    rows: list[Row]
    total: Row


def measure_sql(t: Table, p: Bounds) -> list[Any]:
    return [func.coalesce(func.sum(case((MEASURES[m](t, p), 1), else_=0)), 0).label(m) for m in MEASURES]


_STATEMENTS: dict[tuple[int, str, str], tuple[Any, Any]] = {}


def _dialect(session: Session) -> str:
    """The database's dialect name; on PostgreSQL also asks for plans made with this query's
    period (for the rest of the transaction): psycopg prepares a statement run five times,
    and PostgreSQL's generic plan for it cannot know which index ranges the bounds make
    small — with ten times the history it read 1.7x more than the custom plan."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    return name


def _statement(t: Table, column: str, dialect: str = "") -> tuple[Any, Any]:
    """The one-pass statement per table, dimension and database over the period's rows, and
    that subquery (for the scope's condition); built once with bind parameters (building
    the CASE expressions costs more than a small query)."""
    key = (id(t), column, dialect)
    built = _STATEMENTS.get(key)
    if built is None:
        rows = period_rows(t, PARAMS, dialect)
        col = rows.c[column]
        built = (select(col.label("k"), *measure_sql(rows, PARAMS)).group_by(col), rows)
        _STATEMENTS[key] = built
    return built


def _key_value(v: Any) -> str:
    if v is None or v == "":
        return NONE_KEY
    return str(v)


def _with_rates(row: Row) -> Row:
    row.rates = {k: rate(row.counts[n], row.counts[d]) for k, (n, d) in RATES.items()}
    return row


def compute(session: Session, dim: Dimension, period: Period, now: dt.datetime | None = None,
            labels: Callable[[Dimension, list[str]], dict[str, str]] | None = None,
            table: Table | None = None, scope: Scope | None = None) -> Table_:
    """Every measure by ``dim`` over ``period`` in one ``SELECT ... GROUP BY``;
    the totals row is the sum of the groups (each case falls in one group).
    ``scope`` limits the cases to those a user may see (None = all)."""
    t = table if table is not None else case_table()
    now = now or dt.datetime.now(dt.timezone.utc)
    b = bounds(period, now)
    merged: dict[str, dict[str, int]] = {}
    stmt, rows = _statement(t, dim.column, _dialect(session))
    if scope is not None and not scope.everything:
        stmt = stmt.where(scope.condition(rows))
    for r in session.execute(stmt, {"s": b.start, "e": b.end, "at": b.at}).mappings():
        k = _key_value(r["k"])
        acc = merged.setdefault(k, dict.fromkeys(MEASURES, 0))
        for m in MEASURES:
            acc[m] += int(r[m] or 0)
    merged = {k: c for k, c in merged.items() if any(c.values())}
    names = labels(dim, [k for k in merged if k != NONE_KEY]) if labels else {}
    rows = [_with_rates(Row(k, names.get(k, k) if k != NONE_KEY else "", c)) for k, c in merged.items()]
    rows.sort(key=lambda r: (r.key == NONE_KEY, r.key))
    total = _with_rates(Row("", "", {m: sum(r.counts[m] for r in rows) for m in MEASURES}))
    return Table_(dim, period, rows, total)


def drill_condition(dim: Dimension | None, key: str | None, measure: str, period: Period, now: dt.datetime,
                    table: Table | None = None, scope: Scope | None = None) -> ColumnElement[bool]:
    """The WHERE clause of the cases behind one number of the table."""
    t = table if table is not None else case_table()
    cond = MEASURES[get_measure(measure)](t, bounds(period, now))
    if scope is not None and not scope.everything:
        cond = and_(cond, scope.condition(t))
    if dim is None or key is None or key == "":
        return cond
    col = t.c[dim.column]
    if key == NONE_KEY:
        return and_(cond, or_(col.is_(None), col == "") if dim.kind not in ("org", "person") else col.is_(None))
    if dim.kind in ("org", "person"):
        if not key.isdigit():
            raise _bad("key", f"编号“{key}”无效", f"bad key {key!r}")
        return and_(cond, col == int(key))
    return and_(cond, col == key)


def drill(session: Session, dim: Dimension | None, key: str | None, measure: str, period: Period,
          now: dt.datetime | None = None, page: int = 1, size: int = 20, table: Table | None = None,
          scope: Scope | None = None) -> tuple[list[Any], int]:
    """The cases behind one number: one page of rows and the total count."""
    t = table if table is not None else case_table()
    now = now or dt.datetime.now(dt.timezone.utc)
    # every measure's rows lie in the period's rows: reading only those changes nothing but the cost
    src = period_rows(t, bounds(period, now), _dialect(session))
    cond = drill_condition(dim, key, measure, period, now, src, scope)
    total = int(session.scalar(select(func.count()).select_from(src).where(cond)) or 0)
    cols = [src.c.id, src.c.case_no, src.c.class_code, src.c.source, src.c.status, src.c.district_code,
            src.c.street_code, src.c.grid_code, src.c.dept_id, src.c.reported_at, src.c.due_at, src.c.closed_at]
    rows = list(session.execute(select(*cols).where(cond).order_by(src.c.reported_at.desc(), src.c.id.desc())
                                .limit(size).offset((max(page, 1) - 1) * size)).mappings())
    return rows, total


# --- monthly trend (one pass too) ------------------------------------------------------------

def month_periods(last: dt.date, count: int, tz: ZoneInfo) -> list[Period]:
    first = _add_months(dt.date(last.year, last.month, 1), -(count - 1))
    out = []
    for i in range(count):
        a = _add_months(first, i)
        out.append(make_period("month", a, _add_months(a, 1) - dt.timedelta(days=1), tz))
    return out


def trend(session: Session, measure: str, months: list[Period], now: dt.datetime | None = None,
          dim: Dimension | None = None, key: str | None = None, table: Table | None = None,
          scope: Scope | None = None) -> list[int]:
    """One measure per month: one SUM(CASE) column per month, one SELECT."""
    t = table if table is not None else case_table()
    now = now or dt.datetime.now(dt.timezone.utc)
    get_measure(measure)
    whole = Period("custom", months[0].first, months[-1].last, months[0].start, months[-1].end)
    src = period_rows(t, bounds(whole, now), _dialect(session))  # each month's rows lie in the whole range's
    cols = [func.coalesce(func.sum(case((drill_condition(dim, key, measure, m, now, src), 1), else_=0)), 0)
            .label(f"m{i}") for i, m in enumerate(months)]
    stmt = select(*cols)
    if scope is not None and not scope.everything:
        stmt = stmt.where(scope.condition(src))
    r = session.execute(stmt).one()
    return [int(v or 0) for v in r]


def hand_written_sql(dim_column: str) -> str:
    """The same figures as :func:`compute` written by hand (the benchmark's
    reference and a cross-check in the tests). Parameters: ``:s`` ``:e`` ``:at``."""
    def inn(c: str) -> str:
        return f"({c} >= :s AND {c} < :e)"
    nm = "status <> 'merged'"
    fc = f"{inn('filed_at')} AND {nm}"
    counted = f"filed_at IS NOT NULL AND filed_at < :e AND {nm} AND (voided_at IS NULL OR voided_at >= :e)"
    due = f"{counted} AND ({inn('due_at')} OR {inn('disposed_at')} OR {inn('closed_at')})"
    overdue = ("filed_at IS NOT NULL AND filed_at < :at AND "
               f"{nm} AND (disposed_at IS NULL OR disposed_at >= :at) AND (closed_at IS NULL OR closed_at >= :at)"
               " AND (voided_at IS NULL OR voided_at >= :at) AND due_at IS NOT NULL AND due_at < :at")
    conds = {
        "reported": inn("reported_at"),
        "reported_filed": f"{inn('reported_at')} AND filed_at IS NOT NULL AND {nm}",
        "not_filed": f"{inn('reported_at')} AND status = 'not_filed'",
        "self_disposed": f"{inn('closed_at')} AND self_disposed = TRUE AND filed_at IS NULL",
        "filed": fc,
        "dispatched": f"{inn('dispatched_at')} AND {nm}",
        "voided": f"{inn('voided_at')} AND {nm}",
        "filed_voided": f"{fc} AND voided_at IS NOT NULL",
        "due": due,
        "closed": f"{counted} AND {inn('closed_at')}",
        "closed_on_time": f"{counted} AND {inn('closed_at')} AND closed_on_time = TRUE",
        "disposed": f"{counted} AND {inn('disposed_at')}",
        "disposed_on_time": f"{counted} AND {inn('disposed_at')} AND disposed_on_time = TRUE",
        "overdue_open": overdue,
        "due_overdue": f"{due} AND {overdue}",
        "reworked": f"{fc} AND rework_count > 0",
        "extended": f"{fc} AND extend_count > 0",
        "suspended": f"{fc} AND suspend_count > 0",
        "sent_back": f"{fc} AND return_count > 0",
        "redispatched": f"{fc} AND dispatch_count > 1",
        "cooperative": f"{fc} AND cooperative = TRUE",
    }
    sums = ",\n  ".join(f"SUM(CASE WHEN {c} THEN 1 ELSE 0 END) AS {m}" for m, c in conds.items())
    where = (f"{inn('reported_at')} OR {inn('filed_at')} OR {inn('dispatched_at')} OR {inn('voided_at')} OR "
             f"{inn('disposed_at')} OR {inn('closed_at')} OR {inn('due_at')} OR "
             "(filed_at < :at AND due_at < :at AND (disposed_at IS NULL OR disposed_at >= :at) "
             "AND (closed_at IS NULL OR closed_at >= :at) AND (voided_at IS NULL OR voided_at >= :at))")
    return f"SELECT {dim_column} AS k,\n  {sums}\nFROM command_case\nWHERE {where}\nGROUP BY {dim_column}"


def table_rows(tab: Table_, measures: Iterable[str] | None = None) -> list[list[Any]]:
    """Rows for export: key, label, every count, every rate; the totals row last."""
    ms = list(measures or MEASURES)
    out = [[r.key if r.key != NONE_KEY else "", r.label, *[r.counts[m] for m in ms], *r.rates.values()]
           for r in tab.rows]
    out.append(["", "", *[tab.total.counts[m] for m in ms], *tab.total.rates.values()])
    return out


__all__ = ["DIMENSIONS", "EVERYTHING", "MEASURES", "NONE_KEY", "Period", "RATES", "Row", "Scope", "compute", "drill",
           "get_dimension", "get_measure", "hand_written_sql", "make_period", "month_periods", "parse_period", "rate",
           "scope_of", "trend", "user_scope"]
