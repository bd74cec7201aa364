"""core: tamper-evident audit chain, archive records, REPLACE-proof append-only triggers

Revision ID: 0009_audit_chain
Revises: 0008_saved_filters
Create Date: 2026-12-07

SQLite's ``REPLACE INTO`` / ``INSERT OR REPLACE`` deletes the conflicting row
without firing DELETE triggers (unless the connection turned
``recursive_triggers`` on, which an attacker's connection would not), so a
BEFORE INSERT trigger refuses any insert whose key already exists; that also
covers ``INSERT ... ON CONFLICT DO UPDATE`` (whose update path the UPDATE
trigger refuses as well). PostgreSQL has no REPLACE; its ``ON CONFLICT DO
UPDATE`` fires the existing BEFORE UPDATE trigger.
"""
import sqlalchemy as sa
from alembic import op

revision = "0009_audit_chain"
down_revision = "0008_saved_filters"
branch_labels = None
depends_on = None


def _sqlite_triggers(table: str, keys: list[str]) -> list[str]:
    clash = " OR ".join(f"{k} = NEW.{k}" for k in keys)
    return [
        f"""CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table}
           WHEN EXISTS (SELECT 1 FROM {table} WHERE {clash})
           BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END""",
        f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
           BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END""",
        f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
           BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END""",
    ]


# Deletes are allowed only to the table's owner (the role that runs migrations)
# inside a transaction that set ``ccms.audit_archive`` (``ccms audit archive``);
# the app's role is not the owner, so the setting does nothing for it.
PG_FUNCTION = """CREATE FUNCTION core_audit_append_only() RETURNS trigger AS $$
       BEGIN
         IF TG_OP = 'DELETE' AND current_setting('ccms.audit_archive', true) = 'on'
            AND pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'USAGE') THEN
           RETURN OLD;
         END IF;
         RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
       END $$ LANGUAGE plpgsql"""


def _pg_triggers(table: str) -> list[str]:
    return [
        f"""CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}
           FOR EACH ROW EXECUTE FUNCTION core_audit_append_only()""",
        f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
           FOR EACH STATEMENT EXECUTE FUNCTION core_audit_append_only()""",
    ]


def upgrade() -> None:
    op.create_table(
        "core_audit_chain",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("audit_id", name="uq_core_audit_chain_audit_id"),
    )
    op.create_table(
        "core_audit_archive",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("first_seq", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("last_chain_hash", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    if op.get_bind().dialect.name == "sqlite":
        stmts = ["""CREATE TRIGGER core_audit_log_no_replace BEFORE INSERT ON core_audit_log
           WHEN EXISTS (SELECT 1 FROM core_audit_log WHERE id = NEW.id)
           BEGIN SELECT RAISE(ABORT, 'core_audit_log is append-only'); END"""]
        stmts += _sqlite_triggers("core_audit_chain", ["seq", "audit_id"])
        stmts += _sqlite_triggers("core_audit_archive", ["id"])
    else:
        stmts = [PG_FUNCTION,
                 "DROP TRIGGER core_audit_log_no_change ON core_audit_log",
                 "DROP TRIGGER core_audit_log_no_truncate ON core_audit_log",
                 *_pg_triggers("core_audit_log"), *_pg_triggers("core_audit_chain"),
                 *_pg_triggers("core_audit_archive")]
    for stmt in stmts:
        op.execute(stmt)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS core_audit_log_no_replace")
    else:
        for table in ("core_audit_log", "core_audit_chain", "core_audit_archive"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS core_audit_append_only()")
        op.execute("""CREATE TRIGGER core_audit_log_no_change BEFORE UPDATE OR DELETE ON core_audit_log
           FOR EACH ROW EXECUTE FUNCTION core_audit_log_append_only()""")
        op.execute("""CREATE TRIGGER core_audit_log_no_truncate BEFORE TRUNCATE ON core_audit_log
           FOR EACH STATEMENT EXECUTE FUNCTION core_audit_log_append_only()""")
    op.drop_table("core_audit_archive")
    op.drop_table("core_audit_chain")
