"""Benchmark: a JSON API under a statistics refresh, endpoints off vs on the event loop.

Issue 12, item 7: one person refreshing 统计分析 (a page of ~100 ms CPU over the
demo's 20,000 cases) must not stall the JSON API of the same worker. Two uvicorn
servers of the same city deployment (1 worker each, subprocesses of
``bench_http``) share one temporary SQLite file with 20,000 cases:

* **on**: endpoints run in worker threads (``ccms.web.offloop``, the default);
* **off**: ``CCMS_OFFLOOP=off``: endpoints run on the event loop, as before.

Per server and round, two phases of equal length: ``api_threads`` clients
hammer ``GET /api/command/cases`` (a 20-row page of cases, JSON) alone, then
the same while one more client reloads ``/command/stats`` back to back.
Servers alternate (off, on, on, off, ...) so machine noise hits both alike.
Printed per server: API req/s, median and p99 latency alone and under the
statistics load, and the statistics pages served. Verdicts compare figures of
this run only: under the statistics load the API's p99 with endpoints off the
loop is at most half of the p99 with them on it, and its req/s at least
``TARGET_RPS`` times.

``python bench/bench_offloop.py [--quick|--smoke]``; ``bench/run.py`` imports
:func:`run` (``--only offloop``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for _p in (HERE.parent, HERE):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import bench_case_history  # noqa: E402
import bench_http  # noqa: E402

API = "/api/command/cases"
STATS = "/command/stats"
TARGET_P99 = 0.5   # p99 under statistics load, on / off: at most this
TARGET_RPS = 1.5   # API req/s under statistics load, on / off: at least this
PLANS: dict[str, dict[str, Any]] = {
    "smoke": {"cases": 500, "seconds": 0.5, "rounds": 1, "api_threads": 2},
    "quick": {"cases": 20_000, "seconds": 3.0, "rounds": 2, "api_threads": 3},
    "full": {"cases": 20_000, "seconds": 5.0, "rounds": 4, "api_threads": 3},
}


def prepare(db_url: str, cases: int) -> None:
    """The HTTP benchmark's deployment plus ``cases`` cases over the last 90 days."""
    from sqlalchemy import create_engine
    bench_http.prepare(db_url)
    now = dt.datetime.now(dt.timezone.utc)
    original = bench_case_history.cases
    bench_case_history.cases = functools.partial(original, now=now)  # recent = this month and the two before
    engine = create_engine(db_url)
    try:
        bench_case_history.load(engine, cases, 0)
    finally:
        bench_case_history.cases = original
        engine.dispose()


def phase(url: str, headers: dict[str, str], threads: int, seconds: float, with_stats: bool) -> dict[str, Any]:
    """``threads`` clients on the API (and one on the statistics page) for ``seconds``."""
    stop = threading.Event()
    lock = threading.Lock()
    api_ms: list[float] = []
    stats_ms: list[float] = []
    errors: list[str] = []

    def loop(path: str, out: list[float]) -> None:
        own: list[float] = []
        with bench_http.client(url, headers) as c:
            while not stop.is_set():
                t0 = time.perf_counter()
                r = c.get(path)
                own.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200 and len(errors) < 3:
                    errors.append(f"{path}: {r.status_code} {r.text[:200]}")
        with lock:
            out.extend(own)

    workers = [threading.Thread(target=loop, args=(API, api_ms)) for _ in range(threads)]
    if with_stats:
        workers.append(threading.Thread(target=loop, args=(STATS, stats_ms)))
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t0
    return {"requests": len(api_ms), "rps": len(api_ms) / wall, "p50_ms": bench_http.pct(api_ms, 0.5),
            "p99_ms": bench_http.pct(api_ms, 0.99), "stats_pages": len(stats_ms),
            "stats_ms": bench_http.pct(stats_ms, 0.5) if stats_ms else None, "errors": errors}


def _server(kind: str, url: str, work: Path) -> bench_http.Server:
    saved = os.environ.get("CCMS_OFFLOOP")
    os.environ["CCMS_OFFLOOP"] = "on" if kind == "on" else "off"
    try:
        server = bench_http.Server("full", url, work)  # the subprocess inherits the switch
    finally:
        if saved is None:
            os.environ.pop("CCMS_OFFLOOP", None)
        else:
            os.environ["CCMS_OFFLOOP"] = saved
    server.kind = kind
    return server


