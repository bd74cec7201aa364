"""The engine's queued rows (history, outbox, timers written with one executemany
per table): visible to reads in the same transaction, gone with a rollback."""

from __future__ import annotations

from flow_engine_kit import person
from sqlalchemy import func, select

from ccms.audit import Actor
from ccms.flows import engine, store
from ccms.flows.models import FlowHistory, FlowOutbox, FlowTimer

FLOW = {"id": "queue_flow", "title": {"zh-CN": "队列"},
        "nodes": [{"id": "start", "type": "start"},
                  {"id": "a", "type": "task", "title": {"zh-CN": "甲"}, "assignee": {"rule": "initiator"},
                   "time_limit": {"amount": 2, "unit": "minutes"}},
                  {"id": "end", "type": "end"}],
        "transitions": [{"from": "start", "to": "a"}, {"from": "a", "to": "end", "action": "done"}]}


def _setup(ctx):
    actor = person(ctx, "queue_user")
    with ctx.db.session() as s:
        row = store.save_draft(s, Actor(None, "t"), FLOW, source="test")
        store.publish(s, Actor(None, "t"), FLOW["id"], row.version)
    return actor


def _count(s, model, iid):
    return s.scalar(select(func.count()).select_from(model).where(model.instance_id == iid))


def test_rows_are_readable_in_the_same_transaction(ctx):
    actor = _setup(ctx)
    with ctx.db.session() as s:
        inst = engine.start(s, ctx, actor, FLOW["id"])
        assert [h.kind for h in engine.history(s, inst.id)] == ["start", "task_created"]
        assert _count(s, FlowOutbox, inst.id) == 2
        assert _count(s, FlowTimer, inst.id) == 2  # warn + due


def test_a_rolled_back_savepoint_drops_only_its_rows(ctx):
    actor = _setup(ctx)
    with ctx.db.session() as s:
        inst = engine.start(s, ctx, actor, FLOW["id"])
        task = engine.tasks_of(s, inst.id, live=True)[0]
        sp = s.begin_nested()
        engine.act(s, ctx, actor, task.id, "done")
        engine.Run(s, ctx, actor).history(inst, "extra")  # queued, not yet written
        sp.rollback()
        iid = inst.id
    with ctx.db.session() as s:
        assert [h.kind for h in engine.history(s, iid)] == ["start", "task_created"]
        assert _count(s, FlowHistory, iid) == 2
        assert _count(s, FlowOutbox, iid) == 2


def test_rows_queued_at_commit_are_written(ctx):
    actor = _setup(ctx)
    with ctx.db.session() as s:
        inst = engine.start(s, ctx, actor, FLOW["id"])
        engine.Run(s, ctx, actor).history(inst, "note")  # no flush: the commit writes it
        iid = inst.id
    with ctx.db.session() as s:
        assert [h.kind for h in engine.history(s, iid)] == ["start", "task_created", "note"]
