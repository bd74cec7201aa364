"""Benchmark: one month's case statistics (GB/T 30428.4) over 1,000,000 cases.

Set-up: the ``command_case`` table (the plugin's model) in a temporary SQLite
file — or the PostgreSQL database given with ``--db-url`` (the table is
created there and dropped afterwards) — filled with synthetic cases spread
over twelve months, 10 districts, 40 departments, every status.

* ``ours`` — :func:`plugins.command.stats.compute` by district for one month:
  every measure (21 counts) in one SQL pass built by SQLAlchemy, rows turned
  into counts and rates in Python (what the screen and export call);
* ``hand`` — the same figures as an independently written plain SQL query
  (:func:`independent_sql`: written from the README's 指标口径, not from
  ``stats.py``'s builder — 0/1 flags per definition part, sums of their
  products, over the candidate rows selected as a UNION of index ranges) run as text; the
  run checks that both give identical figures. Target: ours/hand <= 1.5x
  (median over 7 alternating runs of the ratio within a run, so a noisy
  neighbour slows both alike);
* ``one count`` — for scale only: a one-measure ``SELECT district_code,
  COUNT(*) ... WHERE reported_at in the month GROUP BY district_code``.

``python bench/bench_case_stats.py [--smoke|--quick] [--rows N] [--db-url URL]``;
bench/run.py imports :func:`run` (``--only case_stats``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_RATIO = 1.5
TZ = ZoneInfo("Asia/Shanghai")
STATUSES = ["closed"] * 14 + ["disposing", "checking", "dispatched", "filed", "voided", "suspended", "not_filed",
                               "reported", "merged"]
SOURCES = ["supervisor"] * 6 + ["hotline", "hotline", "public", "media", "superior"]


def _rows(n: int, year: int, rng: random.Random) -> Any:
    t0 = dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc)
    span = 365 * 86400
    for i in range(1, n + 1):
        status = rng.choice(STATUSES)
        rep = t0 + dt.timedelta(seconds=rng.randrange(span))
        filed = rep + dt.timedelta(hours=rng.random() * 4) if status not in ("reported", "not_filed", "merged") \
            else None
        due = filed + dt.timedelta(hours=rng.choice((4, 8, 24, 72, 120))) if filed else None
        disp = filed + dt.timedelta(hours=rng.random()) if filed and status not in ("filed", "voided") else None
        disposed = disp + dt.timedelta(hours=rng.random() * 150) if disp and status in ("closed", "checking") \
            else None
        closed = disposed + dt.timedelta(hours=rng.random() * 24) if disposed and status == "closed" else None
        voided = filed + dt.timedelta(hours=rng.random() * 48) if status == "voided" else None
        d = rng.randrange(10)
        grid = f"32050{d}{rng.randrange(1, 9):03d}{rng.randrange(1, 9):03d}{rng.randrange(1, 30):02d}"
        yield {
            "id": i, "case_no": f"E{i:012d}", "kind": "E", "class_code": f"E01{rng.randrange(1, 20):02d}",
            "big_class": "E01", "source": rng.choice(SOURCES), "status": status,
            "district_code": grid[:6], "street_code": grid[:9], "community_code": grid[:12], "grid_code": grid,
            "dept_id": rng.randrange(1, 41) if disp else None, "reporter_id": rng.randrange(1, 300),
            "reported_at": rep, "filed_at": filed, "dispatched_at": disp, "disposed_at": disposed,
            "closed_at": closed, "voided_at": voided, "due_at": due,
            "disposed_on_time": (disposed <= due) if disposed else None,
            "closed_on_time": (closed <= due + dt.timedelta(hours=24)) if closed else None,
            "rework_count": 1 if rng.random() < 0.05 else 0, "extend_count": 1 if rng.random() < 0.03 else 0,
            "suspend_count": 1 if status == "suspended" else 0, "return_count": 1 if rng.random() < 0.02 else 0,
            "dispatch_count": (2 if rng.random() < 0.03 else 1) if disp else 0,
            "cooperative": bool(disp) and rng.random() < 0.02,
        }


def _fill_defaults(table: Any) -> dict[str, Any]:
    """Values for the NOT NULL columns the generator leaves out."""
    from sqlalchemy import JSON, Boolean, Integer
    out: dict[str, Any] = {}
    for c in table.columns:
        if c.nullable or c.primary_key:
            continue
        if isinstance(c.type, JSON):
            out[c.name] = "[]"
        elif isinstance(c.type, Boolean):
            out[c.name] = False
        elif isinstance(c.type, Integer):
            out[c.name] = 1 if c.name == "version" else 0
        elif "DateTime" in type(c.type).__name__ or c.name.endswith("_at"):
            out[c.name] = None  # filled from reported_at
        else:
            out[c.name] = ""
    return out


def load(engine: Any, n: int, year: int, seed: int = 7) -> float:
    """Create ``command_case`` and bulk-insert ``n`` synthetic rows (raw DBAPI); returns seconds."""
    from sqlalchemy.schema import CreateIndex

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
        rng = random.Random(seed)
        batch: list[tuple[Any, ...]] = []

        def row_tuple(r: dict[str, Any]) -> tuple[Any, ...]:
            full = {**defaults, **r}
            for k, v in full.items():
                if v is None and k in defaults and k.endswith("_at"):
                    full[k] = r["reported_at"]
            return tuple(conv(full.get(c)) for c in cols)

        if sqlite:
            sql = f"INSERT INTO command_case ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            for r in _rows(n, year, rng):
                batch.append(row_tuple(r))
                if len(batch) >= 50_000:
                    cur.executemany(sql, batch)
                    batch.clear()
            if batch:
                cur.executemany(sql, batch)
        else:
            with cur.copy(f"COPY command_case ({', '.join(cols)}) FROM STDIN") as copy:
                for r in _rows(n, year, rng):
                    copy.write_row(row_tuple(r))
        raw.commit()
        for ix in table.indexes:
            cur.execute(str(CreateIndex(ix).compile(engine)))
        raw.commit()
        if sqlite:
            cur.execute("ANALYZE")
        else:
            cur.execute("ANALYZE command_case")
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


def _timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _alternating(fns: dict[str, Any], runs: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Run each query once to warm the caches, then ``runs`` rounds in alternating order
    (a, b, c, then c, b, a, …) so a noisy neighbour slows every side alike."""
    outs = {k: fn() for k, fn in fns.items()}
    times: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(runs):
        for k in (names if r % 2 == 0 else names[::-1]):
            t, outs[k] = _timed(fns[k])
            times[k].append(t)
    return times, outs


