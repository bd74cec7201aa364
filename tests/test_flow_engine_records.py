"""Instances bound to form records, working-day deadlines, the inbox's
indexes and the ``ccms flows timers`` command (both backends)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from conftest import plugins_toml
from flow_engine_kit import ADMIN, flow, instance, open_tasks, person, publish, task
from sqlalchemy import text

from ccms.app import App
from ccms.cli import main
from ccms.errors import ValidationFailed
from ccms.flows import clock, engine, inbox
from ccms.forms import records
from ccms.forms import store as form_store

LEAVE_FORM = {"id": "leave", "title": {"zh-CN": "请假"}, "schema": {
    "type": "object", "required": ["reason"],
    "properties": {"reason": {"type": "string", "title": "事由"}, "days": {"type": "integer", "title": "天数"},
                   "opinion": {"type": "string", "title": "意见", "maxLength": 20},
                   "photo": {"type": "string", "title": "照片"}}}}

LEAVE = flow("leave_flow", [
    {"id": "start", "type": "start"},
    task("approve", "head", editable=["opinion"], time_limit={"amount": 2, "unit": "work_days"}),
    task("archive", "clerk", required_attachments=["photo"], editable=["photo"]),
    {"id": "gate", "type": "exclusive"},
    {"id": "long", "type": "end", "outcome": "long_leave"},
    {"id": "short", "type": "end", "outcome": "short_leave"},
], [
    {"from": "start", "to": "approve"},
    {"from": "approve", "to": "archive", "action": "agree"},
    {"from": "archive", "to": "gate", "action": "file"},
    {"from": "gate", "to": "long", "condition": "days > 3"},
    {"from": "gate", "to": "short", "default": True},
], form="leave")

FRIDAY_10 = dt.datetime(2026, 3, 6, 2, 0, tzinfo=dt.UTC)  # Friday 10:00 Beijing time


@pytest.fixture
def bound(ctx: App, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(clock, "now", lambda: FRIDAY_10)
    p = {n: person(ctx, n) for n in ("head", "clerk", "emp")}
    with ctx.db.session() as s:
        row = form_store.save_draft(s, ADMIN, LEAVE_FORM)
        form_store.publish(s, ADMIN, "leave", row.version)
    publish(ctx, LEAVE)
    with ctx.db.session() as s:
        rec = records.create(s, p["emp"], ctx, "leave", {"reason": "探亲", "days": 5}, 1)
        rid = rec.id
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, p["emp"], "leave_flow", record_id=rid).id
    return {"p": p, "rid": rid, "iid": iid}


def test_record_fields_edited_at_their_step(ctx: App, bound: dict[str, Any]) -> None:
    p, rid, iid = bound["p"], bound["rid"], bound["iid"]
    [t] = open_tasks(ctx, iid)
    # two working days from Friday 10:00 is Tuesday 10:00 (the weekend does not count)
    assert t.due_at == dt.datetime(2026, 3, 10, 2, 0, tzinfo=dt.UTC)
    with pytest.raises(ValidationFailed) as err, ctx.db.session() as s:
        engine.act(s, ctx, p["head"], t.id, "agree", data={"days": 1})
    assert err.value.code == "not_editable" and "days" in err.value.fields
    with pytest.raises(ValidationFailed), ctx.db.session() as s:  # invalid value: too long
        engine.act(s, ctx, p["head"], t.id, "agree", data={"opinion": "很" * 30})
    with ctx.db.session() as s:
        engine.act(s, ctx, p["head"], t.id, "agree", data={"opinion": "同意"})
        assert records.get(s, "leave", rid).data["opinion"] == "同意"
        assert [h.action for h in records.history(s, rid)] == ["create", "update"]
    [a] = open_tasks(ctx, iid)
    with pytest.raises(ValidationFailed) as err, ctx.db.session() as s:
        engine.act(s, ctx, p["clerk"], a.id, "file")
    assert err.value.code == "attachments_missing"
    with ctx.db.session() as s:
        engine.act(s, ctx, p["clerk"], a.id, "file", data={"photo": "scan-1.jpg"})
    assert instance(ctx, iid).outcome == "long_leave"  # the condition read the record's "days"


def test_flow_for_another_form_is_refused(ctx: App, bound: dict[str, Any]) -> None:
    publish(ctx, flow("plain", [{"id": "start", "type": "start"}, task("x", "head"), {"id": "end", "type": "end"}],
                      [{"from": "start", "to": "x"}, {"from": "x", "to": "end", "action": "ok"}]))
    with ctx.db.session() as s:  # a flow without a form may carry any record
        engine.start(s, ctx, bound["p"]["emp"], "plain", record_id=bound["rid"])
    with ctx.db.session() as s:
        row = form_store.save_draft(s, ADMIN, {**LEAVE_FORM, "id": "other"})
        form_store.publish(s, ADMIN, "other", row.version)
    with ctx.db.session() as s:
        other = records.create(s, bound["p"]["emp"], ctx, "other", {"reason": "x"}, 1).id
    with pytest.raises(ValidationFailed) as err, ctx.db.session() as s:
        engine.start(s, ctx, bound["p"]["emp"], "leave_flow", record_id=other)
    assert err.value.code == "wrong_form"


def test_calendar_without_working_days_is_a_clear_error(ctx: App, monkeypatch: pytest.MonkeyPatch) -> None:
    from ccms.calendar import service
    with ctx.db.session() as s:
        row = service.create_calendar(s, ADMIN, {"id": "never", "name": "无工作日"}, timezone="Asia/Shanghai")
        row.rest_weekdays = [1, 2, 3, 4, 5, 6, 7]  # no office days at all (an administrator's mistake)
        row.hours = []
    person(ctx, "head")
    publish(ctx, flow("never_flow", [
        {"id": "start", "type": "start"},
        task("t", "head", time_limit={"amount": 1, "unit": "work_days"}), {"id": "end", "type": "end"},
    ], [{"from": "start", "to": "t"}, {"from": "t", "to": "end", "action": "ok"}], calendar="never"))
    with pytest.raises(ValidationFailed), ctx.db.session() as s:
        engine.start(s, ctx, ADMIN, "never_flow")
    assert open_tasks(ctx, 1) == []


def test_inbox_queries_use_the_person_indexes(ctx: App) -> None:
    if not ctx.db.is_sqlite:
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's; PostgreSQL plans depend on statistics")
    from sqlalchemy.dialects import sqlite
    with ctx.db.session() as s:
        base = inbox._select(clock.now())
        ids = inbox._todo_ids(7, clock.now())
        stmt = base.join(ids, ids.c.id == inbox.FlowTask.id).limit(20)
        sql = str(stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(r[-1]) for r in s.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert "ix_core_flow_task_assignee" in plan and "ix_core_flow_task_candidate_person" in plan
    with ctx.db.session() as s:
        stmt = inbox._select(clock.now()).where(inbox.FlowTask.completed_by == 7, inbox.FlowTask.status == "done")
        sql = str(stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(r[-1]) for r in s.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert "ix_core_flow_task_done" in plan


def test_cli_runs_the_timers(ctx: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "deploy.toml"
    cfg.write_text(f'profile = "city"\nregion_code = "320500"\nname = "测试"\nsecret_key = "test-secret-key-0123456789"\n'
                   f'database_url = "{ctx.db.url}"\n{plugins_toml()}', encoding="utf-8")
    assert main(["flows", "timers", "--config", str(cfg)]) == 0
    assert "warn=0" in capsys.readouterr().out
