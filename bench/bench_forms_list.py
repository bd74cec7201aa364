"""Benchmark: form record lists on an indexed field, and bulk import (SQLite).

(a) List page. A form with an ``indexed`` field (``district``) is published
(creating its expression index), then N records are seeded directly with
executemany. The filter value picked matches 200 records whatever N is (a
selective filter, as a district or grid code is), so a page that uses the
index costs the same at 10k and 1M records. Timed side by side per call:

* ``engine`` — :func:`ccms.forms.records.list_records` (filter on the
  indexed field, page of 50, default sort, with the total count), in a fresh
  ORM session, the published definition fetched once as the list screen has it;
* ``raw`` — the same two SQL statements written by hand, run through
  SQLAlchemy Core (``text()`` with typed columns, so JSON is decoded too) on
  a fresh connection.

Targets: engine/raw <= 2x, and the engine's page time at the largest N within
2x of the smallest N (flat). The query plan is printed so a page that misses
the index shows it.

(b) Bulk import (3 runs, fresh database each; min-max and median reported):
:func:`ccms.forms.bulk.import_records` of 100,000 valid
records (validated row by row, executemany in batches of 1,000, one history
row each, one audit entry) into a SQLite file, commit included. Target:
>= 5,000 records/s.

Sizes: full run 10k and 1M records, 100k imported; ``quick`` 10k and 100k,
20k imported; ``smoke`` a few hundred (proves the harness works).
Run ``python bench/bench_forms_list.py [--quick|--smoke]``; bench/run.py
imports :func:`run`.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402

TARGET_RATIO = 2.0
TARGET_FLAT = 2.0
TARGET_IMPORT_RPS = 5_000
MATCHES = 200  # records the filter value matches, whatever N is
PAGE = 50
FORM = "bench_cases"
SECRET = "bench-forms-list-secret-key-0123456789abcdef"

DEFINITION: dict[str, Any] = {
    "id": FORM, "version": 1, "title": {"zh-CN": "基准案件", "en": "Benchmark cases"},
    "schema": {"type": "object", "required": ["subject", "district"], "additionalProperties": False, "properties": {
        "subject": {"type": "string", "title": "事项", "maxLength": 100},
        "district": {"type": "string", "title": "片区", "maxLength": 20},
        "amount": {"type": "number", "title": "金额", "minimum": 0},
        "urgent": {"type": "boolean", "title": "紧急"},
        "found_on": {"type": "string", "format": "date", "title": "发现日期"}}},
    "list": {"columns": ["subject", "district", "amount", "_created_at"], "filters": ["district"],
             "sort": "-_created_at"},
    "indexed": ["district"],
}


def record(i: int, n: int) -> dict[str, Any]:
    """Record i of n: every (n // MATCHES)-th one is in the target district."""
    step = max(1, n // MATCHES)
    district = "target" if i % step == 0 and i // step < MATCHES else f"d{i % 997:03d}"
    return {"subject": f"人行道井盖缺失 {i}", "district": district, "amount": float(i % 5000) + 0.5,
            "urgent": i % 7 == 0, "found_on": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}"}


def make_ctx(db_url: str) -> tuple[Any, int]:
    """A migrated, seeded app on ``db_url`` with the benchmark form published; (ctx, root org id)."""
    from ccms import migrate, seed
    from ccms.app import App
    from ccms.audit import Actor
    from ccms.config import parse_deployment
    from ccms.forms import store

    ctx = App(parse_deployment({"profile": "city", "region_code": "320500", "name": "基准测试市",
                                "secret_key": SECRET, "database_url": db_url}))
    migrate.upgrade(ctx.db.engine, ctx.plugins)
    root = seed.bootstrap(ctx)
    with ctx.db.session() as s:
        if store.published_row(s, FORM) is None:
            row = store.save_draft(s, Actor(None, "bench", "-"), DEFINITION, source="bench")
            store.publish(s, Actor(None, "bench", "-"), FORM, row.version)
    return ctx, root.id


def seed_records(ctx: Any, org_id: int, n: int, chunk: int = 50_000) -> float:
    """Insert n records with executemany (no validation: setting the stage); seconds taken."""
    from ccms.forms.models import FormRecord

    table = FormRecord.__table__
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    t0 = time.perf_counter()
    with ctx.db.engine.begin() as c:
        for start in range(0, n, chunk):
            c.execute(insert(table), [
                {"form_id": FORM, "def_version": 1, "org_id": org_id, "data": record(i, n),
                 "created_at": base + dt.timedelta(seconds=i), "updated_at": base + dt.timedelta(seconds=i),
                 "version": 1} for i in range(start, min(n, start + chunk))])
    return time.perf_counter() - t0


def raw_statements(dialect: str) -> tuple[Any, Any]:
    """The list page's two statements by hand: count, then the page (same expression, same order)."""
    from ccms.forms.indexes import json_sql
    from ccms.forms.models import FormRecord

    table = FormRecord.__table__
    expr = json_sql(dialect, "district", "string", "core_form_record.data")
    where = f"WHERE core_form_record.form_id = :form AND core_form_record.deleted_at IS NULL AND {expr} = :value"
    count = text(f"SELECT count(*) FROM core_form_record {where}")
    cols = ", ".join(f"core_form_record.{c.name}" for c in table.c)
    page = text(f"SELECT {cols} FROM core_form_record {where} "
                f"ORDER BY core_form_record.created_at DESC NULLS LAST, core_form_record.id DESC "
                f"LIMIT :limit OFFSET 0").columns(*table.c)
    return count, page


def _interleaved_ms(a: Callable[[], Any], b: Callable[[], Any], seconds: float) -> tuple[list[float], list[float]]:
    """Per-call times of a and b, called alternately for ``seconds``: noise hits both alike."""
    a(), b()  # warm up
    ta: list[float] = []
    tb: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(ta) < 5:
        t0 = time.perf_counter()
        a()
        t1 = time.perf_counter()
        b()
        t2 = time.perf_counter()
        ta.append((t1 - t0) * 1000)
        tb.append((t2 - t1) * 1000)
    return ta, tb


def plan_of(ctx: Any, stmt_sql: str, params: dict[str, Any]) -> str:
    with ctx.db.engine.connect() as c:
        if ctx.db.is_sqlite:
            return " / ".join(str(r[-1]) for r in c.execute(text("EXPLAIN QUERY PLAN " + stmt_sql), params))
        return " / ".join(r[0].strip() for r in c.execute(text("EXPLAIN " + stmt_sql), params))[:300]


def bench_list(db_url: str, n: int, seconds: float) -> dict[str, Any]:
    """Seed n records into an empty database and time engine vs raw list pages."""
    from ccms.forms import records

    ctx, root = make_ctx(db_url)
    try:
        seed_s = seed_records(ctx, root, n)
        with ctx.db.session() as s:
            definition = records.published(s, FORM)
        query = records.Query(filters={"district": "target"}, page_size=PAGE)
        count_sql, page_sql = raw_statements(ctx.db.engine.dialect.name)
        params = {"form": FORM, "value": "target", "limit": PAGE}

        def engine_page() -> tuple[int, int]:
            with ctx.db.Session() as s:
                rows, total = records.list_records(s, ctx, definition, query)
                return len(rows), total

        def raw_page() -> tuple[int, int]:
            with ctx.db.engine.connect() as c:
                total = c.execute(count_sql, params).scalar_one()
                rows = c.execute(page_sql, params).all()
                return len(rows), total

        got_engine, got_raw = engine_page(), raw_page()
        eng, raw = _interleaved_ms(engine_page, raw_page, seconds)
        plan = plan_of(ctx, str(page_sql), params)
        index = "ix_form_bench_cases_district"
        return {"records": n, "seed_s": seed_s, "calls": len(eng), "engine_ms": statistics.median(eng),
                "raw_ms": statistics.median(raw), "engine_min_ms": min(eng), "raw_min_ms": min(raw),
                "ratio": statistics.median(eng) / statistics.median(raw), "rows": got_engine[0], "total": got_engine[1],
                "same_result": got_engine == got_raw, "uses_index": index in plan, "plan": plan}
    finally:
        ctx.close()


def _import_once(db_url: str, n: int) -> dict[str, Any]:
    """Import n valid records through bulk.import_records once; records per second, commit included."""
    from ccms.audit import Actor
    from ccms.forms import bulk
    from ccms.forms.models import FormRecord

    ctx, root = make_ctx(db_url)
    try:
        rows = [record(i, n) for i in range(n)]
        t0 = time.perf_counter()
        with ctx.db.session() as s:
            report = bulk.import_records(s, Actor(None, "bench", "-"), ctx, FORM, rows, root)
        elapsed = time.perf_counter() - t0
        with ctx.db.Session() as s:
            stored = len(s.execute(select(FormRecord.id).where(FormRecord.form_id == FORM)).all())
        return {"seconds": elapsed, "records_per_s": n / elapsed, "imported": report.imported, "stored": stored,
                "ok": report.ok}
    finally:
        ctx.close()


def bench_import(db_urls: list[str], n: int) -> dict[str, Any]:
    """Import n records once per database URL (fresh each); the range over the runs.

    One import is seconds of one process on a shared machine, so a single figure says little:
    the report gives min-max of the runs and the verdict takes the median."""
    runs = [_import_once(u, n) for u in db_urls]
    rates = [r["records_per_s"] for r in runs]
    rps = statistics.median(rates)
    ok = all(r["ok"] and r["stored"] == n for r in runs)
    return {"records": n, "runs": len(runs), "seconds": statistics.median(r["seconds"] for r in runs),
            "records_per_s": rps, "rps_min": min(rates), "rps_max": max(rates),
            "imported": runs[-1]["imported"], "stored": runs[-1]["stored"], "target": TARGET_IMPORT_RPS,
            "passed": ok and rps >= TARGET_IMPORT_RPS}


def run(quick: bool = False, smoke: bool = False) -> dict[str, Any]:
    """``{"lists": [...], "flat": {...}, "import": {...}}`` measured on temporary SQLite files."""
    if smoke:
        sizes, seconds, imported, import_runs = (400, 1_000), 0.05, 300, 1
    elif quick:
        sizes, seconds, imported, import_runs = (10_000, 100_000), 1.0, 20_000, 2
    else:
        sizes, seconds, imported, import_runs = (10_000, 1_000_000), 3.0, 100_000, 3
    out: dict[str, Any] = {"lists": []}
    with tempfile.TemporaryDirectory(prefix="ccms_bench_forms_list_") as tmp:
        for n in sizes:
            row = bench_list(f"sqlite:///{Path(tmp) / f'list_{n}.db'}", n, seconds)
            row["target"] = TARGET_RATIO
            row["passed"] = row["ratio"] <= TARGET_RATIO and row["same_result"] and row["uses_index"] \
                and row["total"] == min(MATCHES, n)
            out["lists"].append(row)
        small, large = out["lists"][0], out["lists"][-1]
        growth = large["engine_ms"] / small["engine_ms"]
        out["flat"] = {"small": small["records"], "large": large["records"], "small_ms": small["engine_ms"],
                       "large_ms": large["engine_ms"], "growth": growth, "target": TARGET_FLAT,
                       "passed": growth <= TARGET_FLAT}
        out["import"] = bench_import([f"sqlite:///{Path(tmp) / f'import{i}.db'}" for i in range(import_runs)],
                                     imported)
    return out


def print_table(result: dict[str, Any]) -> None:
    head = (f"{'records':>9} {'seed s':>7} {'engine ms':>9} {'raw ms':>7} {'engine/raw':>10} "
            f"{'total':>6} {'rows':>5} {'index':>5}")
    print(head)
    print("-" * len(head))
    for r in result["lists"]:
        print(f"{r['records']:>9,} {r['seed_s']:>7.1f} {r['engine_ms']:>9.3f} {r['raw_ms']:>7.3f} "
              f"{r['ratio']:>9.2f}x {r['total']:>6} {r['rows']:>5} {'yes' if r['uses_index'] else 'NO':>5}")
    for r in result["lists"]:
        print(f"plan at {r['records']:,}: {r['plan']}")
    f = result["flat"]
    print(f"page time {f['small']:,} -> {f['large']:,} records: {f['small_ms']:.3f} -> {f['large_ms']:.3f} ms "
          f"({f['growth']:.2f}x)")
    i = result["import"]
    print(f"bulk import: {i['records']:,} records, {i['runs']} runs: {i['rps_min']:,.0f}-{i['rps_max']:,.0f} "
          f"records/s (median {i['records_per_s']:,.0f}, {i['seconds']:.1f} s; imported {i['imported']:,}, "
          f"stored {i['stored']:,})")
    print("engine = records.list_records (filter on the indexed field, page of 50, count) in an ORM session; "
          "raw = the same SQL by hand through SQLAlchemy Core; SQLite files")


def verdicts(result: dict[str, Any]) -> list[tuple[str, bool]]:
    out = [(f"form list {r['records']:,} records, indexed filter: engine/raw {r['ratio']:.2f}x "
            f"({r['engine_ms']:.2f} ms/page){'' if r['uses_index'] else ', INDEX NOT USED'}", r["passed"])
           for r in result["lists"]]
    f = result["flat"]
    out.append((f"form list page {f['small']:,} -> {f['large']:,} records: {f['growth']:.2f}x "
                f"(target <= {TARGET_FLAT}x)", f["passed"]))
    i = result["import"]
    out.append((f"bulk import {i['records']:,} records: {i['rps_min']:,.0f}-{i['rps_max']:,.0f} records/s over "
                f"{i['runs']} runs, median {i['records_per_s']:,.0f} "
                f"(target >= {TARGET_IMPORT_RPS:,})", i["passed"]))
    return out


if __name__ == "__main__":
    t0 = time.perf_counter()
    res = run(quick="--quick" in sys.argv, smoke="--smoke" in sys.argv)
    print_table(res)
    for line, ok in verdicts(res):
        print(f"{'PASS' if ok else 'FAIL'}  {line}")
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")
    sys.exit(0 if "--smoke" in sys.argv or all(ok for _, ok in verdicts(res)) else 1)