def independent_sql(dim_column: str, dialect: str = "") -> str:
    """Every measure of the plugin's README (指标口径) as plain SQL, written from those
    definitions and not from ``stats.py``: an inner query turns each definition's parts into
    0/1 flags, the outer one sums their products. Its WHERE keeps the rows any definition can
    count — the period's event times and the snapshot's candidates (closed or voided after
    it, or still live) — as a UNION of index ranges. Parameters ``:s`` ``:e`` ``:at``."""
    def flag(cond: str) -> str:
        return f"CASE WHEN {cond} THEN 1 ELSE 0 END"

    def within(col: str) -> str:
        return f"{col} >= :s AND {col} < :e"
    flags = {
        "rep": within("reported_at"), "fin": within("filed_at"), "din": within("dispatched_at"),
        "vin": within("voided_at"), "pin": within("disposed_at"), "cin": within("closed_at"),
        "live": "status <> 'merged'", "has_filed": "filed_at IS NOT NULL", "refused": "status = 'not_filed'",
        "on_spot": "self_disposed = TRUE AND filed_at IS NULL", "ever_voided": "voided_at IS NOT NULL",
        # 应结案's pool: filed before the end, not voided before it
        "pool": "filed_at < :e AND (voided_at IS NULL OR voided_at >= :e)",
        "due_any": f"({within('due_at')}) OR ({within('disposed_at')}) OR ({within('closed_at')})",
        # snapshot at :at: filed, deadline passed, not disposed, closed or voided by then
        "late": "filed_at < :at AND due_at < :at AND (disposed_at IS NULL OR disposed_at >= :at) "
                "AND (closed_at IS NULL OR closed_at >= :at) AND (voided_at IS NULL OR voided_at >= :at)",
        "cot": "closed_on_time = TRUE", "dot": "disposed_on_time = TRUE",
        "rw": "rework_count > 0", "ex": "extend_count > 0", "su": "suspend_count > 0", "rb": "return_count > 0",
        "rd": "dispatch_count > 1", "co": "cooperative = TRUE",
    }
    sums = {
        "reported": "rep", "reported_filed": "rep * has_filed * live", "not_filed": "rep * refused",
        "self_disposed": "cin * on_spot", "filed": "fin * live", "dispatched": "din * live",
        "voided": "vin * live", "filed_voided": "fin * live * ever_voided", "due": "pool * live * due_any",
        "closed": "pool * live * cin", "closed_on_time": "pool * live * cin * cot",
        "disposed": "pool * live * pin", "disposed_on_time": "pool * live * pin * dot",
        "overdue_open": "late * live", "due_overdue": "pool * live * due_any * late",
        "reworked": "fin * live * rw", "extended": "fin * live * ex", "suspended": "fin * live * su",
        "sent_back": "fin * live * rb", "redispatched": "fin * live * rd", "cooperative": "fin * live * co",
    }
    cols = ", ".join(dict.fromkeys((
        "id", dim_column, "reported_at", "filed_at", "dispatched_at", "voided_at", "disposed_at", "closed_at",
        "due_at", "status", "self_disposed", "closed_on_time", "disposed_on_time", "rework_count", "extend_count",
        "suspend_count", "return_count", "dispatch_count", "cooperative")))
    wheres = [within(c) for c in
              ("reported_at", "filed_at", "dispatched_at", "voided_at", "disposed_at", "closed_at", "due_at")]
    wheres += ["closed_at >= :at", "voided_at >= :at",
               "closed_at IS NULL AND voided_at IS NULL AND filed_at IS NOT NULL AND due_at < :at"]
    # narrow ids deduplicated, then one primary-key lookup each (the plan choice of stats.period_rows)
    ids = "\n      UNION ".join(f"SELECT id FROM command_case WHERE {w}" for w in wheres)
    if dialect == "sqlite":
        union = f"SELECT {cols} FROM command_case WHERE id IN (\n      {ids})"
    else:
        union = (f"SELECT {cols} FROM command_case WHERE id = ANY(CAST((SELECT array_agg(id) FROM (\n      {ids}) AS u)"
                 " AS integer[]))")
    inner = ",\n    ".join(f"{flag(c)} AS {k}" for k, c in flags.items())
    outer = ",\n  ".join(f"COALESCE(SUM({e}), 0) AS {m}" for m, e in sums.items())
    return (f"SELECT k,\n  {outer}\nFROM (\n  SELECT {dim_column} AS k,\n    {inner}\n  FROM (\n    {union}\n"
            f"  ) AS candidates\n) AS flags\nGROUP BY k")


