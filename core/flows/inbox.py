"""Task inbox queries (待办 / 已办 / 超期 / 我发起的) for the inbox screens and API.

Every list starts from the person through an index, so it costs the same
with 10 thousand or 1 million open tasks in the database:

* 待办 ``todo``: ``(assignee_id, status, due_at)`` for tasks assigned to the
  person, plus ``(person_id, task_id)`` on candidates for unclaimed tasks;
* 超期 ``overdue``: the same assignee index, a range on ``due_at``;
* 已办 ``done``: ``(completed_by, completed_at)``;
* 我发起的 ``started_by``: ``(initiator_id, started_at)`` on instances.

The deadline colour (``level``: none / green / yellow / red) is computed in
SQL from ``warn_at`` and ``due_at`` at query time, so it is always current
and can be filtered on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from ..errors import Forbidden, ValidationFailed
from . import clock
from .models import FlowInstance, FlowTask, FlowTaskCandidate

LEVELS = ("none", "green", "yellow", "red")
MAX_PAGE_SIZE = 200
VIEW_ALL = "core.flow.view"  # see every flow instance in the orgs where it is granted
SORTS = ("due", "-due", "created", "-created", "done", "-done", "started", "-started")


@dataclass
class Filters:
    """What a list asks for; unknown keys of a mapping are refused."""

    flow_id: str = ""
    node_id: str = ""
    q: str = ""  # text in the task or instance title
    level: str = ""  # none / green / yellow / red
    kind: str = ""  # node / approval
    created_from: str = ""  # ISO 8601 date-time with offset: tasks that arrived since (工作台's 今日新增)
    page: int = 1
    page_size: int = 20
    sort: str = ""

    @classmethod
    def of(cls, value: Filters | Mapping[str, Any] | None) -> Filters:
        if value is None:
            return cls()
        if isinstance(value, Filters):
            return value
        known = {f.name for f in fields(cls)}
        bad = {k: {"message": "未知的筛选条件", "message_en": "unknown filter"} for k in value if k not in known}
        if bad:
            raise ValidationFailed("筛选条件有误", "invalid filters", code="bad_filter", fields=bad)
        out = cls(**{k: v for k, v in value.items() if v not in (None,)})
        try:
            out.page = max(1, int(out.page or 1))
            out.page_size = max(1, min(int(out.page_size or 20), MAX_PAGE_SIZE))
        except (TypeError, ValueError):
            raise ValidationFailed("页码应为数字", "page and page_size must be numbers", code="bad_filter",
                                   fields={"page": {"message": "应为数字", "message_en": "must be a number"}}) from None
        if out.level and out.level not in LEVELS:
            raise ValidationFailed("时限颜色应为 none/green/yellow/red", "level must be none, green, yellow or red",
                                   code="bad_filter", fields={"level": {"message": "无效", "message_en": "invalid"}})
        if out.created_from:
            out.created_from = str(out.created_from).strip()
            try:
                since = dt.datetime.fromisoformat(out.created_from)
            except ValueError:
                since = None
            if since is None or since.tzinfo is None:
                raise ValidationFailed("起始时间应为带时区的 ISO 8601 时间", "created_from must be an ISO 8601 "
                                       "date-time with an offset", code="bad_filter",
                                       fields={"created_from": {"message": "无效", "message_en": "invalid"}})
        if out.sort and out.sort not in SORTS:
            raise ValidationFailed("排序方式无效", "invalid sort", code="bad_filter",
                                   fields={"sort": {"message": "无效", "message_en": "invalid"}})
        return out


@dataclass
class Page:
    """One page of a list: ``items`` are plain dicts (JSON-ready but datetimes)."""

    items: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    page: int = 1
    page_size: int = 20


def _uid(user: Any) -> int:
    uid = user if isinstance(user, int) else getattr(user, "id", None)
    if uid is None:
        raise ValidationFailed("需要登录用户", "a logged-in user is needed", code="no_user")
    return int(uid)


def level_expr(now: dt.datetime) -> Any:
    """SQL deadline colour of a task at ``now``."""
    end = func.coalesce(FlowTask.completed_at, now)
    return case((FlowTask.due_at.is_(None), literal("none")), (FlowTask.due_at <= end, literal("red")),
                (and_(FlowTask.warn_at.is_not(None), FlowTask.warn_at <= end), literal("yellow")),
                else_=literal("green"))


def _level_cond(level: str, now: dt.datetime) -> Any:
    if level == "none":
        return FlowTask.due_at.is_(None)
    if level == "red":
        return FlowTask.due_at <= now
    if level == "yellow":
        return and_(FlowTask.due_at > now, FlowTask.warn_at <= now)
    return and_(FlowTask.due_at > now, or_(FlowTask.warn_at.is_(None), FlowTask.warn_at > now))


def _task_filters(stmt: Select[Any], f: Filters, now: dt.datetime) -> Select[Any]:
    if f.flow_id:
        stmt = stmt.where(FlowTask.flow_id == f.flow_id)
    if f.node_id:
        stmt = stmt.where(FlowTask.node_id == f.node_id)
    if f.kind:
        stmt = stmt.where(FlowTask.kind == f.kind)
    if f.level:
        stmt = stmt.where(_level_cond(f.level, now))
    if f.created_from:
        stmt = stmt.where(FlowTask.created_at >= dt.datetime.fromisoformat(f.created_from).astimezone(dt.timezone.utc))
    if f.q.strip():
        like = "%" + f.q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(FlowTask.title.ilike(like, escape="\\"), FlowInstance.title.ilike(like, escape="\\")))
    return stmt


def _todo_ids(uid: int, now: dt.datetime, overdue: bool = False) -> Any:
    mine = select(FlowTask.id.label("id")).where(FlowTask.assignee_id == uid,
                                                 FlowTask.status.in_(("open", "held")))
    if overdue:
        return mine.where(FlowTask.due_at <= now).subquery()
    # Drive this branch from the person's candidate rows: the task-side terms are
    # written as expressions so no planner (statistics or not) walks every
    # unassigned open task through the assignee index instead.
    claimable = (select(FlowTaskCandidate.task_id.label("id"))
                 .join(FlowTask, FlowTask.id == FlowTaskCandidate.task_id)
                 .where(FlowTaskCandidate.person_id == uid, func.coalesce(FlowTask.status, "") == "open",
                        func.coalesce(FlowTask.assignee_id, 0) == 0))
    return union_all(mine, claimable).subquery()


def _item(task: FlowTask, title: str, record_id: int | None, inst_status: str, level: str, uid: int) -> dict[str, Any]:
    return {"id": task.id, "version": task.version, "instance_id": task.instance_id, "instance_title": title,
            "record_id": record_id, "instance_status": inst_status, "flow_id": task.flow_id, "node_id": task.node_id,
            "title": task.title, "kind": task.kind, "op": task.op, "status": task.status,
            "assignee_id": task.assignee_id, "claimable": task.assignee_id is None and task.status == "open",
            "claim": task.claim, "mine": task.assignee_id == uid, "org_id": task.org_id,
            "created_at": task.created_at, "warn_at": task.warn_at, "due_at": task.due_at,
            "completed_at": task.completed_at, "action": task.action, "level": level,
            "overdue": task.due_at is not None and level == "red", "urge_count": task.urge_count,
            "rework": task.rework}


def _tasks(session: Session, base: Select[Any], f: Filters, now: dt.datetime, uid: int,
           default_sort: str) -> Page:
    stmt = _task_filters(base, f, now)
    total = session.scalar(select(func.count()).select_from(stmt.with_only_columns(FlowTask.id).subquery())) or 0
    sort = f.sort or default_sort
    col = {"due": FlowTask.due_at, "created": FlowTask.created_at, "done": FlowTask.completed_at,
           "started": FlowTask.created_at}[sort.lstrip("-")]
    order = [col.desc().nulls_last() if sort.startswith("-") else col.asc().nulls_last(),
             FlowTask.id.desc() if sort.startswith("-") else FlowTask.id.asc()]
    rows = session.execute(stmt.order_by(*order).offset((f.page - 1) * f.page_size).limit(f.page_size)).all()
    return Page([_item(t, title, rec, st, lvl, uid) for t, title, rec, st, lvl in rows], total, f.page, f.page_size)


def _select(now: dt.datetime) -> Select[Any]:
    return (select(FlowTask, FlowInstance.title, FlowInstance.record_id, FlowInstance.status, level_expr(now))
            .join(FlowInstance, FlowInstance.id == FlowTask.instance_id))


def todo(session: Session, ctx: Any, user: Any, filters: Filters | Mapping[str, Any] | None = None) -> Page:
    """待办: open (or held) tasks assigned to the user, and unassigned tasks
    they may claim or take; soonest deadline first."""
    f, now, uid = Filters.of(filters), clock.now(), _uid(user)
    ids = _todo_ids(uid, now)
    return _tasks(session, _select(now).join(ids, ids.c.id == FlowTask.id), f, now, uid, "due")


def overdue(session: Session, ctx: Any, user: Any, filters: Filters | Mapping[str, Any] | None = None) -> Page:
    """超期: the user's own open tasks past their deadline, most overdue first."""
    f, now, uid = Filters.of(filters), clock.now(), _uid(user)
    base = _select(now).where(FlowTask.assignee_id == uid, FlowTask.status.in_(("open", "held")),
                              FlowTask.due_at <= now)
    return _tasks(session, base, f, now, uid, "due")


