"""command: the case table (案件) of the CJJ/T 106 loop

Revision ID: 0002_command_case
Revises: 0001_command_base
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = "0002_command_case"
down_revision = "0001_command_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'command_case',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_no', sa.String(length=40), nullable=False),
        sa.Column('kind', sa.String(length=1), nullable=False),
        sa.Column('class_code', sa.String(length=8), nullable=False),
        sa.Column('big_class', sa.String(length=8), nullable=False),
        sa.Column('source', sa.String(length=12), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('urgency', sa.String(length=10), nullable=False),
        sa.Column('area_class', sa.String(length=1), nullable=False),
        sa.Column('district_code', sa.String(length=12), nullable=False),
        sa.Column('street_code', sa.String(length=20), nullable=False),
        sa.Column('community_code', sa.String(length=20), nullable=False),
        sa.Column('grid_code', sa.String(length=20), nullable=False),
        sa.Column('lon', sa.Float(), nullable=True),
        sa.Column('lat', sa.Float(), nullable=True),
        sa.Column('address', sa.String(length=300), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('component_ident', sa.String(length=16), nullable=False),
        sa.Column('dept_id', sa.Integer(), nullable=True),
        sa.Column('dept_ids', sa.JSON(), nullable=False),
        sa.Column('reporter_id', sa.Integer(), nullable=True),
        sa.Column('filer_id', sa.Integer(), nullable=True),
        sa.Column('dispatcher_id', sa.Integer(), nullable=True),
        sa.Column('handler_id', sa.Integer(), nullable=True),
        sa.Column('checker_id', sa.Integer(), nullable=True),
        sa.Column('reporter_name', sa.String(length=100), nullable=False),
        sa.Column('reporter_phone', sa.String(length=40), nullable=False),
        sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('filed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('disposed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('time_limit', sa.Float(), nullable=True),
        sa.Column('time_unit', sa.String(length=12), nullable=False),
        sa.Column('disposed_on_time', sa.Boolean(), nullable=True),
        sa.Column('closed_on_time', sa.Boolean(), nullable=True),
        sa.Column('rework_count', sa.Integer(), nullable=False),
        sa.Column('extend_count', sa.Integer(), nullable=False),
        sa.Column('suspend_count', sa.Integer(), nullable=False),
        sa.Column('return_count', sa.Integer(), nullable=False),
        sa.Column('dispatch_count', sa.Integer(), nullable=False),
        sa.Column('urge_count', sa.Integer(), nullable=False),
        sa.Column('self_disposed', sa.Boolean(), nullable=False),
        sa.Column('not_filed_reason', sa.Text(), nullable=False),
        sa.Column('void_reason', sa.Text(), nullable=False),
        sa.Column('duplicate_of_id', sa.Integer(), nullable=True),
        sa.Column('merged_into_id', sa.Integer(), nullable=True),
        sa.Column('photos_before', sa.JSON(), nullable=False),
        sa.Column('photos_after', sa.JSON(), nullable=False),
        sa.Column('instance_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('case_no'),
    )
    op.create_index('ix_command_case_class', 'command_case', ['class_code', 'status'], unique=False)
    op.create_index('ix_command_case_dept_id', 'command_case', ['dept_id'], unique=False)
    op.create_index('ix_command_case_district_code', 'command_case', ['district_code'], unique=False)
    op.create_index('ix_command_case_grid_code', 'command_case', ['grid_code'], unique=False)
    op.create_index('ix_command_case_instance_id', 'command_case', ['instance_id'], unique=False)
    op.create_index('ix_command_case_reported_at', 'command_case', ['reported_at'], unique=False)
    op.create_index('ix_command_case_status', 'command_case', ['status'], unique=False)
    op.create_index('ix_command_case_street_code', 'command_case', ['street_code'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_command_case_class', table_name='command_case')
    op.drop_index('ix_command_case_dept_id', table_name='command_case')
    op.drop_index('ix_command_case_district_code', table_name='command_case')
    op.drop_index('ix_command_case_grid_code', table_name='command_case')
    op.drop_index('ix_command_case_instance_id', table_name='command_case')
    op.drop_index('ix_command_case_reported_at', table_name='command_case')
    op.drop_index('ix_command_case_status', table_name='command_case')
    op.drop_index('ix_command_case_street_code', table_name='command_case')
    op.drop_table('command_case')