def measure(engine: Any, year: int, runs: int) -> dict[str, Any]:
    from sqlalchemy import bindparam, text
    from sqlalchemy.orm import Session

    from ccms.api import UTCDateTime
    from ccms.plugins.command import stats

    period = stats.parse_period({"period": "month", "month": f"{year}-06"}, TZ)
    now = dt.datetime(year + 1, 1, 15, tzinfo=dt.timezone.utc)
    dim = stats.get_dimension("district")
    ts = [bindparam(k, type_=UTCDateTime) for k in ("s", "e", "at")]
    hand_sql = text(independent_sql("district_code", engine.dialect.name)).bindparams(*ts)
    count_sql = text("SELECT district_code, COUNT(*) FROM command_case WHERE reported_at >= :s AND reported_at < :e "
                     "GROUP BY district_code").bindparams(ts[0], ts[1])
    params = {"s": period.start, "e": period.end, "at": min(period.end, now)}
    with Session(engine) as s:
        times, outs = _alternating({
            "ours": lambda: stats.compute(s, dim, period, now=now),
            "hand": lambda: s.execute(hand_sql, params).all(),
            "count": lambda: s.execute(count_sql, {"s": period.start, "e": period.end}).all()}, runs)
    tab, hand = outs["ours"], outs["hand"]
    ours_t, hand_t, count_t = (statistics.median(times[k]) for k in ("ours", "hand", "count"))
    ratio = statistics.median(o / h for o, h in zip(times["ours"], times["hand"]))
    same = {r.key: r.counts for r in tab.rows} == {
        r[0]: {m: int(v) for m, v in zip(stats.MEASURES, r[1:])} for r in hand}
    return {"ours_s": ours_t, "hand_s": hand_t, "count_s": count_t, "ratio": ratio, "same_figures": same,
            "reported": tab.total.counts["reported"], "closed": tab.total.counts["closed"],
            "close_rate": tab.total.rates["close_rate"]}


