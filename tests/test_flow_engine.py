"""The flow engine (both backends): start, act, gateways, parallel, multi,
automatic actions, sub-flows, end; one transaction per step; bad input."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flow_engine_kit import flow, instance, open_tasks, org, person, publish, task
from sqlalchemy import func, select

from ccms.app import App
from ccms.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ccms.flows import engine
from ccms.flows.models import FlowHistory, FlowInstance, FlowOutbox, FlowToken
from ccms.hookspecs import hookimpl
from ccms.models import AuditLog

APPROVAL = flow("approval", [
    {"id": "start", "type": "start"},
    task("review", "alice"),
    task("fix", "bob"),
    {"id": "gate", "type": "exclusive"},
    {"id": "big", "type": "end", "outcome": "approved_big"},
    {"id": "small", "type": "end", "outcome": "approved"},
    {"id": "rejected", "type": "end", "outcome": "rejected"},
], [
    {"from": "start", "to": "review"},
    {"from": "review", "to": "gate", "action": "approve"},
    {"from": "review", "to": "fix", "action": "send_back", "comment_required": True},
    {"from": "review", "to": "rejected", "action": "reject"},
    {"from": "fix", "to": "review", "action": "resubmit"},
    {"from": "gate", "to": "big", "condition": "amount > 1000"},
    {"from": "gate", "to": "small", "default": True},
], variables={"amount": {"type": "number", "default": 0}})


def count(ctx: App, model: Any, *where: Any) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


@pytest.fixture
def people(ctx: App) -> dict[str, Any]:
    return {n: person(ctx, n) for n in ("alice", "bob", "carol")}


def _table_of(diff: Any) -> str:
    if isinstance(diff, list):
        return str(diff[0][2])
    if diff[0] in ("add_column", "remove_column"):
        return str(diff[2])
    obj = diff[1]
    table = getattr(obj, "table", None)
    return str(getattr(table, "name", None) or getattr(obj, "name", ""))


def test_migration_creates_exactly_the_model_tables(ctx: App) -> None:
    import ccms.flows.def_models
    import ccms.forms.models
    import ccms.models  # noqa: F401
    from ccms.db import Base
    from ccms.flows import models
    with ctx.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    mine = {m.__tablename__ for m in vars(models).values()
            if isinstance(m, type) and issubclass(m, Base) and m is not Base and m.__module__ == models.__name__}
    assert mine == {"core_flow_instance", "core_flow_token", "core_flow_task", "core_flow_task_candidate",
                    "core_flow_history", "core_flow_outbox", "core_flow_timer", "core_flow_lock"}
    assert [d for d in diffs if _table_of(d) in mine] == []
    assert models.FlowTask.__tablename__ in Base.metadata.tables


def test_start_act_and_gateway_to_end(ctx: App, people: dict[str, Any]) -> None:
    publish(ctx, APPROVAL)
    with ctx.db.session() as s:
        inst = engine.start(s, ctx, people["carol"], "approval", variables={"amount": 5000}, title="采购申请")
        iid = inst.id
    [t] = open_tasks(ctx, iid)
    assert (t.node_id, t.assignee_id, t.title) == ("review", people["alice"].id, "review")
    with ctx.db.session() as s:
        engine.act(s, ctx, people["alice"], t.id, "approve", comment="同意")
    i = instance(ctx, iid)
    assert (i.status, i.outcome, i.initiator_id) == ("ended", "approved_big", people["carol"].id)
    assert open_tasks(ctx, iid) == []
    assert count(ctx, FlowToken, FlowToken.instance_id == iid, FlowToken.status != "done") == 0
    with ctx.db.session() as s:
        kinds = [h.kind for h in engine.history(s, iid)]
        topics = list(s.scalars(select(FlowOutbox.topic).where(FlowOutbox.instance_id == iid).order_by(FlowOutbox.id)))
    assert kinds == ["start", "task_created", "complete", "end"]
    assert topics == ["instance.started", "task.created", "task.completed", "instance.ended"]
    assert count(ctx, AuditLog, AuditLog.object_type == "flow_instance", AuditLog.object_id == str(iid)) == 3


def test_default_branch_loop_and_comment_required(ctx: App, people: dict[str, Any]) -> None:
    publish(ctx, APPROVAL)
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, people["carol"], "approval").id
    [t] = open_tasks(ctx, iid)
    with pytest.raises(ValidationFailed) as err, ctx.db.session() as s:
        engine.act(s, ctx, people["alice"], t.id, "send_back")
    assert err.value.code == "comment_required" and "comment" in err.value.fields
    with ctx.db.session() as s:
        engine.act(s, ctx, people["alice"], t.id, "send_back", comment="补充材料")
    [t2] = open_tasks(ctx, iid)
    assert (t2.node_id, t2.assignee_id) == ("fix", people["bob"].id)
    with ctx.db.session() as s:
        engine.act(s, ctx, people["bob"], t2.id, "resubmit", variables={"amount": 10})
    [t3] = open_tasks(ctx, iid)
    with ctx.db.session() as s:
        engine.act(s, ctx, people["alice"], t3.id, "approve")
    assert instance(ctx, iid).outcome == "approved"


def test_bad_actions_change_nothing(ctx: App, people: dict[str, Any]) -> None:
    publish(ctx, APPROVAL)
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, people["carol"], "approval").id
    [t] = open_tasks(ctx, iid)
    before = (count(ctx, FlowHistory), count(ctx, FlowOutbox), count(ctx, AuditLog))
    with pytest.raises(Forbidden), ctx.db.session() as s:  # not the assignee
        engine.act(s, ctx, people["bob"], t.id, "approve")
    with pytest.raises(ValidationFailed) as err, ctx.db.session() as s:  # not an action of this node
        engine.act(s, ctx, people["alice"], t.id, "resubmit")
    assert err.value.code == "action_not_allowed"
    with pytest.raises(ValidationFailed), ctx.db.session() as s:  # undeclared variable
        engine.act(s, ctx, people["alice"], t.id, "approve", variables={"nope": 1})
    with pytest.raises(NotFound), ctx.db.session() as s:
        engine.act(s, ctx, people["alice"], 99999, "approve")
    with pytest.raises(Conflict), ctx.db.session() as s:  # stale version
        engine.act(s, ctx, people["alice"], t.id, "approve", version=t.version + 5)
    assert (count(ctx, FlowHistory), count(ctx, FlowOutbox), count(ctx, AuditLog)) == before
    assert [x.status for x in open_tasks(ctx, iid)] == ["open"]
    with ctx.db.session() as s:
        engine.act(s, ctx, people["alice"], t.id, "reject")
    with pytest.raises(Conflict) as err, ctx.db.session() as s:  # completing twice
        engine.act(s, ctx, people["alice"], t.id, "reject")
    assert err.value.code == "task_closed"


def test_unknown_or_unpublished_flow(ctx: App, people: dict[str, Any]) -> None:
    with pytest.raises(NotFound), ctx.db.session() as s:
        engine.start(s, ctx, people["carol"], "nope")
    publish(ctx, APPROVAL)
    with pytest.raises(ValidationFailed), ctx.db.session() as s:
        engine.start(s, ctx, people["carol"], "approval", variables={"amount": "lots"})
    assert count(ctx, FlowInstance) == 0


class Failing:
    """A flow-event listener that fails on demand: the step must leave nothing."""

    fail_on = ""

    @hookimpl
    def ccms_flow_event_occurred(self, ctx: Any, session: Any, event: dict[str, Any]) -> None:
        if event["topic"] == self.fail_on:
            raise RuntimeError("listener failed")


def test_crash_mid_transition_leaves_nothing(ctx: App, people: dict[str, Any]) -> None:
    publish(ctx, APPROVAL)
    listener = Failing()
    ctx.pm.register(listener)
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, people["carol"], "approval", variables={"amount": 1}).id
    [t] = open_tasks(ctx, iid)
    snapshot = (count(ctx, FlowHistory), count(ctx, FlowOutbox), count(ctx, AuditLog), count(ctx, FlowToken))
    listener.fail_on = "instance.ended"  # after the task closed, the token moved, the end was reached
    with pytest.raises(RuntimeError), ctx.db.session() as s:
        engine.act(s, ctx, people["alice"], t.id, "approve")
    assert (count(ctx, FlowHistory), count(ctx, FlowOutbox), count(ctx, AuditLog), count(ctx, FlowToken)) == snapshot
    [again] = open_tasks(ctx, iid)
    assert (again.id, again.status, again.version) == (t.id, "open", t.version)
    assert instance(ctx, iid).status == "running"
    listener.fail_on = ""
    with ctx.db.session() as s:
        engine.act(s, ctx, people["alice"], t.id, "approve")
    assert instance(ctx, iid).outcome == "approved"


PARALLEL = flow("joint", [
    {"id": "start", "type": "start"},
    {"id": "split", "type": "parallel"},
    task("a", "alice"),
    task("b", "bob"),
    {"id": "join", "type": "join"},
    task("final", "carol"),
    {"id": "end", "type": "end", "outcome": "closed"},
], [
    {"from": "start", "to": "split"},
    {"from": "split", "to": "a"}, {"from": "split", "to": "b"},
    {"from": "a", "to": "join", "action": "done"}, {"from": "b", "to": "join", "action": "done"},
    {"from": "join", "to": "final"},
    {"from": "final", "to": "end", "action": "close"},
])


def test_parallel_split_and_join(ctx: App, people: dict[str, Any]) -> None:
    publish(ctx, PARALLEL)
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, people["carol"], "joint").id
    a, b = open_tasks(ctx, iid)
    assert {a.node_id, b.node_id} == {"a", "b"}
    with ctx.db.session() as s:
        engine.act(s, ctx, people["alice"], a.id, "done")
    assert [t.node_id for t in open_tasks(ctx, iid)] == ["b"]
    with ctx.db.session() as s:
        engine.act(s, ctx, people["bob"], b.id, "done")
    [f] = open_tasks(ctx, iid)
    assert f.node_id == "final"
    with ctx.db.session() as s:
        engine.act(s, ctx, people["carol"], f.id, "close")
    assert instance(ctx, iid).outcome == "closed"


def test_multi_one_task_per_department(ctx: App) -> None:
    d1, d2 = org(ctx, "市政"), org(ctx, "园林")
    p1, p2 = person(ctx, "m1", org_id=d1), person(ctx, "g1", org_id=d2)
    boss = person(ctx, "boss")
    publish(ctx, flow("cohandle", [
        {"id": "start", "type": "start"},
        {"id": "handle", "type": "task", "assignee": {"rule": "dept_chosen", "field": "depts"},
         "multi": {"field": "depts"}},
        {"id": "end", "type": "end"},
    ], [{"from": "start", "to": "handle"}, {"from": "handle", "to": "end", "action": "done"}],
        variables={"depts": {"type": "array"}}))
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, boss, "cohandle", variables={"depts": [d1, d2, d1]}).id
    t1, t2 = open_tasks(ctx, iid)
    assert (t1.assignee_id, t1.org_id, t2.assignee_id, t2.org_id) == (p1.id, d1, p2.id, d2)
    with pytest.raises(Forbidden), ctx.db.session() as s:
        engine.act(s, ctx, p2, t1.id, "done")
    with ctx.db.session() as s:
        engine.act(s, ctx, p1, t1.id, "done")
    assert instance(ctx, iid).status == "running"
    with ctx.db.session() as s:
        engine.act(s, ctx, p2, t2.id, "done")
    assert instance(ctx, iid).status == "ended"
    with pytest.raises(ValidationFailed) as err, ctx.db.session() as s:
        engine.start(s, ctx, boss, "cohandle", variables={"depts": []})
    assert err.value.code == "multi_empty"


class Actions:
    calls: list[dict[str, Any]] = []

    @hookimpl
    def ccms_register_flow_actions(self, ctx: Any) -> dict[str, Any]:
        def score(call: Any) -> dict[str, Any]:
            Actions.calls.append(call.params)
            return {"score": call.variables.get("amount", 0) * call.params.get("factor", 1)}
        return {"test.score": score}


def test_auto_action_and_subflow(ctx: App, people: dict[str, Any]) -> None:
    ctx.pm.register(Actions())
    publish(ctx, flow("child", [
        {"id": "start", "type": "start"}, task("check", "bob"), {"id": "end", "type": "end"},
    ], [{"from": "start", "to": "check"}, {"from": "check", "to": "end", "action": "ok"}],
        variables={"amount": {"type": "number"}, "checked": {"type": "boolean"}}))
    publish(ctx, flow("parent", [
        {"id": "start", "type": "start"},
        {"id": "calc", "type": "auto", "action": "test.score", "params": {"factor": 3}},
        {"id": "sub", "type": "subflow", "flow": "child"},
        {"id": "gate", "type": "exclusive"},
        {"id": "high", "type": "end", "outcome": "high"},
        {"id": "low", "type": "end", "outcome": "low"},
    ], [
        {"from": "start", "to": "calc"}, {"from": "calc", "to": "sub"}, {"from": "sub", "to": "gate"},
        {"from": "gate", "to": "high", "condition": "score >= 30 and checked"},
        {"from": "gate", "to": "low", "default": True},
    ], variables={"amount": {"type": "number"}, "score": {"type": "number"}, "checked": {"type": "boolean"}}))
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, people["carol"], "parent", variables={"amount": 10}).id
    assert Actions.calls[-1] == {"factor": 3}
    with ctx.db.session() as s:
        child = s.scalar(select(FlowInstance).where(FlowInstance.parent_id == iid))
        assert child is not None and child.variables["amount"] == 10 and "score" not in child.variables
        cid = child.id
    [t] = open_tasks(ctx, cid)
    with ctx.db.session() as s:
        engine.act(s, ctx, people["bob"], t.id, "ok", variables={"checked": True})
    assert instance(ctx, cid).status == "ended"
    parent = instance(ctx, iid)
    assert (parent.status, parent.outcome, parent.variables["score"]) == ("ended", "high", 30)


CLAIMING = flow("claiming", [
    {"id": "start", "type": "start"},
    {"id": "pick", "type": "task", "assignee": {"rule": "role", "role": "handler"}, "claim": True},
    {"id": "direct", "type": "task", "assignee": {"rule": "role", "role": "handler"}},
    {"id": "back", "type": "task", "assignee": {"rule": "previous_actor"}},
    {"id": "end", "type": "end"},
], [
    {"from": "start", "to": "pick"}, {"from": "pick", "to": "direct", "action": "next"},
    {"from": "direct", "to": "back", "action": "next"}, {"from": "back", "to": "end", "action": "done"},
])


def test_claim_and_candidates(ctx: App) -> None:
    h1, h2 = person(ctx, "h1", roles=["handler"]), person(ctx, "h2", roles=["handler"])
    other = person(ctx, "other")
    publish(ctx, CLAIMING)
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, other, "claiming").id
    [t] = open_tasks(ctx, iid)
    assert t.assignee_id is None and t.claim
    with pytest.raises(Forbidden) as err, ctx.db.session() as s:
        engine.act(s, ctx, h1, t.id, "next")
    assert err.value.code == "claim_required"
    with pytest.raises(Forbidden), ctx.db.session() as s:
        engine.claim(s, ctx, other, t.id)
    with ctx.db.session() as s:
        engine.claim(s, ctx, h1, t.id)
    with pytest.raises(Conflict), ctx.db.session() as s:
        engine.claim(s, ctx, h2, t.id)
    with ctx.db.session() as s:
        engine.unclaim(s, ctx, h1, t.id)
        engine.claim(s, ctx, h2, t.id)
    with pytest.raises(Forbidden), ctx.db.session() as s:
        engine.act(s, ctx, h1, t.id, "next")
    with ctx.db.session() as s:
        engine.act(s, ctx, h2, t.id, "next")
    [d] = open_tasks(ctx, iid)  # direct with two candidates: whoever acts takes it
    assert d.assignee_id is None and not d.claim
    with ctx.db.session() as s:
        engine.act(s, ctx, h1, d.id, "next")
    [b] = open_tasks(ctx, iid)
    assert b.assignee_id == h1.id  # previous_actor
    with ctx.db.session() as s:
        assert engine.available_actions(s, ctx, b, h1.id)["actions"][0]["action"] == "done"
        assert engine.available_actions(s, ctx, b, h2.id)["actions"] == []


def test_no_assignee_refuses_the_step(ctx: App, people: dict[str, Any]) -> None:
    publish(ctx, CLAIMING)
    with pytest.raises(ValidationFailed) as err, ctx.db.session() as s:
        engine.start(s, ctx, people["carol"], "claiming")
    assert err.value.code == "no_assignee"
    assert count(ctx, FlowInstance) == 0


def test_role_scopes(ctx: App) -> None:
    district = org(ctx, "姑苏区", region_code="320508")
    street = org(ctx, "街道", parent_id=district)
    other = org(ctx, "吴中区", region_code="320506")
    in_district = person(ctx, "d_head", org_id=district, roles=["head"])
    person(ctx, "o_head", org_id=other, roles=["head"])
    starter = person(ctx, "starter", org_id=street)
    publish(ctx, flow("scoped", [
        {"id": "start", "type": "start"},
        {"id": "t", "type": "task", "assignee": {"rule": "role", "role": "head", "scope": "record_org"}},
        {"id": "end", "type": "end"},
    ], [{"from": "start", "to": "t"}, {"from": "t", "to": "end", "action": "ok"}]))
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, starter, "scoped").id  # the starter's org: the street
    [t] = open_tasks(ctx, iid)
    assert t.assignee_id == in_district.id


def test_facade_for_plugins(ctx: App, people: dict[str, Any]) -> None:
    from ccms import api
    publish(ctx, APPROVAL)
    with ctx.db.session() as s:
        iid = api.flow_start(s, ctx, people["carol"], "approval").id
    [t] = open_tasks(ctx, iid)
    with ctx.db.session() as s:
        with pytest.raises(ValidationFailed):
            api.flow_operation(s, ctx, people["alice"], "teleport", t.id)
        with pytest.raises(ValidationFailed) as err:  # no operations declared at this node
            api.flow_operation(s, ctx, people["alice"], "suspend", t.id, "wait")
        assert err.value.code == "operation_not_allowed"
    with ctx.db.session() as s:
        api.flow_act(s, ctx, people["alice"], t.id, "approve")
        assert [h.kind for h in api.flow_history(s, iid)][-1] == "end"
        from ccms.flows import inbox
        assert inbox.counts(s, ctx, people["alice"])["done"] == 1
