"""Roles (named permission sets) and grants (a role to a person within an org's subtree).

Roles are deployment-wide: a role's permissions apply wherever it is granted,
so defining roles (create, edit, delete, set permissions) needs
``core.role.edit`` at the root org. Grants are per org domain: granting or
revoking needs ``core.role.edit`` in the grant's org.

Privilege escalation guard (a business rule, so it lives here and applies to
every caller that names a user in ``by``):

* nobody hands out what they do not hold: a grant needs every permission of
  the role in the grant's org; adding a permission to a role needs it at the
  root;
* a role holding ``"*"`` (administrator) can only be granted, revoked, given or
  stripped of ``"*"`` by someone holding ``"*"`` at the root;
* the last ``"*"`` grant at the root cannot be revoked, so a deployment never
  locks itself out.

``by=None`` means a trusted caller (CLI, seeds): only business rules apply.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import String, cast, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from .. import audit
from ..authz import ALL, domain, subject
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..forms.access import form_permissions
from ..models import CasbinRule, Org, Person, Role
from . import check_version, coerce, field_error, stripped_name

CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
RESERVED_CODES = {"new"}  # /admin/roles/new is the create form


def _code(v: str) -> str:
    v = v.strip()
    if not CODE_RE.match(v):
        raise ValueError("角色代码须以小写字母开头，只能包含小写字母、数字和下划线 / "
                         "role code must start with a lowercase letter and use only a-z, 0-9 and _")
    if v in RESERVED_CODES:
        raise ValueError(f"“{v}”是保留字，不能用作角色代码 / {v!r} is reserved and cannot be a role code")
    return v




class RoleCreate(BaseModel):
    """A new role; ``permissions`` are permission ids (or ``"*"``)."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=1000)
    permissions: list[str] = Field(default_factory=list)

    _v_code = field_validator("code")(_code)
    _v_name = field_validator("name")(stripped_name)


class RoleUpdate(BaseModel):
    """Changed fields of a role plus the version the editor read."""

    model_config = ConfigDict(extra="forbid")
    version: int
    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=1000)
    permissions: list[str] | None = None

    _v_name = field_validator("name")(stripped_name)


class PermissionsIn(BaseModel):
    """The complete new permission set of a role."""

    model_config = ConfigDict(extra="forbid")
    permissions: list[str]
    version: int = Field(description="the role version the caller read (required: a stale one is a 409)")


class GrantIn(BaseModel):
    """One grant: a role to a person within an org (and its subtree)."""

    model_config = ConfigDict(extra="forbid")
    person_id: int = Field(ge=1)
    role: str = Field(min_length=1, max_length=64)
    org_id: int = Field(ge=1)


# -- reads -------------------------------------------------------------------

def root_org_id(session: Session) -> int | None:
    """The platform's root org (the first org without a parent)."""
    return session.scalar(select(Org.id).where(Org.parent_id.is_(None)).order_by(Org.id).limit(1))


def get(session: Session, code: str) -> Role:
    role = session.scalar(select(Role).where(Role.code == code)) if isinstance(code, str) else None
    if role is None:
        raise NotFound(f"角色 {code} 不存在", f"role {code} does not exist")
    return role


def permissions_of(session: Session, code: str) -> list[str]:
    """The role's permissions as stored (read in the caller's transaction, not the cached index)."""
    return sorted(session.scalars(select(CasbinRule.v1).where(CasbinRule.ptype == "p", CasbinRule.v0 == code)))


def grant_count(session: Session, code: str) -> int:
    return session.scalar(select(func.count()).select_from(CasbinRule)
                          .where(CasbinRule.ptype == "g", CasbinRule.v1 == code)) or 0


def snapshot(session: Session, role: Role) -> dict[str, Any]:
    """The audited fields of a role."""
    return {"code": role.code, "name": role.name, "description": role.description,
            "permissions": permissions_of(session, role.code)}


def as_dict(session: Session, role: Role) -> dict[str, Any]:
    """The JSON shape of a role (``RoleOut``)."""
    perms = permissions_of(session, role.code)
    return {"code": role.code, "name": role.name, "description": role.description, "builtin": role.builtin,
            "permissions": perms, "permission_count": len(perms), "grant_count": grant_count(session, role.code),
            "version": role.version}


