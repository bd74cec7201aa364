"""core: 附件 (attachments of file/image form fields; bytes live on disk by sha256)

Revision ID: 0004_attachments
Revises: 0003_dictionaries
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa

revision = "0004_attachments"
down_revision = "0003_dictionaries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_attachment",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_core_attachment_sha256", "core_attachment", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_core_attachment_sha256", table_name="core_attachment")
    op.drop_table("core_attachment")
