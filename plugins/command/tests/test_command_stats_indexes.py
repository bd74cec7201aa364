"""Statistics and the case list read index ranges, with the same figures (issue 11, item 7).

The period's statistics select their candidate rows as a UNION of index ranges
(``stats._activity_ids``) instead of one OR over seven columns (a full scan of
the history). These tests check, on SQLite and PostgreSQL, that

* the UNION selects exactly the rows of the reference OR (``stats._any_activity``)
  and every figure equals the one-pass query with the reference WHERE, over
  random case histories and many periods and snapshot times;
* neither the statistics nor the filtered list plans a full scan of
  ``command_case`` (the plan, not a timing);
* the list's search box: a class code filters by class, a case-number prefix by
  prefix (exactly), other text as before; the screen's total stops counting at
  ``COUNT_CAP`` and says "more than".
"""

from __future__ import annotations

import datetime as dt
import random
import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text, true

from ccms.plugins.command import case_filters, stats
from ccms.plugins.command.models import Case

TZ = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
STATUSES = ("reported", "verifying", "not_filed", "filed", "dispatched", "disposing", "checking", "closed",
            "voided", "suspended", "merged")


def _random_cases(n: int, seed: int) -> list[Case]:
    """Random histories over 2024 with NULLs, shared timestamps and values on period edges."""
    rng = random.Random(seed)
    edges = [dt.datetime(2024, m, 1, tzinfo=TZ).astimezone(dt.timezone.utc) for m in range(1, 13)]

    def when(base: dt.datetime | None, p_none: float) -> dt.datetime | None:
        if base is None or rng.random() < p_none:
            return None
        if rng.random() < 0.1:
            return rng.choice(edges)
        return base + dt.timedelta(hours=rng.random() * rng.choice((2, 48, 400, 2000)))

    out = []
    for i in range(1, n + 1):
        rep = T0 + dt.timedelta(hours=rng.random() * 24 * 365) if rng.random() > 0.05 else rng.choice(edges)
        filed = when(rep, 0.2)
        disp = when(filed, 0.2)
        disposed = when(disp, 0.4)
        closed = when(disposed if rng.random() < 0.9 else rep, 0.4)
        voided = when(filed or rep, 0.85)
        due = when(filed, 0.1)
        out.append(Case(
            id=i, case_no=f"E01{i % 7:02d}2024{i:08d}", kind="E", class_code=f"E01{i % 7:02d}", big_class="E01",
            source="supervisor", status=rng.choice(STATUSES), district_code=rng.choice(("320505", "320506", "")),
            street_code="", community_code="", grid_code="", dept_id=rng.choice((None, 1, 2)),
            reported_at=rep, filed_at=filed, dispatched_at=disp, disposed_at=disposed, closed_at=closed,
            voided_at=voided, due_at=due, disposed_on_time=rng.choice((None, True, False)),
            closed_on_time=rng.choice((None, True, False)), self_disposed=filed is None and rng.random() < 0.3,
            rework_count=rng.choice((0, 0, 1)), extend_count=rng.choice((0, 1)), suspend_count=rng.choice((0, 1)),
            return_count=rng.choice((0, 1)), dispatch_count=rng.choice((0, 1, 2)), cooperative=rng.random() < 0.1))
    return out


@pytest.fixture
def history(app):
    ctx = app.state.ccms
    with ctx.db.session() as s:
        s.add_all(_random_cases(400, seed=20261207))
    return ctx


def _reference(s, dim: stats.Dimension, period: stats.Period, now: dt.datetime) -> dict[str, dict[str, int]]:
    """The one-pass query as it was: every measure, WHERE the OR over the event times."""
    t = stats.case_table()
    b = stats.bounds(period, now)
    col = t.c[dim.column]
    rows = s.execute(select(col.label("k"), *stats.measure_sql(t, b)).where(stats._any_activity(t, b))
                     .group_by(col)).mappings()
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        acc = out.setdefault(stats._key_value(r["k"]), dict.fromkeys(stats.MEASURES, 0))
        for m in stats.MEASURES:
            acc[m] += int(r[m] or 0)
    return {k: c for k, c in out.items() if any(c.values())}


PERIODS = [
    *({"period": "month", "month": f"2024-{m:02d}"} for m in (1, 3, 5, 6, 8, 11, 12)),
    {"period": "quarter", "quarter": "2024-Q2"}, {"period": "year", "year": "2024"},
    {"period": "custom", "start": "2024-02-10", "end": "2024-04-20"},
]
NOWS = [dt.datetime(2024, 5, 17, 3, tzinfo=dt.timezone.utc), dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)]


def test_index_ranges_select_exactly_the_reference_rows_and_give_the_same_figures(history):
    t = stats.case_table()
    with history.db.session() as s:
        for q in PERIODS:
            period = stats.parse_period(q, TZ)
            for now in NOWS:
                b = stats.bounds(period, now)
                union_ids = set(s.scalars(stats._activity_ids(t, b)))
                or_ids = set(s.scalars(select(t.c.id).where(stats._any_activity(t, b))))
                assert union_ids == or_ids and or_ids, (q, now)
                for dim in ("district", "dept", "status"):
                    d = stats.get_dimension(dim)
                    tab = stats.compute(s, d, period, now=now)
                    assert {r.key: r.counts for r in tab.rows} == _reference(s, d, period, now), (q, now, dim)
                for m in ("closed", "overdue_open", "due_overdue", "self_disposed"):
                    rows, total = stats.drill(s, None, None, m, period, now=now, size=1000)
                    assert total == tab.total.counts[m] == len(rows), (q, now, m)
        months = stats.month_periods(dt.date(2024, 12, 31), 12, TZ)
        for m in ("reported", "due", "overdue_open"):
            assert stats.trend(s, m, months, now=NOWS[1]) == [
                sum(c[m] for c in _reference(s, stats.get_dimension("district"), p, NOWS[1]).values())
                for p in months]


