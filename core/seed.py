"""Bootstrap data every deployment needs: proposed roles and the root org.

Idempotent: run by ``ccms db upgrade``, ``ccms demo`` and the test fixtures.
Roles a plugin proposes are created once; afterwards administrators own them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, auth
from .calendar.service import seed_calendars
from .dictionaries.seed import seed_dictionaries
from .errors import Conflict
from .flows.store import sync_from_files as sync_flows_from_files
from .forms.store import sync_from_files
from .forms.widgets_region import seed_regions
from .models import Org, Person, Role


def sync_roles(ctx: Any, session: Session) -> list[str]:
    """Create the roles proposed by core and enabled plugins' manifests, once."""
    created = []
    existing = set(session.scalars(select(Role.code)))
    for info in ctx.all_infos:
        for r in info.manifest.get("roles", []):
            if r["code"] in existing:
                continue
            name = ctx.catalog.localize(r["name"], ctx.deployment.locale)
            session.add(Role(code=r["code"], name=name, builtin=True,
                             description=f"{info.name(ctx.deployment.locale)}"))
            ctx.authz.set_role_permissions(session, r["code"], r["permissions"])
            audit.record(session, None, "role_create", "role", r["code"], after={"permissions": r["permissions"]},
                         summary=f"seeded from {info.id}")
            existing.add(r["code"])
            created.append(r["code"])
    return created


def ensure_root_org(ctx: Any, session: Session) -> Org:
    """The platform's own org: the root of the tree, with the deployment's region code."""
    root = session.scalar(select(Org).where(Org.parent_id.is_(None)).order_by(Org.id))
    if root is None:
        root = Org(name=ctx.deployment.name, kind="tier", region_code=ctx.deployment.region_code, path="")
        session.add(root)
        session.flush()
        root.path = f"/{root.id}/"
        audit.record(session, None, "org_create", "org", root.id, after={"name": root.name}, summary="root org")
        ctx.authz.bump(session)
    return root


def bootstrap(ctx: Any) -> Org:
    with ctx.db.session() as s:
        sync_roles(ctx, s)
        root = ensure_root_org(ctx, s)
        seed_dictionaries(ctx, s)
        seed_regions(ctx, s)  # 行政区划 for region pickers (create-only)
        seed_calendars(ctx, s)
        # Form definitions from core, plugins and the deployment's form_defs/:
        # a changed file becomes the published version; a bad one stops here.
        sync_from_files(ctx, s)
        # Flow definitions the same way, after the forms they are bound to.
        sync_flows_from_files(ctx, s)
    return root


def create_admin(ctx: Any, session: Session, username: str, display_name: str, password: str,
                 org_id: int | None = None, must_change: bool = False) -> Person:
    """An administrator holding the ``admin`` role on the root org."""
    auth.check_password_policy(password, ctx.deployment.security, username, display_name=display_name)
    if session.scalar(select(Person).where(Person.username == username)):
        raise Conflict(f"用户名 {username} 已存在", f"user name {username} already exists")
    if org_id is None:
        org_id = ensure_root_org(ctx, session).id
    person = Person(username=username, display_name=display_name, org_id=org_id, post="系统管理员")
    auth.set_password(person, password, must_change=must_change)
    session.add(person)
    session.flush()
    ctx.authz.grant(session, person.id, "admin", org_id)
    audit.record(session, None, "person_create", "person", person.id,
                 after={"username": username, "roles": ["admin"]}, summary="administrator created")
    return person
