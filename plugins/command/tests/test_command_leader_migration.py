"""Migration 0011_leader_figures: a deployment whose 值班长 role predates the
workbench's 今日要情 gets ``command.figures.view`` for it on upgrade."""
from __future__ import annotations

from typing import Any

from alembic import command

from ccms import migrate


def _alembic(ctx: Any) -> Any:
    plugin = next(p for p in ctx.plugins if p.id == "command")
    return migrate._config(ctx.db.engine, plugin.migrations_dir, "command_alembic_version")


def test_existing_shift_leaders_get_the_days_figures(ctx: Any) -> None:
    cfg = _alembic(ctx)
    command.downgrade(cfg, "0010_map")  # the role as an older deployment has it
    ctx.db.engine.dispose()
    ctx.authz.ensure_fresh()
    assert "command.figures.view" not in ctx.authz.role_permissions("command_shift_leader")
    command.upgrade(cfg, "heads")
    ctx.db.engine.dispose()
    ctx.authz.ensure_fresh()
    assert "command.figures.view" in ctx.authz.role_permissions("command_shift_leader")
    assert "command.figures.view" not in ctx.authz.role_permissions("command_dispatcher")
