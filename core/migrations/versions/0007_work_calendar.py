"""core: 工作日历 (working calendars)

Revision ID: 0007_work_calendar
Revises: 0006_flow_engine
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa

revision = "0007_work_calendar"
down_revision = "0006_flow_engine"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_work_calendar",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("hours", sa.JSON(), nullable=False),
        sa.Column("rest_weekdays", sa.JSON(), nullable=False),
        sa.Column("imported_years", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "core_work_calendar_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("calendar_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["calendar_id"], ["core_work_calendar.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("calendar_id", "day", name="uq_core_work_calendar_day"),
    )


def downgrade() -> None:
    op.drop_table("core_work_calendar_day")
    op.drop_table("core_work_calendar")