def run(quick: bool = False, smoke: bool = False) -> dict[str, Any]:
    plan = PLANS["smoke" if smoke else "quick" if quick else "full"]
    with tempfile.TemporaryDirectory(prefix="ccms_bench_offloop_") as tmp:
        work = Path(tmp)
        url = f"sqlite:///{work / 'bench.db'}"
        prepare(url, plan["cases"])
        servers = {k: _server(k, url, work) for k in ("off", "on")}
        rounds: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
        try:
            for s in servers.values():
                s.start()
            headers = bench_http.login(servers["on"].url)  # one session: both servers share the database
            for s in servers.values():  # warm-up: templates, statement caches, the permission index
                phase(s.url, headers, plan["api_threads"], min(1.0, plan["seconds"]), True)
            for i in range(plan["rounds"]):
                order = ("off", "on") if i % 2 == 0 else ("on", "off")
                for k in order:
                    alone = phase(servers[k].url, headers, plan["api_threads"], plan["seconds"], False)
                    loaded = phase(servers[k].url, headers, plan["api_threads"], plan["seconds"], True)
                    rounds[k].append({"alone": alone, "stats": loaded})
        finally:
            for s in servers.values():
                s.stop()
    return summarize(plan, rounds)


def summarize(plan: dict[str, Any], rounds: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    def med(kind: str, ph: str, key: str) -> float:
        vals = [r[ph][key] for r in rounds[kind] if r[ph][key] is not None]
        return statistics.median(vals) if vals else float("nan")

    out: dict[str, Any] = {"plan": plan, "rounds": rounds, "errors": []}
    for k in ("off", "on"):
        out[k] = {ph: {key: med(k, ph, key) for key in ("rps", "p50_ms", "p99_ms", "stats_pages", "stats_ms")}
                  for ph in ("alone", "stats")}
        out["errors"] += [e for r in rounds[k] for ph in ("alone", "stats") for e in r[ph]["errors"]]
    off, on = out["off"]["stats"], out["on"]["stats"]
    out["p99_ratio"] = on["p99_ms"] / off["p99_ms"] if off["p99_ms"] else float("nan")
    out["rps_ratio"] = on["rps"] / off["rps"] if off["rps"] else float("nan")
    out["passed"] = not out["errors"] and out["p99_ratio"] <= TARGET_P99 and out["rps_ratio"] >= TARGET_RPS
    return out


def print_table(r: dict[str, Any]) -> None:
    p = r["plan"]
    print(f"{p['cases']:,} cases, SQLite, {p['api_threads']} API clients, {p['rounds']} rounds of "
          f"{p['seconds']:g} s per phase; medians over rounds")
    print(f"{'endpoints':<16} {'load':<14} {'API req/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'stats pages':>12} {'stats ms':>9}")
    for k, label in (("off", "on the loop"), ("on", "in threads")):
        for ph, load in (("alone", "API alone"), ("stats", "API + stats")):
            f = r[k][ph]
            stats = f"{f['stats_pages']:>12.0f} {f['stats_ms']:>9.1f}" if ph == "stats" else f"{'':>12} {'':>9}"
            print(f"{label:<16} {load:<14} {f['rps']:>10.1f} {f['p50_ms']:>8.1f} {f['p99_ms']:>8.1f} {stats}")
    print(f"under statistics load, threads / loop: API p99 {r['p99_ratio']:.2f}x (target <= {TARGET_P99}), "
          f"req/s {r['rps_ratio']:.2f}x (target >= {TARGET_RPS})")
    for e in r["errors"]:
        print(f"ERROR {e}")


def verdicts(r: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(f"offloop: API p99 under statistics load, threads/loop {r['p99_ratio']:.2f}x, "
             f"req/s {r['rps_ratio']:.2f}x", bool(r["passed"]))]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true")
    g.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    result = run(quick=a.quick, smoke=a.smoke)
    print_table(result)
    sys.exit(0 if result["passed"] or a.smoke else 1)
