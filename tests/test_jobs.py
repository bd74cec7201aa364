"""Background jobs (core/jobs.py, /jobs/{id}), both backends: progress while
running, result or error report at the end, owner/admin visibility, a job
left behind by a restart shown as failed, and the migration's tables."""

from __future__ import annotations

import datetime as dt
import io
import threading
from typing import Any

import openpyxl
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, update
from test_orgs import PASSWORD, make_person, root_id

from ccms import jobs
from ccms.api import start_job
from ccms.errors import ValidationFailed
from ccms.forms.imports import ImportUpload
from ccms.forms.saved_filters import SavedFilter
from ccms.jobs import Job, JobError
from ccms.testing import ADMIN_USER

HX = {"HX-Request": "true"}


def admin_id(ctx: Any) -> int:
    from ccms.models import Person
    with ctx.db.session() as s:
        return s.scalar(select(Person.id).where(Person.username == ADMIN_USER))


def test_migration_creates_exactly_the_model_tables(ctx: Any) -> None:
    import ccms.models  # noqa: F401
    from ccms.db import Base
    mine = {Job.__tablename__, SavedFilter.__tablename__, ImportUpload.__tablename__}
    assert mine <= set(Base.metadata.tables)
    with ctx.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if any(t in str(d) for t in mine)] == []


def test_progress_while_running_then_result(ctx: Any, admin: Any) -> None:
    gate, reached = threading.Event(), threading.Event()

    def work(progress: Any) -> dict[str, Any]:
        progress(3, 10, "处理中", "working")
        reached.set()
        assert gate.wait(10)
        progress(10)
        return {"message": "完成了 10 项", "message_en": "10 done", "url": "/forms", "count": 10}

    jid = start_job(ctx, admin_id(ctx), "test_kind", work, total=10)
    assert reached.wait(10)
    r = admin.get(f"/jobs/{jid}", headers=HX)
    assert r.status_code == 200
    assert 'hx-trigger="every 1s"' in r.text and 'data-status="running"' in r.text
    assert '<progress max="10" value="3"' in r.text and "3 / 10" in r.text and "处理中" in r.text
    page = admin.get(f"/jobs/{jid}")  # the full page embeds the same fragment
    assert "<html" in page.text and 'data-testid="job"' in page.text
    api = admin.api("GET", f"/api/jobs/{jid}").json()
    assert api["status"] == "running" and api["done"] == 3 and api["percent"] == 30
    gate.set()
    state = jobs.wait(ctx, jid)
    assert state.status == "done" and state.result["count"] == 10
    r = admin.get(f"/jobs/{jid}", headers=HX)
    assert 'data-status="done"' in r.text and "hx-trigger" not in r.text  # polling stops
    assert "完成了 10 项" in r.text and 'href="/forms"' in r.text and 'data-testid="job-result-link"' in r.text


