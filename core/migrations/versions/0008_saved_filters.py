"""core: 保存的筛选 (saved list filters), background jobs, staged import uploads

Revision ID: 0008_saved_filters
Revises: 0007_work_calendar
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa

revision = "0008_saved_filters"
down_revision = "0007_work_calendar"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_saved_filter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("form_id", "owner_id", "name", name="uq_core_saved_filter_name"),
    )
    op.create_index("ix_core_saved_filter_form_id", "core_saved_filter", ["form_id"])
    op.create_index("ix_core_saved_filter_owner_id", "core_saved_filter", ["owner_id"])
    op.create_table(
        "core_job",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("message_en", sa.String(length=500), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("errors", sa.JSON(), nullable=True),
        sa.Column("runner", sa.String(length=64), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_core_job_kind", "core_job", ["kind"])
    op.create_index("ix_core_job_owner", "core_job", ["owner"])
    op.create_table(
        "core_import_upload",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.Integer(), nullable=True),
        sa.Column("form_id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_core_import_upload_owner", "core_import_upload", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_core_import_upload_owner", table_name="core_import_upload")
    op.drop_table("core_import_upload")
    op.drop_index("ix_core_job_owner", table_name="core_job")
    op.drop_index("ix_core_job_kind", table_name="core_job")
    op.drop_table("core_job")
    op.drop_index("ix_core_saved_filter_owner_id", table_name="core_saved_filter")
    op.drop_index("ix_core_saved_filter_form_id", table_name="core_saved_filter")
    op.drop_table("core_saved_filter")
