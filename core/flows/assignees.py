"""Assignee rules (办理人规则): who gets a task, resolved when the task is made.

A rule resolves to concrete people: one person becomes the assignee of a
direct task; several (or a ``claim`` task) become candidate rows, so the
inbox finds claimable work through an index on ``(person_id, task_id)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..errors import ValidationFailed
from ..models import Org, Person


@dataclass
class Assignment:
    """People a task goes to: ``people`` (sorted ids) and the department it is sent to."""

    people: list[int] = field(default_factory=list)
    org_id: int | None = None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value.strip())
    return None


def _active(session: Session, ids: set[int]) -> list[int]:
    if not ids:
        return []
    return sorted(session.scalars(_ACTIVE, {"ids": list(ids)}))


# built once: it runs on nearly every step, and building it costs more than running it
_ACTIVE = select(Person.id).where(Person.id.in_(bindparam("ids", expanding=True)), Person.active.is_(True))


def _path(session: Session, org_id: int | None) -> str | None:
    if org_id is None:
        return None
    return session.scalar(select(Org.path).where(Org.id == org_id))


def _region_ancestors(code: str) -> set[str]:
    """A GB/T 2260 code and the codes above it (320505 -> 320505, 320500, 320000)."""
    code = (code or "").strip()
    out = {code} if code else set()
    if len(code) == 6 and code.isdigit():
        out |= {code[:4] + "00", code[:2] + "0000"}
    return out


def role_holders(ctx: Any, session: Session, role: str, *, covering: int | None = None,
                 inside: int | None = None, regions: set[str] | None = None) -> list[int]:
    """Active people holding ``role`` through a grant that covers org
    ``covering`` (the grant's org is it or above it), lies ``inside`` an org's
    subtree, or sits on an org of one of ``regions``."""
    pairs = ctx.authz.people_with_role(role)
    if not pairs:
        return []
    org_ids = {o for _, o in pairs}
    rows = session.execute(select(Org.id, Org.path, Org.region_code).where(Org.id.in_(org_ids))).all()
    paths = {r.id: r.path or "" for r in rows}
    codes = {r.id: r.region_code or "" for r in rows}
    target_cover = _path(session, covering) if covering is not None else None
    target_inside = _path(session, inside) if inside is not None else None
    people: set[int] = set()
    for pid, oid in pairs:
        p = paths.get(oid)
        if p is None:
            continue
        if covering is not None and not (target_cover and target_cover.startswith(p)):
            continue
        if inside is not None and not (target_inside and p.startswith(target_inside)):
            continue
        if regions is not None and codes.get(oid) not in regions:
            continue
        people.add(pid)
    return _active(session, people)


def resolve(ctx: Any, session: Session, rule: Mapping[str, Any], env: Mapping[str, Any], *,
            org_id: int | None, region_code: str | None, initiator_id: int | None,
            previous_actor: int | None, value: Any = None, where: str = "") -> Assignment:
    """The people of ``rule``; ``value`` replaces the rule's field value (the
    element of a ``multi`` node). Raises ValidationFailed when nobody qualifies,
    so the step that needed them is refused whole."""
    kind = rule.get("rule")
    people: list[int] = []
    dept: int | None = None
    if kind == "role":
        scope = rule.get("scope", "record_org")
        if scope == "record_region":
            people = role_holders(ctx, session, rule["role"], regions=_region_ancestors(region_code or ""))
        elif scope == "initiator_org":
            org = session.scalar(select(Person.org_id).where(Person.id == initiator_id)) if initiator_id else None
            people = role_holders(ctx, session, rule["role"], covering=org) if org else []
        else:
            people = role_holders(ctx, session, rule["role"], covering=org_id) if org_id else []
    elif kind == "dept_chosen":
        raw = value if value is not None else env.get(rule.get("field", ""))
        dept = _int(raw)
        if dept is None or session.get(Org, dept) is None:
            raise ValidationFailed(f"{where}未选择有效的部门（{rule.get('field')}）",
                                   f"{where}no valid department chosen ({rule.get('field')})", code="no_department")
        if rule.get("role"):
            people = role_holders(ctx, session, rule["role"], inside=dept)
        else:
            people = list(session.scalars(select(Person.id).where(Person.org_id == dept, Person.active.is_(True))
                                          .order_by(Person.id)))
    elif kind == "field":
        pid = _int(value if value is not None else env.get(rule.get("field", "")))
        people = _active(session, {pid}) if pid is not None else []
    elif kind == "previous_actor":
        people = _active(session, {previous_actor}) if previous_actor else []
    elif kind == "initiator":
        people = _active(session, {initiator_id}) if initiator_id else []
    elif kind == "person":
        pid = session.scalar(select(Person.id).where(Person.username == rule.get("username"),
                                                     Person.active.is_(True)))
        people = [pid] if pid else []
    if not people:
        raise ValidationFailed(f"{where}找不到办理人（规则 {kind}）", f"{where}nobody qualifies as assignee (rule {kind})",
                               code="no_assignee")
    return Assignment(people, dept)
