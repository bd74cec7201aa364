"""The flow engine: start instances, act on tasks, move tokens through the graph.

Every public function works in the caller's session and does one *step*:
the state change, the instance history, the audit entry, the outbox events
and the ``ccms_flow_event_occurred`` listeners all happen in that one transaction, so
a failure anywhere (a listener, an automatic action, a missing assignee)
leaves nothing half-moved.

Concurrency: tasks and instances carry a ``version`` (SQLAlchemy
``version_id_col``). A step first writes the task and the instance (a
version-checked UPDATE), so of two people completing the same task, or two
steps racing on one instance, one wins and the other gets a 409
:class:`Conflict` with nothing applied.

Instances keep the definition version they started with
(``def_version``); :func:`migrate_instances` moves running ones to another
version explicitly.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, delete, event, func, insert, select, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

from .. import audit
from ..audit import Actor
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..forms import records
from ..forms.expr import ExprError
from ..forms.models import FormRecord
from ..models import AuditLog, Org, Person
from . import assignees, clock, store
from .actions import ActionCall, available
from .definition import FlowDefinition
from .models import (
    LIVE_TASK,
    FlowHistory,
    FlowInstance,
    FlowOutbox,
    FlowTask,
    FlowTaskCandidate,
    FlowTimer,
    FlowToken,
)

_HISTORY = FlowHistory.__table__
_OUTBOX = FlowOutbox.__table__
_TIMER = FlowTimer.__table__
_AUDIT = AuditLog.__table__
_TASK = FlowTask.__table__
_TASK_COLUMNS = [c for c in FlowTask.__mapper__.column_attrs if c.key != "id"]
_CANDIDATE = FlowTaskCandidate.__table__
# Statements run on every step, built once (building one costs more than running it).
_INSERT_TASK = insert(_TASK)
_INSERT_CANDIDATES = insert(_CANDIDATE)
_DROP_CANDIDATES = delete(_CANDIDATE).where(_CANDIDATE.c.task_id == bindparam("tid"))
_CANCEL_TIMERS = (update(_TIMER).where(_TIMER.c.task_id == bindparam("tid"), _TIMER.c.fired_at.is_(None))
                  .values(cancelled=True))
_LIVE_APPROVALS = select(FlowTask).where(FlowTask.subject_task_id == bindparam("tid"),
                                         FlowTask.status.in_(LIVE_TASK))
MAX_MOVES = 500  # automatic moves in one step: more means a loop without a human task
COUNTER_NAMES = ("rework_count", "extend_count", "return_count", "suspend_count")
_VAR_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "number": (int, float), "integer": (int,),
                                           "boolean": (bool,), "array": (list,), "object": (dict,)}


# --------------------------------------------------------------------------- errors

def conflict_closed(task: FlowTask) -> Conflict:
    if task.status == "held":
        return Conflict("该任务正在等待审批，暂不能办理", "the task waits for an approval and cannot be acted on now",
                        code="task_held")
    if task.status == "suspended":
        return Conflict("该案件已挂账，恢复后才能办理", "the case is suspended: resume it first", code="task_suspended")
    return Conflict("该任务已办结，不能重复办理", "the task is already closed: it cannot be completed again",
                    code="task_closed")


def not_allowed(action: str, where: str) -> ValidationFailed:
    zh, en = f"节点“{where}”不允许操作 {action}", f"action {action} is not allowed at node {where}"
    return ValidationFailed(zh, en, code="action_not_allowed", fields={"action": {"message": zh, "message_en": en}})


def stale() -> Conflict:
    return Conflict("该任务已被他人处理或修改，请刷新后重试",
                    "the task was handled or changed by someone else: reload and try again", code="conflict")


def flush(session: Session) -> None:
    """Flush (and write the step's queued rows); a lost optimistic-lock race
    becomes a 409 (the caller's transaction rolls back)."""
    try:
        session.flush()
    except StaleDataError:
        raise stale() from None
    drain(session)


# --------------------------------------------------------------------------- queued rows
#
# History, outbox and timer rows are never read back by the step that writes
# them, so they are queued on the session and written with one executemany
# per table (plain Core INSERTs on the step's connection: no unit of work, no
# RETURNING). They are written by :func:`flush` (every public step ends with
# it), before any read of those tables inside a step, before any ORM query in
# the session (so ``ccms_flow_event_occurred`` listeners and actions see the step's rows
# so far, the way autoflush shows pending objects) and, as a safety net,
# before the transaction commits; a rollback (or a rolled-back savepoint)
# drops the rows queued inside it.

_PENDING = "ccms_flow_pending"  # session.info: [(transaction, table, row), ...]


def queue(session: Session, table: Any, row: dict[str, Any]) -> None:
    """Queue one row of ``table`` for this transaction (written at the next :func:`drain`)."""
    txn = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append((txn, table, row))


def drain(session: Session) -> None:
    """Write the queued rows now: one executemany per table, in the order queued."""
    rows = session.info.pop(_PENDING, None)
    if not rows:
        return
    by_table: dict[Any, list[dict[str, Any]]] = {}
    for _, table, row in rows:
        by_table.setdefault(table, []).append(row)
    conn = session.connection()
    for table, batch in by_table.items():
        conn.execute(insert(table), batch)


@event.listens_for(Session, "do_orm_execute")
def _drain_before_query(state: Any) -> None:
    s = state.session
    if s.autoflush and s.info.get(_PENDING) and (state.is_select or state.is_update or state.is_delete):
        drain(s)


@event.listens_for(Session, "before_commit")
def _drain_before_commit(session: Session) -> None:
    if session.info.get(_PENDING):
        drain(session)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: Any) -> None:
    rows = session.info.get(_PENDING)
    if not rows:
        return

    def inside(txn: Any) -> bool:
        while txn is not None:
            if txn is previous_transaction:
                return True
            txn = txn.parent
        return False

    keep = [r for r in rows if not inside(r[0])]
    if keep:
        session.info[_PENDING] = keep
    else:
        session.info.pop(_PENDING, None)


# --------------------------------------------------------------------------- definitions

_DEFS: weakref.WeakKeyDictionary[Any, dict[tuple[str, int], tuple[FlowDefinition, int]]] = weakref.WeakKeyDictionary()


def definition(session: Session, flow_id: str, version: int | None = None) -> tuple[FlowDefinition, int]:
    """A flow's definition and version: the given version, or the published one.
    A stored version never changes, so it is remembered per database."""
    memo = session.info.setdefault("ccms_flow_defs", {})
    key = (flow_id, version)
    hit = memo.get(key)
    if hit is not None:
        return hit
    per_db = _DEFS.setdefault(session.get_bind(), {})
    if version is not None and (flow_id, version) in per_db:
        hit = memo[key] = per_db[(flow_id, version)]
        return hit
    if version is None:
        row = store.published_row(session, flow_id)
        if row is None:
            raise NotFound(f"流程 {flow_id} 不存在或未发布", f"flow {flow_id} does not exist or is not published")
    else:
        row = store.get_version(session, flow_id, version)
    hit = (store.definition_of(row), row.version)
    memo[key] = hit
    memo[(flow_id, row.version)] = hit
    per_db[(flow_id, row.version)] = hit
    return hit


# --------------------------------------------------------------------------- one step

class Run:
    """One step's context: session, app, actor and the instant it happens.
    Engine and special operations share it."""

    def __init__(self, session: Session, ctx: Any, actor: Actor | None, now: dt.datetime | None = None) -> None:
        self.session, self.ctx = session, ctx
        self.actor = actor or audit.SYSTEM
        self.now = now or clock.now()
        self.moves = 0
        self.cause_task_id: int | None = None  # the task whose completion this step follows
        self.parked = False  # a token stopped at a join, sub-flow or end (the step cannot be withdrawn)
        self.created: list[FlowTask] = []
        self.no_approvals: set[int] = set()  # tasks known (this step) to have no live approval task

    def defn(self, inst: FlowInstance) -> FlowDefinition:
        return definition(self.session, inst.flow_id, inst.def_version)[0]

    def record(self, inst: FlowInstance) -> FormRecord | None:
        return self.session.get(FormRecord, inst.record_id) if inst.record_id else None

    def env(self, inst: FlowInstance, *, record_data: Mapping[str, Any] | None = None,
            variables: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        """Names conditions see: record fields, variables, counters (and extras
        such as ``action``); ``record_data``/``variables`` stand for edits not yet saved."""
        if record_data is None:
            rec = self.record(inst)
            record_data = (rec.data or {}) if rec is not None else {}
        out: dict[str, Any] = dict(record_data)
        out.update(inst.variables or {})
        out.update(variables or {})
        for name in COUNTER_NAMES:
            out[name] = getattr(inst, name) or 0
        out.update(extra)
        return out

    def history(self, inst: FlowInstance, kind: str, *, task: FlowTask | None = None, node_id: str | None = None,
                to_node: str | None = None, action: str | None = None, comment: str = "",
                data: dict[str, Any] | None = None) -> None:
        queue(self.session, _HISTORY, {
            "instance_id": inst.id, "task_id": task.id if task is not None else None, "at": self.now,
            "actor_id": self.actor.id, "actor_name": (self.actor.name or "")[:100], "kind": kind,
            "node_id": node_id or (task.node_id if task is not None else None), "to_node": to_node,
            "action": action, "comment": comment or "", "data": audit.scrub(data) if data else None})

    def emit(self, topic: str, inst: FlowInstance, task: FlowTask | None = None, **payload: Any) -> dict[str, Any]:
        """An event: an outbox row and the ``ccms_flow_event_occurred`` listeners, in this transaction."""
        event = {"topic": topic, "instance_id": inst.id, "flow_id": inst.flow_id, "def_version": inst.def_version,
                 "record_id": inst.record_id, "task_id": task.id if task is not None else None,
                 "node_id": task.node_id if task is not None else payload.pop("node_id", None),
                 "actor_id": self.actor.id, "at": self.now.isoformat(), **payload}
        event = audit._jsonable(event)
        queue(self.session, _OUTBOX, {"at": self.now, "topic": topic, "instance_id": inst.id,
                                      "task_id": event["task_id"], "payload": event, "delivered_at": None,
                                      "attempts": 0})
        if self.ctx is not None:
            hook = self.ctx.pm.hook.ccms_flow_event_occurred
            if hook.get_hookimpls():  # no listener installed: no dispatch
                hook(ctx=self.ctx, session=self.session, event=event)
        return event

    def audit(self, action: str, inst: FlowInstance, summary: str, after: dict[str, Any] | None = None) -> None:
        e = audit.entry(self.actor, action, "flow_instance", inst.id, after=after, summary=summary)
        queue(self.session, _AUDIT, e)  # written with the step's other queued rows
        audit.announce(self.session, e)

    def touch(self, inst: FlowInstance) -> None:
        """Bump the instance (its version serialises steps on one instance)."""
        inst.updated_at = self.now
        inst.steps = (inst.steps or 0) + 1


# --------------------------------------------------------------------------- reading helpers

def get_instance(session: Session, instance_id: int) -> FlowInstance:
    inst = session.get(FlowInstance, instance_id)
    if inst is None:
        raise NotFound(f"流程实例 {instance_id} 不存在", f"flow instance {instance_id} does not exist")
    return inst


def get_task(session: Session, task_id: int) -> FlowTask:
    task = session.get(FlowTask, task_id)
    if task is None:
        raise NotFound(f"任务 {task_id} 不存在", f"task {task_id} does not exist")
    return task


def history(session: Session, instance_id: int) -> list[FlowHistory]:
    """The instance's timeline, oldest first."""
    drain(session)
    return list(session.scalars(select(FlowHistory).where(FlowHistory.instance_id == instance_id)
                                .order_by(FlowHistory.id)))


def tasks_of(session: Session, instance_id: int, *, live: bool = False) -> list[FlowTask]:
    stmt = select(FlowTask).where(FlowTask.instance_id == instance_id)
    if live:
        stmt = stmt.where(FlowTask.status.in_(LIVE_TASK))
    return list(session.scalars(stmt.order_by(FlowTask.id)))


def candidates_of(session: Session, task_id: int) -> list[int]:
    return list(session.scalars(select(FlowTaskCandidate.person_id).where(FlowTaskCandidate.task_id == task_id)
                                .order_by(FlowTaskCandidate.person_id)))


def is_candidate(session: Session, task_id: int, person_id: int) -> bool:
    return session.scalar(select(FlowTaskCandidate.task_id).where(
        FlowTaskCandidate.task_id == task_id, FlowTaskCandidate.person_id == person_id)) is not None


def may_act(session: Session, task: FlowTask, person_id: int | None) -> bool:
    """Whether the person may act on the task now (assignee, or a candidate of an unassigned task)."""
    if person_id is None or task.status not in LIVE_TASK:
        return False
    if task.assignee_id is not None:
        return task.assignee_id == person_id
    return is_candidate(session, task.id, person_id)


def level(task: FlowTask, now: dt.datetime | None = None) -> str:
    """Deadline colour: ``none`` (no limit), ``green``, ``yellow`` (past the warning share), ``red`` (overdue)."""
    if task.due_at is None:
        return "none"
    now = now or clock.now()
    end = task.completed_at or now
    if end >= task.due_at:
        return "red"
    if task.warn_at is not None and end >= task.warn_at:
        return "yellow"
    return "green"


def check_version(row: Any, version: int | None) -> None:
    if version is not None and int(version) != row.version:
        raise stale()


def live_task(session: Session, task_id: int, version: int | None = None) -> FlowTask:
    """A task someone wants to act on: it exists, the version matches, it is open."""
    task = get_task(session, task_id)
    if task.status != "open":
        raise conflict_closed(task)
    check_version(task, version)
    return task


def running(session: Session, task_or_inst: FlowTask | FlowInstance) -> FlowInstance:
    inst = task_or_inst if isinstance(task_or_inst, FlowInstance) else get_instance(session, task_or_inst.instance_id)
    if inst.status == "suspended":
        raise Conflict("该案件已挂账，恢复后才能办理", "the case is suspended: resume it first", code="instance_suspended")
    if inst.status != "running":
        raise Conflict("该流程已结束", "the flow instance has ended", code="instance_ended")
    return inst


def authorize(run: Run, task: FlowTask, *, apply: bool = True) -> None:
    """Only the assignee acts; a candidate of a direct (non-claim) task takes it
    on acting (when ``apply``); a claim task must be claimed first. Raises 403."""
    pid = run.actor.id
    if pid is not None and task.assignee_id == pid:
        return
    if pid is not None and task.assignee_id is None and is_candidate(run.session, task.id, pid):
        if task.claim:
            raise Forbidden("请先签收此任务", "claim the task first", code="claim_required")
        if apply:
            task.assignee_id = pid
            task.claimed_at = run.now
        return
    if pid is not None and task.assignee_id is None and _changed_meanwhile(run.session, task):
        raise stale()  # a fellow candidate took it after we read it: their step won, not a permission matter
    raise Forbidden("只有该任务的办理人可以办理", "only the task's assignee may act on it", code="not_assignee")


def _changed_meanwhile(session: Session, task: FlowTask) -> bool:
    """The task's row moved on since this session loaded it (its candidates may be gone)."""
    with session.no_autoflush:
        now = session.execute(select(_TASK.c.version).where(_TASK.c.id == task.id)).scalar()
    return now != task.version


# --------------------------------------------------------------------------- tasks

def _amount(run: Run, inst: FlowInstance, d: FlowDefinition, limit: Mapping[str, Any]) -> float | None:
    amount = limit.get("amount")
    if isinstance(amount, str):
        try:
            amount = d.expr(amount).evaluate(run.env(inst))
        except ExprError as exc:
            raise ValidationFailed(exc.zh, exc.en, code="time_limit_error") from None
    if amount is None or isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount <= 0:
        return None
    return float(amount)


def add_timers(run: Run, inst: FlowInstance, task: FlowTask, d: FlowDefinition) -> None:
    """Deadline timers of a task and the timer transitions of its node."""
    s = run.session
    if task.warn_at is not None:
        queue(s, _TIMER, _timer_row(inst, task, "warn", task.warn_at, task.limit_unit))
    if task.due_at is not None:
        queue(s, _TIMER, _timer_row(inst, task, "due", task.due_at, task.limit_unit))
    if task.kind != "node":
        return
    for k, t in enumerate(d.outgoing(task.node_id)):
        if "timer" not in t:
            continue
        amount = _amount(run, inst, d, t["timer"])
        if amount is None:
            continue
        fire = clock.deadline(s, d.calendar, task.created_at, amount, t["timer"]["unit"])
        queue(s, _TIMER, _timer_row(inst, task, "transition", fire, t["timer"]["unit"], {"to": t["to"], "index": k}))


def _timer_row(inst: FlowInstance, task: FlowTask, kind: str, fire_at: dt.datetime, unit: str | None,
               data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"instance_id": inst.id, "task_id": task.id, "kind": kind, "fire_at": fire_at, "unit": unit,
            "data": data, "fired_at": None, "cancelled": False}


def make_task(run: Run, inst: FlowInstance, token: FlowToken | None, node_id: str, people: list[int], *,
              claim: bool = False, org_id: int | None = None, limit: Mapping[str, Any] | None = None,
              kind: str = "node", op: str | None = None, op_data: dict[str, Any] | None = None,
              subject_task_id: int | None = None, rework: bool = False, title: str = "") -> FlowTask:
    """Create a task for ``people`` (one and not ``claim``: the assignee; else candidates)."""
    s = run.session
    d = run.defn(inst)
    task = FlowTask(instance_id=inst.id, token_id=token.id if token is not None else None, flow_id=inst.flow_id,
                    node_id=node_id, kind=kind, op=op, op_data=op_data, subject_task_id=subject_task_id,
                    title=(title or d.node_title(node_id))[:200], status="open", claim=claim, org_id=org_id,
                    multi_key=token.multi_key if token is not None else None, prev_task_id=run.cause_task_id,
                    created_at=run.now, rework=rework, comment="", urge_count=0)
    if len(people) == 1 and not claim:
        task.assignee_id = people[0]
    if limit:
        amount = _amount(run, inst, d, limit)
        if amount is not None:
            task.limit_amount, task.limit_unit, task.calendar_id = amount, limit["unit"], d.calendar
            task.due_at = clock.deadline(s, d.calendar, run.now, amount, limit["unit"])
            task.warn_at = clock.deadline(s, d.calendar, run.now, amount * d.warn_ratio, limit["unit"])
    _insert_task(s, task)
    if task.assignee_id is None and people:
        s.connection().execute(_INSERT_CANDIDATES, [{"task_id": task.id, "person_id": p} for p in people])
    add_timers(run, inst, task, d)
    run.created.append(task)
    run.history(inst, "task_created", task=task,
                data={"assignee_id": task.assignee_id, "candidates": len(people) if task.assignee_id is None else 0,
                      "org_id": org_id, "rework": rework, "kind": kind, "op": op})
    run.emit("task.created", inst, task, kind=kind, op=op, assignee_id=task.assignee_id,
             candidates=people[:200] if task.assignee_id is None else [], org_id=org_id,
             due_at=task.due_at, warn_at=task.warn_at)
    return task


def _insert_task(session: Session, task: FlowTask) -> None:
    """Insert a new task with one plain INSERT and attach it to the session as
    persistent (no unit-of-work flush); every column is set, so nothing is
    loaded back."""
    task.version = 1
    state = task.__dict__
    for c in _TASK_COLUMNS:
        if c.key not in state:
            setattr(task, c.key, None)  # loaded as None, so it is not fetched later
    values = {c.key: state[c.key] for c in _TASK_COLUMNS}
    res = session.connection().execute(_INSERT_TASK, values)
    task.id = res.inserted_primary_key[0]
    make_transient_to_detached(task)
    session.add(task)


def close_task(run: Run, task: FlowTask, status: str) -> None:
    """Close a task (done/cancelled/withdrawn): its candidates, pending timers
    and pending approvals go with it."""
    s = run.session
    task.status = status
    if status == "done":
        task.completed_at = run.now
        task.completed_by = run.actor.id
    else:
        task.completed_at = task.completed_at or run.now
    if task.assignee_id is None or task.claimed_at is not None:  # a direct task never had candidates
        s.execute(_DROP_CANDIDATES, {"tid": task.id})
    drain(s)  # timers queued earlier in this step must be cancelled too
    s.execute(_CANCEL_TIMERS, {"tid": task.id})
    if task.id in run.no_approvals:
        return
    for ap in s.scalars(_LIVE_APPROVALS, {"tid": task.id}):
        close_task(run, ap, "cancelled")


def assign(run: Run, inst: FlowInstance, rule: Mapping[str, Any], *, token: FlowToken | None = None,
           value: Any = None, where: str = "") -> assignees.Assignment:
    return assignees.resolve(run.ctx, run.session, rule, run.env(inst), org_id=inst.org_id,
                             region_code=inst.region_code, initiator_id=inst.initiator_id,
                             previous_actor=token.last_actor_id if token is not None else None,
                             value=value, where=where)


def _node_task(run: Run, inst: FlowInstance, token: FlowToken, node: Mapping[str, Any], *, value: Any = None,
               person: int | None = None, rework: bool = False) -> FlowTask:
    d = run.defn(inst)
    if person is not None:
        people, org = [person], None
        claim = False
    else:
        with run.session.no_autoflush:  # people and orgs only: the step's pending rows do not matter
            a = assign(run, inst, node["assignee"], token=token, value=value,
                       where=f"节点“{d.node_title(node['id'])}”：")
        people, org, claim = a.people, a.org_id, bool(node.get("claim"))
    if value is not None and org is None and node["assignee"].get("rule") == "dept_chosen":
        org = assignees._int(value)
    return make_task(run, inst, token, node["id"], people, claim=claim, org_id=org, limit=node.get("time_limit"),
                     rework=rework)


# --------------------------------------------------------------------------- moving tokens

def _condition(run: Run, inst: FlowInstance, d: FlowDefinition, t: Mapping[str, Any], env: Mapping[str, Any]) -> bool:
    if "condition" not in t:
        return True
    try:
        return bool(d.expr(t["condition"]).evaluate(env))
    except ExprError as exc:
        raise ValidationFailed(exc.zh, exc.en, code="condition_error") from None


def enter(run: Run, inst: FlowInstance, token: FlowToken, node_id: str, *,
          people: Mapping[str | None, int] | None = None, rework: bool = False) -> None:
    """Put ``token`` on ``node_id`` and run the node (automatic nodes move on at once).
    ``people``: multi key (``None`` for a single task) -> the person to give the task to
    (返工 and 回退 go back to whoever did it last)."""
    run.moves += 1
    if run.moves > MAX_MOVES:
        raise ValidationFailed("流程在自动节点间循环，未到达人工任务", "the flow loops through automatic nodes",
                               code="flow_loop")
    s = run.session
    d = run.defn(inst)
    node = d.nodes[node_id]
    token.node_id = node_id
    token.status = "active"
    kind = node["type"]
    if kind == "start":
        enter(run, inst, token, d.outgoing(node_id)[0]["to"])
    elif kind == "task":
        multi = node.get("multi")
        if multi and token.parent_id is None:
            values = run.env(inst).get(multi["field"])
            if not isinstance(values, list) or not values:
                raise ValidationFailed(f"节点“{d.node_title(node_id)}”需要至少选择一项（{multi['field']}）",
                                       f"node {node_id} needs at least one element in {multi['field']}",
                                       code="multi_empty")
            seen: list[Any] = []
            for v in values:
                if v not in seen:
                    seen.append(v)
            token.status = "waiting"
            children = [FlowToken(instance_id=inst.id, node_id=node_id, status="active", parent_id=token.id,
                                  multi_key=str(v)[:64], prev_task_id=token.prev_task_id,
                                  last_actor_id=token.last_actor_id, created_at=run.now) for v in seen]
            s.add_all(children)
            s.flush()
            for v, child in zip(seen, children):
                _node_task(run, inst, child, node, value=v, person=(people or {}).get(child.multi_key),
                           rework=rework)
        else:
            value = token.multi_key if token.parent_id is not None else None
            person = (people or {}).get(token.multi_key if token.parent_id is not None else None)
            _node_task(run, inst, token, node, value=value, person=person, rework=rework)
    elif kind == "auto":
        _auto(run, inst, node)
        enter(run, inst, token, d.outgoing(node_id)[0]["to"])
    elif kind == "exclusive":
        env = run.env(inst)
        out = d.outgoing(node_id)
        chosen = next((t for t in out if not t.get("default") and _condition(run, inst, d, t, env)), None)
        chosen = chosen or next((t for t in out if t.get("default")), None)
        if chosen is None:
            raise ValidationFailed(f"网关“{d.node_title(node_id)}”没有满足条件的流转",
                                   f"no condition holds at gateway {node_id}", code="no_transition")
        enter(run, inst, token, chosen["to"])
    elif kind == "parallel":
        token.status = "done"
        branches = [FlowToken(instance_id=inst.id, node_id=t["to"], status="active", prev_task_id=token.prev_task_id,
                              last_actor_id=token.last_actor_id, created_at=run.now) for t in d.outgoing(node_id)]
        s.add_all(branches)
        s.flush()
        for b in branches:
            if b.status == "active" and inst.status != "ended":
                enter(run, inst, b, b.node_id)
    elif kind == "join":
        token.status = "waiting"
        run.parked = True
        s.flush()
        waiting = list(s.scalars(select(FlowToken).where(FlowToken.instance_id == inst.id,
                                                         FlowToken.node_id == node_id,
                                                         FlowToken.status == "waiting").order_by(FlowToken.id)))
        if len(waiting) >= len(d.incoming(node_id)):
            for w in waiting:
                w.status = "done"
            merged = FlowToken(instance_id=inst.id, node_id=node_id, status="active", prev_task_id=token.prev_task_id,
                               last_actor_id=token.last_actor_id, created_at=run.now)
            s.add(merged)
            s.flush()
            enter(run, inst, merged, d.outgoing(node_id)[0]["to"])
    elif kind == "subflow":
        token.status = "waiting"
        run.parked = True
        s.flush()
        start_instance(run, node["flow"], record_id=inst.record_id, org_id=inst.org_id,
                       variables=dict(inst.variables or {}), parent=inst, parent_token=token, loose_variables=True)
    elif kind == "end":
        token.status = "done"
        run.parked = True
        s.flush()
        live = s.scalar(select(func.count()).select_from(FlowToken).where(
            FlowToken.instance_id == inst.id, FlowToken.status.in_(("active", "waiting"))))
        if not live:
            end_instance(run, inst, node.get("outcome") or "completed", node_id=node_id)


def _auto(run: Run, inst: FlowInstance, node: Mapping[str, Any]) -> None:
    fn = available(run.ctx).get(node["action"]) if run.ctx is not None else None
    if fn is None:
        raise ValidationFailed(f"自动动作 {node['action']} 不存在", f"automatic action {node['action']} does not exist",
                               code="unknown_action")
    call = ActionCall(ctx=getattr(run.ctx, "plugin_context", run.ctx), session=run.session, instance=inst, node_id=node["id"],
                      params=dict(node.get("params") or {}), variables=dict(inst.variables or {}),
                      record=run.record(inst), actor=run.actor)
    result = fn(call)
    if isinstance(result, Mapping) and result:
        inst.variables = {**(inst.variables or {}), **dict(result)}
    run.history(inst, "auto", node_id=node["id"], action=node["action"],
                data={"variables": dict(result)} if isinstance(result, Mapping) and result else None)


def end_instance(run: Run, inst: FlowInstance, outcome: str, *, node_id: str | None = None,
                 comment: str = "") -> None:
    """End the instance: every live task and token closes; a parent waiting
    on this sub-flow moves on."""
    s = run.session
    for t in s.scalars(select(FlowTask).where(FlowTask.instance_id == inst.id, FlowTask.status.in_(LIVE_TASK))):
        close_task(run, t, "cancelled")
    s.execute(update(FlowToken).where(FlowToken.instance_id == inst.id, FlowToken.status != "done")
              .values(status="done").execution_options(synchronize_session="fetch"))
    drain(s)
    s.execute(update(FlowTimer).where(FlowTimer.instance_id == inst.id, FlowTimer.fired_at.is_(None))
              .values(cancelled=True).execution_options(synchronize_session=False))
    was_suspended = inst.status == "suspended"
    if was_suspended and inst.suspended_at is not None:
        inst.suspended_seconds = (inst.suspended_seconds or 0) + (run.now - inst.suspended_at).total_seconds()
        inst.suspended_at = None
    inst.status = "ended"
    inst.outcome = outcome[:64]
    inst.ended_at = run.now
    run.history(inst, "end", node_id=node_id, action=outcome, comment=comment)
    run.audit("flow.end", inst, f"流程 {inst.flow_id} 实例 {inst.id} 结束：{outcome}", after={"outcome": outcome})
    run.emit("instance.ended", inst, outcome=outcome, node_id=node_id)
    for child in s.scalars(select(FlowInstance).where(FlowInstance.parent_id == inst.id,
                                                      FlowInstance.status != "ended")):
        end_instance(run, child, outcome, comment=comment)
    if inst.parent_id is not None:
        parent = s.get(FlowInstance, inst.parent_id)
        ptoken = s.get(FlowToken, inst.parent_token_id) if inst.parent_token_id else None
        if parent is not None and parent.status == "running" and ptoken is not None and ptoken.status == "waiting":
            parent.variables = {**(parent.variables or {}), **(inst.variables or {})}
            pd = run.defn(parent)
            ptoken.status = "active"
            run.touch(parent)
            enter(run, parent, ptoken, pd.outgoing(ptoken.node_id)[0]["to"])


def _check_variables(d: FlowDefinition, values: Mapping[str, Any]) -> dict[str, Any]:
    declared = d.variables
    bad: dict[str, Any] = {}
    for name, v in values.items():
        if declared and name not in declared:
            bad[name] = {"message": "流程未声明该变量", "message_en": "the flow declares no such variable"}
            continue
        want = (declared.get(name) or {}).get("type")
        if want and v is not None:
            types = _VAR_TYPES.get(want, (object,))
            if not isinstance(v, types) or (want in ("number", "integer") and isinstance(v, bool)):
                bad[name] = {"message": f"类型应为 {want}", "message_en": f"must be of type {want}"}
    if bad:
        raise ValidationFailed("流程变量有误", "invalid flow variables", code="bad_variables", fields=bad)
    return dict(values)


def start_instance(run: Run, flow_id: str, *, version: int | None = None, record_id: int | None = None,
                   org_id: int | None = None, variables: Mapping[str, Any] | None = None, title: str = "",
                   parent: FlowInstance | None = None, parent_token: FlowToken | None = None,
                   loose_variables: bool = False) -> FlowInstance:
    s = run.session
    d, ver = definition(s, flow_id, version)
    record = None
    if record_id is not None:
        record = s.get(FormRecord, record_id)
        if record is None or record.deleted_at is not None:
            raise NotFound(f"记录 {record_id} 不存在", f"record {record_id} does not exist")
        if d.form and record.form_id != d.form:
            raise ValidationFailed(f"流程 {flow_id} 用于表单 {d.form}，不能用于 {record.form_id} 的记录",
                                   f"flow {flow_id} is for form {d.form}, not {record.form_id}", code="wrong_form")
    if org_id is not None and (isinstance(org_id, bool) or s.get(Org, org_id) is None):
        raise ValidationFailed("所属机构不存在", "the org does not exist", code="bad_org",
                               fields={"org_id": {"message": "所属机构不存在", "message_en": "the org does not exist"}})
    if org_id is None and record is not None:
        org_id = record.org_id
    if org_id is None and run.actor.id is not None:
        org_id = s.scalar(select(Person.org_id).where(Person.id == run.actor.id))
    region = record.region_code if record is not None else None
    if region is None and org_id is not None:
        region = s.scalar(select(Org.region_code).where(Org.id == org_id))
    values = {k: v["default"] for k, v in d.variables.items() if isinstance(v, Mapping) and "default" in v}
    given = dict(variables or {})
    if loose_variables and d.variables:
        given = {k: v for k, v in given.items() if k in d.variables}
    values.update(_check_variables(d, given))
    inst = FlowInstance(flow_id=flow_id, def_version=ver, status="running", record_id=record_id,
                        form_id=record.form_id if record is not None else d.form, org_id=org_id,
                        region_code=region, variables=values,
                        initiator_id=parent.initiator_id if parent is not None else run.actor.id,
                        parent_id=parent.id if parent is not None else None,
                        parent_token_id=parent_token.id if parent_token is not None else None,
                        started_at=run.now, updated_at=run.now, steps=0,
                        title=(title or (record.ref_no if record is not None and record.ref_no else "")
                               or d.title())[:200])
    s.add(inst)
    s.flush()
    run.history(inst, "start", node_id=d.start, data={"version": ver, "parent_id": inst.parent_id})
    run.audit("flow.start", inst, f"发起流程 {flow_id} v{ver}，实例 {inst.id}",
              after={"flow_id": flow_id, "version": ver, "record_id": record_id})
    run.emit("instance.started", inst, parent_id=inst.parent_id)
    token = FlowToken(instance_id=inst.id, node_id=d.start, status="active", last_actor_id=run.actor.id,
                      created_at=run.now)
    s.add(token)
    s.flush()
    enter(run, inst, token, d.start)
    return inst


# --------------------------------------------------------------------------- special operations

# The special operations (回退, 延期, 挂账, 作废, 转办, 撤回 and their approval tasks) live in
# ccms.flows.operations, which is built on this engine and plugs itself in here when imported,
# so the engine does not import it back (no import circle). The web layer and the facade import
# it at start-up; acting on an approval task needs it.
_operations: Any = None


def use_operations(module: Any) -> None:
    """Called by :mod:`ccms.flows.operations` on import."""
    global _operations
    _operations = module


def _ops() -> Any:
    if _operations is None:
        raise RuntimeError("ccms.flows.operations is not imported: the special operations are unavailable")
    return _operations


# --------------------------------------------------------------------------- public: start, act, claim

def start(session: Session, ctx: Any, actor: Actor | None, flow_id: str, *, record_id: int | None = None,
          org_id: int | None = None, variables: Mapping[str, Any] | None = None, title: str = "",
          version: int | None = None) -> FlowInstance:
    """Start an instance of the published (or given) version of ``flow_id``,
    bound to a form record or carrying only ``variables``; it runs on until
    its first human tasks."""
    run = Run(session, ctx, actor)
    inst = start_instance(run, flow_id, version=version, record_id=record_id, org_id=org_id,
                          variables=variables, title=title)
    flush(session)
    return inst


def transitions_for(run: Run, inst: FlowInstance, task: FlowTask, action: str | None = None) -> list[dict[str, Any]]:
    """The node's human transitions (not timer ones), optionally for one action."""
    d = run.defn(inst)
    return [t for t in d.outgoing(task.node_id) if "timer" not in t and "action" in t
            and (action is None or t["action"] == action)]


def _check_edits(run: Run, inst: FlowInstance, node: Mapping[str, Any],
                 data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The record's data after the step's edits, validated before anything is
    written; ``None`` when nothing is edited."""
    if not data:
        return None
    if not isinstance(data, Mapping):
        raise ValidationFailed("数据应为 JSON 对象", "data must be a JSON object", code="bad_data")
    rec = run.record(inst)
    if rec is None:
        raise ValidationFailed("该流程没有绑定表单记录，不能修改字段", "the instance has no form record to edit",
                               code="no_record")
    editable = set(node.get("editable") or ())
    bad = {k: {"message": "此环节不能修改该字段", "message_en": "this field is not editable at this step"}
           for k in data if k not in editable}
    if bad:
        raise ValidationFailed("有字段在此环节不能修改", "some fields are not editable at this step",
                               code="not_editable", fields=bad)
    definition_ = records.published(run.session, rec.form_id)
    v = records.bound_validator(run.ctx, run.session, definition_)
    merged = v.compute({**(rec.data or {}), **dict(data)})
    errors = v.validate(merged)
    if errors:
        raise ValidationFailed("提交的数据有误，请按提示修改", "the submitted data is invalid", fields=dict(errors))
    return merged


def _check_attachments(values: Mapping[str, Any], node: Mapping[str, Any]) -> None:
    need = node.get("required_attachments") or ()
    missing = {k: {"message": "请先上传附件", "message_en": "attach the required file first"}
               for k in need if not values.get(k)}
    if missing:
        raise ValidationFailed("缺少必需的附件", "required attachments are missing", code="attachments_missing",
                               fields=missing)


def act(session: Session, ctx: Any, actor: Actor | None, task_id: int, action: str, *, comment: str = "",
        data: Mapping[str, Any] | None = None, variables: Mapping[str, Any] | None = None,
        version: int | None = None) -> FlowTask:
    """Complete a task with one of its node's actions (a button): edits the
    record's editable fields (``data``) and variables, then moves on.

    Errors (checked before anything is written): 404 unknown task; 409
    closed, held, suspended or changed task (``version`` is the task version
    the user saw) or lost race; 403 not the assignee (or a claim task not
    claimed); 422 an action not allowed here, a missing required comment or
    attachment, invalid field values, no transition whose condition holds."""
    try:
        return _act(Run(session, ctx, actor), task_id, action, comment=comment, data=data, variables=variables,
                    version=version)
    except StaleDataError:
        raise stale() from None


def _act(run: Run, task_id: int, action: str, *, comment: str, data: Mapping[str, Any] | None,
         variables: Mapping[str, Any] | None, version: int | None) -> FlowTask:
    session = run.session
    loaded = _load_step(session, task_id)  # held: the identity map keeps rows weakly
    if loaded is not None and not loaded[3]:
        run.no_approvals.add(task_id)
    task = live_task(session, task_id, version)
    inst = running(session, task)
    if task.kind == "approval":
        return _ops().decide(run, inst, task, action, comment=comment, data=data, version=version)
    authorize(run, task, apply=False)
    d = run.defn(inst)
    node = d.nodes[task.node_id]
    choices = transitions_for(run, inst, task, action)
    if not choices:
        raise not_allowed(action, d.node_title(task.node_id))
    comment = (comment or "").strip()
    if any(t.get("comment_required") for t in choices) and not comment:
        raise ValidationFailed("请填写意见", "a comment is required for this action", code="comment_required",
                               fields={"comment": {"message": "请填写意见", "message_en": "a comment is required"}})
    merged = _check_edits(run, inst, node, data)
    new_vars = _check_variables(d, dict(variables)) if variables else {}
    env = run.env(inst, record_data=merged, variables=new_vars, action=action)
    _check_attachments(env, node)
    chosen = next((t for t in choices if _condition(run, inst, d, t, env)), None)
    if chosen is None:
        raise ValidationFailed(f"不满足“{d.label(choices[0])}”的条件", f"the condition of action {action} does not hold",
                               code="condition_not_met")
    # writes: the task, instance and token rows go out in the step's last
    # flush (version-checked UPDATEs): a concurrent step loses there and the
    # whole transaction rolls back
    with session.no_autoflush:
        authorize(run, task)
        task.action = action
        task.comment = comment[:10000]
        close_task(run, task, "done")
        run.touch(inst)
    if merged is not None:
        rec = run.record(inst)
        records.update(session, run.actor, run.ctx, rec.form_id, rec.id, merged, None, clean=False)
    if new_vars:
        inst.variables = {**(inst.variables or {}), **new_vars}
    run.history(inst, "complete", task=task, to_node=chosen["to"], action=action, comment=comment,
                data={"fields": sorted(data)} if data else None)
    run.audit("flow.task.complete", inst, f"办理任务 {task.id}（{task.node_id}）：{action}",
              after={"task_id": task.id, "node_id": task.node_id, "action": action})
    run.emit("task.completed", inst, task, action=action, to_node=chosen["to"], comment=comment)
    move_on(run, inst, task, chosen)
    flush(session)
    return task


def _load_step(session: Session, task_id: Any) -> Any:
    """Load a task with its instance and token in one query (into the identity
    map; rows already there are kept as they are, as ``session.get`` would).
    The caller holds the returned row while it works."""
    if isinstance(task_id, bool) or not isinstance(task_id, int):
        return None
    if identity_key(FlowTask, task_id) in session.identity_map:  # already loaded: session.get finds it
        return None
    return session.execute(_LOAD_STEP, {"tid": task_id}).first()


_LOAD_STEP = (select(FlowTask, FlowInstance, FlowToken,
                     select(_TASK.c.id).where(_TASK.c.subject_task_id == bindparam("tid"),
                                              _TASK.c.status.in_(LIVE_TASK)).exists())
              .join(FlowInstance, FlowInstance.id == FlowTask.instance_id)
              .outerjoin(FlowToken, FlowToken.id == FlowTask.token_id)
              .where(FlowTask.id == bindparam("tid")))


def move_on(run: Run, inst: FlowInstance, task: FlowTask, t: Mapping[str, Any]) -> None:
    """After ``task`` closed: leave its node by transition ``t`` (a multi node
    only when its last element is done) and note whether the step may be withdrawn."""
    s = run.session
    run.cause_task_id = task.id
    run.parked = False
    run.created = []
    token = s.get(FlowToken, task.token_id)
    multi_child = token.parent_id is not None
    if multi_child:
        token.status = "done"
        s.flush()
        left = s.scalar(select(func.count()).select_from(FlowToken).where(
            FlowToken.parent_id == token.parent_id, FlowToken.status != "done"))
        if left:
            task.op_data = {"next": [], "withdrawable": False}
            return
        token = s.get(FlowToken, token.parent_id)
    if run.actor.id is not None:  # a timer keeps the last person as "previous actor"
        token.last_actor_id = run.actor.id
    token.prev_task_id = task.id
    if t.get("rework"):
        inst.rework_count = (inst.rework_count or 0) + 1
        run.history(inst, "rework", task=task, to_node=t["to"], action=t.get("action"))
        enter(run, inst, token, t["to"], people=last_people(s, inst.id, t["to"]), rework=True)
    else:
        enter(run, inst, token, t["to"])
    nxt = [x.id for x in run.created if x.prev_task_id == task.id and x.kind == "node"]
    task.op_data = {"next": nxt, "withdrawable": bool(nxt) and not run.parked and not multi_child
                    and inst.status == "running"}


def last_people(session: Session, instance_id: int, node_id: str) -> dict[str | None, int]:
    """Who did ``node_id`` last, per multi key (``None`` for a single task)."""
    rows = session.execute(select(FlowTask.multi_key, FlowTask.completed_by).where(
        FlowTask.instance_id == instance_id, FlowTask.node_id == node_id, FlowTask.kind == "node",
        FlowTask.status == "done", FlowTask.completed_by.is_not(None)).order_by(FlowTask.id)).all()
    out: dict[str | None, int] = {}
    for key, who in rows:
        out[key] = who
    return out


def claim(session: Session, ctx: Any, actor: Actor | None, task_id: int, *, version: int | None = None) -> FlowTask:
    """Take an unassigned task one is a candidate of (签收)."""
    run = Run(session, ctx, actor)
    task = live_task(session, task_id, version)
    inst = running(session, task)
    if task.assignee_id is not None:
        if task.assignee_id == run.actor.id:
            return task
        raise Conflict("该任务已被他人签收", "someone else has claimed the task", code="already_claimed")
    if run.actor.id is None or not is_candidate(session, task.id, run.actor.id):
        raise Forbidden("您不是该任务的候选办理人", "you are not a candidate for this task", code="not_candidate")
    task.assignee_id = run.actor.id
    task.claimed_at = run.now
    run.touch(inst)
    flush(session)
    run.history(inst, "claim", task=task)
    run.audit("flow.task.claim", inst, f"签收任务 {task.id}", after={"task_id": task.id})
    run.emit("task.claimed", inst, task, assignee_id=task.assignee_id)
    flush(session)
    return task


def unclaim(session: Session, ctx: Any, actor: Actor | None, task_id: int, *, version: int | None = None) -> FlowTask:
    """Give a claimed task back to its candidates."""
    run = Run(session, ctx, actor)
    task = live_task(session, task_id, version)
    inst = running(session, task)
    if task.assignee_id != run.actor.id or task.claimed_at is None or not candidates_of(session, task.id):
        raise Forbidden("只能退回自己签收的任务", "you can only give back a task you claimed", code="not_claimer")
    task.assignee_id = None
    task.claimed_at = None
    run.touch(inst)
    flush(session)
    run.history(inst, "unclaim", task=task)
    run.audit("flow.task.unclaim", inst, f"退回签收任务 {task.id}", after={"task_id": task.id})
    run.emit("task.unclaimed", inst, task)
    flush(session)
    return task


def available_actions(session: Session, ctx: Any, task: FlowTask, person_id: int | None) -> dict[str, Any]:
    """What the person may do on the task now, for buttons: ``actions``
    (``action``, ``label``, ``comment_required``, ``rework``, ``to``),
    ``operations`` (names of the special operations allowed), ``claim``/``unclaim``."""
    out: dict[str, Any] = {"actions": [], "operations": [], "claim": False, "unclaim": False}
    inst = session.get(FlowInstance, task.instance_id)
    if inst is None:
        return out
    run = Run(session, ctx, Actor(person_id, ""))
    if inst.status == "suspended" and task.status == "suspended":
        out["operations"] = ["resume"] if _ops().may_resume(session, inst, person_id) else []
        return out
    if inst.status != "running" or task.status != "open":
        if _ops().can_withdraw(session, task, person_id):
            out["operations"] = ["withdraw"]
        return out
    mine = may_act(session, task, person_id)
    if task.assignee_id is None and mine and task.claim:
        out["claim"] = True
        return out
    if task.claimed_at is not None and task.assignee_id == person_id and candidates_of(session, task.id):
        out["unclaim"] = True
    if not mine:
        return out
    if task.kind == "approval":
        out["actions"] = [{"action": "approve", "label": "同意", "comment_required": False, "rework": False, "to": None},
                          {"action": "reject", "label": "不同意", "comment_required": True, "rework": False, "to": None}]
        return out
    d = run.defn(inst)
    env = run.env(inst)
    for t in transitions_for(run, inst, task):
        env["action"] = t["action"]
        try:
            ok = _condition(run, inst, d, t, env)
        except ValidationFailed:
            ok = False
        if ok:
            out["actions"].append({"action": t["action"], "label": d.label(t, ctx.deployment.locale if ctx else "zh-CN"),
                                   "comment_required": bool(t.get("comment_required")),
                                   "rework": bool(t.get("rework")), "to": t["to"]})
    ops = d.nodes[task.node_id].get("operations") or {}
    out["operations"] = [op for op in ops if op != "withdraw"]
    return out


# --------------------------------------------------------------------------- version migration

def migrate_instances(session: Session, ctx: Any, actor: Actor | None, flow_id: str, *, from_version: int,
                      to_version: int, node_map: Mapping[str, str] | None = None,
                      instance_ids: list[int] | None = None, dry_run: bool = False) -> list[int]:
    """Move running (and suspended) instances of ``flow_id`` from one
    definition version to another, explicitly: every node where a token or a
    live task stands maps to a node of the same type in the target version
    (``node_map`` old id -> new id; unmapped ids stay the same). Refuses the
    whole batch, changing nothing, when any instance cannot move. Timer
    transitions are re-planned from the target version. Returns the ids moved
    (with ``dry_run`` only checks)."""
    run = Run(session, ctx, actor)
    target, _ = definition(session, flow_id, to_version)
    source, _ = definition(session, flow_id, from_version)
    node_map = dict(node_map or {})
    stmt = select(FlowInstance).where(FlowInstance.flow_id == flow_id, FlowInstance.def_version == from_version,
                                      FlowInstance.status.in_(("running", "suspended")))
    if instance_ids is not None:
        stmt = stmt.where(FlowInstance.id.in_(list(instance_ids)))
    insts = list(session.scalars(stmt.order_by(FlowInstance.id)))
    problems: dict[str, Any] = {}
    plan: list[tuple[FlowInstance, list[FlowToken], list[FlowTask]]] = []
    for inst in insts:
        tokens = list(session.scalars(select(FlowToken).where(FlowToken.instance_id == inst.id,
                                                              FlowToken.status.in_(("active", "waiting")))))
        tasks = list(session.scalars(select(FlowTask).where(FlowTask.instance_id == inst.id,
                                                            FlowTask.status.in_(LIVE_TASK))))
        for old in {t.node_id for t in tokens} | {t.node_id for t in tasks}:
            new = node_map.get(old, old)
            old_type = source.nodes.get(old, {}).get("type")
            new_node = target.nodes.get(new)
            if new_node is None:
                problems[f"{inst.id}.{old}"] = {"message": f"实例 {inst.id} 的节点 {old} 在版本 {to_version} 中不存在（{new}）",
                                                "message_en": f"instance {inst.id}: node {old} maps to {new}, "
                                                              f"missing in version {to_version}"}
            elif new_node["type"] != old_type or bool(new_node.get("multi")) != bool(source.nodes[old].get("multi")):
                problems[f"{inst.id}.{old}"] = {"message": f"实例 {inst.id} 的节点 {old} 与 {new} 类型不同",
                                                "message_en": f"instance {inst.id}: node {old} and {new} differ in type"}
        plan.append((inst, tokens, tasks))
    if problems:
        raise ValidationFailed("有运行中的实例无法迁移到新版本，未做任何修改",
                               "some running instances cannot move to the new version; nothing was changed",
                               code="migration_refused", fields=problems)
    if dry_run:
        return [inst.id for inst, _, _ in plan]
    for inst, tokens, tasks in plan:
        for tok in tokens:
            tok.node_id = node_map.get(tok.node_id, tok.node_id)
        for t in tasks:
            t.node_id = node_map.get(t.node_id, t.node_id)
        inst.def_version = to_version
        run.touch(inst)
        flush(session)
        for t in tasks:
            if t.kind != "node":
                continue
            drain(session)
            session.execute(update(FlowTimer).where(FlowTimer.task_id == t.id, FlowTimer.kind == "transition",
                                                    FlowTimer.fired_at.is_(None))
                            .values(cancelled=True).execution_options(synchronize_session=False))
            for k, tr in enumerate(target.outgoing(t.node_id)):
                if "timer" in tr:
                    amount = _amount(run, inst, target, tr["timer"])
                    if amount is not None:
                        fire = clock.deadline(session, target.calendar, t.created_at, amount, tr["timer"]["unit"])
                        session.add(FlowTimer(instance_id=inst.id, task_id=t.id, kind="transition", fire_at=fire,
                                              unit=tr["timer"]["unit"], cancelled=inst.status == "suspended",
                                              data={"to": tr["to"], "index": k,
                                                    **({"paused": True} if inst.status == "suspended" else {})}))
        run.history(inst, "migrate", data={"from": from_version, "to": to_version, "node_map": node_map})
        run.audit("flow.migrate", inst, f"流程实例 {inst.id} 由 v{from_version} 迁移到 v{to_version}",
                  after={"from": from_version, "to": to_version, "node_map": node_map})
        run.emit("instance.migrated", inst, from_version=from_version, to_version=to_version)
    flush(session)
    return [inst.id for inst, _, _ in plan]
