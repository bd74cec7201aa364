"""core: 保存的筛选 (saved list filters)

Revision ID: 0008_saved_filters
Revises: 0007_work_calendar
Create Date: 2026-11-25
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0008_saved_filters"
down_revision = "0007_work_calendar"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
