"""Timer worker and inbox (both backends): warnings, overdue, escalation,
catch-up after downtime, several workers at once; inbox lists and counts."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from flow_engine_kit import flow, instance, open_tasks, person, publish, task
from sqlalchemy import func, select

from ccms.app import App
from ccms.errors import ValidationFailed
from ccms.flows import clock, engine, inbox, timers
from ccms.flows.models import FlowHistory, FlowOutbox, FlowTimer

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # Monday 09:00 Beijing time
MIN = dt.timedelta(minutes=1)

TIMED = flow("timed", [
    {"id": "start", "type": "start"},
    task("handle", "worker", time_limit={"amount": 10, "unit": "minutes"}),
    task("escalated", "chief"),
    {"id": "end", "type": "end", "outcome": "closed"},
], [
    {"from": "start", "to": "handle"},
    {"from": "handle", "to": "end", "action": "done"},
    {"from": "handle", "to": "escalated", "timer": {"amount": 30, "unit": "minutes"}},
    {"from": "escalated", "to": "end", "action": "done"},
])


@pytest.fixture
def setup(ctx: App, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(clock, "now", lambda: T0)
    p = {n: person(ctx, n) for n in ("worker", "chief", "boss")}
    publish(ctx, TIMED)
    return p


def start(ctx: App, who: Any, n: int = 1) -> list[int]:
    with ctx.db.session() as s:
        return [engine.start(s, ctx, who, "timed", title=f"案件{i}").id for i in range(n)]


def hist(ctx: App, kind: str) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(FlowHistory).where(FlowHistory.kind == kind)) or 0


def test_warning_overdue_and_colours(ctx: App, setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    [iid] = start(ctx, setup["boss"])
    [t] = open_tasks(ctx, iid)
    assert (t.warn_at, t.due_at) == (T0 + 8 * MIN, T0 + 10 * MIN)
    assert engine.level(t, T0) == "green"
    assert timers.run_due(ctx, now=T0 + 5 * MIN)["warn"] == 0
    counts = timers.run_due(ctx, now=T0 + 9 * MIN)
    assert (counts["warn"], counts["due"]) == (1, 0)
    monkeypatch.setattr(clock, "now", lambda: T0 + 9 * MIN)
    with ctx.db.session() as s:
        [item] = inbox.todo(s, ctx, setup["worker"]).items
        assert item["level"] == "yellow" and item["version"] == t.version  # marking does not stale the form
        assert inbox.todo(s, ctx, setup["worker"], {"level": "yellow"}).total == 1
        assert inbox.todo(s, ctx, setup["worker"], {"level": "green"}).total == 0
    counts = timers.run_due(ctx, now=T0 + 11 * MIN)
    assert (counts["warn"], counts["due"]) == (0, 1)
    monkeypatch.setattr(clock, "now", lambda: T0 + 11 * MIN)
    with ctx.db.session() as s:
        assert inbox.overdue(s, ctx, setup["worker"]).items[0]["level"] == "red"
        assert inbox.counts(s, ctx, setup["worker"]) == {"todo": 1, "overdue": 1, "done": 0, "started": 0}
        topics = list(s.scalars(select(FlowOutbox.topic).where(FlowOutbox.topic.like("task.%")).order_by(FlowOutbox.id)))
    assert topics[-2:] == ["task.warning", "task.overdue"]
    assert timers.run_due(ctx, now=T0 + 12 * MIN)["due"] == 0  # fired once


def test_catch_up_after_downtime(ctx: App, setup: dict[str, Any]) -> None:
    ids = start(ctx, setup["boss"], 3)
    [done_one] = open_tasks(ctx, ids[0])
    with ctx.db.session() as s:
        engine.act(s, ctx, setup["worker"], done_one.id, "done")  # its timers are cancelled
    counts = timers.run_due(ctx, now=T0 + dt.timedelta(days=3))  # the worker was down for three days
    assert (counts["warn"], counts["due"], counts["transition"]) == (2, 2, 2)
    for iid in ids[1:]:
        [t] = open_tasks(ctx, iid)
        assert (t.node_id, t.assignee_id) == ("escalated", setup["chief"].id)
    assert instance(ctx, ids[0]).outcome == "closed"
    assert timers.run_due(ctx, now=T0 + dt.timedelta(days=4)) == {
        "warn": 0, "due": 0, "transition": 0, "skipped": 0, "failed": 0, "retry": 0, "locked": 0}


def test_several_workers_fire_each_timer_once(ctx: App, setup: dict[str, Any]) -> None:
    start(ctx, setup["boss"], 6)
    results: list[dict[str, int]] = []

    def work(name: str) -> None:
        results.append(timers.run_due(ctx, now=T0 + 20 * MIN, worker=name))

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert sum(r["warn"] for r in results) == 6 and sum(r["due"] for r in results) == 6
    assert hist(ctx, "warning") == 6 and hist(ctx, "overdue") == 6
    with ctx.db.session() as s:
        pending = s.scalar(select(func.count()).select_from(FlowTimer).where(
            FlowTimer.fired_at.is_(None), FlowTimer.cancelled.is_(False), FlowTimer.kind != "transition"))
    assert pending == 0


def test_sqlite_lease_refuses_a_second_worker(ctx: App, setup: dict[str, Any]) -> None:
    if not ctx.db.is_sqlite:
        pytest.skip("the lease is SQLite's single-writer lock")
    assert timers._acquire(ctx, "other")
    assert timers.run_due(ctx, worker="me")["locked"] == 1
    timers._release(ctx, "other")
    assert timers.run_due(ctx, worker="me")["locked"] == 0


def test_failing_timer_is_marked_not_retried_forever(ctx: App, setup: dict[str, Any]) -> None:
    [iid] = start(ctx, setup["boss"])
    with ctx.db.session() as s:  # nobody can take the escalated task any more
        s.get(engine.Person, setup["chief"].id).active = False
    counts = timers.run_due(ctx, now=T0 + dt.timedelta(hours=1))
    assert counts["failed"] == 1 and counts["warn"] == 1
    with ctx.db.session() as s:
        tm = s.scalar(select(FlowTimer).where(FlowTimer.kind == "transition"))
        assert tm.fired_at is not None and "assignee" in tm.data["error"]
    [t] = open_tasks(ctx, iid)
    assert t.node_id == "handle"


def test_inbox_lists(ctx: App, setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    ids = start(ctx, setup["boss"], 3)
    tasks = [open_tasks(ctx, i)[0] for i in ids]
    with ctx.db.session() as s:
        engine.act(s, ctx, setup["worker"], tasks[0].id, "done")
    with ctx.db.session() as s:
        todo = inbox.todo(s, ctx, setup["worker"], {"page_size": 1})
        assert (todo.total, len(todo.items)) == (2, 1)
        assert todo.items[0]["instance_title"] == "案件1" and todo.items[0]["mine"]
        assert inbox.todo(s, ctx, setup["worker"], {"q": "案件2"}).total == 1
        assert inbox.todo(s, ctx, setup["chief"]).total == 0
        done = inbox.done(s, ctx, setup["worker"])
        assert [i["id"] for i in done.items] == [tasks[0].id] and done.items[0]["action"] == "done"
        started = inbox.started_by(s, ctx, setup["boss"])
        assert started.total == 3 and started.items[0]["status"] in ("running", "ended")
        assert inbox.counts(s, ctx, setup["boss"])["started"] == 3
        with pytest.raises(ValidationFailed):
            inbox.todo(s, ctx, setup["worker"], {"level": "purple"})
        with pytest.raises(ValidationFailed):
            inbox.todo(s, ctx, setup["worker"], {"nope": 1})


def test_inbox_shows_claimable_tasks_to_candidates(ctx: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: T0)
    h1, h2 = person(ctx, "h1", roles=["handler"]), person(ctx, "h2", roles=["handler"])
    publish(ctx, flow("pool", [
        {"id": "start", "type": "start"},
        {"id": "pick", "type": "task", "assignee": {"rule": "role", "role": "handler"}, "claim": True},
        {"id": "end", "type": "end"},
    ], [{"from": "start", "to": "pick"}, {"from": "pick", "to": "end", "action": "ok"}]))
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, h1, "pool").id
    [t] = open_tasks(ctx, iid)
    with ctx.db.session() as s:
        assert [i["claimable"] for i in inbox.todo(s, ctx, h1).items] == [True]
        assert inbox.todo(s, ctx, h2).total == 1
    with ctx.db.session() as s:
        engine.claim(s, ctx, h2, t.id)
    with ctx.db.session() as s:
        assert inbox.todo(s, ctx, h1).total == 0
        assert inbox.todo(s, ctx, h2).items[0]["mine"]
