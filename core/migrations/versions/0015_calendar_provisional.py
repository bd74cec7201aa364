"""core: working calendars remember computed (provisional) and confirmed years

Revision ID: 0015_calendar_provisional
Revises: 0014_attachment_claims
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

revision = "0015_calendar_provisional"
down_revision = "0014_attachment_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("core_work_calendar") as batch:
        batch.add_column(sa.Column("computed_years", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("confirmed_years", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("core_work_calendar") as batch:
        batch.drop_column("confirmed_years")
        batch.drop_column("computed_years")
