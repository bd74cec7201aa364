"""example_notice: the notice table

Revision ID: 0001_example_notice
Revises:
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa

revision = "0001_example_notice"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "example_notice_item",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("core_org.id", name="fk_example_notice_item_org"),
                  nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_example_notice_item_org_created", "example_notice_item", ["org_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_example_notice_item_org_created", table_name="example_notice_item")
    op.drop_table("example_notice_item")
