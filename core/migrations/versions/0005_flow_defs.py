"""core: 流程定义版本 (flow definition versions)

Revision ID: 0005_flow_defs
Revises: 0004_attachments
Create Date: 2026-11-25
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0005_flow_defs"
down_revision = "0004_attachments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
