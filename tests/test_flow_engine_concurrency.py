"""Two people complete the same task at the same moment (threads, both
backends): one wins, the other gets a 409 and nothing is applied twice."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flow_engine_kit import flow, open_tasks, person, publish
from sqlalchemy import func, select

from ccms.app import App
from ccms.errors import Conflict
from ccms.flows import engine
from ccms.flows.models import FlowHistory, FlowTask

RACE = flow("race", [
    {"id": "start", "type": "start"},
    {"id": "pick", "type": "task", "assignee": {"rule": "role", "role": "worker"}},
    {"id": "next", "type": "task", "assignee": {"rule": "previous_actor"}},
    {"id": "end", "type": "end"},
], [{"from": "start", "to": "pick"}, {"from": "pick", "to": "next", "action": "take"},
    {"from": "next", "to": "end", "action": "done"}])


def _race(ctx: App, monkeypatch: pytest.MonkeyPatch, calls: list[Any]) -> list[Any]:
    """Run ``calls`` (functions of a session) in threads that all read the
    task before any of them writes."""
    barrier = threading.Barrier(len(calls), timeout=20)
    real = engine.live_task

    def synced(session: Any, task_id: int, version: int | None = None) -> Any:
        task = real(session, task_id, version)
        barrier.wait()
        return task

    monkeypatch.setattr(engine, "live_task", synced)
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            with ctx.db.session() as s:
                results[i] = calls[i](s)
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    monkeypatch.setattr(engine, "live_task", real)
    return results


def test_two_people_complete_one_task(ctx: App, monkeypatch: pytest.MonkeyPatch) -> None:
    w1, w2 = person(ctx, "w1", roles=["worker"]), person(ctx, "w2", roles=["worker"])
    publish(ctx, RACE)
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, w1, "race").id
    [t] = open_tasks(ctx, iid)
    results = _race(ctx, monkeypatch, [lambda s, a=a: engine.act(s, ctx, a, t.id, "take") for a in (w1, w2)])
    wins = [r for r in results if isinstance(r, FlowTask)]
    losses = [r for r in results if isinstance(r, Conflict)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert losses[0].status == 409
    [nxt] = open_tasks(ctx, iid)
    assert nxt.node_id == "next" and nxt.assignee_id == wins[0].completed_by
    with ctx.db.session() as s:
        done = s.scalar(select(func.count()).select_from(FlowHistory).where(
            FlowHistory.instance_id == iid, FlowHistory.kind == "complete"))
    assert done == 1


def test_same_person_double_submit(ctx: App, monkeypatch: pytest.MonkeyPatch) -> None:
    w1 = person(ctx, "w1", roles=["worker"])
    publish(ctx, RACE)
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, w1, "race").id
    [t] = open_tasks(ctx, iid)
    results = _race(ctx, monkeypatch, [lambda s: engine.act(s, ctx, w1, t.id, "take")] * 2)
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "FlowTask"], results
    assert len(open_tasks(ctx, iid)) == 1


def test_fellow_candidate_who_read_the_task_before_it_was_taken_gets_409(ctx: App) -> None:
    """w2 opened the shared task; w1 takes and completes it first (its candidates go): w2's
    action is a lost race (409), not a permission error (403)."""
    w1, w2 = person(ctx, "w1", roles=["worker"]), person(ctx, "w2", roles=["worker"])
    publish(ctx, RACE)
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, w1, "race").id
    [t] = open_tasks(ctx, iid)
    with ctx.db.session() as s2:
        seen = engine.get_task(s2, t.id)  # what w2's page showed (held: the session keeps it as read)
        with ctx.db.session() as s1:
            engine.act(s1, ctx, w1, t.id, "take")
        with pytest.raises(Conflict) as info:
            engine.act(s2, ctx, w2, t.id, "take")
        assert info.value.status == 409 and seen.status == "open"
        s2.rollback()
    [nxt] = open_tasks(ctx, iid)
    assert nxt.node_id == "next" and nxt.assignee_id == w1.id
