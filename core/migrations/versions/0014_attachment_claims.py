"""core: an attachment records where it was attached (claimed once, by its uploader)

Revision ID: 0014_attachment_claims
Revises: 0012_pii
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

revision = "0014_attachment_claims"
down_revision = "0012_pii"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("core_attachment") as batch:
        batch.add_column(sa.Column("attached_to", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("attached_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("attached_by", sa.Integer(), nullable=True))
    op.create_index("ix_core_attachment_attached_to", "core_attachment", ["attached_to"])


def downgrade() -> None:
    op.drop_index("ix_core_attachment_attached_to", table_name="core_attachment")
    with op.batch_alter_table("core_attachment") as batch:
        batch.drop_column("attached_by")
        batch.drop_column("attached_at")
        batch.drop_column("attached_to")
