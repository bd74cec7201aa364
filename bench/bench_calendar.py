"""Benchmark: working-calendar deadlines — our O(log n) clock vs a day-by-day
loop, and the per-version cache vs loading the calendar for every deadline.

The default calendar (08:30–12:00, 13:30–17:30, Saturday and Sunday off, every
year of China's holidays and 调休 days in the chinesecalendar package) in a
temporary SQLite database; the same random starts (2004–2026) and limits,
measured side by side in one run:

* ``service`` — ``core.calendar.deadline(session, "default", ...)``: what the
  flow engine calls; one primary-key SELECT (the calendar's version) per call,
  then the cached calendar's arithmetic;
* ``uncached`` — the same, but the calendar (row and day overrides) is loaded
  from the database for every deadline: what the cache saves;
* ``compiled`` — ``Calendar.deadline`` on the loaded calendar (a timer worker
  computing a batch holds it once);
* ``naive`` — the obvious loop: walk day by day from the start, skip rest days
  and holidays, subtract each day's office hours until the limit is used up
  (the overrides already in a dict in memory: the loop gets no DB cost).

Two limit mixes: ``short`` (0.5–16 work hours, typical task limits) and
``long`` (3–60 work days). Targets: compiled >= ``TARGET_RATIO`` x naive on
long limits (on short ones both touch one or two days: printed, not judged),
and the cached service >= ``TARGET_CACHE`` x uncached. Every answer is first
checked against the naive loop's. Run ``python bench/bench_calendar.py``
(``--quick``); bench/run.py imports :func:`run`.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ccms import migrate  # noqa: E402
from ccms.calendar import service as svc  # noqa: E402
from ccms.calendar.compute import Calendar  # noqa: E402
from ccms.db import Database  # noqa: E402

TARGET_RATIO = 5.0
TARGET_CACHE = 10.0
UTC = dt.timezone.utc


def naive_deadline(cal: Calendar, start: dt.datetime, hours: float) -> dt.datetime:
    """The day-by-day loop a first implementation would write."""
    left = dt.timedelta(hours=hours)
    segments = [(dt.time(s // 3_600_000_000, s // 60_000_000 % 60), dt.time(e // 3_600_000_000, e // 60_000_000 % 60)
                 if e < 86_400_000_000 else dt.time.max) for s, e in cal.segments]
    t = start.astimezone(cal.tz)
    day = t.date()
    if left <= dt.timedelta(0):
        return start
    while True:
        kind = cal.overrides.get(day)
        working = kind[0] == "workday" if kind else day.isoweekday() not in cal.rest
        if working:
            for a, b in segments:
                s0 = max(dt.datetime.combine(day, a, cal.tz), t)
                e0 = dt.datetime.combine(day, b, cal.tz)
                if s0 >= e0:
                    continue
                if e0 - s0 >= left:
                    return (s0 + left).astimezone(UTC)
                left -= e0 - s0
        day += dt.timedelta(days=1)
        t = dt.datetime.combine(day, dt.time(0), cal.tz)


def _cases(n: int, mix: str, seed: int = 3) -> list[tuple[dt.datetime, float, str]]:
    rnd = random.Random(seed)
    base = dt.datetime(2004, 1, 1, tzinfo=UTC)
    out = []
    for _ in range(n):
        start = base + dt.timedelta(minutes=rnd.randrange(0, 23 * 365 * 24 * 60))
        if mix == "short":
            out.append((start, rnd.choice([0.5, 1, 2, 4, 8, 16]), "work_hours"))
        else:
            out.append((start, float(rnd.choice([3, 5, 10, 15, 20, 30, 60])), "work_days"))
    return out


def _rate(fn: Callable[[tuple[dt.datetime, float, str]], Any], cases: list[Any], min_seconds: float) -> float:
    """Deadlines per second over the cases, repeated until ``min_seconds`` passed."""
    done, began = 0, time.perf_counter()
    while True:
        for c in cases:
            fn(c)
        done += len(cases)
        elapsed = time.perf_counter() - began
        if elapsed >= min_seconds:
            return done / elapsed


def run(quick: bool = False, smoke: bool = False) -> list[dict[str, Any]]:
    n, min_seconds = (50, 0.05) if smoke else (300, 0.5) if quick else (1000, 2.0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ccms_bench_calendar_") as tmp:
        db = Database(f"sqlite:///{tmp}/cal.db")
        migrate.upgrade(db.engine, [])
        fake_ctx = SimpleNamespace(gettext=lambda key: "默认工作日历",
                                   deployment=SimpleNamespace(timezone="Asia/Shanghai"))
        with db.session() as s:
            svc.seed_calendars(fake_ctx, s)
        with db.session() as s:
            cal = svc.get_calendar(s, "default")
            day_hours = cal.day_us / 3_600_000_000
            for mix in ("short", "long"):
                cases = _cases(n, mix)
                for start, amount, unit in cases:  # same answers before anything is timed
                    hours = amount if unit == "work_hours" else amount * day_hours
                    assert cal.deadline(start, amount, unit) == naive_deadline(cal, start, hours), (start, amount)
                service = _rate(lambda c: svc.deadline(s, "default", *c), cases, min_seconds)
                uncached = _rate(lambda c: svc._load(s, "default").deadline(*c), cases[: max(10, n // 20)],
                                 min_seconds)
                compiled = _rate(lambda c: cal.deadline(*c), cases, min_seconds)
                naive = _rate(lambda c: naive_deadline(cal, c[0], c[1] if c[2] == "work_hours" else c[1] * day_hours),
                              cases, min_seconds)
                judged = mix == "long"
                rows.append({"mix": mix, "cases": n, "service_per_s": service, "uncached_per_s": uncached,
                             "compiled_per_s": compiled, "naive_per_s": naive,
                             "compiled_vs_naive": compiled / naive, "service_vs_uncached": service / uncached,
                             "target": TARGET_RATIO if judged else None, "target_cache": TARGET_CACHE,
                             "passed": (compiled / naive >= TARGET_RATIO or not judged)
                             and service / uncached >= TARGET_CACHE})
        db.dispose()
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (f"{'limits':>6} {'cases':>6} {'service/s':>10} {'uncached/s':>10} {'cache gain':>10} "
            f"{'compiled/s':>10} {'naive/s':>10} {'compiled/naive':>14} {'target':>7}")
    print(head)
    print("-" * len(head))
    for r in rows:
        target = f"{r['target']:.0f}x" if r["target"] else "-"
        print(f"{r['mix']:>6} {r['cases']:>6} {r['service_per_s']:>10,.0f} {r['uncached_per_s']:>10,.0f} "
              f"{r['service_vs_uncached']:>9.0f}x {r['compiled_per_s']:>10,.0f} {r['naive_per_s']:>10,.0f} "
              f"{r['compiled_vs_naive']:>13.1f}x {target:>7}")
    print("short = 0.5-16 work hours, long = 3-60 work days; service = core.calendar.deadline with its version "
          "query (SQLite); uncached = calendar loaded per deadline; compiled = the loaded calendar; "
          "naive = a day-by-day loop over the same data")


def verdicts(rows: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    out = []
    for r in rows:
        algo = (f", compiled {r['compiled_vs_naive']:.1f}x the day-by-day loop (target >= {r['target']:.0f}x)"
                if r["target"] else f", compiled {r['compiled_vs_naive']:.1f}x the day-by-day loop (not judged)")
        out.append((f"calendar {r['mix']} limits: {r['service_per_s']:,.0f} deadlines/s through the service, "
                    f"{r['service_vs_uncached']:.0f}x loading the calendar per call (target >= "
                    f"{r['target_cache']:.0f}x){algo}", r["passed"]))
    return out


if __name__ == "__main__":
    t0 = time.perf_counter()
    result = run(quick="--quick" in sys.argv)
    print_table(result)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")
    sys.exit(0 if all(r["passed"] for r in result) else 1)