def test_job_error_gives_a_downloadable_report(ctx: Any, admin: Any) -> None:
    def work(progress: Any) -> None:
        raise JobError("2 行有误", "2 rows invalid", errors=[
            {"row": 1, "field": "subject", "label": "事项", "message": "必填项", "message_en": "required"},
            {"row": 7, "field": "amount", "label": "金额", "message": "<b>不是数字</b>", "message_en": "not a number"}])

    jid = start_job(ctx, admin_id(ctx), "test_kind", work)
    assert jobs.wait(ctx, jid).status == "failed"
    r = admin.get(f"/jobs/{jid}", headers=HX)
    assert 'data-status="failed"' in r.text and "2 行有误" in r.text
    assert "&lt;b&gt;不是数字&lt;/b&gt;" in r.text and "<b>不是数字" not in r.text  # escaped
    assert 'data-testid="job-errors-download"' in r.text
    x = admin.get(f"/jobs/{jid}/errors.xlsx")
    assert x.status_code == 200 and x.headers["content-type"].startswith("application/vnd.openxmlformats")
    rows = list(openpyxl.load_workbook(io.BytesIO(x.content)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("行号", "字段", "字段路径") and rows[2][:4] == (7, "金额", "amount", "<b>不是数字</b>")


def test_validation_error_and_crash_fail_with_clear_messages(ctx: Any, admin: Any) -> None:
    def invalid(progress: Any) -> None:
        raise ValidationFailed("格式不对", "bad format", fields={"file": {"message": "不对", "message_en": "bad"}})

    def crash(progress: Any) -> None:
        raise RuntimeError("boom")

    a = start_job(ctx, admin_id(ctx), "test_kind", invalid)
    b = start_job(ctx, admin_id(ctx), "test_kind", crash)
    assert jobs.wait(ctx, a).message == "格式不对"
    sb = jobs.wait(ctx, b)
    assert sb.status == "failed" and "出错" in sb.message and "boom" not in sb.message
    assert admin.get(f"/jobs/{b}/errors.xlsx").status_code == 404  # nothing to download


def test_only_the_owner_or_an_administrator_sees_a_job(ctx: Any, admin: Any, client_for: Any) -> None:
    root = root_id(ctx)
    alice = make_person(ctx, "alice", root)
    make_person(ctx, "bob", root)
    jid = start_job(ctx, alice, "test_kind", lambda progress: {"message": "ok"})
    jobs.wait(ctx, jid)
    a, b = client_for("alice", PASSWORD), client_for("bob", PASSWORD)
    assert a.get(f"/jobs/{jid}").status_code == 200
    assert b.get(f"/jobs/{jid}").status_code == 404
    assert b.api("GET", f"/api/jobs/{jid}").status_code == 404
    assert b.get(f"/jobs/{jid}/errors.xlsx").status_code == 404
    assert admin.get(f"/jobs/{jid}").status_code == 200  # administrators hold core.jobs.view_all
    assert a.get("/jobs/no-such-job").status_code == 404
    assert client_for().get(f"/jobs/{jid}", follow_redirects=False).status_code in (302, 303, 401)


def test_a_job_interrupted_by_a_restart_shows_as_failed(ctx: Any, admin: Any) -> None:
    long_ago = jobs.utcnow() - dt.timedelta(minutes=5)
    with ctx.db.session() as s:
        s.add(Job(id="a" * 32, kind="form_import", owner=admin_id(ctx), status="running", done=40, total=100,
                  runner="previous-boot", heartbeat_at=long_ago, created_at=long_ago))
    r = admin.get(f"/jobs/{'a' * 32}", headers=HX)
    assert 'data-status="failed"' in r.text and "服务重启而中断" in r.text and "hx-trigger" not in r.text
    with ctx.db.session() as s:
        row = s.get(Job, "a" * 32)
        assert row.status == "failed" and row.finished_at is not None


def test_a_running_job_of_another_live_process_is_not_failed_on_postgresql(ctx: Any, admin: Any) -> None:
    if ctx.db.is_sqlite:
        pytest.skip("SQLite serves one process: any other runner is a previous boot")
    with ctx.db.session() as s:
        s.add(Job(id="b" * 32, kind="form_import", owner=admin_id(ctx), status="running", done=1, total=2,
                  runner="other-live-process", heartbeat_at=jobs.utcnow()))
    assert 'data-status="running"' in admin.get(f"/jobs/{'b' * 32}", headers=HX).text
    with ctx.db.session() as s:
        s.execute(update(Job).where(Job.id == "b" * 32).values(heartbeat_at=jobs.utcnow() - dt.timedelta(minutes=2)))
    assert 'data-status="failed"' in admin.get(f"/jobs/{'b' * 32}", headers=HX).text


def test_all_or_nothing_work_leaves_nothing_when_the_job_fails(ctx: Any) -> None:
    from ccms.models import Role

    def work(progress: Any) -> None:
        with ctx.db.session() as s:
            for i in range(5):
                s.add(Role(code=f"tmp_{i}", name="临时"))
                s.flush()
                progress(i + 1, 5)
            raise RuntimeError("disk full")

    jid = start_job(ctx, None, "test_kind", work, total=5)
    assert jobs.wait(ctx, jid).status == "failed"
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Role).where(Role.code.like("tmp_%"))) == 0
