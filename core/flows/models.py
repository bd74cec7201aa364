"""Tables of the flow engine: instances, tokens, tasks, candidates, history,
outbox, timers and the timer worker's lock.

They live on core's ``Base`` (migration ``0006_flow_engine``); import this
module wherever core's metadata must include them.

Why these shapes:

* A *token* marks where an instance is (one per parallel branch or ``multi``
  element); a human node gives each active token exactly one live task.
* Inbox queries must stay flat from 10k to 1M open tasks, so every list is an
  index range: ``(assignee_id, status, due_at)`` for 待办/超期,
  ``(person_id, task_id)`` on candidates for claimable tasks,
  ``(completed_by, completed_at)`` for 已办, ``(initiator_id, started_at)`` for
  我发起的. Deadline colour is plain SQL over ``warn_at``/``due_at``.
* Counters (rework, extend, return, suspend, suspended seconds) are columns so
  statistics aggregate in SQL without reading history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, JSONType, UTCDateTime, utcnow

INSTANCE_STATUSES = ("running", "suspended", "ended")
TOKEN_STATUSES = ("active", "waiting", "done")
#: open: actionable; held: waiting for an approval (回退/作废/转办/挂账 asked);
#: suspended: the instance is 挂账; done/cancelled/withdrawn: closed.
TASK_STATUSES = ("open", "held", "suspended", "done", "cancelled", "withdrawn")
LIVE_TASK = ("open", "held", "suspended")


class FlowInstance(Base):
    """One run of a flow definition version, optionally bound to a form record."""

    __tablename__ = "core_flow_instance"
    id: Mapped[int] = mapped_column(primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(64))
    def_version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="running")
    outcome: Mapped[str | None] = mapped_column(String(64))
    record_id: Mapped[int | None] = mapped_column(ForeignKey("core_form_record.id"), index=True)
    form_id: Mapped[str | None] = mapped_column(String(64))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("core_org.id"), index=True)
    region_code: Mapped[str | None] = mapped_column(String(12))
    variables: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    initiator_id: Mapped[int | None] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("core_flow_instance.id"), index=True)
    parent_token_id: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    extend_count: Mapped[int] = mapped_column(Integer, default=0)
    return_count: Mapped[int] = mapped_column(Integer, default=0)
    suspend_count: Mapped[int] = mapped_column(Integer, default=0)
    urge_count: Mapped[int] = mapped_column(Integer, default=0)
    reassign_count: Mapped[int] = mapped_column(Integer, default=0)
    suspended_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    suspended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    steps: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_core_flow_instance_initiator", "initiator_id", "started_at"),
        Index("ix_core_flow_instance_flow", "flow_id", "def_version", "status"),
    )


class FlowToken(Base):
    """Where an instance stands: one per parallel branch or ``multi`` element.

    ``waiting``: parked at a join, a subflow or a ``multi`` node whose
    children (``parent_id``) are still running.
    """

    __tablename__ = "core_flow_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("core_flow_instance.id"))
    node_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    parent_id: Mapped[int | None] = mapped_column(Integer)
    multi_key: Mapped[str | None] = mapped_column(String(64))
    prev_task_id: Mapped[int | None] = mapped_column(Integer)  # the task whose completion brought it here
    last_actor_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (Index("ix_core_flow_token_instance", "instance_id", "status", "node_id"),)


class FlowTask(Base):
    """A human task: at a node (``kind="node"``) or an approval of a special
    operation (``kind="approval"``, ``op`` and ``subject_task_id`` say which)."""

    __tablename__ = "core_flow_task"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("core_flow_instance.id"))
    token_id: Mapped[int | None] = mapped_column(Integer)
    flow_id: Mapped[str] = mapped_column(String(64))
    node_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="node")
    op: Mapped[str | None] = mapped_column(String(16))
    op_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    subject_task_id: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    claim: Mapped[bool] = mapped_column(Boolean, default=False)
    assignee_id: Mapped[int | None] = mapped_column(Integer)
    org_id: Mapped[int | None] = mapped_column(Integer)  # the department it is sent to, if any
    multi_key: Mapped[str | None] = mapped_column(String(64))
    prev_task_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    limit_amount: Mapped[float | None] = mapped_column(Float)
    limit_unit: Mapped[str | None] = mapped_column(String(16))
    calendar_id: Mapped[str | None] = mapped_column(String(64))
    warn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    warned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    overdue_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="")
    urge_count: Mapped[int] = mapped_column(Integer, default=0)
    rework: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_core_flow_task_assignee", "assignee_id", "status", "due_at"),
        Index("ix_core_flow_task_done", "completed_by", "completed_at"),
        Index("ix_core_flow_task_instance", "instance_id", "status"),
        Index("ix_core_flow_task_status_due", "status", "due_at"),
        Index("ix_core_flow_task_status_warn", "status", "warn_at"),
    )


class FlowTaskCandidate(Base):
    """Someone who may claim (or, for direct tasks with several people, act on)
    an unassigned task. Rows are removed when the task closes."""

    __tablename__ = "core_flow_task_candidate"
    task_id: Mapped[int] = mapped_column(ForeignKey("core_flow_task.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    __table_args__ = (Index("ix_core_flow_task_candidate_person", "person_id", "task_id"),)


class FlowHistory(Base):
    """The instance's timeline: who did what, when, where, and why."""

    __tablename__ = "core_flow_history"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("core_flow_instance.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(32))
    node_id: Mapped[str | None] = mapped_column(String(64))
    to_node: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class FlowOutbox(Base):
    """Events for notifications and data exchange, written in the step's
    transaction (transactional outbox); consumers mark ``delivered_at``."""

    __tablename__ = "core_flow_outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    topic: Mapped[str] = mapped_column(String(64))
    instance_id: Mapped[int | None] = mapped_column(Integer)
    task_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (Index("ix_core_flow_outbox_pending", "delivered_at", "id"),)


class FlowTimer(Base):
    """Something the timer worker does at ``fire_at``: ``warn`` and ``due``
    mark a task's deadline level, ``transition`` fires a timer transition."""

    __tablename__ = "core_flow_timer"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("core_flow_instance.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    fire_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    unit: Mapped[str | None] = mapped_column(String(16))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    fired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (Index("ix_core_flow_timer_due", "fired_at", "cancelled", "fire_at"),)


class FlowLock(Base):
    """A named lease (the single-writer lock of the timer worker on SQLite)."""

    __tablename__ = "core_flow_lock"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100), default="")
    until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