def done(session: Session, ctx: Any, user: Any, filters: Filters | Mapping[str, Any] | None = None) -> Page:
    """已办: tasks the user completed, newest first."""
    f, now, uid = Filters.of(filters), clock.now(), _uid(user)
    base = _select(now).where(FlowTask.completed_by == uid, FlowTask.status == "done")
    return _tasks(session, base, f, now, uid, "-done")


def started_by(session: Session, ctx: Any, user: Any, filters: Filters | Mapping[str, Any] | None = None) -> Page:
    """我发起的: instances the user started, newest first (items describe instances)."""
    f, uid = Filters.of(filters), _uid(user)
    stmt = select(FlowInstance).where(FlowInstance.initiator_id == uid, FlowInstance.parent_id.is_(None))
    if f.flow_id:
        stmt = stmt.where(FlowInstance.flow_id == f.flow_id)
    if f.q.strip():
        like = "%" + f.q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(FlowInstance.title.ilike(like, escape="\\"))
    total = session.scalar(select(func.count()).select_from(stmt.with_only_columns(FlowInstance.id).subquery())) or 0
    asc = f.sort in ("started", "due", "created")
    rows = session.scalars(stmt.order_by(FlowInstance.started_at.asc() if asc else FlowInstance.started_at.desc(),
                                         FlowInstance.id.asc() if asc else FlowInstance.id.desc())
                           .offset((f.page - 1) * f.page_size).limit(f.page_size)).all()
    items = [{"id": i.id, "version": i.version, "flow_id": i.flow_id, "def_version": i.def_version, "title": i.title,
              "status": i.status, "outcome": i.outcome, "record_id": i.record_id, "started_at": i.started_at,
              "ended_at": i.ended_at, "rework_count": i.rework_count, "extend_count": i.extend_count,
              "return_count": i.return_count, "suspend_count": i.suspend_count} for i in rows]
    return Page(items, total, f.page, f.page_size)


