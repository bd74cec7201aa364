"""The timer worker: marks warnings and overdue tasks, fires timer transitions.

Run it from a loop (``ccms flows timers --loop``) in any number of processes:

* on PostgreSQL each worker takes one due timer at a time with
  ``SELECT ... FOR UPDATE SKIP LOCKED``, so workers never fire one timer twice
  and never wait for each other;
* on SQLite (one writer anyway) a lease row in ``core_flow_lock`` lets one
  worker run at a time; the others return at once.

Each timer fires in its own transaction (a step like any other: history,
audit, outbox, ``ccms_flow_event_occurred``). Timers are stored with the instant they
are due, so a worker started after downtime simply fires everything that
fell due meanwhile, oldest first (catch-up). A timer whose step fails is
marked with the error and not retried forever; a lost race with a person
acting at the same moment is retried on the next run.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from .. import audit
from ..db import utcnow
from ..errors import CcmsError
from ..metrics import beat, worker_name  # noqa: F401  (worker_name: also read from here)
from . import clock, engine
from .models import FlowInstance, FlowLock, FlowTask, FlowTimer

log = logging.getLogger("ccms.flows.timers")
LOCK_NAME = "flow_timers"
LEASE = dt.timedelta(seconds=60)
HEARTBEAT = "flow_timers"  # the worker name /readyz checks ([monitoring] workers)


def _acquire(ctx: Any, holder: str) -> bool:
    """Take (or renew) the single-writer lease; False when another worker holds it."""
    wall = utcnow()
    try:
        with ctx.db.session() as s:
            if s.get(FlowLock, LOCK_NAME) is None:
                s.add(FlowLock(name=LOCK_NAME, holder="", until=None))
    except IntegrityError:
        pass
    with ctx.db.session() as s:
        res = s.execute(update(FlowLock).where(
            FlowLock.name == LOCK_NAME,
            or_(FlowLock.until.is_(None), FlowLock.until < wall, FlowLock.holder == holder))
            .values(holder=holder, until=wall + LEASE).execution_options(synchronize_session=False))
        return res.rowcount == 1


def _release(ctx: Any, holder: str) -> None:
    with ctx.db.session() as s:
        s.execute(update(FlowLock).where(FlowLock.name == LOCK_NAME, FlowLock.holder == holder)
                  .values(until=None).execution_options(synchronize_session=False))


def run_due(ctx: Any, *, now: dt.datetime | None = None, limit: int = 1000,
            worker: str | None = None) -> dict[str, int]:
    """Fire every timer due at ``now`` (default: the clock), at most ``limit``.
    Returns counts by kind plus ``skipped``, ``failed``, ``retry`` and ``locked``
    (1 when another worker holds the SQLite lease)."""
    now = now or clock.now()
    holder = worker or worker_name()
    counts = {"warn": 0, "due": 0, "transition": 0, "skipped": 0, "failed": 0, "retry": 0, "locked": 0}
    sqlite = ctx.db.is_sqlite
    if sqlite and not _acquire(ctx, holder):
        counts["locked"] = 1
        return counts
    seen: list[int] = []
    try:
        for _ in range(limit):
            if sqlite and len(seen) % 100 == 99:
                _acquire(ctx, holder)  # renew the lease on long catch-ups
            fired = _fire_one(ctx, now, seen, counts)
            if not fired:
                break
    finally:
        if sqlite:
            _release(ctx, holder)
    return counts


def _fire_one(ctx: Any, now: dt.datetime, seen: list[int], counts: dict[str, int]) -> bool:
    timer_id = None
    try:
        with ctx.db.session() as s:
            stmt = (select(FlowTimer).where(FlowTimer.fired_at.is_(None), FlowTimer.cancelled.is_(False),
                                            FlowTimer.fire_at <= now)
                    .order_by(FlowTimer.fire_at, FlowTimer.id).limit(1))
            if seen:
                stmt = stmt.where(FlowTimer.id.not_in(seen))
            if not ctx.db.is_sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            tm = s.scalar(stmt)
            if tm is None:
                return False
            timer_id = tm.id
            seen.append(tm.id)
            kind = _fire(ctx, s, tm, now)
            tm.fired_at = now
            counts[kind] = counts.get(kind, 0) + 1
        return True
    except (StaleDataError, engine.Conflict):
        counts["retry"] += 1  # someone acted at the same moment: try again on the next run
        return True
    except Exception as exc:
        log.exception("flow timer %s failed", timer_id)
        counts["failed"] += 1
        if timer_id is not None:
            msg = f"{exc.en}" if isinstance(exc, CcmsError) else f"{type(exc).__name__}: {exc}"
            with ctx.db.session() as s:
                tm = s.get(FlowTimer, timer_id)
                if tm is not None and tm.fired_at is None:
                    tm.fired_at = now
                    tm.data = {**(tm.data or {}), "error": msg[:500]}
        return True


def _fire(ctx: Any, s: Any, tm: FlowTimer, now: dt.datetime) -> str:
    inst = s.get(FlowInstance, tm.instance_id)
    task = s.get(FlowTask, tm.task_id) if tm.task_id is not None else None
    if inst is None or inst.status != "running" or task is None or task.status not in ("open", "held"):
        return "skipped"
    run = engine.Run(s, ctx, audit.SYSTEM, now=now)
    if tm.kind in ("warn", "due"):
        col = FlowTask.warned_at if tm.kind == "warn" else FlowTask.overdue_at
        # a plain UPDATE: the task's version stays, so the handler's open form is not made stale
        s.execute(update(FlowTask).where(FlowTask.id == task.id, col.is_(None)).values({col.key: now})
                  .execution_options(synchronize_session=False))
        s.expire(task, [col.key])
        topic = "task.warning" if tm.kind == "warn" else "task.overdue"
        run.history(inst, "warning" if tm.kind == "warn" else "overdue", task=task,
                    data={"due_at": task.due_at, "fire_at": tm.fire_at})
        run.emit(topic, inst, task, assignee_id=task.assignee_id, due_at=task.due_at, warn_at=task.warn_at)
        return tm.kind
    if tm.kind == "transition":
        if task.status != "open":
            return "skipped"
        d = run.defn(inst)
        out = d.outgoing(task.node_id)
        k = (tm.data or {}).get("index")
        t = out[k] if isinstance(k, int) and 0 <= k < len(out) and "timer" in out[k] else None
        if t is None or t["to"] != (tm.data or {}).get("to"):
            return "skipped"
        task.action = f"timer:{t['to']}"[:64]
        engine.close_task(run, task, "done")
        run.touch(inst)
        engine.flush(s)
        run.history(inst, "timer", task=task, to_node=t["to"], action=task.action,
                    data={"fire_at": tm.fire_at})
        run.audit("flow.timer", inst, f"定时流转：任务 {task.id} → {t['to']}", after={"task_id": task.id, "to": t["to"]})
        run.emit("task.escalated", inst, task, to_node=t["to"])
        engine.move_on(run, inst, task, t)
        engine.flush(s)
        return "transition"
    return "skipped"


def run_forever(ctx: Any, *, interval: float = 30.0, stop: Any = None) -> None:
    """Run :func:`run_due` every ``interval`` seconds until ``stop()`` is true."""
    while not (stop and stop()):
        try:
            beat(ctx, HEARTBEAT, worker_name())
            counts = run_due(ctx)
            if any(v for k, v in counts.items() if k != "locked"):
                log.info("flow timers: %s", counts)
        except Exception:
            log.exception("flow timer run failed")
        time.sleep(interval)


def cli(ctx: Any, *, loop: bool = False, interval: float = 30.0) -> int:
    """``ccms flows timers``: one run (printing what fired), or ``--loop``."""
    if loop:
        print(f"流程定时器运行中（每 {interval:g} 秒）/ flow timers running every {interval:g}s; Ctrl-C stops")
        run_forever(ctx, interval=interval)
        return 0
    beat(ctx, HEARTBEAT, worker_name())  # run from cron every minute, this keeps /readyz's worker check green
    counts = run_due(ctx)
    if counts["locked"]:
        print("另一个定时器进程正在运行 / another timer worker holds the lock")
        return 0
    print(f"预警 warn={counts['warn']} 超期 due={counts['due']} 定时流转 transition={counts['transition']} "
          f"跳过 skipped={counts['skipped']} 失败 failed={counts['failed']} 重试 retry={counts['retry']}")
    return 0
