"""core: 流程实例、任务、历史、发件箱、定时器 (flow engine)

Revision ID: 0006_flow_engine
Revises: 0005_flow_defs
Create Date: 2026-11-25
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0006_flow_engine"
down_revision = "0005_flow_defs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
