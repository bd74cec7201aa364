"""Special operations (特殊操作) of the case loop, each one step (one transaction):

* 回退 :func:`request_return` — back to an earlier task node, with a reason;
* 延期 :func:`request_extension` — an approver sets the new deadline;
* 挂账 :func:`suspend` / :func:`resume` — the clock stops, then goes on;
* 作废 :func:`void` — the instance ends as voided;
* 转办 :func:`reassign` — the task goes to another person or department;
* 督办/催办 :func:`urge` — notify the assignee and record it;
* 撤回 :func:`withdraw` — the previous actor takes a step back before the next person acted;
* 返工 is a transition with ``"rework": true`` (see :func:`ccms.flows.engine.act`).

An operation must be listed in the node's ``operations``. When its settings
name an ``approval`` rule, the request creates an approval task
(``kind="approval"``) and the operation happens when it is approved
(``act(..., "approve")``); meanwhile the task is *held* (return, suspend,
void, reassign) or stays open (extend). Everything records who, when and why.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ..audit import Actor
from ..errors import Conflict, Forbidden, ValidationFailed
from ..models import Org, Person
from . import clock, engine
from .engine import Run, drain, flush
from .models import (
    LIVE_TASK,
    FlowHistory,
    FlowInstance,
    FlowTask,
    FlowTaskCandidate,
    FlowTimer,
    FlowToken,
)

OP_NAMES = {"return": ("回退", "return"), "extend": ("延期", "extension"), "suspend": ("挂账", "suspension"),
            "void": ("作废", "void"), "reassign": ("转办", "reassignment"), "withdraw": ("撤回", "withdrawal"),
            "urge": ("督办", "urging")}


@dataclass
class OpResult:
    """What an operation did: ``applied`` False means it waits for the approval task."""

    op: str
    applied: bool
    instance_id: int
    task_id: int | None = None  # the task the operation created (回退, 撤回) or changed
    approval_task_id: int | None = None


def _op_not_allowed(op: str, where: str) -> ValidationFailed:
    zh_op, en_op = OP_NAMES.get(op, (op, op))
    zh, en = f"节点“{where}”不允许{zh_op}", f"{en_op} is not allowed at node {where}"
    return ValidationFailed(zh, en, code="operation_not_allowed", fields={"op": {"message": zh, "message_en": en}})


def _need_reason(reason: str, op: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        zh_op, en_op = OP_NAMES.get(op, (op, op))
        raise ValidationFailed(f"请填写{zh_op}原因", f"a reason is required for the {en_op}", code="reason_required",
                               fields={"reason": {"message": "请填写原因", "message_en": "a reason is required"}})
    return reason[:2000]


def _subject(run: Run, task_id: int, op: str, version: int | None) -> tuple[FlowInstance, FlowTask, dict[str, Any]]:
    """The node task an operation is asked on: open, the actor may act on it,
    the node allows the operation. Returns (instance, task, operation settings)."""
    task = engine.live_task(run.session, task_id, version)
    inst = engine.running(run.session, task)
    if task.kind != "node":
        raise _op_not_allowed(op, task.title)
    engine.authorize(run, task, apply=False)
    d = run.defn(inst)
    ops = d.nodes[task.node_id].get("operations") or {}
    if op not in ops:
        raise _op_not_allowed(op, d.node_title(task.node_id))
    return inst, task, dict(ops[op] or {})


def _pending_approval(session: Session, task: FlowTask) -> FlowTask | None:
    return session.scalar(select(FlowTask).where(FlowTask.subject_task_id == task.id,
                                                 FlowTask.status.in_(LIVE_TASK)).limit(1))


def _request(run: Run, inst: FlowInstance, task: FlowTask, op: str, conf: Mapping[str, Any],
             op_data: dict[str, Any], reason: str, *, hold: bool) -> OpResult | None:
    """Ask for approval when the operation's settings name an approver; None: apply now."""
    rule = conf.get("approval")
    engine.authorize(run, task)
    run.touch(inst)
    if not rule:
        flush(run.session)
        return None
    if _pending_approval(run.session, task) is not None:
        raise Conflict("该任务已有待审批的申请", "the task already has a request waiting for approval",
                       code="approval_pending")
    if hold:
        task.status = "held"
    flush(run.session)
    token = run.session.get(FlowToken, task.token_id) if task.token_id else None
    zh_op = OP_NAMES[op][0]
    a = engine.assign(run, inst, rule, token=token, where=f"{zh_op}审批：")
    ap = engine.make_task(run, inst, None, task.node_id, a.people, kind="approval", op=op,
                          op_data={**op_data, "reason": reason, "requested_by": run.actor.id},
                          subject_task_id=task.id, title=f"{zh_op}审批：{task.title}")
    run.history(inst, "op_requested", task=task, action=op, comment=reason, data={"approval_task_id": ap.id, **op_data})
    run.audit(f"flow.{op}.request", inst, f"申请{zh_op}：任务 {task.id}", after={"task_id": task.id, **op_data})
    run.emit("operation.requested", inst, task, op=op, approval_task_id=ap.id, reason=reason, **op_data)
    flush(run.session)
    return OpResult(op, False, inst.id, task.id, ap.id)


