"""core: login throttle counters per client address, per user name and per both (issue 10, defects 7 and 8)

Revision ID: 0010_login_guard
Revises: 0009_audit_chain
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

revision = "0010_login_guard"
down_revision = "0009_audit_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_login_throttle",
        sa.Column("key", sa.String(length=220), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unaudited", sa.Integer(), nullable=False),
        sa.Column("audited_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_core_login_throttle_last_at", "core_login_throttle", ["last_at"])


def downgrade() -> None:
    op.drop_index("ix_core_login_throttle_last_at", table_name="core_login_throttle")
    op.drop_table("core_login_throttle")
