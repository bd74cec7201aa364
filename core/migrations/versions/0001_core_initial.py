"""core: initial schema (orgs, people, roles, casbin rules, sessions, tokens, settings, audit)

Revision ID: 0001_core_initial
Revises:
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa

revision = "0001_core_initial"
down_revision = None
branch_labels = None
depends_on = None

# The audit log is append-only: the database itself refuses changes.
SQLITE_TRIGGERS = [
    """CREATE TRIGGER core_audit_log_no_update BEFORE UPDATE ON core_audit_log
       BEGIN SELECT RAISE(ABORT, 'core_audit_log is append-only'); END""",
    """CREATE TRIGGER core_audit_log_no_delete BEFORE DELETE ON core_audit_log
       BEGIN SELECT RAISE(ABORT, 'core_audit_log is append-only'); END""",
]
PG_TRIGGERS = [
    """CREATE FUNCTION core_audit_log_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'core_audit_log is append-only'; END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER core_audit_log_no_change BEFORE UPDATE OR DELETE ON core_audit_log
       FOR EACH ROW EXECUTE FUNCTION core_audit_log_append_only()""",
    """CREATE TRIGGER core_audit_log_no_truncate BEFORE TRUNCATE ON core_audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION core_audit_log_append_only()""",
]


def upgrade() -> None:
    op.create_table('casbin_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ptype', sa.String(length=255), nullable=False),
    sa.Column('v0', sa.String(length=255), nullable=True),
    sa.Column('v1', sa.String(length=255), nullable=True),
    sa.Column('v2', sa.String(length=255), nullable=True),
    sa.Column('v3', sa.String(length=255), nullable=True),
    sa.Column('v4', sa.String(length=255), nullable=True),
    sa.Column('v5', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_casbin_rule_lookup', 'casbin_rule', ['ptype', 'v0', 'v1', 'v2'], unique=False)
    op.create_table('core_audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=100), nullable=False),
    sa.Column('client_ip', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=64), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=False),
    sa.Column('summary', sa.String(length=500), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_core_audit_log_action'), 'core_audit_log', ['action'], unique=False)
    op.create_index(op.f('ix_core_audit_log_actor_id'), 'core_audit_log', ['actor_id'], unique=False)
    op.create_index(op.f('ix_core_audit_log_at'), 'core_audit_log', ['at'], unique=False)
    op.create_index(op.f('ix_core_audit_log_object_type'), 'core_audit_log', ['object_type'], unique=False)
    op.create_table('core_authz_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('core_org',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=True),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('sort', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['core_org.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_core_org_parent_id'), 'core_org', ['parent_id'], unique=False)
    op.create_index(op.f('ix_core_org_path'), 'core_org', ['path'], unique=False)
    op.create_index(op.f('ix_core_org_region_code'), 'core_org', ['region_code'], unique=False)
    op.create_table('core_role',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('builtin', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('core_setting',
    sa.Column('plugin_id', sa.String(length=64), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('plugin_id')
    )
    op.create_table('core_person',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('post', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('must_change_password', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_org.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_index(op.f('ix_core_person_org_id'), 'core_person', ['org_id'], unique=False)
    op.create_table('core_api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['core_person.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index(op.f('ix_core_api_token_person_id'), 'core_api_token', ['person_id'], unique=False)
    op.create_table('core_session',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('client_ip', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=300), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['core_person.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_core_session_person_id'), 'core_session', ['person_id'], unique=False)

    op.execute("INSERT INTO core_authz_state (id, version) VALUES (1, 1)")
    triggers = SQLITE_TRIGGERS if op.get_bind().dialect.name == "sqlite" else PG_TRIGGERS
    for stmt in triggers:
        op.execute(stmt)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS core_audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS core_audit_log_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS core_audit_log_no_change ON core_audit_log")
        op.execute("DROP TRIGGER IF EXISTS core_audit_log_no_truncate ON core_audit_log")
        op.execute("DROP FUNCTION IF EXISTS core_audit_log_append_only()")
    op.drop_index(op.f('ix_core_session_person_id'), table_name='core_session')
    op.drop_table('core_session')
    op.drop_index(op.f('ix_core_api_token_person_id'), table_name='core_api_token')
    op.drop_table('core_api_token')
    op.drop_index(op.f('ix_core_person_org_id'), table_name='core_person')
    op.drop_table('core_person')
    op.drop_table('core_setting')
    op.drop_table('core_role')
    op.drop_index(op.f('ix_core_org_region_code'), table_name='core_org')
    op.drop_index(op.f('ix_core_org_path'), table_name='core_org')
    op.drop_index(op.f('ix_core_org_parent_id'), table_name='core_org')
    op.drop_table('core_org')
    op.drop_table('core_authz_state')
    op.drop_index(op.f('ix_core_audit_log_object_type'), table_name='core_audit_log')
    op.drop_index(op.f('ix_core_audit_log_at'), table_name='core_audit_log')
    op.drop_index(op.f('ix_core_audit_log_actor_id'), table_name='core_audit_log')
    op.drop_index(op.f('ix_core_audit_log_action'), table_name='core_audit_log')
    op.drop_table('core_audit_log')
    op.drop_index('ix_casbin_rule_lookup', table_name='casbin_rule')
    op.drop_table('casbin_rule')

