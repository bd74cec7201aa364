"""command: the responsible supervisor (责任监督员) of each unit grid

Revision ID: 0004_grid_supervisor
Revises: 0003_command_case_verifier
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa

revision = "0004_grid_supervisor"
down_revision = "0003_command_case_verifier"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("command_grid", sa.Column("supervisor_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("command_grid") as batch:
        batch.drop_column("supervisor_id")
