"""core: forms engine (definition versions, records, record history)

Revision ID: 0002_form_defs
Revises: 0001_core_initial
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa

revision = "0002_form_defs"
down_revision = "0001_core_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('core_form_def',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('form_id', sa.String(length=64), nullable=False),
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
    sa.UniqueConstraint('form_id', 'version', name='uq_core_form_def_form_version')
    )
    op.create_index(op.f('ix_core_form_def_form_id'), 'core_form_def', ['form_id'], unique=False)
    op.create_index('uq_core_form_def_published', 'core_form_def', ['form_id'], unique=True,
                    sqlite_where=sa.text("status = 'published'"), postgresql_where=sa.text("status = 'published'"))
    op.create_table('core_form_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('form_id', sa.String(length=64), nullable=False),
    sa.Column('def_version', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('ref_no', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.Column('region_code', sa.String(length=12), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_by', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_org.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_core_form_record_form_live', 'core_form_record', ['form_id', 'deleted_at', 'id'], unique=False)
    op.create_index(op.f('ix_core_form_record_org_id'), 'core_form_record', ['org_id'], unique=False)
    op.create_index(op.f('ix_core_form_record_ref_no'), 'core_form_record', ['ref_no'], unique=False)
    op.create_index(op.f('ix_core_form_record_region_code'), 'core_form_record', ['region_code'], unique=False)
    op.create_index(op.f('ix_core_form_record_status'), 'core_form_record', ['status'], unique=False)
    op.create_table('core_form_record_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('def_version', sa.Integer(), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['core_form_record.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_core_form_record_history_record_id'), 'core_form_record_history', ['record_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_core_form_record_history_record_id'), table_name='core_form_record_history')
    op.drop_table('core_form_record_history')
    for ix in ('ix_core_form_record_status', 'ix_core_form_record_region_code', 'ix_core_form_record_ref_no',
               'ix_core_form_record_org_id', 'ix_core_form_record_form_live'):
        op.drop_index(ix, table_name='core_form_record')
    op.drop_table('core_form_record')
    op.drop_index('uq_core_form_def_published', table_name='core_form_def')
    op.drop_index(op.f('ix_core_form_def_form_id'), table_name='core_form_def')
    op.drop_table('core_form_def')
