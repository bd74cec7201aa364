"""core: permission ids carry their owner's prefix (issue 12)

Start-up now refuses a permission id that does not start with its plugin's id, so
two ids were renamed: ``forms.share_filters`` → ``core.forms.share_filters`` and
example_notice's ``notice.view`` / ``notice.edit`` → ``example_notice.view`` /
``example_notice.edit``. Grants (casbin ``p`` rules) and API token scopes that name
the old ids are rewritten, so nobody loses what they could do at upgrade.

Revision ID: 0017_permission_prefix
Revises: 0016_flow_start
Create Date: 2026-12-07
"""
import json

from alembic import op
import sqlalchemy as sa

revision = "0017_permission_prefix"
down_revision = "0016_flow_start"
branch_labels = None
depends_on = None

RENAMES = {"forms.share_filters": "core.forms.share_filters",
           "notice.view": "example_notice.view", "notice.edit": "example_notice.edit"}


def _rename(mapping: dict[str, str]) -> None:
    bind = op.get_bind()
    changed = 0
    for old, new in mapping.items():
        changed += bind.execute(sa.text("UPDATE casbin_rule SET v1 = :new WHERE ptype = 'p' AND v1 = :old"),
                                {"old": old, "new": new}).rowcount or 0
    for tid, scopes in bind.execute(sa.text("SELECT id, scopes FROM core_api_token")).all():
        values = json.loads(scopes) if isinstance(scopes, str) else (scopes or [])
        renamed = [mapping.get(s, s) for s in values]
        if renamed != values:
            bind.execute(sa.text("UPDATE core_api_token SET scopes = :s WHERE id = :id")
                         .bindparams(sa.bindparam("s", type_=sa.JSON)), {"s": renamed, "id": tid})
    if changed:  # every process reloads its permission index
        bind.execute(sa.text("UPDATE core_authz_state SET version = version + 1"))


def upgrade() -> None:
    _rename(RENAMES)


def downgrade() -> None:
    _rename({new: old for old, new in RENAMES.items()})
