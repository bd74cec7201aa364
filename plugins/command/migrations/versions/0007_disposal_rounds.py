"""command: disposal rounds and dispatches counted as dispatches (issue 11, correctness 1 and 3)

Adds ``command_case.cooperative`` (协同: one dispatch to several departments at once) and
``command_case.round_started_at`` (when the current disposal round began: 派遣 or 返工), and
backfills from the flow history of each case:

* ``dispatch_count`` = completed 派遣 steps (it used to be the number of departments, so one
  协同 dispatch to two departments looked like a re-dispatch);
* ``cooperative`` = some 派遣 created dispose tasks for more than one department;
* ``disposed_at`` / ``disposed_on_time`` / ``handler_id`` describe the current round only: null
  while the round is open (a failed 核查 used to leave the first round's disposal in place),
  on time when every department of the accepted round finished within its deadline.

Cases without a flow instance (bulk-seeded history) keep their values. The rules are copied
here (not imported) so that later changes to the plugin never change what this revision did.

Revision ID: 0007_disposal_rounds
Revises: 0006_pii
Create Date: 2026-12-07
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from ccms.api import UTCDateTime

revision = "0007_disposal_rounds"
down_revision = "0006_pii"
branch_labels = None
depends_on = None

BATCH = 500

case_t = sa.table("command_case", sa.column("id", sa.Integer), sa.column("instance_id", sa.Integer),
                  sa.column("dispatch_count", sa.Integer), sa.column("cooperative", sa.Boolean),
                  sa.column("round_started_at", UTCDateTime), sa.column("disposed_at", UTCDateTime),
                  sa.column("disposed_on_time", sa.Boolean), sa.column("handler_id", sa.Integer))
inst_t = sa.table("core_flow_instance", sa.column("id", sa.Integer), sa.column("status", sa.String),
                  sa.column("outcome", sa.String))
task_t = sa.table("core_flow_task", sa.column("id", sa.Integer), sa.column("instance_id", sa.Integer),
                  sa.column("kind", sa.String), sa.column("node_id", sa.String), sa.column("status", sa.String),
                  sa.column("action", sa.String), sa.column("org_id", sa.Integer),
                  sa.column("prev_task_id", sa.Integer), sa.column("created_at", UTCDateTime),
                  sa.column("completed_at", UTCDateTime), sa.column("completed_by", sa.Integer),
                  sa.column("due_at", UTCDateTime))
LIVE = ("open", "held", "suspended")


def _values(inst: Any, tasks: list[Any]) -> dict[str, Any]:
    dispatch_ids = {t.id for t in tasks if t.node_id == "dispatch" and t.status == "done" and t.action == "dispatch"}
    out: dict[str, Any] = {"dispatch_count": len(dispatch_ids), "cooperative": False}
    rounds: dict[Any, list[Any]] = {}
    for t in tasks:
        if t.node_id == "dispose":
            rounds.setdefault(t.prev_task_id if t.prev_task_id is not None else ("at", t.created_at), []).append(t)
    ordered = sorted(rounds.values(), key=lambda r: min(t.id for t in r))
    out["cooperative"] = any(r[0].prev_task_id in dispatch_ids and len({t.org_id for t in r}) > 1 for r in ordered)
    if not ordered:
        return out
    current = ordered[-1]
    out["round_started_at"] = min(t.created_at for t in current)
    live = [t for t in tasks if t.status in LIVE]
    open_ = [t for t in current if t.status in LIVE]
    done = [t for t in current if t.status == "done" and t.action == "done"]
    beyond = ((inst.status == "ended" and (inst.outcome or "") == "closed")
              or (bool(live) and all(t.node_id in ("check", "close") for t in live)))
    if done and not open_ and beyond:
        last = max(done, key=lambda t: (t.completed_at, t.id))
        out.update(disposed_at=last.completed_at, handler_id=last.completed_by,
                   disposed_on_time=all(t.due_at is None or t.completed_at <= t.due_at for t in done))
    else:
        out.update(disposed_at=None, disposed_on_time=None, handler_id=None)
    return out


def upgrade() -> None:
    op.add_column("command_case", sa.Column("cooperative", sa.Boolean(), nullable=False,
                                            server_default=sa.false()))
    op.add_column("command_case", sa.Column("round_started_at", sa.DateTime(timezone=True), nullable=True))
    conn = op.get_bind()
    pairs = conn.execute(sa.select(case_t.c.id, case_t.c.instance_id).where(case_t.c.instance_id.is_not(None))
                         .order_by(case_t.c.id)).all()
    for i in range(0, len(pairs), BATCH):
        chunk = dict((iid, cid) for cid, iid in pairs[i:i + BATCH])
        insts = {r.id: r for r in conn.execute(sa.select(inst_t).where(inst_t.c.id.in_(list(chunk))))}
        tasks: dict[int, list[Any]] = {}
        for t in conn.execute(sa.select(task_t).where(task_t.c.instance_id.in_(list(chunk)), task_t.c.kind == "node")
                              .order_by(task_t.c.id)):
            tasks.setdefault(t.instance_id, []).append(t)
        for iid, cid in chunk.items():
            if iid in insts:
                conn.execute(case_t.update().where(case_t.c.id == cid).values(**_values(insts[iid], tasks.get(iid, []))))


def downgrade() -> None:
    with op.batch_alter_table("command_case") as batch:
        batch.drop_column("round_started_at")
        batch.drop_column("cooperative")
