"""command: 值班长 see the day's key figures on their workbench (command.figures.view)

Roles are created from the manifest only once, so a deployment that already has
the 值班长 role would not get the permission the manifest now gives it.

Revision ID: 0011_leader_figures
Revises: 0010_map
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

revision = "0011_leader_figures"
down_revision = "0010_map"
branch_labels = None
depends_on = None

PERM, ROLE = "command.figures.view", "command_shift_leader"


def upgrade() -> None:
    bind = op.get_bind()
    if not bind.execute(sa.text("SELECT 1 FROM core_role WHERE code = :r"), {"r": ROLE}).first():
        return  # a new deployment: the role is created with it
    if bind.execute(sa.text("SELECT 1 FROM casbin_rule WHERE ptype = 'p' AND v0 = :r AND v1 = :p"),
                    {"r": ROLE, "p": PERM}).first():
        return
    bind.execute(sa.text("INSERT INTO casbin_rule (ptype, v0, v1) VALUES ('p', :r, :p)"), {"r": ROLE, "p": PERM})
    bind.execute(sa.text("UPDATE core_authz_state SET version = version + 1"))


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM casbin_rule WHERE ptype = 'p' AND v0 = :r AND v1 = :p"), {"r": ROLE, "p": PERM})
    bind.execute(sa.text("UPDATE core_authz_state SET version = version + 1"))
