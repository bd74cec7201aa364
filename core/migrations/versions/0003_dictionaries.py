"""core: 数据字典 (dictionaries and hierarchical items)

Revision ID: 0003_dictionaries
Revises: 0002_form_defs
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_dictionaries"
down_revision = "0002_form_defs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_dict",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "core_dict_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dict_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sort", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["dict_id"], ["core_dict.id"]),
        sa.ForeignKeyConstraint(["parent_id"], ["core_dict_item.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dict_id", "code", name="uq_core_dict_item_code"),
    )
    op.create_index("ix_core_dict_item_dict_id", "core_dict_item", ["dict_id"])
    op.create_index("ix_core_dict_item_parent_id", "core_dict_item", ["parent_id"])
    op.create_index("ix_core_dict_item_path", "core_dict_item", ["path"])


def downgrade() -> None:
    op.drop_index("ix_core_dict_item_path", table_name="core_dict_item")
    op.drop_index("ix_core_dict_item_parent_id", table_name="core_dict_item")
    op.drop_index("ix_core_dict_item_dict_id", table_name="core_dict_item")
    op.drop_table("core_dict_item")
    op.drop_table("core_dict")
