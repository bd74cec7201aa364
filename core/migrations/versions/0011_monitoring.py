"""core: worker heartbeats and the 运行监控 history

Revision ID: 0011_monitoring
Revises: 0010_login_guard
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

revision = "0011_monitoring"
down_revision = "0010_login_guard"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_heartbeat",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "core_monitor_sample",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("at", "worker", name="uq_core_monitor_sample_at_worker"),
    )
    op.create_index("ix_core_monitor_sample_at", "core_monitor_sample", ["at"])


def downgrade() -> None:
    op.drop_index("ix_core_monitor_sample_at", table_name="core_monitor_sample")
    op.drop_table("core_monitor_sample")
    op.drop_table("core_heartbeat")