def _guard(fn: Any) -> Any:
    """Lost optimistic-lock races become 409 Conflict."""
    def wrapper(*args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except StaleDataError:
            raise engine.stale() from None
    wrapper.__name__, wrapper.__doc__, wrapper.__wrapped__ = fn.__name__, fn.__doc__, fn  # type: ignore[attr-defined]
    return wrapper


# --------------------------------------------------------------------------- 回退 return

@_guard
def request_return(session: Session, ctx: Any, actor: Actor | None, task_id: int, to_node: str, reason: str, *,
                   version: int | None = None) -> OpResult:
    """回退: send the case back to an earlier task node (one of ``operations.return.to``)."""
    run = Run(session, ctx, actor)
    inst, task, conf = _subject(run, task_id, "return", version)
    reason = _need_reason(reason, "return")
    if to_node not in (conf.get("to") or []):
        zh, en = f"不能回退到节点 {to_node}", f"cannot return to node {to_node}"
        raise ValidationFailed(zh, en, code="bad_return_target", fields={"to": {"message": zh, "message_en": en}})
    pending = _request(run, inst, task, "return", conf, {"to": to_node}, reason, hold=True)
    if pending is not None:
        return pending
    new = _do_return(run, inst, task, to_node, reason)
    flush(session)
    return OpResult("return", True, inst.id, new.id if new else None)


def _do_return(run: Run, inst: FlowInstance, task: FlowTask, to_node: str, reason: str) -> FlowTask | None:
    """The whole case goes back: every other live task and token of the
    instance (parallel branches, other 协同 departments) closes too, and one
    token restarts at ``to_node`` with whoever did it last."""
    s = run.session
    engine.close_task(run, task, "cancelled")
    for t in s.scalars(select(FlowTask).where(FlowTask.instance_id == inst.id, FlowTask.kind == "node",
                                              FlowTask.status.in_(LIVE_TASK))):
        engine.close_task(run, t, "cancelled")
    token = s.get(FlowToken, task.token_id)
    while token.parent_id is not None:
        token = s.get(FlowToken, token.parent_id)
    for other in s.scalars(select(FlowToken).where(FlowToken.instance_id == inst.id, FlowToken.id != token.id,
                                                   FlowToken.status != "done")):
        other.status = "done"
    inst.return_count = (inst.return_count or 0) + 1
    run.history(inst, "return", task=task, to_node=to_node, comment=reason)
    run.audit("flow.return", inst, f"回退：任务 {task.id} 退回到 {to_node}", after={"task_id": task.id, "to": to_node})
    run.emit("instance.returned", inst, task, to_node=to_node, reason=reason)
    token.last_actor_id = run.actor.id
    run.created = []
    engine.enter(run, inst, token, to_node, people=engine.last_people(s, inst.id, to_node))
    return run.created[0] if run.created else None


# --------------------------------------------------------------------------- 延期 extend

@_guard
def request_extension(session: Session, ctx: Any, actor: Actor | None, task_id: int, reason: str, *,
                      amount: float | None = None, unit: str | None = None,
                      version: int | None = None) -> OpResult:
    """延期: ask for more time; the approver (``operations.extend.approval``) sets the new deadline."""
    run = Run(session, ctx, actor)
    inst, task, conf = _subject(run, task_id, "extend", version)
    reason = _need_reason(reason, "extend")
    if task.due_at is None and amount is None:
        raise ValidationFailed("该任务没有时限，无需延期", "the task has no time limit to extend", code="no_deadline")
    if amount is not None:
        clock._check(amount, unit or task.limit_unit or "work_days")
    max_times = conf.get("max_times")
    if max_times:
        drain(session)
        done = session.scalar(select(FlowHistory.id).where(
            FlowHistory.instance_id == inst.id, FlowHistory.kind == "extend", FlowHistory.node_id == task.node_id)
            .order_by(FlowHistory.id.desc()).offset(int(max_times) - 1).limit(1))
        if done is not None:
            raise ValidationFailed(f"该环节最多延期 {max_times} 次", f"at most {max_times} extensions at this step",
                                   code="extend_limit")
    conf = {**conf, "approval": conf.get("approval")}
    res = _request(run, inst, task, "extend", conf, {"amount": amount, "unit": unit or task.limit_unit}, reason,
                   hold=False)
    if res is None:  # the meta-schema requires an approver; be safe anyway
        _do_extend(run, inst, task, {"amount": amount, "unit": unit or task.limit_unit}, {}, reason)
        flush(session)
        return OpResult("extend", True, inst.id, task.id)
    return res


def _parse_when(value: Any) -> dt.datetime:
    try:
        when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed("新时限格式无效", "the new deadline is not a valid date and time", code="bad_due_at",
                               fields={"due_at": {"message": "时间格式无效", "message_en": "invalid date and time"}}) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _reschedule_deadline(run: Run, inst: FlowInstance, task: FlowTask) -> None:
    drain(run.session)
    run.session.execute(update(FlowTimer).where(FlowTimer.task_id == task.id, FlowTimer.fired_at.is_(None),
                                                FlowTimer.kind.in_(("warn", "due")))
                        .values(cancelled=True).execution_options(synchronize_session=False))
    for kind, when in (("warn", task.warn_at), ("due", task.due_at)):
        if when is not None:
            run.session.add(FlowTimer(instance_id=inst.id, task_id=task.id, kind=kind, fire_at=when,
                                      unit=task.limit_unit))


def _do_extend(run: Run, inst: FlowInstance, task: FlowTask, op_data: Mapping[str, Any],
               decision: Mapping[str, Any], reason: str) -> None:
    s = run.session
    old_due, old_warn = task.due_at, task.warn_at
    if decision.get("due_at"):
        new_due = _parse_when(decision["due_at"])
    else:
        amount = decision.get("amount", op_data.get("amount"))
        unit = decision.get("unit") or op_data.get("unit") or task.limit_unit or "work_days"
        if amount is None:
            amount = task.limit_amount
        if amount is None:
            raise ValidationFailed("请给出延期的时长或新时限", "give the extension amount or the new deadline",
                                   code="extend_amount")
        new_due = clock.deadline(s, task.calendar_id, max(old_due or run.now, run.now), amount, unit)
    if new_due <= run.now or (old_due is not None and new_due <= old_due):
        raise ValidationFailed("新时限必须晚于原时限和当前时间", "the new deadline must be later than the old one and now",
                               code="bad_due_at",
                               fields={"due_at": {"message": "新时限必须更晚", "message_en": "must be later"}})
    lead = (old_due - old_warn) if old_due is not None and old_warn is not None else None
    task.due_at = new_due
    task.warn_at = max(new_due - lead, run.now) if lead is not None else None
    task.overdue_at = None
    if task.warn_at is None or task.warn_at > run.now:
        task.warned_at = None
    _reschedule_deadline(run, inst, task)
    inst.extend_count = (inst.extend_count or 0) + 1
    run.history(inst, "extend", task=task, comment=reason,
                data={"old_due_at": old_due, "new_due_at": new_due})
    run.audit("flow.extend", inst, f"延期：任务 {task.id} 新时限 {new_due.isoformat()}",
              after={"task_id": task.id, "due_at": new_due})
    run.emit("task.extended", inst, task, old_due_at=old_due, due_at=new_due)


# --------------------------------------------------------------------------- 挂账 suspend / resume

@_guard
def suspend(session: Session, ctx: Any, actor: Actor | None, task_id: int, reason: str, *,
            version: int | None = None) -> OpResult:
    """挂账: stop the case's clock (every open task of the instance waits) until :func:`resume`."""
    run = Run(session, ctx, actor)
    inst, task, conf = _subject(run, task_id, "suspend", version)
    reason = _need_reason(reason, "suspend")
    other = session.scalar(select(FlowTask.id).where(FlowTask.instance_id == inst.id, FlowTask.kind == "approval",
                                                     FlowTask.status.in_(LIVE_TASK)).limit(1))
    if other is not None:
        raise Conflict("该案件有待审批的申请，不能挂账", "the case has a request waiting for approval",
                       code="approval_pending")
    pending = _request(run, inst, task, "suspend", conf, {}, reason, hold=True)
    if pending is not None:
        return pending
    _do_suspend(run, inst, task, reason)
    flush(session)
    return OpResult("suspend", True, inst.id, task.id)


def _do_suspend(run: Run, inst: FlowInstance, task: FlowTask, reason: str) -> None:
    s = run.session
    for t in s.scalars(select(FlowTask).where(FlowTask.instance_id == inst.id, FlowTask.kind == "node",
                                              FlowTask.status.in_(("open", "held")))):
        t.status = "suspended"
    drain(s)
    for tm in s.scalars(select(FlowTimer).where(FlowTimer.instance_id == inst.id, FlowTimer.fired_at.is_(None),
                                                FlowTimer.cancelled.is_(False))):
        tm.cancelled = True  # paused: the worker does not see it; resume shifts and restores it
        tm.data = {**(tm.data or {}), "paused": True}
    inst.status = "suspended"
    inst.suspended_at = run.now
    inst.suspend_count = (inst.suspend_count or 0) + 1
    run.history(inst, "suspend", task=task, comment=reason)
    run.audit("flow.suspend", inst, f"挂账：实例 {inst.id}", after={"task_id": task.id, "reason": reason})
    run.emit("instance.suspended", inst, task, reason=reason)


def may_resume(session: Session, inst: FlowInstance, person_id: int | None) -> bool:
    """Who may resume: whoever suspended it, or an assignee/candidate of a suspended task."""
    if person_id is None or inst.status != "suspended":
        return False
    drain(session)
    who = session.scalar(select(FlowHistory.actor_id).where(FlowHistory.instance_id == inst.id,
                                                            FlowHistory.kind == "suspend")
                         .order_by(FlowHistory.id.desc()).limit(1))
    if who == person_id:
        return True
    tasks = list(session.scalars(select(FlowTask).where(FlowTask.instance_id == inst.id,
                                                        FlowTask.status == "suspended")))
    return any(t.assignee_id == person_id or (t.assignee_id is None and engine.is_candidate(session, t.id, person_id))
               for t in tasks)


@_guard
def resume(session: Session, ctx: Any, actor: Actor | None, instance_id: int, comment: str = "", *,
           version: int | None = None) -> OpResult:
    """End a 挂账: deadlines and timers move on by the (working) time the case was suspended."""
    run = Run(session, ctx, actor)
    inst = engine.get_instance(session, instance_id)
    engine.check_version(inst, version)
    if inst.status != "suspended":
        raise Conflict("该案件没有挂账", "the case is not suspended", code="not_suspended")
    if not may_resume(session, inst, run.actor.id):
        raise Forbidden("只有挂账人或办理人可以恢复", "only whoever suspended it or its assignee may resume it",
                        code="not_allowed_to_resume")
    paused = inst.suspended_at or run.now
    for t in session.scalars(select(FlowTask).where(FlowTask.instance_id == inst.id, FlowTask.status == "suspended")):
        t.status = "open"
        t.due_at = clock.shift(session, t.calendar_id, t.due_at, paused, run.now, t.limit_unit)
        t.warn_at = clock.shift(session, t.calendar_id, t.warn_at, paused, run.now, t.limit_unit)
    cal = run.defn(inst).calendar
    drain(session)
    for tm in session.scalars(select(FlowTimer).where(FlowTimer.instance_id == inst.id, FlowTimer.fired_at.is_(None),
                                                      FlowTimer.cancelled.is_(True))):
        if not (tm.data or {}).get("paused"):
            continue
        tm.cancelled = False
        tm.data = {k: v for k, v in (tm.data or {}).items() if k != "paused"} or None
        if tm.kind in ("warn", "due") and tm.task_id is not None:
            t = session.get(FlowTask, tm.task_id)
            tm.fire_at = (t.warn_at if tm.kind == "warn" else t.due_at) or tm.fire_at
        else:
            tm.fire_at = clock.shift(session, cal, tm.fire_at, paused, run.now, tm.unit) or tm.fire_at
    seconds = max((run.now - paused).total_seconds(), 0.0)
    inst.suspended_seconds = (inst.suspended_seconds or 0) + seconds
    inst.suspended_at = None
    inst.status = "running"
    run.touch(inst)
    comment = (comment or "").strip()
    run.history(inst, "resume", comment=comment, data={"suspended_seconds": seconds})
    run.audit("flow.resume", inst, f"恢复挂账：实例 {inst.id}", after={"suspended_seconds": seconds})
    run.emit("instance.resumed", inst, suspended_seconds=seconds)
    flush(session)
    return OpResult("resume", True, inst.id)


# --------------------------------------------------------------------------- 作废 void

@_guard
def void(session: Session, ctx: Any, actor: Actor | None, task_id: int, reason: str, *,
         version: int | None = None) -> OpResult:
    """作废: end the instance with outcome ``operations.void.outcome`` (default ``voided``)."""
    run = Run(session, ctx, actor)
    inst, task, conf = _subject(run, task_id, "void", version)
    reason = _need_reason(reason, "void")
    outcome = conf.get("outcome") or "voided"
    pending = _request(run, inst, task, "void", conf, {"outcome": outcome}, reason, hold=True)
    if pending is not None:
        return pending
    _do_void(run, inst, task, outcome, reason)
    flush(session)
    return OpResult("void", True, inst.id, task.id)


def _do_void(run: Run, inst: FlowInstance, task: FlowTask, outcome: str, reason: str) -> None:
    run.history(inst, "void", task=task, action=outcome, comment=reason)
    engine.end_instance(run, inst, outcome, node_id=task.node_id, comment=reason)


# --------------------------------------------------------------------------- 转办 reassign

@_guard
def reassign(session: Session, ctx: Any, actor: Actor | None, task_id: int, reason: str, *,
             to_person: int | None = None, to_org: int | None = None, version: int | None = None) -> OpResult:
    """转办: hand the task to another person (``to_person``) or department (``to_org``: its people become candidates)."""
    run = Run(session, ctx, actor)
    inst, task, conf = _subject(run, task_id, "reassign", version)
    reason = _need_reason(reason, "reassign")
    target = _reassign_target(session, to_person, to_org)
    pending = _request(run, inst, task, "reassign", conf, {"to_person": to_person, "to_org": to_org}, reason,
                       hold=True)
    if pending is not None:
        return pending
    _do_reassign(run, inst, task, target, reason)
    flush(session)
    return OpResult("reassign", True, inst.id, task.id)


def _reassign_target(session: Session, to_person: Any, to_org: Any) -> tuple[list[int], int | None]:
    """Who gets the task: one active person, or the active people of one active department."""
    if (to_person is None) == (to_org is None):
        zh, en = (("请只选择一个人或一个部门", "choose a person or a department, not both") if to_person is not None
                  else ("请选择转办给一个人或一个部门", "choose one person or one department to hand over to"))
        raise ValidationFailed(zh, en, code="bad_reassign_target",
                               fields={"to_person": {"message": zh, "message_en": en},
                                       "to_org": {"message": zh, "message_en": en}})
    if to_person is not None:
        ok = not isinstance(to_person, bool) and isinstance(to_person, int) and session.scalar(
            select(Person.id).where(Person.id == to_person, Person.active.is_(True)))
        if not ok:
            raise ValidationFailed("转办对象不存在或已停用", "the person does not exist or is inactive",
                                   code="bad_reassign_target",
                                   fields={"to_person": {"message": "人员不存在或已停用",
                                                         "message_en": "no such person, or inactive"}})
        return [int(to_person)], None
    org = None if isinstance(to_org, bool) or not isinstance(to_org, int) else session.get(Org, to_org)
    if org is None or not org.active:
        raise ValidationFailed("转办部门不存在或已停用", "the department does not exist or is inactive",
                               code="bad_reassign_target",
                               fields={"to_org": {"message": "部门不存在或已停用",
                                                  "message_en": "no such department, or inactive"}})
    people = list(session.scalars(select(Person.id).where(Person.org_id == to_org, Person.active.is_(True))
                                  .order_by(Person.id)))
    if not people:
        raise ValidationFailed("该部门没有可办理的人员", "the department has nobody to take the task",
                               code="no_assignee", fields={"to_org": {"message": "该部门没有在职人员",
                                                                      "message_en": "nobody active there"}})
    return people, to_org


def _do_reassign(run: Run, inst: FlowInstance, task: FlowTask, target: tuple[list[int], int | None],
                 reason: str) -> None:
    s = run.session
    people, org = target
    before = task.assignee_id
    s.execute(FlowTaskCandidate.__table__.delete().where(FlowTaskCandidate.task_id == task.id))
    task.status = "open"
    task.claimed_at = None
    if org is None:
        task.assignee_id = people[0]
    else:
        task.assignee_id = None
        task.org_id = org
        s.add_all(FlowTaskCandidate(task_id=task.id, person_id=p) for p in people)
    inst.reassign_count = (inst.reassign_count or 0) + 1
    run.history(inst, "reassign", task=task, comment=reason,
                data={"from": before, "to_person": task.assignee_id, "to_org": org})
    run.audit("flow.reassign", inst, f"转办：任务 {task.id}", after={"task_id": task.id, "to_person": task.assignee_id,
                                                                    "to_org": org})
    run.emit("task.reassigned", inst, task, assignee_id=task.assignee_id, candidates=people[:200] if org else [],
             org_id=org, reason=reason)


# --------------------------------------------------------------------------- 督办 urge

@_guard
def urge(session: Session, ctx: Any, actor: Actor | None, task_id: int, comment: str = "") -> OpResult:
    """督办/催办: record it and notify the task's assignee (or candidates) through the outbox.
    Does not change the task's version, so the handler's open form stays valid."""
    run = Run(session, ctx, actor)
    task = engine.get_task(session, task_id)
    if task.status not in ("open", "held") or task.kind != "node":
        raise engine.conflict_closed(task)
    inst = engine.running(session, task)
    d = run.defn(inst)
    ops = d.nodes[task.node_id].get("operations") or {}
    if "urge" not in ops:
        raise _op_not_allowed("urge", d.node_title(task.node_id))
    role = (ops.get("urge") or {}).get("role")
    if role and (run.actor.id is None or role not in {r for r, _ in ctx.authz.grants_of(run.actor.id)}):
        raise Forbidden("您没有督办该任务的角色", "you do not hold the role that may urge this task", code="urge_forbidden")
    session.execute(update(FlowTask).where(FlowTask.id == task.id).values(urge_count=FlowTask.urge_count + 1)
                    .execution_options(synchronize_session=False))
    session.execute(update(FlowInstance).where(FlowInstance.id == inst.id)
                    .values(urge_count=FlowInstance.urge_count + 1).execution_options(synchronize_session=False))
    recipients = [task.assignee_id] if task.assignee_id else engine.candidates_of(session, task.id)
    comment = (comment or "").strip()[:2000]
    run.history(inst, "urge", task=task, comment=comment, data={"recipients": recipients[:200]})
    run.audit("flow.urge", inst, f"督办：任务 {task.id}", after={"task_id": task.id})
    run.emit("task.urged", inst, task, recipients=recipients[:200], comment=comment)
    flush(session)
    session.expire(task, ["urge_count"])
    session.expire(inst, ["urge_count"])
    return OpResult("urge", True, inst.id, task.id)


# --------------------------------------------------------------------------- 撤回 withdraw

@_guard
def withdraw(session: Session, ctx: Any, actor: Actor | None, task_id: int, reason: str = "") -> OpResult:
    """撤回: the person who completed ``task_id`` takes the step back, as long
    as nobody has acted on the tasks it created; the task comes back to them."""
    run = Run(session, ctx, actor)
    done = engine.get_task(session, task_id)
    if done.kind != "node" or done.status != "done" or done.completed_by is None \
            or done.completed_by != run.actor.id:
        raise Forbidden("只能撤回自己办结的任务", "you can only withdraw a task you completed", code="not_completer")
    inst = engine.running(session, done)
    d = run.defn(inst)
    if "withdraw" not in (d.nodes[done.node_id].get("operations") or {}):
        raise _op_not_allowed("withdraw", d.node_title(done.node_id))
    info = done.op_data or {}
    nxt = _untouched_next(session, done)
    if nxt is None:
        raise Conflict("下一环节已办理，不能撤回", "the next step has already been acted on: it cannot be withdrawn",
                       code="cannot_withdraw")
    for t in nxt:
        engine.close_task(run, t, "withdrawn")
        tok = session.get(FlowToken, t.token_id) if t.token_id else None
        while tok is not None:  # a multi element's parent token goes too
            tok.status = "done"
            tok = session.get(FlowToken, tok.parent_id) if tok.parent_id else None
    token = session.get(FlowToken, done.token_id)
    token.status = "active"
    token.node_id = done.node_id
    done.status = "withdrawn"
    done.op_data = {**info, "withdrawable": False}
    run.touch(inst)
    flush(session)
    run.created = []
    again = engine.make_task(run, inst, token, done.node_id, [run.actor.id], limit=None, org_id=done.org_id)
    if done.due_at is not None:  # the original deadline stands
        again.due_at, again.warn_at = done.due_at, done.warn_at
        again.limit_amount, again.limit_unit, again.calendar_id = done.limit_amount, done.limit_unit, done.calendar_id
        _reschedule_deadline(run, inst, again)
    reason = (reason or "").strip()[:2000]
    run.history(inst, "withdraw", task=done, comment=reason, data={"cancelled": [t.id for t in nxt],
                                                                   "task_id": again.id})
    run.audit("flow.withdraw", inst, f"撤回：任务 {done.id}", after={"task_id": done.id, "new_task_id": again.id})
    run.emit("task.withdrawn", inst, done, new_task_id=again.id, cancelled=[t.id for t in nxt], reason=reason)
    flush(session)
    return OpResult("withdraw", True, inst.id, again.id)


def _untouched_next(session: Session, done: FlowTask) -> list[FlowTask] | None:
    """The tasks ``done``'s completion created, when nobody has touched them yet; else None."""
    info = done.op_data or {}
    nxt = [session.get(FlowTask, i) for i in info.get("next", [])]
    if not info.get("withdrawable") or not nxt or any(
            t is None or t.status != "open" or t.claimed_at is not None for t in nxt):
        return None
    return nxt  # type: ignore[return-value]


def can_withdraw(session: Session, done: FlowTask, person_id: int | None) -> bool:
    """Whether :func:`withdraw` would accept it now (for the 撤回 button)."""
    if done.kind != "node" or done.status != "done" or person_id is None or done.completed_by != person_id:
        return False
    inst = session.get(FlowInstance, done.instance_id)
    if inst is None or inst.status != "running":
        return False
    d = engine.definition(session, inst.flow_id, inst.def_version)[0]
    if "withdraw" not in (d.nodes[done.node_id].get("operations") or {}):
        return False
    return _untouched_next(session, done) is not None


# --------------------------------------------------------------------------- approvals

def decide(run: Run, inst: FlowInstance, ap: FlowTask, action: str, *, comment: str = "",
           data: Mapping[str, Any] | None = None, version: int | None = None) -> FlowTask:
    """Approve or reject an operation's approval task (``act(..., "approve" | "reject")``).
    For an extension the approver may set ``data={"due_at": ...}`` or ``{"amount": .., "unit": ..}``."""
    if action not in ("approve", "reject"):
        raise engine.not_allowed(action, ap.title)
    comment = (comment or "").strip()
    if action == "reject" and not comment:
        raise ValidationFailed("请填写不同意的理由", "a reason is required to reject", code="comment_required",
                               fields={"comment": {"message": "请填写理由", "message_en": "a reason is required"}})
    engine.authorize(run, ap, apply=False)
    s = run.session
    subject = engine.get_task(s, ap.subject_task_id)
    if subject.status not in LIVE_TASK:
        raise engine.conflict_closed(subject)
    op_data = dict(ap.op_data or {})
    reason = op_data.get("reason", "")
    engine.authorize(run, ap)
    ap.action = action
    ap.comment = comment[:10000]
    engine.close_task(run, ap, "done")
    run.touch(inst)
    flush(s)
    zh_op, _ = OP_NAMES.get(ap.op or "", (ap.op, ap.op))
    run.history(inst, "op_approved" if action == "approve" else "op_rejected", task=ap, node_id=subject.node_id,
                action=ap.op, comment=comment, data={"subject_task_id": subject.id})
    run.audit(f"flow.{ap.op}.{action}", inst, f"{zh_op}审批：{'同意' if action == 'approve' else '不同意'}",
              after={"approval_task_id": ap.id, "task_id": subject.id})
    run.emit("operation.decided", inst, ap, op=ap.op, decision=action, subject_task_id=subject.id, comment=comment)
    if action == "reject":
        if subject.status == "held":
            subject.status = "open"
        flush(s)
        return ap
    requester = s.get(Person, op_data.get("requested_by")) if op_data.get("requested_by") else None
    if requester is not None:  # the operation is the requester's, approved by the approver
        run.actor = Actor(requester.id, requester.username, run.actor.client_ip)
    if ap.op == "return":
        _do_return(run, inst, subject, op_data["to"], reason)
    elif ap.op == "extend":
        _do_extend(run, inst, subject, op_data, dict(data or {}), reason)
    elif ap.op == "suspend":
        _do_suspend(run, inst, subject, reason)
    elif ap.op == "void":
        _do_void(run, inst, subject, op_data.get("outcome") or "voided", reason)
    elif ap.op == "reassign":
        target = _reassign_target(s, op_data.get("to_person"), op_data.get("to_org"))
        _do_reassign(run, inst, subject, target, reason)
    flush(s)
    return ap


engine.use_operations(sys.modules[__name__])  # the engine calls decide, may_resume, can_withdraw
