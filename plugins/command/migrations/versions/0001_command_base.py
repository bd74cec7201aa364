"""command: base data — standards, regions, grids, components (with history), serials,
places (with name history), responsibility matrix, import files

Revision ID: 0001_command_base
Revises:
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = "0001_command_base"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('command_component',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ident', sa.String(length=16), nullable=False),
    sa.Column('class_code', sa.String(length=4), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('area_code', sa.String(length=6), nullable=False),
    sa.Column('dept_supervise_id', sa.Integer(), nullable=True),
    sa.Column('dept_owner_id', sa.Integer(), nullable=True),
    sa.Column('dept_maintain_id', sa.Integer(), nullable=True),
    sa.Column('grid_code', sa.String(length=20), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('x', sa.Float(), nullable=False),
    sa.Column('y', sa.Float(), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('initial_date', sa.Date(), nullable=True),
    sa.Column('source', sa.String(length=50), nullable=False),
    sa.Column('remarks', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ident')
    )
    op.create_index(op.f('ix_command_component_class_code'), 'command_component', ['class_code'], unique=False)
    op.create_index(op.f('ix_command_component_dept_maintain_id'), 'command_component', ['dept_maintain_id'], unique=False)
    op.create_index(op.f('ix_command_component_grid_code'), 'command_component', ['grid_code'], unique=False)
    op.create_table('command_grid',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('street_code', sa.String(length=20), nullable=False),
    sa.Column('community_code', sa.String(length=20), nullable=False),
    sa.Column('area_class', sa.String(length=1), nullable=False),
    sa.Column('geometry', sa.JSON(), nullable=False),
    sa.Column('area_m2', sa.Float(), nullable=False),
    sa.Column('min_x', sa.Float(), nullable=False),
    sa.Column('min_y', sa.Float(), nullable=False),
    sa.Column('max_x', sa.Float(), nullable=False),
    sa.Column('max_y', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_index(op.f('ix_command_grid_community_code'), 'command_grid', ['community_code'], unique=False)
    op.create_index(op.f('ix_command_grid_street_code'), 'command_grid', ['street_code'], unique=False)
    op.create_index(op.f('ix_command_grid_updated_at'), 'command_grid', ['updated_at'], unique=False)
    op.create_table('command_import',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('target', sa.String(length=20), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('bad', sa.Integer(), nullable=False),
    sa.Column('imported', sa.Integer(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('command_matrix',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('class_code', sa.String(length=8), nullable=False),
    sa.Column('scope_type', sa.String(length=12), nullable=False),
    sa.Column('scope_value', sa.String(length=20), nullable=False),
    sa.Column('dept_org_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'class_code', 'scope_type', 'scope_value', name='uq_command_matrix_rule')
    )
    op.create_table('command_place',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ident', sa.String(length=24), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('x', sa.Float(), nullable=False),
    sa.Column('y', sa.Float(), nullable=False),
    sa.Column('grid_code', sa.String(length=20), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ident')
    )
    op.create_index(op.f('ix_command_place_grid_code'), 'command_place', ['grid_code'], unique=False)
    op.create_index(op.f('ix_command_place_name'), 'command_place', ['name'], unique=False)
    op.create_table('command_region',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('parent_code', sa.String(length=20), nullable=True),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('geometry', sa.JSON(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_index(op.f('ix_command_region_parent_code'), 'command_region', ['parent_code'], unique=False)
    op.create_table('command_serial',
    sa.Column('scope', sa.String(length=64), nullable=False),
    sa.Column('next_value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('scope')
    )
    op.create_table('command_standard',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('class_code', sa.String(length=8), nullable=False),
    sa.Column('condition_code', sa.String(length=8), nullable=False),
    sa.Column('filing_condition', sa.Text(), nullable=False),
    sa.Column('closing_condition', sa.Text(), nullable=False),
    sa.Column('area_class', sa.String(length=1), nullable=False),
    sa.Column('urgency', sa.String(length=10), nullable=False),
    sa.Column('time_limit', sa.Float(), nullable=False),
    sa.Column('time_unit', sa.String(length=10), nullable=False),
    sa.Column('dept_org_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'class_code', 'condition_code', 'area_class', 'urgency', name='uq_command_standard_rule')
    )
    op.create_table('command_component_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('component_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['component_id'], ['command_component.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_command_component_history_component', 'command_component_history', ['component_id', 'at'], unique=False)
    op.create_table('command_place_name',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('place_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['place_id'], ['command_place.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_command_place_name_name'), 'command_place_name', ['name'], unique=False)
    op.create_index(op.f('ix_command_place_name_place_id'), 'command_place_name', ['place_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_command_place_name_place_id'), table_name='command_place_name')
    op.drop_index(op.f('ix_command_place_name_name'), table_name='command_place_name')
    op.drop_table('command_place_name')
    op.drop_index('ix_command_component_history_component', table_name='command_component_history')
    op.drop_table('command_component_history')
    op.drop_table('command_standard')
    op.drop_table('command_serial')
    op.drop_index(op.f('ix_command_region_parent_code'), table_name='command_region')
    op.drop_table('command_region')
    op.drop_index(op.f('ix_command_place_name'), table_name='command_place')
    op.drop_index(op.f('ix_command_place_grid_code'), table_name='command_place')
    op.drop_table('command_place')
    op.drop_table('command_matrix')
    op.drop_table('command_import')
    op.drop_index(op.f('ix_command_grid_updated_at'), table_name='command_grid')
    op.drop_index(op.f('ix_command_grid_street_code'), table_name='command_grid')
    op.drop_index(op.f('ix_command_grid_community_code'), table_name='command_grid')
    op.drop_table('command_grid')
    op.drop_index(op.f('ix_command_component_grid_code'), table_name='command_component')
    op.drop_index(op.f('ix_command_component_dept_maintain_id'), table_name='command_component')
    op.drop_index(op.f('ix_command_component_class_code'), table_name='command_component')
    op.drop_table('command_component')
