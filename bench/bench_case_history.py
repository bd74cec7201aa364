"""Benchmark: statistics and filtered case lists within 1x and 10x more history.

Issue 11, item 7: one month's statistics and the filtered lists must cost what
the period (or the page) costs, not what the history costs. Two databases are
filled side by side (SQLite files, or two PostgreSQL databases created next to
``--db-url``'s and dropped afterwards):

* the same ``recent`` cases (default 20,000, like the demo): reported over the
  last 90 days before "now" (the 20th of the current month), every status;
* plus ``history`` older cases (1x = as many as the recent ones, 10x = ten
  times as many), reported over the five years before, all finished (closed,
  voided, not filed or merged) as old cases are.

Timed in alternating rounds (1x, 10x, 10x, 1x, ...) so a noisy neighbour hits
both alike, median per side, verdict on the median of the per-round ratios:

* ``stats month``  — :func:`stats.compute` by district for the current month
  (what 统计分析 and ``/api/command/stats`` run);
* ``stats past month`` — the same for the previous month (its overdue snapshot
  also reads the cases finished since, see the plugin's README);
* ``drill`` — one number's first page and count (:func:`stats.drill`, 结案);
* ``trend`` — the screen's twelve-month trend (12 months: grows with the
  history inside those months, printed for information only);
* ``list status=closed`` / ``list q=E0102`` / ``list q=<case-number prefix>``
  — the case list's query (:func:`case_screens.list_conditions`, one page of
  20 rows, newest first, and the capped total the screen shows).

Target: 10x / 1x <= 1.2 for each timed figure except the trend. The figures
of the two sides are checked too: both databases hold the same recent cases,
so the current month's statistics must be identical.

``python bench/bench_case_history.py [--smoke|--quick] [--recent N] [--db-url URL]``;
bench/run.py imports :func:`run` (``--only case_history``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
for _p in (ROOT, HERE):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

TARGET_RATIO = 1.2
TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 6, 20, 6, 0, tzinfo=dt.timezone.utc)
RECENT_STATUSES = ["closed"] * 12 + ["disposing", "checking", "dispatched", "filed", "voided", "suspended",
                                      "not_filed", "reported", "merged"]
OLD_STATUSES = ["closed"] * 16 + ["voided", "not_filed", "not_filed", "merged"]
SOURCES = ["supervisor"] * 6 + ["hotline", "hotline", "public", "media", "superior"]


def _case(i: int, rep: dt.datetime, status: str, rng: random.Random, now: dt.datetime) -> dict[str, Any]:
    """One synthetic case reported at ``rep``; timestamps never later than ``now``."""
    def upto(t: dt.datetime | None) -> dt.datetime | None:
        return t if t is not None and t <= now else None
    filed = upto(rep + dt.timedelta(hours=rng.random() * 4)) if status not in ("reported", "not_filed", "merged") \
        else None
    if filed is None and status not in ("reported", "not_filed", "merged"):
        status = "reported"
    due = filed + dt.timedelta(hours=rng.choice((4, 8, 24, 72, 120))) if filed else None
    disp = upto(filed + dt.timedelta(hours=rng.random())) if filed and status not in ("filed", "voided") else None
    disposed = upto(disp + dt.timedelta(hours=rng.random() * 150)) if disp and status in ("closed", "checking") \
        else None
    closed = upto(disposed + dt.timedelta(hours=rng.random() * 24)) if disposed and status == "closed" else None
    if status == "closed" and closed is None:
        status = "checking" if disposed else "disposing" if disp else "filed"
    voided = upto(filed + dt.timedelta(hours=rng.random() * 48)) if status == "voided" and filed else None
    if status == "voided" and voided is None:
        status = "filed"
    d = rng.randrange(10)
    grid = f"32050{d}{rng.randrange(1, 9):03d}{rng.randrange(1, 9):03d}{rng.randrange(1, 30):02d}"
    klass = f"E01{rng.randrange(1, 20):02d}"
    day = rep.astimezone(TZ)
    return {
        "id": i, "case_no": f"{klass}{day:%Y%m%d}{i:07d}", "kind": "E", "class_code": klass,
        "big_class": "E01", "source": rng.choice(SOURCES), "status": status,
        "district_code": grid[:6], "street_code": grid[:9], "community_code": grid[:12], "grid_code": grid,
        "address": f"示范路 {rng.randrange(1, 999)} 号",
        "description": rng.choice(("暴露垃圾", "道路破损", "占道经营")),
        "dept_id": rng.randrange(1, 41) if disp else None, "reporter_id": rng.randrange(1, 300),
        "reported_at": rep, "filed_at": filed, "dispatched_at": disp, "disposed_at": disposed,
        "closed_at": closed, "voided_at": voided, "due_at": due,
        "disposed_on_time": (disposed <= due) if disposed and due else None,
        "closed_on_time": (closed <= due + dt.timedelta(hours=24)) if closed and due else None,
        "rework_count": 1 if rng.random() < 0.05 else 0, "extend_count": 1 if rng.random() < 0.03 else 0,
        "suspend_count": 1 if status == "suspended" else 0, "return_count": 1 if rng.random() < 0.02 else 0,
        "dispatch_count": (2 if rng.random() < 0.03 else 1) if disp else 0,
        "cooperative": bool(disp) and rng.random() < 0.02,
        "created_at": rep, "updated_at": closed or voided or disposed or disp or filed or rep,
    }


def cases(recent: int, history: int, now: dt.datetime = NOW, seed: int = 11) -> Any:
    """``history`` finished cases over the five years before the recent window, then ``recent``
    cases over the 90 days before ``now`` (the same recent cases whatever the history)."""
    old_rng, rng = random.Random(seed * 7), random.Random(seed)
    window = dt.timedelta(days=90)
    old_span = int(dt.timedelta(days=5 * 365).total_seconds())
    old_end = now - window - dt.timedelta(days=30)  # old cases are finished before the window
    for i in range(1, history + 1):
        rep = old_end - dt.timedelta(seconds=old_rng.randrange(old_span))
        yield _case(i, rep, old_rng.choice(OLD_STATUSES), old_rng, now)  # finished within days
    for j in range(1, recent + 1):
        rep = now - dt.timedelta(seconds=rng.randrange(int(window.total_seconds())))
        yield _case(10_000_000 + j, rep, rng.choice(RECENT_STATUSES), rng, now)


def load(engine: Any, recent: int, history: int) -> float:
    """Create ``command_case`` with the plugin's indexes and fill it (raw DBAPI); returns seconds."""
    from bench_case_stats import _fill_defaults
    from ccms.plugins.command.models import Case
    table = Case.__table__
    table.drop(engine, checkfirst=True)
    table.create(engine)
    for ix in table.indexes:  # filled first, indexed after: several times faster
        ix.drop(engine)
    defaults = _fill_defaults(table)
    cols = [c.name for c in table.columns]
    sqlite = engine.dialect.name == "sqlite"

    def conv(v: Any) -> Any:
        if isinstance(v, dt.datetime) and sqlite:
            return v.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        if isinstance(v, bool) and sqlite:
            return int(v)
        return v

    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        rows = (tuple(conv({**defaults, **r}.get(c)) for c in cols) for r in cases(recent, history))
        if sqlite:
            sql = f"INSERT INTO command_case ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= 20_000:
                    cur.executemany(sql, batch)
                    batch.clear()
            if batch:
                cur.executemany(sql, batch)
        else:
            with cur.copy(f"COPY command_case ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
    for ix in table.indexes:
        ix.create(engine)
    raw = engine.raw_connection()
    try:
        if not sqlite:
            raw.driver_connection.autocommit = True  # VACUUM (the visibility map a live table has)
        cur = raw.cursor()
        cur.execute("ANALYZE" if sqlite else "VACUUM ANALYZE command_case")
        if sqlite:
            raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def workloads(session: Any) -> dict[str, Callable[[], Any]]:
    """What the screens run, keyed by name; each returns something comparable across sides."""
    from sqlalchemy import select, true

    from ccms.plugins.command import stats
    from ccms.plugins.command.case_filters import count_capped, list_conditions
    from ccms.plugins.command.models import Case

    month = stats.parse_period({"period": "month", "month": f"{NOW.astimezone(TZ):%Y-%m}"}, TZ)
    last_month = NOW.astimezone(TZ).replace(day=1) - dt.timedelta(days=1)
    prev = stats.parse_period({"period": "month", "month": f"{last_month:%Y-%m}"}, TZ)
    dim = stats.get_dimension("district")
    months = stats.month_periods(month.last, 12, TZ)
    prefix = f"E0102{NOW.astimezone(TZ):%Y%m}"

    def figures(tab: Any) -> Any:
        return {r.key: r.counts for r in tab.rows}

    def case_list(params: dict[str, str]) -> Any:
        stmt = select(Case).where(true(), *list_conditions(params))
        rows = list(session.scalars(stmt.order_by(Case.reported_at.desc(), Case.id.desc()).limit(20)))
        return [r.case_no for r in rows], count_capped(session, stmt)

    return {
        "stats month": lambda: figures(stats.compute(session, dim, month, now=NOW)),
        "stats past month": lambda: figures(stats.compute(session, dim, prev, now=NOW)),
        "drill": lambda: (lambda rows_total: ([r["case_no"] for r in rows_total[0]], rows_total[1]))(
            stats.drill(session, None, None, "closed", month, now=NOW)),
        "trend (12 months)": lambda: stats.trend(session, "reported", months, now=NOW),
        "list status=closed": lambda: case_list({"status": "closed"}),
        "list q=E0102": lambda: case_list({"q": "E0102"}),
        f"list q={prefix}": lambda: case_list({"q": prefix}),
    }


INFO_ONLY = ("trend (12 months)",)


def measure(sessions: dict[str, Any], runs: int) -> dict[str, Any]:
    sides = list(sessions)
    loads = {k: workloads(s) for k, s in sessions.items()}
    names = list(loads[sides[0]])
    out: dict[str, Any] = {}
    for name in names:
        res = {k: loads[k][name]() for k in sides}  # warm caches and plans
        times: dict[str, list[float]] = {k: [] for k in sides}
        for r in range(runs):
            for k in (sides if r % 2 == 0 else sides[::-1]):
                t, res[k] = _timed(loads[k][name])
                times[k].append(t)
        small, big = sides
        ratio = statistics.median(b / a for a, b in zip(times[small], times[big]))
        out[name] = {"ms_1x": statistics.median(times[small]) * 1000, "ms_10x": statistics.median(times[big]) * 1000,
                     "ratio": ratio, "info_only": name in INFO_ONLY, "results": res}
    return out


def _pg_databases(url: str, count: int) -> list[str]:
    """Create ``count`` throwaway databases on ``url``'s server; their URLs."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    base = make_url(url)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    names = [f"ccms_bench_hist_{uuid.uuid4().hex[:8]}" for _ in range(count)]
    with admin.connect() as c:
        for n in names:
            c.execute(text(f'CREATE DATABASE "{n}"'))
    admin.dispose()
    return [base.set(database=n).render_as_string(hide_password=False) for n in names]


def _pg_drop(url: str, urls: list[str]) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    admin = create_engine(make_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        for u in urls:
            c.execute(text(f'DROP DATABASE IF EXISTS "{make_url(u).database}" WITH (FORCE)'))
    admin.dispose()


def run(quick: bool = False, smoke: bool = False, db_url: str | None = None, recent: int | None = None
        ) -> dict[str, Any]:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session
    n = recent or (500 if smoke else 5_000 if quick else 20_000)
    runs = 3 if smoke else 7 if quick else 11
    scales = {"1x": n, "10x": 10 * n}
    with tempfile.TemporaryDirectory(prefix="ccms_bench_hist_") as tmp:
        urls = (_pg_databases(db_url, 2) if db_url else
                [f"sqlite:///{Path(tmp) / f'hist_{k}.db'}" for k in scales])
        engines = [create_engine(u) for u in urls]
        try:
            load_s = {k: load(e, n, h) for (k, h), e in zip(scales.items(), engines)}
            sessions = {k: Session(e) for k, e in zip(scales, engines)}
            try:
                result = measure(sessions, runs)
            finally:
                for s in sessions.values():
                    s.close()
        finally:
            for e in engines:
                e.dispose()
            if db_url:
                _pg_drop(db_url, urls)
    stats_same = all(result[k]["results"]["1x"] == result[k]["results"]["10x"]
                     for k in ("stats month", "drill"))
    for r in result.values():
        r.pop("results")
    timed = {k: r for k, r in result.items() if not r["info_only"]}
    return {"backend": "postgresql" if db_url else "sqlite", "recent": n, "history": scales, "load_s": load_s,
            "runs": runs, "figures": result, "same_figures": stats_same, "target": TARGET_RATIO,
            "passed": stats_same and all(r["ratio"] <= TARGET_RATIO for r in timed.values())}


def print_table(r: dict[str, Any]) -> None:
    print(f"{r['recent']:,} recent cases + {r['history']['1x']:,} / {r['history']['10x']:,} older ({r['backend']}), "
          f"loaded in {r['load_s']['1x']:.1f} / {r['load_s']['10x']:.1f} s; median of {r['runs']} alternating rounds")
    print(f"  {'':28} {'1x ms':>9} {'10x ms':>9} {'10x/1x':>7}")
    for name, f in r["figures"].items():
        note = "  (information: 12 months)" if f["info_only"] else ""
        print(f"  {name:28} {f['ms_1x']:9.2f} {f['ms_10x']:9.2f} {f['ratio']:6.2f}x{note}")
    print(f"  current month's figures identical on both sides: {r['same_figures']}; "
          f"target 10x/1x <= {r['target']}x: {'PASS' if r['passed'] else 'FAIL'}")


def verdicts(r: dict[str, Any]) -> list[tuple[str, bool]]:
    out = []
    for name, f in r["figures"].items():
        if f["info_only"]:
            continue
        out.append((f"history ({r['backend']}) {name}: 10x/1x {f['ratio']:.2f}x ({f['ms_1x']:.1f} -> "
                    f"{f['ms_10x']:.1f} ms)", f["ratio"] <= r["target"]))
    out.append((f"history ({r['backend']}): same current-month figures on both sides", r["same_figures"]))
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true")
    g.add_argument("--smoke", action="store_true")
    ap.add_argument("--recent", type=int)
    ap.add_argument("--db-url", help="a PostgreSQL server URL: two throwaway databases are created there")
    a = ap.parse_args()
    res = run(quick=a.quick, smoke=a.smoke, db_url=a.db_url, recent=a.recent)
    print_table(res)
    sys.exit(0 if res["passed"] or a.smoke else 1)
