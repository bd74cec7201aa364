"""Alembic runner: core's history plus one separate history per plugin.

Core uses the version table ``alembic_version``; plugin ``X`` uses
``X_alembic_version`` and its own ``migrations/`` folder, so enabling,
disabling or upgrading one plugin never touches another's history.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

CORE_MIGRATIONS = Path(__file__).parent / "migrations"


def _config(engine: Engine, script_location: Path, version_table: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["engine"] = engine
    cfg.attributes["version_table"] = version_table
    return cfg


def histories(plugins: list[Any]) -> list[tuple[str, Path, str]]:
    """(owner, folder, version table) for core and each enabled plugin with migrations."""
    out = [("core", CORE_MIGRATIONS, "alembic_version")]
    for p in plugins:
        folder = p.migrations_dir
        if folder is not None and folder.is_dir():
            out.append((p.id, folder, f"{p.id}_alembic_version"))
    return out


def upgrade(engine: Engine, plugins: list[Any], revision: str = "heads") -> list[tuple[str, str | None]]:
    """Apply core's then each enabled plugin's migrations (dependency order)."""
    for _owner, folder, table in histories(plugins):
        command.upgrade(_config(engine, folder, table), revision)
    return current(engine, plugins)


def current(engine: Engine, plugins: list[Any]) -> list[tuple[str, str | None, str | None]]:
    """(owner, applied revision, head revision) for each history."""
    out = []
    with engine.connect() as conn:
        for owner, folder, table in histories(plugins):
            ctx = MigrationContext.configure(conn, opts={"version_table": table})
            heads = ScriptDirectory(str(folder)).get_heads()
            out.append((owner, ctx.get_current_revision(), ",".join(heads) or None))
    return out


def run_env() -> None:
    """Body of every ``env.py``: run online against the engine we were given."""

    cfg = context.config
    engine = cfg.attributes["engine"]
    with engine.begin() as conn:
        context.configure(connection=conn, version_table=cfg.attributes["version_table"],
                          render_as_batch=conn.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
