"""core: 流程定义版本 (flow definition versions)

Revision ID: 0005_flow_defs
Revises: 0004_attachments
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa

revision = "0005_flow_defs"
down_revision = "0004_attachments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('core_flow_def',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('flow_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lock_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('flow_id', 'version', name='uq_core_flow_def_flow_version')
    )
    op.create_index(op.f('ix_core_flow_def_flow_id'), 'core_flow_def', ['flow_id'], unique=False)
    op.create_index('uq_core_flow_def_published', 'core_flow_def', ['flow_id'], unique=True,
                    sqlite_where=sa.text("status = 'published'"), postgresql_where=sa.text("status = 'published'"))
    op.create_table('core_flow_work',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('flow_id', sa.String(length=64), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('base_version', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('lock_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('flow_id')
    )


def downgrade() -> None:
    op.drop_table('core_flow_work')
    op.drop_index('uq_core_flow_def_published', table_name='core_flow_def')
    op.drop_index(op.f('ix_core_flow_def_flow_id'), table_name='core_flow_def')
    op.drop_table('core_flow_def')
