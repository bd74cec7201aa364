"""Monitoring (等保 7.5.1): /healthz, /readyz, /metrics behind a token, the JSON
access log, the worker heartbeat and the 运行监控 history."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, update

from ccms import metrics
from ccms.db import utcnow
from ccms.flows import timers
from ccms.metrics import Heartbeat, MonitorSample
from ccms.testing import ADMIN_PASSWORD, ADMIN_USER, Client

TOKEN = "metrics-token-0123456789"


def mon_app(make_app: Any, tmp_path: Path, **monitoring: Any) -> Any:
    settings = {"metrics_token": TOKEN, "min_free_mb": 0, **monitoring}
    return make_app(monitoring=settings, logging={"access": "logs/access.log", "system": "logs/system.log"})


def access_lines(tmp_path: Path) -> list[dict[str, Any]]:
    f = tmp_path / "logs" / "access.log"
    return [json.loads(x) for x in f.read_text(encoding="utf-8").splitlines()] if f.exists() else []


def test_tables_match_the_migration(ctx: Any) -> None:
    import ccms.models  # noqa: F401
    from ccms.db import Base
    mine = {Heartbeat.__tablename__, MonitorSample.__tablename__}
    with ctx.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if any(t in str(d) for t in mine)] == []


def test_readyz_fails_without_timer_worker_then_passes_after_heartbeat(make_app: Any, tmp_path: Path) -> None:
    app = mon_app(make_app, tmp_path)
    ctx = app.state.ccms
    with Client(app) as c:
        r = c.get("/readyz")
        assert (r.status_code, r.text) == (503, "fail")  # no detail for anonymous callers
        timers.cli(ctx)  # one run of `ccms flows timers` beats
        r = c.get("/readyz")
        assert (r.status_code, r.text) == (200, "ok")
        # a heartbeat older than worker_stale_seconds is a dead worker
        with ctx.db.session() as s:
            s.execute(update(Heartbeat).values(at=utcnow() - dt.timedelta(minutes=10)))
        assert c.get("/readyz").status_code == 503
        assert c.get("/healthz").status_code == 200  # liveness does not depend on workers


def test_readyz_fails_when_disk_below_threshold(make_app: Any, tmp_path: Path) -> None:
    app = mon_app(make_app, tmp_path, workers=[], min_free_mb=10**9)  # a petabyte free: never
    with Client(app) as c:
        assert c.get("/readyz").status_code == 503
    assert app.state.ccms.monitor.readiness() == {"database": True, "migrations": True, "workers": True,
                                                  "disk": False}


def test_readyz_fails_when_migrations_behind(make_app: Any, tmp_path: Path) -> None:
    app = mon_app(make_app, tmp_path, workers=[])
    ctx = app.state.ccms
    with Client(app) as c:
        assert c.get("/readyz").status_code == 200
        with ctx.db.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0008_saved_filters'")
        assert c.get("/readyz").status_code == 503


@pytest.mark.parametrize("auth", [None, "Bearer wrong-token-0123456789", "Basic " + TOKEN, f"bearer {TOKEN}x"])
def test_metrics_refused_without_its_token(make_app: Any, tmp_path: Path, auth: str | None) -> None:
    app = mon_app(make_app, tmp_path)
    with Client(app) as c:
        r = c.get("/metrics", headers={"Authorization": auth} if auth else {})
        assert r.status_code == 401
        assert "ccms_http" not in r.text


def test_metrics_refused_when_no_token_configured(make_app: Any) -> None:
    app = make_app()
    with Client(app) as c:
        assert c.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


def test_metrics_by_route_template_with_state_figures(make_app: Any, tmp_path: Path) -> None:
    app = mon_app(make_app, tmp_path, backup_dir="backups")
    ctx = app.state.ccms
    from ccms.backup import create as make_backup
    deployment_file = tmp_path / "deploy.toml"
    deployment_file.write_text('profile = "city"\n', encoding="utf-8")
    make_backup(ctx, deployment_file, tmp_path / "backups")
    from ccms.jobs import Job
    with ctx.db.session() as s:  # a job queued 10 minutes ago and never picked up is late
        s.add(Job(id="late1", kind="test", owner=None, status="queued", done=0,
                  created_at=utcnow() - dt.timedelta(minutes=10)))
    with Client(app) as c:
        c.refresh_csrf()
        c.form("/login", {"username": ADMIN_USER, "password": "wrong-password"}, follow_redirects=False)
        c.form("/login", {"username": ADMIN_USER, "password": ADMIN_PASSWORD}, follow_redirects=False)
        for pid in (11, 12, 13):
            c.get(f"/admin/people/{pid}")
        c.get("/no/such/page/1")
        r = c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    # the template, not each raw path (no label per id)
    assert 'ccms_http_requests_total{method="GET",route="/admin/people/{person_id:int}",status="404"} 3.0' in text
    assert "/admin/people/11" not in text
    assert 'route="<unmatched>"' in text
    assert "ccms_http_request_duration_seconds_bucket" in text
    assert 'ccms_db_pool_connections{state="checked_out"}' in text
    assert 'ccms_jobs{state="queued"} 1.0' in text and 'ccms_jobs{state="late"} 1.0' in text
    assert 'ccms_flow_timers{state="late"} 0.0' in text
    assert "ccms_login_failures_total 1.0" in text
    age = next(ln for ln in text.splitlines() if ln.startswith("ccms_last_backup_age_seconds "))
    assert 0 <= float(age.split()[1]) < 3600
    assert 'ccms_disk_free_bytes{path="attachments"}' in text
    assert 'ccms_ready{check="workers"} 0.0' in text


def test_access_log_one_json_line_per_request(make_app: Any, tmp_path: Path) -> None:
    app = mon_app(make_app, tmp_path)
    with Client(app, client=("203.0.113.9", 40000)) as c:
        c.refresh_csrf()
        c.form("/login", {"username": ADMIN_USER, "password": ADMIN_PASSWORD}, follow_redirects=False)
        c.get("/admin/people/999999")
    lines = access_lines(tmp_path)  # the listener drained the queue at shutdown
    people = [x for x in lines if x["path"] == "/admin/people/999999"]
    assert len(people) == 1
    line = people[0]
    assert set(line) >= {"time", "type", "method", "route", "status", "ms", "uid", "client"}
    assert line["route"] == "/admin/people/{person_id:int}" or line["route"].startswith("/admin/people/{")
    assert line["status"] == 404 and line["method"] == "GET" and line["type"] == "access"
    assert line["uid"] is not None and line["user"] == ADMIN_USER
    assert line["client"] == "203.0.113.9"
    assert dt.datetime.fromisoformat(line["time"]) <= dt.datetime.now(dt.UTC)


@pytest.mark.parametrize("trusted, expected", [([], "203.0.113.9"), (["203.0.113.0/24"], "198.51.100.7")])
def test_forged_forwarded_for_from_untrusted_peer_is_ignored_in_access_log(make_app: Any, tmp_path: Path,
                                                                          trusted: list[str], expected: str) -> None:
    app = make_app(security={"trusted_proxies": trusted})
    with Client(app, client=("203.0.113.9", 40000)) as c:
        c.get("/login", headers={"X-Forwarded-For": "198.51.100.7"})
    lines = [x for x in access_lines(tmp_path) if x["path"] == "/login"]
    assert [x["client"] for x in lines] == [expected]


def test_system_log_is_json(make_app: Any, tmp_path: Path) -> None:
    import logging
    app = mon_app(make_app, tmp_path)
    with Client(app):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("ccms.test").exception("something failed: %s", 42)
    lines = [json.loads(x) for x in (tmp_path / "logs" / "system.log").read_text().splitlines()]
    mine = [x for x in lines if x.get("logger") == "ccms.test"]
    assert mine and mine[0]["msg"] == "something failed: 42" and mine[0]["level"] == "ERROR"
    assert "RuntimeError: boom" in mine[0]["exc"] and mine[0]["type"] == "system"


def test_sampler_stores_history_and_prunes_old_rows(make_app: Any, tmp_path: Path) -> None:
    app = mon_app(make_app, tmp_path, retention_days=1)
    ctx = app.state.ccms
    with ctx.db.session() as s:
        s.add(MonitorSample(at=utcnow() - dt.timedelta(days=3), worker="old", data={"requests": 1}))
    with Client(app) as c:
        for _ in range(4):
            c.get("/login")
        data = ctx.monitor.sample()
        assert data["requests"] >= 4 and data["avg_ms"] is not None
        again = ctx.monitor.sample(now=utcnow() + dt.timedelta(minutes=1))
        assert again["requests"] == 0  # a delta per period, not a running total
    with ctx.db.session() as s:
        workers = s.scalars(select(MonitorSample.worker)).all()
    assert "old" not in workers and len(workers) == 2
    hist = ctx.monitor.history(hours=1)
    assert hist[0]["requests"] >= 4


def test_beat_upserts_one_row_per_worker(ctx: Any) -> None:
    metrics.beat(ctx, "flow_timers", "a")
    metrics.beat(ctx, "flow_timers", "b")
    with ctx.db.session() as s:
        rows = s.scalars(select(Heartbeat)).all()
    assert [(r.name, r.holder) for r in rows] == [("flow_timers", "b")]
