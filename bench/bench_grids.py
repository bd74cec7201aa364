"""Benchmark: locating points to unit grids (command plugin) vs a naive loop.

Set-up: 10,000 grids (a 100 × 100 lattice of ~100 m cells with jittered
inner nodes, like the demo city's) stored in a temporary SQLite database of
a city deployment, and 100,000 random points over the lattice (some outside).

* ``batch`` — :func:`plugins.command.grids.locate_codes`: one vectorised
  STRtree query (shapely 2) for all points, edge rule applied (target
  >= 20,000 points/s, index build time printed separately);
* ``per point`` — :meth:`GridIndex.locate_many` called once per point (how a
  single report is located, without the database round trip);
* ``locate()`` — the full per-request call with its freshness check against
  the grid table (one small query), on a sample;
* ``naive`` — a loop over every polygon per point (``covers``), no index,
  on a small sample and extrapolated (the baseline the index is for).

The answers of batch, per point and naive are compared on the sample.
``python bench/bench_grids.py`` (``--quick``); bench/run.py imports :func:`run`.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_PPS = 20_000


def _grids(side: int, rng: random.Random) -> list[dict[str, Any]]:
    from shapely.geometry import Polygon

    from ccms.plugins.command import geo
    lon0, lat0 = 120.5, 31.2
    kx, ky = geo.scales(lat0)
    nodes = [[(lon0 + (i * 100 + (rng.uniform(-20, 20) if 0 < i < side else 0)) / kx,
               lat0 + (j * 100 + (rng.uniform(-20, 20) if 0 < j < side else 0)) / ky)
              for i in range(side + 1)] for j in range(side + 1)]
    from ccms.api import utcnow
    now = utcnow()
    rows = []
    for j in range(side):
        for i in range(side):
            k = j * side + i
            block, serial = divmod(k, 99)  # 99 grids per community, 10 communities per street
            code = f"320508{1 + block // 10:03d}{1 + block % 10:03d}{serial + 1:02d}"
            poly = Polygon([nodes[j][i], nodes[j][i + 1], nodes[j + 1][i + 1], nodes[j + 1][i]])
            minx, miny, maxx, maxy = poly.bounds
            rows.append({"code": code, "name": "", "street_code": code[:9], "community_code": code[:12],
                         "area_class": "B", "geometry": geo.as_geojson(poly), "area_m2": geo.area_m2(poly),
                         "min_x": minx, "min_y": miny, "max_x": maxx, "max_y": maxy, "updated_at": now, "version": 1})
    return rows


def run(quick: bool = False, smoke: bool = False) -> dict[str, Any]:
    import os
    os.environ.setdefault("CCMS_ARGON2_CHEAP", "1")
    import shapely
    from sqlalchemy import insert

    from ccms import migrate, seed
    from ccms.app import create_app
    from ccms.config import parse_deployment
    from ccms.plugins.command import grids
    from ccms.plugins.command.models import Grid

    rng = random.Random(7)
    side = 20 if smoke else 100
    n_points = 2_000 if smoke else (30_000 if quick else 100_000)
    naive_sample = 20 if smoke else (100 if quick else 200)
    with tempfile.TemporaryDirectory(prefix="ccms_bench_grids_") as tmp:
        app = create_app(parse_deployment({"profile": "city", "region_code": "320500", "name": "bench",
                                           "secret_key": "bench-secret-key-0123456789",
                                           "database_url": f"sqlite:///{tmp}/grids.db"}))
        ctx = app.state.ccms
        try:
            migrate.upgrade(ctx.db.engine, ctx.plugins)
            seed.bootstrap(ctx)
            rows = _grids(side, rng)
            assert len({r["code"] for r in rows}) == len(rows)
            with ctx.db.session() as s:
                s.execute(insert(Grid.__table__), rows)
                grids.touch_grids(s)
            b = (rows[0]["min_x"], rows[0]["min_y"], rows[-1]["max_x"], rows[-1]["max_y"])
            pad = (b[2] - b[0]) * 0.02
            pts = [(rng.uniform(b[0] - pad, b[2] + pad), rng.uniform(b[1] - pad, b[3] + pad)) for _ in range(n_points)]
            with ctx.db.session() as s:
                t0 = time.perf_counter()
                index = grids.grid_index(s)
                build = time.perf_counter() - t0
                t0 = time.perf_counter()
                batch = grids.locate_codes(s, pts)
                batch_s = time.perf_counter() - t0
                sample = pts[:min(n_points, 5_000)]
                t0 = time.perf_counter()
                single = [index.locate_many([x], [y])[0] for x, y in sample]
                single_s = time.perf_counter() - t0
                single_codes = [index.codes[i] if i >= 0 else None for i in single]
                full_sample = pts[:min(n_points, 1_000)]
                t0 = time.perf_counter()
                for x, y in full_sample:
                    try:
                        grids.locate(s, x, y)
                    except Exception:  # noqa: BLE001 - outside the city: part of the workload
                        pass
                full_s = time.perf_counter() - t0
                geoms = list(index.geoms)
                t0 = time.perf_counter()
                naive = []
                for x, y in pts[:naive_sample]:
                    p = shapely.Point(x, y)
                    hit = None
                    for code, g in zip(index.codes, geoms):
                        if g.covers(p):
                            hit = code
                            break
                    naive.append(hit)
                naive_s = time.perf_counter() - t0
        finally:
            ctx.close()
    batch_pps = n_points / batch_s
    naive_pps = naive_sample / naive_s
    return {"grids": len(rows), "points": n_points, "inside": sum(1 for c in batch if c), "build_s": build,
            "batch_pps": batch_pps, "single_pps": len(sample) / single_s, "locate_pps": len(full_sample) / full_s,
            "naive_pps": naive_pps, "speedup": batch_pps / naive_pps,
            "agree": batch[:len(sample)] == single_codes and batch[:naive_sample] == naive,
            "passed": batch_pps >= TARGET_PPS}


def print_table(r: dict[str, Any]) -> None:
    print(f"{r['grids']:,} grids, {r['points']:,} points ({r['inside']:,} inside a grid); "
          f"index build {r['build_s'] * 1000:.0f} ms")
    print(f"  batch (one STRtree query)      {r['batch_pps']:>12,.0f} points/s")
    print(f"  per point (index, in memory)   {r['single_pps']:>12,.0f} points/s")
    print(f"  locate() per request (+ check) {r['locate_pps']:>12,.0f} points/s")
    print(f"  naive loop over all polygons   {r['naive_pps']:>12,.1f} points/s  (batch is {r['speedup']:,.0f}x faster)")
    print(f"  answers agree (batch = per point = naive on the sample): {r['agree']}")


def verdicts(r: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(f"grids: {r['batch_pps']:,.0f} points/s over {r['grids']:,} grids (target >= {TARGET_PPS:,}), "
             f"{r['speedup']:,.0f}x the naive loop", r["passed"] and r["agree"])]


if __name__ == "__main__":
    res = run(quick="--quick" in sys.argv, smoke="--smoke" in sys.argv)
    print_table(res)
    for text, ok in verdicts(res):
        print(("PASS  " if ok else "FAIL  ") + text)
