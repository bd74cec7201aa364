"""command: room for encrypted personal information (command_case.reporter_phone 40 → 255 characters)

Revision ID: 0006_pii
Revises: 0004_grid_supervisor
Create Date: 2026-12-07
"""
import re

import sqlalchemy as sa
from alembic import op

revision = "0006_pii"
down_revision = "0004_grid_supervisor"
branch_labels = None
depends_on = None


def _sqlite_declared_length(table: str, column: str, length: int) -> None:
    """SQLite never enforces VARCHAR lengths, so only the declared text changes; rewriting it in
    sqlite_schema is SQLite's own procedure for changes that leave the on-disk format alone
    (https://sqlite.org/lang_altertable.html, "Making other kinds of table schema changes").
    A table rebuild (batch mode) would fail: rows of other tables refer to this one."""
    conn = op.get_bind()
    sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type='table' AND name=?", (table,)).scalar()
    new = re.sub(rf'((?:^|[(,\s])"?{column}"?\s+)VARCHAR\(\d+\)', rf"\g<1>VARCHAR({length})", sql, flags=re.IGNORECASE)
    if new == sql:
        return
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar()
    conn.exec_driver_sql("PRAGMA writable_schema=ON")
    conn.exec_driver_sql("UPDATE sqlite_master SET sql=? WHERE type='table' AND name=?", (new, table))
    conn.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema=OFF")


def _set_length(table: str, column: str, old: int, new: int) -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_declared_length(table, column, new)
    else:
        op.alter_column(table, column, type_=sa.String(length=new), existing_type=sa.String(length=old),
                        existing_nullable=False)


def upgrade() -> None:
    _set_length("command_case", "reporter_phone", 40, 255)


def downgrade() -> None:
    # only possible while the values are plaintext (ccms pii decrypt first)
    _set_length("command_case", "reporter_phone", 255, 40)
