"""Special operations (both backends): 回退, 延期, 挂账, 作废, 返工, 督办, 转办, 撤回 —
each records who, when and why; bad requests change nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flow_engine_kit import flow, instance, open_tasks, person, publish, task
from sqlalchemy import func, select

from ccms.app import App
from ccms.errors import Conflict, Forbidden, ValidationFailed
from ccms.flows import clock, engine, operations
from ccms.flows.models import FlowHistory, FlowOutbox, FlowTask

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # a Monday, 09:00 in Beijing

CASE = flow("case_ops", [
    {"id": "start", "type": "start"},
    task("dispatch", "disp", operations={"withdraw": {}}),
    {"id": "dispose", "type": "task", "assignee": {"rule": "role", "role": "handler"}, "claim": True,
     "time_limit": {"amount": 60, "unit": "minutes"},
     "operations": {"return": {"to": ["dispatch"], "approval": {"rule": "person", "username": "disp"}},
                    "extend": {"approval": {"rule": "person", "username": "disp"}, "max_times": 1},
                    "suspend": {}, "void": {"approval": {"rule": "person", "username": "disp"}},
                    "reassign": {}, "urge": {"role": "supervisor"}}},
    task("check", "insp"),
    {"id": "closed", "type": "end", "outcome": "closed"},
], [
    {"from": "start", "to": "dispatch"},
    {"from": "dispatch", "to": "dispose", "action": "send"},
    {"from": "dispose", "to": "check", "action": "done"},
    {"from": "check", "to": "closed", "action": "pass"},
    {"from": "check", "to": "dispose", "action": "fail", "rework": True, "comment_required": True},
])


@pytest.fixture
def case(ctx: App, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(clock, "now", lambda: T0)
    p = {n: person(ctx, n) for n in ("disp", "insp", "boss")}
    p["h1"], p["h2"] = person(ctx, "h1", roles=["handler"]), person(ctx, "h2", roles=["handler"])
    p["sup"] = person(ctx, "sup", roles=["supervisor"])
    publish(ctx, CASE)
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, p["boss"], "case_ops").id
    [d] = open_tasks(ctx, iid)
    with ctx.db.session() as s:
        engine.act(s, ctx, p["disp"], d.id, "send")
    [t] = open_tasks(ctx, iid)
    with ctx.db.session() as s:
        engine.claim(s, ctx, p["h2"], t.id)
    return {"p": p, "iid": iid, "task": t.id, "dispatch": d.id}


def kinds(ctx: App, iid: int) -> list[str]:
    with ctx.db.session() as s:
        return [h.kind for h in engine.history(s, iid)]


def test_return_with_approval(ctx: App, case: dict[str, Any]) -> None:
    p, iid = case["p"], case["iid"]
    with pytest.raises(ValidationFailed) as err, ctx.db.session() as s:
        operations.request_return(s, ctx, p["h2"], case["task"], "dispatch", "")
    assert err.value.code == "reason_required"
    with pytest.raises(ValidationFailed), ctx.db.session() as s:
        operations.request_return(s, ctx, p["h2"], case["task"], "check", "错派")
    with pytest.raises(Forbidden), ctx.db.session() as s:
        operations.request_return(s, ctx, p["h1"], case["task"], "dispatch", "错派")
    with ctx.db.session() as s:
        res = operations.request_return(s, ctx, p["h2"], case["task"], "dispatch", "不属于本部门")
    assert not res.applied
    held, ap = open_tasks(ctx, iid)
    assert (held.status, ap.kind, ap.op, ap.assignee_id) == ("held", "approval", "return", p["disp"].id)
    with pytest.raises(Conflict) as c, ctx.db.session() as s:
        engine.act(s, ctx, p["h2"], held.id, "done")
    assert c.value.code == "task_held"
    with pytest.raises(ValidationFailed), ctx.db.session() as s:  # rejecting needs a reason
        engine.act(s, ctx, p["disp"], ap.id, "reject")
    with ctx.db.session() as s:
        engine.act(s, ctx, p["disp"], ap.id, "approve", comment="同意回退")
    [back] = open_tasks(ctx, iid)
    assert (back.node_id, back.assignee_id) == ("dispatch", p["disp"].id)
    assert instance(ctx, iid).return_count == 1
    with ctx.db.session() as s:
        h = s.scalar(select(FlowHistory).where(FlowHistory.instance_id == iid, FlowHistory.kind == "return"))
        assert (h.actor_id, h.comment, h.to_node) == (p["h2"].id, "不属于本部门", "dispatch")


def test_return_rejected_reopens(ctx: App, case: dict[str, Any]) -> None:
    p, iid = case["p"], case["iid"]
    with ctx.db.session() as s:
        operations.request_return(s, ctx, p["h2"], case["task"], "dispatch", "错派")
    _, ap = open_tasks(ctx, iid)
    with ctx.db.session() as s:
        engine.act(s, ctx, p["disp"], ap.id, "reject", comment="属于你部门")
    [t] = open_tasks(ctx, iid)
    assert (t.id, t.status) == (case["task"], "open")
    assert instance(ctx, iid).return_count == 0


def test_extension(ctx: App, case: dict[str, Any]) -> None:
    p, iid = case["p"], case["iid"]
    [t] = open_tasks(ctx, iid)
    assert t.due_at == T0 + dt.timedelta(minutes=60) and t.warn_at == T0 + dt.timedelta(minutes=48)
    with ctx.db.session() as s:
        res = operations.request_extension(s, ctx, p["h2"], t.id, "材料未到", amount=30, unit="minutes")
    with pytest.raises(Conflict), ctx.db.session() as s:  # one request at a time
        operations.request_extension(s, ctx, p["h2"], t.id, "再延", amount=30, unit="minutes")
    with ctx.db.session() as s:
        engine.act(s, ctx, p["disp"], res.approval_task_id, "approve")
    [t] = open_tasks(ctx, iid)  # still open while waiting, now with the new deadline
    assert t.due_at == T0 + dt.timedelta(minutes=90) and t.warn_at == T0 + dt.timedelta(minutes=78)
    assert instance(ctx, iid).extend_count == 1
    with pytest.raises(ValidationFailed) as err, ctx.db.session() as s:
        operations.request_extension(s, ctx, p["h2"], t.id, "again", amount=30, unit="minutes")
    assert err.value.code == "extend_limit"


def test_extension_on_a_node_without_it(ctx: App, case: dict[str, Any]) -> None:
    p, iid = case["p"], case["iid"]
    with ctx.db.session() as s:
        engine.act(s, ctx, p["h2"], case["task"], "done")
    [chk] = open_tasks(ctx, iid)
    before = kinds(ctx, iid)
    with pytest.raises(ValidationFailed) as err, ctx.db.session() as s:
        operations.request_extension(s, ctx, p["insp"], chk.id, "need time", amount=1, unit="minutes")
    assert err.value.code == "operation_not_allowed"
    assert kinds(ctx, iid) == before


def test_suspend_and_resume_stop_the_clock(ctx: App, case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    p, iid = case["p"], case["iid"]
    with ctx.db.session() as s:
        operations.suspend(s, ctx, p["h2"], case["task"], "等待天气转好")
    [t] = open_tasks(ctx, iid)
    assert t.status == "suspended" and instance(ctx, iid).status == "suspended"
    with pytest.raises(Conflict), ctx.db.session() as s:
        engine.act(s, ctx, p["h2"], t.id, "done")
    with pytest.raises(Forbidden), ctx.db.session() as s:
        operations.resume(s, ctx, p["h1"], iid)
    monkeypatch.setattr(clock, "now", lambda: T0 + dt.timedelta(minutes=30))
    with ctx.db.session() as s:
        operations.resume(s, ctx, p["h2"], iid, "天晴了")
    [t] = open_tasks(ctx, iid)
    inst = instance(ctx, iid)
    assert (t.status, inst.status, inst.suspend_count, inst.suspended_seconds) == ("open", "running", 1, 1800)
    assert t.due_at == T0 + dt.timedelta(minutes=90)
    with ctx.db.session() as s:
        due = s.scalar(select(func.min(engine.FlowTimer.fire_at)).where(
            engine.FlowTimer.task_id == t.id, engine.FlowTimer.kind == "due", engine.FlowTimer.cancelled.is_(False)))
    assert due == T0 + dt.timedelta(minutes=90)
    with pytest.raises(Conflict), ctx.db.session() as s:
        operations.resume(s, ctx, p["h2"], iid)


def test_void_with_approval(ctx: App, case: dict[str, Any]) -> None:
    p, iid = case["p"], case["iid"]
    with ctx.db.session() as s:
        res = operations.void(s, ctx, p["h2"], case["task"], "重复上报")
    with ctx.db.session() as s:
        engine.act(s, ctx, p["disp"], res.approval_task_id, "approve")
    inst = instance(ctx, iid)
    assert (inst.status, inst.outcome) == ("ended", "voided")
    assert open_tasks(ctx, iid) == []
    assert "void" in kinds(ctx, iid)


def test_rework_goes_back_to_the_same_handler(ctx: App, case: dict[str, Any]) -> None:
    p, iid = case["p"], case["iid"]
    with ctx.db.session() as s:
        engine.act(s, ctx, p["h2"], case["task"], "done")
    for n in range(2):
        [chk] = open_tasks(ctx, iid)
        with ctx.db.session() as s:
            engine.act(s, ctx, p["insp"], chk.id, "fail", comment="未整改到位")
        [again] = open_tasks(ctx, iid)
        assert (again.node_id, again.assignee_id, again.rework) == ("dispose", p["h2"].id, True)
        assert instance(ctx, iid).rework_count == n + 1
        with ctx.db.session() as s:
            engine.act(s, ctx, p["h2"], again.id, "done")
    [chk] = open_tasks(ctx, iid)
    with ctx.db.session() as s:
        engine.act(s, ctx, p["insp"], chk.id, "pass")
    assert instance(ctx, iid).outcome == "closed"


def test_reassign(ctx: App, case: dict[str, Any]) -> None:
    p, iid = case["p"], case["iid"]
    with pytest.raises(ValidationFailed), ctx.db.session() as s:
        operations.reassign(s, ctx, p["h2"], case["task"], "休假", to_person=99999)
    with ctx.db.session() as s:
        operations.reassign(s, ctx, p["h2"], case["task"], "休假", to_person=p["h1"].id)
    [t] = open_tasks(ctx, iid)
    assert t.assignee_id == p["h1"].id and instance(ctx, iid).reassign_count == 1
    with pytest.raises(Forbidden), ctx.db.session() as s:
        engine.act(s, ctx, p["h2"], t.id, "done")
    with ctx.db.session() as s:
        engine.act(s, ctx, p["h1"], t.id, "done")


def test_urge(ctx: App, case: dict[str, Any]) -> None:
    p, iid = case["p"], case["iid"]
    [t] = open_tasks(ctx, iid)
    with pytest.raises(Forbidden), ctx.db.session() as s:  # only the supervisor role may urge here
        operations.urge(s, ctx, p["boss"], t.id, "快点")
    with ctx.db.session() as s:
        operations.urge(s, ctx, p["sup"], t.id, "请尽快处置")
        ev = s.scalar(select(FlowOutbox).where(FlowOutbox.topic == "task.urged"))
        assert ev.payload["recipients"] == [p["h2"].id] and ev.payload["comment"] == "请尽快处置"
    [u] = open_tasks(ctx, iid)
    assert (u.urge_count, u.version) == (1, t.version)  # the handler's open form stays valid
    assert instance(ctx, iid).urge_count == 1
    with ctx.db.session() as s:
        engine.act(s, ctx, p["h2"], t.id, "done", version=t.version)
    [chk] = open_tasks(ctx, iid)
    with pytest.raises(ValidationFailed), ctx.db.session() as s:  # the check node does not allow urging
        operations.urge(s, ctx, p["sup"], chk.id, "快")


def test_withdraw_before_the_next_person_acts(ctx: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: T0)
    p = {n: person(ctx, n) for n in ("disp", "insp", "boss")}
    h1 = person(ctx, "h1", roles=["handler"])
    publish(ctx, CASE)
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, p["boss"], "case_ops").id
    [d] = open_tasks(ctx, iid)
    with ctx.db.session() as s:
        engine.act(s, ctx, p["disp"], d.id, "send")
    [nxt] = open_tasks(ctx, iid)
    with pytest.raises(Forbidden), ctx.db.session() as s:
        operations.withdraw(s, ctx, h1, d.id, "x")
    with ctx.db.session() as s:
        res = operations.withdraw(s, ctx, p["disp"], d.id, "派错了")
    [again] = open_tasks(ctx, iid)
    assert (again.id, again.node_id, again.assignee_id) == (res.task_id, "dispatch", p["disp"].id)
    with ctx.db.session() as s:
        assert s.get(FlowTask, nxt.id).status == "withdrawn"
        assert s.get(FlowTask, d.id).status == "withdrawn"
    with ctx.db.session() as s:
        engine.act(s, ctx, p["disp"], again.id, "send")
    [nxt2] = open_tasks(ctx, iid)
    with ctx.db.session() as s:
        engine.claim(s, ctx, h1, nxt2.id)  # the next person acted
    with pytest.raises(Conflict) as err, ctx.db.session() as s:
        operations.withdraw(s, ctx, p["disp"], again.id, "again")
    assert err.value.code == "cannot_withdraw"
