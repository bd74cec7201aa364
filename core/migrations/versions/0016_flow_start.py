"""core: 发起流程 needs a permission (core.flow.start) for flows without a form

Until now any signed-in user could start a form-less flow (an auditor saw
发起流程). Roles that exist at upgrade keep what they could do, except the
built-in auditor and personnel-administrator roles, which are not meant to
take part in business flows (等保 separation of duties).

Revision ID: 0016_flow_start
Revises: 0015_calendar_provisional
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

revision = "0016_flow_start"
down_revision = "0015_calendar_provisional"
branch_labels = None
depends_on = None

PERM = "core.flow.start"
EXCLUDED = ("auditor", "admin")  # admin holds "*" already


def upgrade() -> None:
    bind = op.get_bind()
    roles = [r for (r,) in bind.execute(sa.text("SELECT code FROM core_role")) if r not in EXCLUDED]
    have = {r for (r,) in bind.execute(sa.text("SELECT v0 FROM casbin_rule WHERE ptype = 'p' AND v1 = :p"),
                                       {"p": PERM})}
    new = [r for r in roles if r not in have]
    for role in new:
        bind.execute(sa.text("INSERT INTO casbin_rule (ptype, v0, v1) VALUES ('p', :r, :p)"), {"r": role, "p": PERM})
    if new:  # every process reloads its permission index
        bind.execute(sa.text("UPDATE core_authz_state SET version = version + 1"))


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM casbin_rule WHERE ptype = 'p' AND v1 = :p"), {"p": PERM})
    bind.execute(sa.text("UPDATE core_authz_state SET version = version + 1"))