def list_roles(session: Session, q: str = "") -> list[dict[str, Any]]:
    """Every role with its permission and grant counts (two GROUP BY queries, not one per role)."""
    stmt = select(Role).order_by(Role.builtin.desc(), Role.code)
    if q:
        like = "%" + _escape_like(q.strip()) + "%"
        stmt = stmt.where(or_(Role.code.ilike(like, escape="\\"), Role.name.ilike(like, escape="\\")))
    roles = list(session.scalars(stmt))
    perm_counts = dict(session.execute(select(CasbinRule.v0, func.count()).where(CasbinRule.ptype == "p")
                                       .group_by(CasbinRule.v0)).all())
    grant_counts = dict(session.execute(select(CasbinRule.v1, func.count()).where(CasbinRule.ptype == "g")
                                        .group_by(CasbinRule.v1)).all())
    all_roles = set(session.scalars(select(CasbinRule.v0).where(CasbinRule.ptype == "p", CasbinRule.v1 == ALL)))
    return [{"code": r.code, "name": r.name, "description": r.description, "builtin": r.builtin,
             "permission_count": perm_counts.get(r.code, 0), "grant_count": grant_counts.get(r.code, 0),
             "all": r.code in all_roles, "version": r.version} for r in roles]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def domain_paths(ctx: Any, session: Session, user: Any, permission: str) -> list[str] | None:
    """Subtree paths where ``user`` holds ``permission``; None means everywhere (held at the root)."""
    root = root_org_id(session)
    if root is not None and ctx.can(user, permission, root):
        return None
    if user is None or not ctx.can_anywhere(user, permission):
        return []
    ids = ctx.authz.grant_orgs(user.id, permission)
    return sorted(p for p in session.scalars(select(Org.path).where(Org.id.in_(ids))) if p) if ids else []


def _in_paths(paths: list[str] | None) -> Any:
    if paths is None:
        return None
    if not paths:
        return Org.id.is_(None)  # matches nothing (Org.id is never NULL)
    return or_(*[Org.path.like(p + "%") for p in paths])


