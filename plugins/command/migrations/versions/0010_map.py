"""command: the deployment's own base-map features (districts, roads, water) for the case map

Revision ID: 0010_map
Revises: 0007_disposal_rounds
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

revision = "0010_map"
down_revision = "0007_disposal_rounds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "command_map_feature",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("layer", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("area_code", sa.String(12), nullable=False),
        sa.Column("geometry", sa.JSON(), nullable=False),
    )
    op.create_index("ix_command_map_feature_layer", "command_map_feature", ["layer", "area_code"])


def downgrade() -> None:
    op.drop_index("ix_command_map_feature_layer", table_name="command_map_feature")
    op.drop_table("command_map_feature")
