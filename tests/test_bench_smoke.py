"""The benchmark harness runs end to end so it cannot rot unnoticed.

``bench/run.py --smoke`` starts both uvicorn servers, logs in, sends a handful
of requests to each endpoint and prints its tables. These tests check the
shape of what it prints and writes (both benchmarks present, figures filled in,
no failed request), never a timing: the machines are too noisy for that.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HTTP_KEYS = {"post_org", "get_people"}
STACK_FIGURES = {"requests", "rps", "median_ms", "p95_ms", "cpu_ms_per_req", "in_app_median_ms", "errors"}
RATIOS = {"ratio_throughput", "ratio_median", "ratio_p95", "ratio_cpu", "ratio_in_app"}


def run_bench(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "bench/run.py", "--smoke", "--json", str(out), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"bench/run.py --smoke failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc, json.loads(out.read_text(encoding="utf-8"))


def check_http(rows: list[dict]) -> None:
    assert {r["key"] for r in rows} == HTTP_KEYS
    for r in rows:
        assert not r["skipped"], r.get("note")
        for stack in ("full", "bare"):
            figures = r[stack]
            assert STACK_FIGURES <= figures.keys()
            assert figures["requests"] > 0
            assert figures["errors"] == [], figures["errors"]
            assert figures["rps"] > 0 and figures["median_ms"] > 0 and figures["cpu_ms_per_req"] > 0
        for key in RATIOS:
            assert r[key] > 0, key
        assert r["target"] == 1.5
        assert isinstance(r["passed"], bool)


def test_smoke_run_prints_both_benchmarks_with_ratios_and_verdicts(backend: str, db_url: str,
                                                                    tmp_path: Path) -> None:
    # SQLite: the harness's default temporary database plus the authz benchmark;
    # PostgreSQL: the HTTP benchmark against the test database.
    args = ("--only", "http", "--db-url", db_url) if backend == "postgresql" else ()
    proc, report = run_bench(tmp_path, *args)
    text = proc.stdout

    assert report["mode"] == "smoke"
    check_http(report["http"])
    assert "POST /api/orgs" in text and "GET /admin/people" in text
    assert "full / bare" in text
    for title in ("POST /api/orgs", "GET /admin/people"):
        verdicts = [line for line in text.splitlines()
                    if line.startswith(("PASS", "FAIL")) and title in line]
        assert len(verdicts) == 1, text

    if backend == "sqlite":
        assert [r["rules"] for r in report["authz"]] == [1_000]
        assert report["authz"][0]["revocation_honoured"] and report["authz"][0]["agrees_with_casbin"]
        assert "Permission check" in text and "authz 1,000 rules" in text
    else:
        assert "authz" not in report and "postgresql" in text