def grants(session: Session, *, person_id: int | None = None, org_id: int | None = None, role: str | None = None,
           paths: list[str] | None = None, limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Grants with person, org and role names, filtered; ``paths`` limits them to those subtrees."""
    stmt = (select(CasbinRule.v0, CasbinRule.v1, CasbinRule.v2, Person, Org, Role.name)
            .join(Person, CasbinRule.v0 == literal("u:") + cast(Person.id, String))
            .join(Org, CasbinRule.v2 == literal("o:") + cast(Org.id, String))
            .outerjoin(Role, Role.code == CasbinRule.v1)
            .where(CasbinRule.ptype == "g"))
    if person_id is not None:
        stmt = stmt.where(CasbinRule.v0 == subject(person_id))
    if org_id is not None:
        stmt = stmt.where(CasbinRule.v2 == domain(org_id))
    if role:
        stmt = stmt.where(CasbinRule.v1 == role)
    scope = _in_paths(paths)
    if scope is not None:
        stmt = stmt.where(scope)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(stmt.order_by(CasbinRule.v1, Org.path, Person.display_name, Person.id)
                           .limit(limit).offset(offset)).all()
    out = [{"person_id": p.id, "username": p.username, "display_name": p.display_name, "person_active": p.active,
            "role": code, "role_name": role_name or code, "org_id": o.id, "org_name": o.name, "org_path": o.path}
           for _, code, _, p, o, role_name in rows]
    return out, total


# -- permission ids and the escalation guard -----------------------------------

def check_permission_ids(ctx: Any, perms: Iterable[Any], keep: Iterable[str] = (),
                         extra: Iterable[str] = ()) -> list[str]:
    """Known permission ids (or ``"*"``), de-duplicated and sorted; unknown ids are a field error.

    ``keep``: ids the role already holds stay acceptable even when no enabled
    plugin declares them any more (a disabled plugin's permissions survive an
    edit of the role, and come back to life when the plugin is enabled again).
    """
    keep = set(keep) | set(extra)  # extra: ids declared as data (form.<id>.<action> of published forms)
    wanted: list[str] = []
    bad: list[str] = []
    for p in perms:
        if not isinstance(p, str):
            bad.append(repr(p))
        elif p == ALL or p in ctx.permissions or p in keep:
            if p not in wanted:
                wanted.append(p)
        else:
            bad.append(p)
    if bad:
        zh = f"未知的权限：{', '.join(bad)}"
        en = f"unknown permission(s): {', '.join(bad)}"
        raise ValidationFailed(zh, en, fields=field_error("permissions", zh, en))
    return sorted(wanted)


def _holds_all_at_root(ctx: Any, session: Session, by: Any) -> bool:
    root = root_org_id(session)
    return root is not None and ctx.can(by, ALL, root)


def _need_all_at_root(ctx: Any, session: Session, by: Any, what_zh: str, what_en: str) -> None:
    if not _holds_all_at_root(ctx, session, by):
        raise Forbidden(f"只有在根机构拥有全部权限（*）的管理员才能{what_zh}",
                        f"only an administrator holding all permissions (*) at the root org may {what_en}",
                        code="privilege_escalation")


def require_define(ctx: Any, session: Session, by: Any) -> None:
    """Defining roles changes them everywhere: needs ``core.role.edit`` at the root."""
    if by is None:
        return
    root = root_org_id(session)
    if root is None or not ctx.can(by, "core.role.edit", root):
        raise Forbidden("角色定义对全平台生效，需要在根机构拥有“维护角色与授权”权限",
                        "roles apply platform-wide: defining them needs core.role.edit at the root org")


def _check_perm_change(ctx: Any, session: Session, by: Any, old: set[str], new: set[str]) -> None:
    if by is None or old == new:
        return
    if ALL in old or ALL in new:
        _need_all_at_root(ctx, session, by, "修改拥有全部权限（*）的角色", "change a role holding all permissions (*)")
        return
    root = root_org_id(session)
    missing = sorted(p for p in new - old if root is None or not ctx.can(by, p, root))
    if missing:
        zh = f"不能授出自己在根机构不具备的权限：{', '.join(missing)}"
        en = f"you cannot hand out permissions you do not hold at the root org: {', '.join(missing)}"
        raise Forbidden(zh, en, code="privilege_escalation", fields=field_error("permissions", zh, en))


def check_may_assign(ctx: Any, session: Session, by: Any, role_code: str, org_id: int) -> None:
    """May ``by`` grant (or revoke) this role in this org? Raises :class:`Forbidden` if not."""
    if by is None:
        return
    if not ctx.can(by, "core.role.edit", org_id):
        raise Forbidden("您在该机构没有“维护角色与授权”权限", "you may not manage grants in this org (core.role.edit)")
    perms = set(permissions_of(session, role_code))
    if ALL in perms:
        _need_all_at_root(ctx, session, by, "授予或撤销拥有全部权限（*）的角色",
                          "grant or revoke a role holding all permissions (*)")
        return
    missing = sorted(p for p in perms if not ctx.can(by, p, org_id))
    if missing:
        raise Forbidden(f"不能授出自己在该机构不具备的权限：{', '.join(missing)}",
                        f"you cannot hand out permissions you do not hold in this org: {', '.join(missing)}",
                        code="privilege_escalation")


def _root_all_grants(session: Session, root: int, all_roles: set[str]) -> int:
    if not all_roles:
        return 0
    return session.scalar(select(func.count()).select_from(CasbinRule).where(
        CasbinRule.ptype == "g", CasbinRule.v2 == domain(root), CasbinRule.v1.in_(all_roles))) or 0


def _all_roles(session: Session) -> set[str]:
    return set(session.scalars(select(CasbinRule.v0).where(CasbinRule.ptype == "p", CasbinRule.v1 == ALL)))


def _keep_an_administrator(session: Session) -> None:
    """After a change in this transaction, someone must still hold ``"*"`` at the root."""
    root = root_org_id(session)
    if root is not None and _root_all_grants(session, root, _all_roles(session)) == 0:
        raise Conflict("这是根机构上最后一个拥有全部权限（*）的授权，撤销后将无人能管理平台，已拒绝",
                       "this is the last grant of all permissions (*) at the root org: nobody could administer "
                       "the platform afterwards, so it was refused", code="last_administrator")


# -- role writes ---------------------------------------------------------------

def create(session: Session, actor: audit.Actor | None, ctx: Any, data: RoleCreate | Mapping[str, Any],
           *, by: Any = None) -> Role:
    """Create a role with its permissions."""
    d = coerce(RoleCreate, data)
    require_define(ctx, session, by)
    perms = check_permission_ids(ctx, d.permissions, extra=form_permission_ids(session))
    if session.scalar(select(Role.id).where(Role.code == d.code)) is not None:
        zh, en = f"角色代码 {d.code} 已存在", f"role code {d.code} already exists"
        raise ValidationFailed(zh, en, fields=field_error("code", zh, en))
    _check_perm_change(ctx, session, by, set(), set(perms))
    role = Role(code=d.code, name=d.name, description=d.description, builtin=False)
    session.add(role)
    session.flush()
    ctx.authz.set_role_permissions(session, role.code, perms)
    audit.record(session, actor, "role_create", "role", role.code, after=snapshot(session, role),
                 summary=f"创建角色 {role.name}（{role.code}）")
    return role


def edit(session: Session, actor: audit.Actor | None, ctx: Any, code: str, data: RoleUpdate | Mapping[str, Any],
         *, by: Any = None) -> Role:
    """Change name, description and (if given) the permission set; optimistic lock on ``version``."""
    d = coerce(RoleUpdate, data)
    require_define(ctx, session, by)
    role = get(session, code)
    check_version(role, d.version, "角色", "role")
    before = snapshot(session, role)
    perms = before["permissions"]
    if d.permissions is not None:
        perms = check_permission_ids(ctx, d.permissions, keep=before["permissions"],
                                     extra=form_permission_ids(session))
        _check_perm_change(ctx, session, by, set(before["permissions"]), set(perms))
    after = {**before, "permissions": perms}
    if d.name is not None:
        after["name"] = d.name
    if d.description is not None:
        after["description"] = d.description
    b, a = audit.changes(before, after)
    if not a:
        return role
    if "permissions" in a:  # before touching the role, so its version is bumped exactly once
        ctx.authz.set_role_permissions(session, role.code, perms)
    role.name, role.description = after["name"], after["description"]
    flag_modified(role, "name")  # permissions live in casbin_rule: bump the role's version anyway
    session.flush()
    if ALL in before["permissions"] and ALL not in perms:
        _keep_an_administrator(session)
    audit.record(session, actor, "role_edit", "role", role.code, before=b, after=a,
                 summary=f"修改角色 {role.name}（{role.code}）")
    return role


def set_permissions(session: Session, actor: audit.Actor | None, ctx: Any, code: str, perms: Iterable[Any],
                    version: int, *, by: Any = None) -> Role:
    """Replace the role's permission set (``"*"`` = all); ``version`` is the one
    the editor read, as for every other edit (a stale one is a 409)."""
    require_define(ctx, session, by)
    role = get(session, code)
    check_version(role, version, "角色", "role")
    before = permissions_of(session, role.code)
    wanted = check_permission_ids(ctx, perms, keep=before, extra=form_permission_ids(session))
    _check_perm_change(ctx, session, by, set(before), set(wanted))
    if set(before) == set(wanted):
        return role
    ctx.authz.set_role_permissions(session, role.code, wanted)
    flag_modified(role, "name")
    session.flush()
    if ALL in before and ALL not in wanted:
        _keep_an_administrator(session)
    audit.record(session, actor, "role_permissions", "role", role.code, before={"permissions": before},
                 after={"permissions": wanted}, summary=f"设置角色 {role.name}（{role.code}）的权限")
    return role


def delete(session: Session, actor: audit.Actor | None, ctx: Any, code: str, version: int | None = None,
           *, by: Any = None) -> None:
    """Delete a role nobody holds; refused (with the reason) while it is granted."""
    require_define(ctx, session, by)
    role = get(session, code)
    check_version(role, version, "角色", "role")
    n = grant_count(session, role.code)
    if n:
        raise Conflict(f"角色“{role.name}”仍授予了 {n} 人次，不能删除；请先撤销这些授权",
                       f"role {role.code!r} is still granted {n} time(s): revoke those grants first",
                       code="role_in_use")
    before = snapshot(session, role)
    _check_perm_change(ctx, session, by, set(before["permissions"]), set())
    ctx.authz.remove_role(session, role.code)
    session.delete(role)
    session.flush()
    audit.record(session, actor, "role_delete", "role", code, before=before,
                 summary=f"删除角色 {before['name']}（{code}）")


# -- grants ----------------------------------------------------------------------

def _grant_parts(session: Session, data: GrantIn | Mapping[str, Any]) -> tuple[GrantIn, Person, Role, Org]:
    d = coerce(GrantIn, data)
    person = session.get(Person, d.person_id)
    if person is None:
        zh, en = f"人员 {d.person_id} 不存在", f"person {d.person_id} does not exist"
        raise ValidationFailed(zh, en, fields=field_error("person_id", zh, en))
    role = session.scalar(select(Role).where(Role.code == d.role))
    if role is None:
        zh, en = f"角色 {d.role} 不存在", f"role {d.role} does not exist"
        raise ValidationFailed(zh, en, fields=field_error("role", zh, en))
    org = session.get(Org, d.org_id)
    if org is None:
        zh, en = f"机构 {d.org_id} 不存在", f"org {d.org_id} does not exist"
        raise ValidationFailed(zh, en, fields=field_error("org_id", zh, en))
    return d, person, role, org


def grant(session: Session, actor: audit.Actor | None, ctx: Any, data: GrantIn | Mapping[str, Any],
          *, by: Any = None) -> bool:
    """Grant a role to a person within an org's subtree; False if it was already granted."""
    d, person, role, org = _grant_parts(session, data)
    if not person.active:
        zh, en = f"人员“{person.display_name}”已停用，不能授权", f"person {person.username!r} is deactivated"
        raise ValidationFailed(zh, en, fields=field_error("person_id", zh, en))
    if not org.active:
        zh, en = f"机构“{org.name}”已停用，不能在其中授权", f"org {org.name!r} is deactivated"
        raise ValidationFailed(zh, en, fields=field_error("org_id", zh, en))
    check_may_assign(ctx, session, by, role.code, org.id)
    if not ctx.authz.grant(session, person.id, role.code, org.id):
        return False
    audit.record(session, actor, "role_grant", "person", person.id, after={"role": role.code, "org_id": org.id},
                 summary=f"授予 {person.display_name}（{person.username}）角色“{role.name}”，范围：{org.name}")
    return True


def revoke(session: Session, actor: audit.Actor | None, ctx: Any, data: GrantIn | Mapping[str, Any],
           *, by: Any = None) -> None:
    """Take a grant back; NotFound if there was none."""
    d = coerce(GrantIn, data)
    person = session.get(Person, d.person_id)
    org = session.get(Org, d.org_id)
    role = session.scalar(select(Role).where(Role.code == d.role))
    if org is not None:
        check_may_assign(ctx, session, by, d.role, org.id)
    if person is None or org is None or not ctx.authz.revoke(session, d.person_id, d.role, d.org_id):
        raise NotFound("该授权不存在（可能已被撤销）", "no such grant (it may have been revoked already)")
    if ALL in permissions_of(session, d.role):
        _keep_an_administrator(session)
    name = role.name if role else d.role
    audit.record(session, actor, "role_revoke", "person", person.id, before={"role": d.role, "org_id": org.id},
                 summary=f"撤销 {person.display_name}（{person.username}）的角色“{name}”，范围：{org.name}")


# -- grouping for screens --------------------------------------------------------

def permission_groups(ctx: Any, session: Session | None = None) -> list[dict[str, Any]]:
    """Declared permissions grouped by plugin (core first, then enabled plugins), names localized;
    with a session, the published forms' permissions follow as one group 表单."""
    loc = ctx.deployment.locale
    groups = []
    for info in ctx.all_infos:
        perms = [{"id": p["id"], "name": ctx.catalog.localize(p["name"], loc),
                  "description": ctx.catalog.localize(p.get("description", ""), loc)} for p in info.permissions]
        if perms:
            groups.append({"plugin_id": info.id, "plugin_name": info.name(loc), "permissions": perms})
    if session is not None:
        perms = [{"id": pid, "name": ctx.catalog.localize(p["name"], loc), "description": ""}
                 for pid, p in form_permissions(session, loc).items()]
        if perms:
            groups.append({"plugin_id": "forms", "plugin_name": ctx.gettext("form_records.group"), "permissions": perms})
    return groups


def form_permission_ids(session: Session) -> set[str]:
    """Permission ids of the published forms (they are data, not in any manifest)."""
    return set(form_permissions(session))