def counts(session: Session, ctx: Any, user: Any) -> dict[str, int]:
    """Badge numbers: ``todo``, ``overdue``, ``done``, ``started``."""
    now, uid = clock.now(), _uid(user)
    ids = _todo_ids(uid, now)
    return {
        "todo": session.scalar(select(func.count()).select_from(ids)) or 0,
        "overdue": session.scalar(select(func.count()).select_from(FlowTask).where(
            FlowTask.assignee_id == uid, FlowTask.status.in_(("open", "held")), FlowTask.due_at <= now)) or 0,
        "done": session.scalar(select(func.count()).select_from(FlowTask).where(
            FlowTask.completed_by == uid, FlowTask.status == "done")) or 0,
        "started": session.scalar(select(func.count()).select_from(FlowInstance).where(
            FlowInstance.initiator_id == uid, FlowInstance.parent_id.is_(None))) or 0,
    }


def todo_summary(session: Session, ctx: Any, user: Any, since: dt.datetime) -> dict[str, int]:
    """The 工作台's counts in ONE aggregate over the 待办 list: ``todo``, ``warning`` (即将超期,
    the yellow band), ``overdue`` (past the deadline), ``new`` (arrived since ``since``) and
    ``urged`` (督办). Each equals the total of the 待办 list filtered the same way
    (``level=yellow`` / ``level=red`` / ``created_from``)."""
    now, uid = clock.now(), _uid(user)
    ids = _todo_ids(uid, now)

    def n(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)
    # IN (the 待办 ids) rather than a join with the union: the planner then looks the few
    # tasks up by primary key instead of scanning the task table
    row = session.execute(select(func.count(), n(_level_cond("yellow", now)), n(_level_cond("red", now)),
                                 n(FlowTask.created_at >= since), n(FlowTask.urge_count > 0))
                          .where(FlowTask.id.in_(select(ids.c.id)))).one()
    return dict(zip(("todo", "warning", "overdue", "new", "urged"), (int(v or 0) for v in row)))


def label(ctx: Any, group: str, name: str) -> str:
    """Localized name of a level, status, operation or history kind for screens:
    ``group`` is ``inbox``, ``level``, ``instance``, ``task``, ``op`` or ``history``."""
    key = f"flow_engine.{group}.{name}"
    text = ctx.gettext(key)
    return name if text == key else text


def may_view(ctx: Any, s: Any, user: Any, inst: FlowInstance) -> bool:
    """Whether the user takes part in the instance or may view flows in its org."""
    uid = user.id
    if inst.initiator_id == uid or ctx.can(user, VIEW_ALL, inst.org_id):
        return True
    took_part = s.scalar(select(FlowTask.id).where(
        FlowTask.instance_id == inst.id,
        or_(FlowTask.assignee_id == uid, FlowTask.completed_by == uid)).limit(1))
    if took_part is not None:
        return True
    return s.scalar(select(FlowTaskCandidate.task_id).join(FlowTask, FlowTask.id == FlowTaskCandidate.task_id)
                    .where(FlowTask.instance_id == inst.id, FlowTaskCandidate.person_id == uid).limit(1)) is not None


def require_view(ctx: Any, s: Any, user: Any, inst: FlowInstance) -> None:
    """403 unless :func:`may_view`."""
    if not may_view(ctx, s, user, inst):
        raise Forbidden("您没有查看该流程的权限", "you may not see this flow instance", code="not_participant")
