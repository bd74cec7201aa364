"""command: indexes so statistics and lists read the period's rows, not the history (issue 11, item 7)

* one index per event time, with ``id`` (filed, dispatched, disposed, closed, voided, due;
  ``reported_at``'s gets ``id`` too), partial (``IS NOT NULL``: SQLite's planner would read ``closed_at IS NULL`` through
  a full index as if NULL were rare): a period's statistics read a UNION of index ranges
  (``stats._activity_ids``);
* ``ix_command_case_live_due``: the overdue snapshot's live cases (filed, neither closed nor
  voided), a partial index, so open work is found without reading finished cases;
* ``(status, reported_at, id)`` replaces ``(status)``, and ``(class_code, reported_at, id)``:
  the case list filtered by status or class reads its page newest first from the index;
* ``case_no`` with ``varchar_pattern_ops`` on PostgreSQL: case-number prefix search.

Revision ID: 0008_stats_indexes
Revises: 0011_leader_figures
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_stats_indexes"
down_revision = "0011_leader_figures"
branch_labels = None
depends_on = None

TIMES = ("filed_at", "dispatched_at", "disposed_at", "closed_at", "voided_at", "due_at")
LIVE = "closed_at IS NULL AND voided_at IS NULL AND filed_at IS NOT NULL"


def upgrade() -> None:
    # (each with id: PostgreSQL answers a range of ids from the index alone)
    op.drop_index("ix_command_case_reported_at", table_name="command_case")
    op.create_index("ix_command_case_reported_at", "command_case", ["reported_at", "id"])
    for col in TIMES:
        op.create_index(f"ix_command_case_{col}", "command_case", [col, "id"],
                        sqlite_where=sa.text(f"{col} IS NOT NULL"), postgresql_where=sa.text(f"{col} IS NOT NULL"))
    op.create_index("ix_command_case_live_due", "command_case", ["due_at", "id"],
                    sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))
    op.create_index("ix_command_case_status_reported", "command_case", ["status", "reported_at", "id"])
    op.drop_index("ix_command_case_status", table_name="command_case")
    op.create_index("ix_command_case_class_reported", "command_case", ["class_code", "reported_at", "id"])
    op.create_index("ix_command_case_case_no_prefix", "command_case", ["case_no"],
                    postgresql_ops={"case_no": "varchar_pattern_ops"})


def downgrade() -> None:
    op.drop_index("ix_command_case_case_no_prefix", table_name="command_case")
    op.drop_index("ix_command_case_class_reported", table_name="command_case")
    op.create_index("ix_command_case_status", "command_case", ["status"])
    op.drop_index("ix_command_case_status_reported", table_name="command_case")
    op.drop_index("ix_command_case_live_due", table_name="command_case")
    for col in reversed(TIMES):
        op.drop_index(f"ix_command_case_{col}", table_name="command_case")
    op.drop_index("ix_command_case_reported_at", table_name="command_case")
    op.create_index("ix_command_case_reported_at", "command_case", ["reported_at"])
