"""Migration 0017_permission_prefix: permissions renamed to carry their owner's prefix
(issue 12) keep working for the roles and API tokens that held them before the upgrade."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from ccms import migrate
from ccms.app import App


def test_grants_and_token_scopes_follow_the_renamed_permissions(ctx: App) -> None:
    cfg = migrate._config(ctx.db.engine, migrate.CORE_MIGRATIONS, "alembic_version")
    command.downgrade(cfg, "0016_flow_start")
    with ctx.db.engine.begin() as conn:  # what a deployment upgraded from 0016 holds
        conn.execute(sa.text("INSERT INTO casbin_rule (ptype, v0, v1) VALUES "
                             "('p', 'staff', 'forms.share_filters'), ('p', 'staff', 'notice.edit')"))
        person = conn.scalar(sa.text("SELECT min(id) FROM core_person"))
        conn.execute(sa.text("INSERT INTO core_api_token (person_id, name, prefix, token_hash, scopes, created_at) "
                             "VALUES (:p, 'feed', 'feed', 'feedhash', :s, CURRENT_TIMESTAMP)")
                     .bindparams(sa.bindparam("s", type_=sa.JSON)),
                     {"p": person, "s": ["notice.view", "core.audit.view"]})
    command.upgrade(cfg, "heads")
    ctx.db.engine.dispose()
    ctx.authz.ensure_fresh()
    perms = ctx.authz.role_permissions("staff")
    assert {"core.forms.share_filters", "example_notice.edit"} <= set(perms)
    assert not {"forms.share_filters", "notice.edit"} & set(perms)
    with ctx.db.engine.connect() as conn:
        scopes = conn.execute(sa.select(sa.column("scopes", sa.JSON)).select_from(sa.table("core_api_token"))
                              .where(sa.column("name") == "feed")).scalar_one()
    assert scopes == ["example_notice.view", "core.audit.view"]