def run(quick: bool = False, smoke: bool = False, db_url: str | None = None, rows: int | None = None
        ) -> dict[str, Any]:
    from sqlalchemy import create_engine
    n = rows or (3_000 if smoke else 200_000 if quick else 1_000_000)
    runs = 3 if smoke else 7
    year = 2024
    with tempfile.TemporaryDirectory(prefix="ccms_bench_stats_") as tmp:
        url = db_url or f"sqlite:///{Path(tmp) / 'stats.db'}"
        engine = create_engine(url)
        try:
            load_s = load(engine, n, year)
            result = measure(engine, year, runs)
        finally:
            if db_url:
                from ccms.plugins.command.models import Case
                Case.__table__.drop(engine, checkfirst=True)
            engine.dispose()
    result.update({"rows": n, "backend": url.split(":")[0].split("+")[0], "load_s": load_s, "target": TARGET_RATIO,
                   "passed": result["ratio"] <= TARGET_RATIO and result["same_figures"]})
    return result


def stats_measures() -> list[str]:
    from ccms.plugins.command import stats
    return list(stats.MEASURES)


def print_table(r: dict[str, Any]) -> None:
    print(f"{r['rows']:,} cases ({r['backend']}), loaded in {r['load_s']:.1f} s; one month by district "
          f"(reported {r['reported']:,}, closed {r['closed']:,}, 结案率 {r['close_rate']} %)")
    n = len(stats_measures())
    print(f"  ours (stats.compute, {n} measures + rates) {r['ours_s'] * 1000:9.1f} ms")
    print(f"  independent plain SQL, same {n} measures   {r['hand_s'] * 1000:9.1f} ms")
    print(f"  (scale only) one-measure COUNT(*) GROUP BY {r['count_s'] * 1000:9.1f} ms")
    print(f"  ratio ours/independent {r['ratio']:.2f}x (target <= {r['target']}x); same figures: {r['same_figures']}")


def verdicts(r: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(f"case stats, {r['rows']:,} cases ({r['backend']}): ours/independent SQL {r['ratio']:.2f}x, "
             f"same figures {r['same_figures']}", r["passed"])]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true")
    g.add_argument("--smoke", action="store_true")
    ap.add_argument("--rows", type=int)
    ap.add_argument("--db-url", help="a PostgreSQL database to use instead of a temporary SQLite file")
    a = ap.parse_args()
    res = run(quick=a.quick, smoke=a.smoke, db_url=a.db_url, rows=a.rows)
    print_table(res)
    sys.exit(0 if res["passed"] or a.smoke else 1)
