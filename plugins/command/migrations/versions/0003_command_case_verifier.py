"""command: who verified a case (核实), for the supervisors' evaluation

Revision ID: 0003_command_case_verifier
Revises: 0002_command_case
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_command_case_verifier"
down_revision = "0002_command_case"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("command_case", sa.Column("verifier_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("command_case") as batch:
        batch.drop_column("verifier_id")
