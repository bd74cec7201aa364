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

import pytest

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


INTAKE_SIDE = {"cps", "ms", "report_ms", "file_ms", "stmts", "report_stmts", "file_stmts"}
INTAKE_TABLES = {"command_case", "core_flow_instance", "core_flow_token", "core_flow_task", "core_flow_timer",
                 "core_flow_history", "core_flow_outbox", "core_audit_log"}


def check_case_intake(r: dict, backend: str) -> None:
    """Both sides ran, wrote the same rows per case, and the figures are filled in."""
    assert r["backend"] == backend
    assert r["same_rows"] and r["state_problems"] == [], r["state_problems"]
    # (command_serial: a new row per class and day, so the side that runs first creates them)
    ours, bare = ({t: v for t, v in r[k].items() if t != "command_serial"}
                  for k in ("rows_per_case_ours", "rows_per_case_bare"))
    assert INTAKE_TABLES <= set(ours) and ours == bare
    assert ours["command_case"] == 1 and ours["core_flow_task"] == 2
    for side in ("ours", "bare"):
        assert INTAKE_SIDE <= r[side].keys()
        assert all(r[side][k] > 0 for k in INTAKE_SIDE), r[side]
    assert r["ours"]["stmts"] >= r["bare"]["stmts"]
    assert r["ratio"] > 0 and r["target"] == 2.0 and isinstance(r["passed"], bool)


def check_case_stats(r: dict, backend: str) -> None:
    assert r["backend"] == backend and r["rows"] > 0
    assert r["same_figures"] is True
    assert r["ours_s"] > 0 and r["hand_s"] > 0 and r["ratio"] > 0 and isinstance(r["passed"], bool)


def check_case_history(r: dict, backend: str) -> None:
    """Both history sizes ran every workload, and the current month's figures agreed."""
    assert r["backend"] == backend and r["same_figures"] is True
    assert {"stats month", "drill", "list status=closed", "list q=E0102"} <= set(r["figures"])
    for f in r["figures"].values():
        assert f["ms_1x"] > 0 and f["ms_10x"] > 0 and f["ratio"] > 0
    assert r["target"] == 1.2 and isinstance(r["passed"], bool)


def check_offloop(r: dict) -> None:
    assert r["errors"] == [], r["errors"]
    for kind in ("off", "on"):
        assert r[kind]["alone"]["rps"] > 0 and r[kind]["stats"]["rps"] > 0
        assert r[kind]["stats"]["stats_pages"] >= 1 and r[kind]["stats"]["p99_ms"] > 0
    assert r["p99_ratio"] > 0 and r["rps_ratio"] > 0 and isinstance(r["passed"], bool)


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
        check_case_intake(report["case_intake"], "sqlite")
        check_case_stats(report["case_stats"], "sqlite")
        check_case_history(report["case_history"], "sqlite")
        check_offloop(report["offloop"])
        assert "statistics refresh" in text
        assert "Case intake" in text and "case intake (sqlite)" in text
    else:
        assert "authz" not in report and "postgresql" in text


def test_smoke_case_intake_and_statistics_on_postgresql(backend: str, db_url: str, tmp_path: Path) -> None:
    # The SQLite side of both runs in the full smoke run above; here they run on the test's
    # PostgreSQL database (the intake seeds its city there, the statistics re-create command_case).
    if backend != "postgresql":
        pytest.skip("PostgreSQL only: the SQLite smoke run covers both sections")
    proc, report = run_bench(tmp_path, "--only", "case_intake", "--db-url", db_url)
    check_case_intake(report["case_intake"], "postgresql")
    assert "case intake (postgresql)" in proc.stdout and "http" not in report
    proc, report = run_bench(tmp_path, "--only", "case_stats", "--pg-url", db_url)
    check_case_stats(report["case_stats"], "sqlite")
    check_case_stats(report["case_stats_pg"], "postgresql")
    assert "(postgresql)" in proc.stdout
    proc, report = run_bench(tmp_path, "--only", "case_history", "--pg-url", db_url)
    check_case_history(report["case_history"], "sqlite")
    check_case_history(report["case_history_pg"], "postgresql")
