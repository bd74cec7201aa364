"""core: 工作日历 (working calendars)

Revision ID: 0007_work_calendar
Revises: 0006_flow_engine
Create Date: 2026-11-25
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0007_work_calendar"
down_revision = "0006_flow_engine"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
