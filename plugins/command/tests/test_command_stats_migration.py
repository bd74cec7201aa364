"""Migration 0007_disposal_rounds (issue 11, correctness 1 and 3): rows written by the old rules
(dispatch_count = departments, the first round's disposal kept after a failed 核查) are
backfilled from the flow history to what the case service now writes — on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import select, update
from test_command_cases import act, app, ok, photo_id, report, to_dispose, world  # noqa: F401 (fixtures)

from ccms import migrate
from ccms.plugins.command.models import Case

COLUMNS = ("dispatch_count", "cooperative", "round_started_at", "disposed_at", "disposed_on_time", "handler_id",
           "dept_ids")


def _rows(ctx: Any) -> dict[int, dict[str, Any]]:
    with ctx.db.session() as s:
        return {c.id: {k: getattr(c, k) for k in COLUMNS} for c in s.scalars(select(Case))}


def _alembic(ctx: Any) -> Any:
    """The command plugin's own Alembic history (``command_alembic_version``)."""
    plugin = next(p for p in ctx.plugins if p.id == "command")
    return migrate._config(ctx.db.engine, plugin.migrations_dir, "command_alembic_version")


def test_backfill_recomputes_dispatches_and_the_current_round(ctx, world):
    w = world
    # a: disposed, then the check fails: the rework round is open
    a = to_dispose(w)["id"]
    ok(w["h1"].api("POST", f"/api/command/cases/{a}/claim", json={}))
    ok(act(w["h1"], a, "done", photos=[photo_id(w["h1"])]))
    ok(act(w["sup"], a, "fail", comment="仍有残留"))
    # b: one 协同 dispatch to two departments
    b = ok(report(w["sup"], class_code="E0104"), 201)["id"]
    ok(act(w["leader"], b, "file"))
    ok(act(w["disp"], b, "dispatch", dept_ids=[w["ids"]["srhw"], w["ids"]["szgy"]]))
    # c: sent back and dispatched again
    c = to_dispose(w, class_code="E0201")["id"]
    ok(w["h1"].api("POST", f"/api/command/cases/{c}/claim", json={}))
    ok(w["h1"].api("POST", f"/api/command/cases/{c}/ops/return", json={"reason": "不属于本部门职责"}))
    ok(w["disp"].api("POST", f"/api/command/cases/{c}/decide", json={"approve": True}))
    ok(act(w["disp"], c, "dispatch", dept_ids=[w["ids"]["szgy"]]))
    now = _rows(ctx)
    assert (now[a]["disposed_at"], now[b]["cooperative"], now[b]["dispatch_count"], now[c]["dispatch_count"]) == \
        (None, True, 1, 2)
    # what the old rules left in the table
    with ctx.db.session() as s:
        s.execute(update(Case).where(Case.id == a).values(disposed_at=now[a]["round_started_at"],
                                                          disposed_on_time=True))
        s.execute(update(Case).where(Case.id == b).values(dispatch_count=2, cooperative=False))
    cfg = _alembic(ctx)
    command.downgrade(cfg, "0006_pii")
    ctx.db.engine.dispose()
    command.upgrade(cfg, "heads")
    ctx.db.engine.dispose()
    assert _rows(ctx) == now