def _plan(s, stmt) -> str:
    """The query plan as text; PostgreSQL is told to avoid sequential scans, so a plan that
    still has one has no index to use."""
    if s.bind.dialect.name == "sqlite":
        comp = stmt.compile(s.bind)
        params = comp.construct_params()
        args = [params[k] for k in comp.positiontup]
        args = [a.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(a, dt.datetime) else a
                for a in args]
        raw = s.connection().connection.driver_connection
        return "\n".join(r[3] for r in raw.execute("EXPLAIN QUERY PLAN " + str(comp), args))
    s.execute(text("SET LOCAL enable_seqscan = off"))
    comp = stmt.compile(s.bind)
    raw = s.connection().connection.driver_connection
    cur = raw.cursor()
    cur.execute("EXPLAIN " + str(comp), comp.construct_params())
    return "\n".join(r[0] for r in cur.fetchall())


def _full_scan(plan: str) -> bool:
    return bool(re.search(r"^SCAN command_case\b|Seq Scan on command_case", plan, re.M))


def test_a_months_statistics_and_filtered_lists_plan_no_full_scan(history):
    period = stats.parse_period({"period": "month", "month": "2024-05"}, TZ)
    b = stats.bounds(period, NOWS[0])
    t = stats.case_table()
    stmt = stats._statement(t, "district_code", history.db.engine.dialect.name)[0].params(s=b.start, e=b.end, at=b.at)
    old = select(t.c.district_code, *stats.measure_sql(t, b)).where(stats._any_activity(t, b)) \
        .group_by(t.c.district_code)
    with history.db.session() as s:
        if s.bind.dialect.name == "sqlite":  # (PostgreSQL ORs bitmaps of the new indexes)
            assert _full_scan(_plan(s, old))  # the reference OR: what the screen did before
        assert not _full_scan(_plan(s, stmt))
        for params in ({"status": "closed"}, {"q": "E0102"}, {"q": "e01022024"}):
            page = (select(Case).where(true(), *case_filters.list_conditions(params))
                    .order_by(Case.reported_at.desc(), Case.id.desc()).limit(20))
            assert not _full_scan(_plan(s, page)), params


def test_search_box_class_code_case_number_prefix_and_free_text(history):
    with history.db.session() as s:
        s.add_all([Case(id=901, case_no="C0203-2024-0001", kind="C", class_code="C0203", big_class="C02",
                        source="hotline", status="closed", address="人民路 12 号", description="井盖缺失",
                        reported_at=T0, dept_ids=[]),
                   Case(id=902, case_no="C0203-2024-0002", kind="C", class_code="C0203", big_class="C02",
                        source="hotline", status="filed", address="E0102 大厦", reported_at=T0, dept_ids=[])])
    with history.db.session() as s:
        def ids(q: str, **more: str) -> set[int]:
            return set(s.scalars(select(Case.id).where(*case_filters.list_conditions({"q": q, **more}))))
        every = {c.id: c for c in s.scalars(select(Case))}
        assert ids("e0102") == {i for i, c in every.items() if c.class_code == "E0102"} != set()
        assert ids("E01") == {i for i, c in every.items() if c.big_class == "E01"}
        assert ids("E01032024") == {i for i, c in every.items() if c.case_no.startswith("E01032024")} != set()
        assert ids("C0203-2024-") == {901, 902} and ids("C0203-2024-0002") == {902}
        assert ids("C0203-2024-0002", status="closed") == set()
        assert ids("人民路") == {901} and ids("井盖") == {901} and ids("大厦") == {902}
        assert ids("100%") == set()  # wildcards are literal
        stmt = select(Case).where(*case_filters.list_conditions({"q": "E0101"}))
        n = len(ids("E0101"))
        assert case_filters.count_capped(s, stmt, cap=n) == n
        assert case_filters.count_capped(s, stmt, cap=n - 3) == n - 2  # "more than n - 3"


def test_case_list_screen_says_more_than_the_cap(history, admin, monkeypatch):
    with history.db.session() as s:
        closed = s.scalar(select(func.count()).select_from(Case).where(Case.status == "closed"))
    r = admin.get("/command/cases?status=closed")
    assert r.status_code == 200 and f'data-testid="case-total">共 {closed} 件<' in r.text
    monkeypatch.setattr(case_filters, "COUNT_CAP", closed - 1)
    r = admin.get("/command/cases?status=closed")
    assert r.status_code == 200 and f'data-testid="case-total">共 {closed - 1:,}+ 件<' in r.text
    api = admin.get("/api/command/cases?status=closed").json()  # machines keep the exact count
    assert api["total"] == closed
