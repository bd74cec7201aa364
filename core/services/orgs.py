"""The org tree: create, edit, move, deactivate/reactivate and delete orgs.

Orgs form a tree through ``parent_id`` and the materialised ``path``
(``/1/4/9/``). Moving an org rewrites the path of its whole subtree in one
UPDATE and bumps the permission version, because a grant's coverage is its
org's subtree. Orgs with history are deactivated, never deleted: delete is
only for a mistake nobody used yet (no people, no child orgs, no grants).
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import bindparam, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from .. import audit
from ..db import utcnow
# Read helpers of the org tree live in the kernel (forms use them too); re-exported for the web layer.
from ..authz import domain, domain_paths, subtree_filter  # noqa: F401
from ..config import check_region_code
from ..errors import Conflict, NotFound, ValidationFailed
from ..models import ORG_KINDS, CasbinRule, Org, Person
from . import check_version, coerce, field_error, stripped_name

OrgKind = Literal["tier", "region", "department", "unit"]
assert set(ORG_KINDS) == {"tier", "region", "department", "unit"}


def _region(v: str | None) -> str | None:
    if v is None:
        return None
    v = v.strip()
    return check_region_code(v) if v else None




class OrgCreate(BaseModel):
    """A new org under ``parent_id``."""

    model_config = ConfigDict(extra="forbid")
    parent_id: int | None = None
    name: str = Field(min_length=1, max_length=200)
    kind: OrgKind
    region_code: str | None = Field(None, description="GB/T 2260, six digits; required for kind=region")
    sort: int = Field(0, ge=0, le=1_000_000)

    _v_region = field_validator("region_code")(_region)
    _v_name = field_validator("name")(stripped_name)


class OrgUpdate(BaseModel):
    """Changed fields of an org plus the version the editor read."""

    model_config = ConfigDict(extra="forbid")
    version: int
    name: str | None = Field(None, min_length=1, max_length=200)
    kind: OrgKind | None = None
    region_code: str | None = None
    sort: int | None = Field(None, ge=0, le=1_000_000)

    _v_region = field_validator("region_code")(_region)

    @field_validator("name")
    @classmethod
    def _v_name(cls, v: str | None) -> str | None:
        return stripped_name(v)


def snapshot(org: Org) -> dict[str, Any]:
    """The audited fields of an org."""
    return {"name": org.name, "kind": org.kind, "region_code": org.region_code, "parent_id": org.parent_id,
            "path": org.path, "sort": org.sort, "active": org.active}


def get(session: Session, org_id: int) -> Org:
    org = session.get(Org, org_id)
    if org is None:
        raise NotFound(f"机构 {org_id} 不存在", f"org {org_id} does not exist")
    return org


def _check_region_kind(kind: str, region_code: str | None) -> None:
    if kind == "region" and not region_code:
        zh, en = "区域机构必须填写行政区划代码", "a region org needs a region code"
        raise ValidationFailed(zh, en, fields=field_error("region_code", zh, en))


# Statements of the create path, built once (building them cost as much as running them).
_SIBLING = select(Org.id).where(Org.parent_id == bindparam("parent_id"), Org.name == bindparam("name")).limit(1)
_ROOT_SIBLING = select(Org.id).where(Org.parent_id.is_(None), Org.name == bindparam("name")).limit(1)
_ANY_ORG = select(Org.id).limit(1)
_SET_PATH = update(Org).where(Org.id == bindparam("oid")).values(path=bindparam("new_path"))


def _check_sibling_name(session: Session, parent_id: int | None, name: str, own_id: int | None = None,
                        field: str = "name") -> None:
    if own_id is None:
        stmt, params = (_SIBLING, {"parent_id": parent_id, "name": name}) if parent_id is not None \
            else (_ROOT_SIBLING, {"name": name})
        taken = session.scalar(stmt, params) is not None
    else:
        stmt = select(Org.id).where(Org.parent_id == parent_id if parent_id is not None else Org.parent_id.is_(None),
                                    Org.name == name, Org.id != own_id)
        taken = session.scalar(stmt.limit(1)) is not None
    if taken:
        zh, en = f"同一上级机构下已有名为“{name}”的机构", f"the parent org already has an org named {name!r}"
        raise ValidationFailed(zh, en, fields=field_error(field, zh, en))


class ParentRef(NamedTuple):
    """What creating or moving under an org needs of it (no ORM object: cheaper)."""

    id: int
    name: str
    path: str
    active: bool


_PARENT = select(Org.id, Org.name, Org.path, Org.active).where(Org.id == bindparam("oid"))


def parent_ref(session: Session, org_id: int) -> ParentRef | None:
    row = session.execute(_PARENT, {"oid": org_id}).first()
    return ParentRef(*row) if row is not None else None


def _parent(session: Session, parent_id: int | None, field: str = "parent_id") -> ParentRef:
    if parent_id is None:
        zh, en = "请选择上级机构", "choose a parent org"
        raise ValidationFailed(zh, en, fields=field_error(field, zh, en))
    parent = parent_ref(session, parent_id)
    if parent is None:
        zh, en = f"上级机构 {parent_id} 不存在", f"parent org {parent_id} does not exist"
        raise ValidationFailed(zh, en, fields=field_error(field, zh, en))
    return active_parent(parent, field)


def active_parent(parent: ParentRef, field: str = "parent_id") -> ParentRef:
    """A deactivated org takes no new children."""
    if not parent.active:
        zh, en = f"上级机构“{parent.name}”已停用", f"parent org {parent.name!r} is deactivated"
        raise ValidationFailed(zh, en, fields=field_error(field, zh, en))
    return parent


def create(session: Session, actor: audit.Actor | None, ctx: Any, data: OrgCreate | Mapping[str, Any],
           parent: ParentRef | None = None) -> Org:
    """Create an org under an active parent (only the very first org may be a root).

    ``parent`` may be passed when the caller already loaded it (to check the
    user's permission there). The row is written with two plain statements —
    the path needs the new id — and the returned object joins the session
    without being read back.
    """
    d = coerce(OrgCreate, data)
    if parent is None and (d.parent_id is not None or session.scalar(_ANY_ORG) is not None):
        parent = _parent(session, d.parent_id)
    _check_region_kind(d.kind, d.region_code)
    _check_sibling_name(session, parent.id if parent else None, d.name)
    now = utcnow()
    values = {"parent_id": parent.id if parent else None, "name": d.name, "kind": d.kind,
              "region_code": d.region_code, "sort": d.sort, "active": True, "created_at": now, "updated_at": now,
              "version": 1}
    oid = session.execute(insert(Org).values(path="", **values).returning(Org.id)).scalar_one()
    path = f"{parent.path if parent else '/'}{oid}/"
    session.execute(_SET_PATH, {"oid": oid, "new_path": path})
    org = Org(id=oid, path=path, **values)
    make_transient_to_detached(org)
    session.add(org)
    audit.record(session, actor, "org_create", "org", org.id, after=snapshot(org),
                 summary=f"创建机构 {org.name}")
    return org


def edit(session: Session, actor: audit.Actor | None, ctx: Any, org_id: int,
         data: OrgUpdate | Mapping[str, Any]) -> Org:
    """Rename or change kind, region code and sort order (optimistic lock on ``version``)."""
    d = coerce(OrgUpdate, data)
    org = get(session, org_id)
    check_version(org, d.version, "机构", "org")
    before = snapshot(org)
    name = d.name if d.name is not None else org.name
    kind = d.kind if d.kind is not None else org.kind
    region = org.region_code if "region_code" not in d.model_fields_set else d.region_code
    _check_region_kind(kind, region)
    if name != org.name:
        _check_sibling_name(session, org.parent_id, name, org.id)
    org.name, org.kind, org.region_code = name, kind, region
    if d.sort is not None:
        org.sort = d.sort
    b, a = audit.changes(before, snapshot(org))
    if a:
        session.flush()
        audit.record(session, actor, "org_edit", "org", org.id, before=b, after=a, summary=f"修改机构 {org.name}")
    return org


def move(session: Session, actor: audit.Actor | None, ctx: Any, org_id: int, new_parent_id: int,
         version: int | None = None) -> Org:
    """Put an org (and its subtree) under a new parent; every path below is rewritten."""
    org = get(session, org_id)
    check_version(org, version, "机构", "org")
    if org.parent_id is None:
        raise Conflict("根机构不能移动", "the root org cannot be moved")
    parent = _parent(session, new_parent_id)
    if parent.path.startswith(org.path):
        zh, en = "不能把机构移动到它自己或它的下级机构之下", "an org cannot be moved into its own subtree"
        raise ValidationFailed(zh, en, fields=field_error("parent_id", zh, en))
    if parent.id == org.parent_id:
        return org
    _check_sibling_name(session, parent.id, org.name, org.id, field="parent_id")
    before = snapshot(org)
    old_path = org.path
    new_path = f"{parent.path}{org.id}/"
    org.parent_id = parent.id
    org.path = new_path
    session.flush()  # version-checked UPDATE of the org itself
    # Descendants: one UPDATE, new prefix + the rest of the old path.
    session.execute(
        update(Org).where(Org.path.like(old_path + "%"), Org.id != org.id)
        .values(path=literal(new_path) + func.substr(Org.path, len(old_path) + 1), version=Org.version + 1)
        .execution_options(synchronize_session=False))
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Org) and obj is not org:
            session.expire(obj)
    audit.record(session, actor, "org_move", "org", org.id, before=before, after=snapshot(org),
                 summary=f"移动机构 {org.name}")
    ctx.authz.bump(session)  # grants cover subtrees: coverage just changed
    return org


def counts(session: Session, org: Org) -> dict[str, int]:
    """What hangs off an org: people (all / active), child orgs (all / active), grants."""
    people = session.execute(select(func.count(), func.count().filter(Person.active.is_(True)))
                             .where(Person.org_id == org.id)).one()
    children = session.execute(select(func.count(), func.count().filter(Org.active.is_(True)))
                               .where(Org.parent_id == org.id)).one()
    grants = session.scalar(select(func.count()).select_from(CasbinRule)
                            .where(CasbinRule.ptype == "g", CasbinRule.v2 == domain(org.id))) or 0
    return {"people": people[0], "active_people": people[1], "children": children[0],
            "active_children": children[1], "grants": grants}


# What still refers to an org, as "N things" in both languages (for refusals).
_IN_USE = {
    "active_children": ("{} 个启用的下级机构", "{} active child org(s)"),
    "active_people": ("{} 名启用的人员", "{} active people"),
    "people": ("{} 名人员", "{} people"),
    "children": ("{} 个下级机构", "{} child org(s)"),
    "grants": ("{} 条角色授权", "{} role grant(s)"),
}


def _still_in(c: Mapping[str, int], keys: tuple[str, ...]) -> tuple[list[str], list[str]]:
    found = [(_IN_USE[k][0].format(c[k]), _IN_USE[k][1].format(c[k])) for k in keys if c[k]]
    return [zh for zh, _ in found], [en for _, en in found]


def deactivate(session: Session, actor: audit.Actor | None, ctx: Any, org_id: int,
               version: int | None = None) -> Org:
    """Stop using an org; its rows and history stay. Refused while active people or sub-orgs remain."""
    org = get(session, org_id)
    check_version(org, version, "机构", "org")
    if org.parent_id is None:
        raise Conflict("根机构不能停用", "the root org cannot be deactivated")
    if not org.active:
        return org
    reasons_zh, reasons_en = _still_in(counts(session, org), ("active_children", "active_people"))
    if reasons_zh:
        raise Conflict(f"机构“{org.name}”下还有{'、'.join(reasons_zh)}，请先停用或调走后再停用",
                       f"org {org.name!r} still has {' and '.join(reasons_en)}: deactivate or move them first",
                       code="org_in_use")
    org.active = False
    session.flush()
    audit.record(session, actor, "org_deactivate", "org", org.id, before={"active": True}, after={"active": False},
                 summary=f"停用机构 {org.name}")
    return org


def reactivate(session: Session, actor: audit.Actor | None, ctx: Any, org_id: int,
               version: int | None = None) -> Org:
    """Use an org again; its parent must be active."""
    org = get(session, org_id)
    check_version(org, version, "机构", "org")
    if org.active:
        return org
    if org.parent_id is not None:
        parent = get(session, org.parent_id)
        if not parent.active:
            raise Conflict(f"上级机构“{parent.name}”已停用，请先启用上级机构",
                           f"parent org {parent.name!r} is deactivated: reactivate it first")
    org.active = True
    session.flush()
    audit.record(session, actor, "org_reactivate", "org", org.id, before={"active": False}, after={"active": True},
                 summary=f"启用机构 {org.name}")
    return org


def delete(session: Session, actor: audit.Actor | None, ctx: Any, org_id: int, version: int | None = None) -> None:
    """Delete an org created by mistake: refused (with the reason) if anything hangs off it."""
    org = get(session, org_id)
    check_version(org, version, "机构", "org")
    if org.parent_id is None:
        raise Conflict("根机构不能删除", "the root org cannot be deleted")
    reasons_zh, reasons_en = _still_in(counts(session, org), ("people", "children", "grants"))
    if reasons_zh:
        raise Conflict(f"机构“{org.name}”下还有{'、'.join(reasons_zh)}，不能删除；请先调走或撤销，或改为停用",
                       f"org {org.name!r} still has {', '.join(reasons_en)}: it cannot be deleted "
                       "(move or revoke them first, or deactivate the org instead)", code="org_in_use")
    before = snapshot(org)
    try:
        session.delete(org)
        session.flush()
    except IntegrityError:  # a plugin's records still point at it
        raise Conflict(f"机构“{before['name']}”已被业务数据引用，不能删除，请改为停用",
                       f"org {before['name']!r} is referenced by business records: deactivate it instead",
                       code="org_in_use") from None
    audit.record(session, actor, "org_delete", "org", org_id, before=before, summary=f"删除机构 {before['name']}")
    ctx.authz.bump(session)


def as_dict(org: Org) -> dict[str, Any]:
    """The JSON shape of an org (see ``OrgOut`` in the web module)."""
    return {"id": org.id, "parent_id": org.parent_id, "name": org.name, "kind": org.kind,
            "region_code": org.region_code, "path": org.path, "depth": org.depth, "sort": org.sort,
            "active": org.active, "version": org.version, "created_at": org.created_at,
            "updated_at": org.updated_at}


def tree_order(orgs: list[Org]) -> list[Org]:
    """Depth-first order (parents before children, siblings by sort then name) for indented lists."""
    by_parent: dict[int | None, list[Org]] = {}
    ids = {o.id for o in orgs}
    for o in orgs:
        key = o.parent_id if o.parent_id in ids else None  # tops of the visible forest
        by_parent.setdefault(key, []).append(o)
    out: list[Org] = []

    def walk(key: int | None) -> None:
        for o in sorted(by_parent.get(key, []), key=lambda x: (x.sort, x.name, x.id)):
            out.append(o)
            walk(o.id)

    walk(None)
    return out
