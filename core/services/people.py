"""People and their accounts: create, edit, move, (de)activate, unlock, reset password.

Passwords set by an administrator (given or generated) must be changed at the
next login; a generated one is returned once to show the administrator and
is never stored in clear or written to the audit log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from .. import audit, auth, login_guard
from ..db import utcnow
from ..errors import Conflict, NotFound, ValidationFailed
from ..models import Org, Person
from ..pii import mask_snapshot
from . import check_version, coerce, field_error
from .orgs import subtree_filter

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^[0-9+\-() ]{3,32}$")
PII = {"phone": "phone"}  # personal numbers: masked in audit snapshots (core/pii.py)


def _text(v: str | None) -> str | None:
    return None if v is None else v.strip()


def _username(v: str) -> str:
    v = v.strip()
    if not USERNAME_RE.match(v):
        raise ValueError("用户名须为2-64位字母、数字或 _ . @ - / "
                         "user name must be 2-64 letters, digits or _ . @ -")
    return v


def _display(v: str | None) -> str | None:
    if v is None:
        return None
    v = v.strip()
    if not v:
        raise ValueError("姓名不能为空 / name must not be empty")
    return v


def _email(v: str | None) -> str | None:
    if v is None:
        return None
    v = v.strip()
    if v and not EMAIL_RE.match(v):
        raise ValueError("电子邮箱格式不正确 / not a valid e-mail address")
    return v


def _phone(v: str | None) -> str | None:
    if v is None:
        return None
    v = v.strip()
    if v and not PHONE_RE.match(v):
        raise ValueError("电话号码只能包含数字、空格和 + - ( ) / phone may contain digits, spaces and + - ( ) only")
    return v


class PersonCreate(BaseModel):
    """A new person; without ``password`` one is generated and returned once."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    display_name: str = Field(min_length=1, max_length=100)
    org_id: int
    post: str = Field("", max_length=100)
    phone: str = Field("", max_length=32)
    email: str = Field("", max_length=200)
    password: str | None = Field(None, max_length=128, description="initial password; generated when empty")

    _v_user = field_validator("username")(_username)
    _v_display = field_validator("display_name")(_display)
    _v_post = field_validator("post")(_text)
    _v_email = field_validator("email")(_email)
    _v_phone = field_validator("phone")(_phone)

    @field_validator("password")
    @classmethod
    def _v_password(cls, v: str | None) -> str | None:
        return v or None


class PersonUpdate(BaseModel):
    """Changed fields of a person plus the version the editor read."""

    model_config = ConfigDict(extra="forbid")
    version: int
    display_name: str | None = Field(None, min_length=1, max_length=100)
    org_id: int | None = None
    post: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=32)
    email: str | None = Field(None, max_length=200)

    _v_display = field_validator("display_name")(_display)
    _v_post = field_validator("post")(_text)
    _v_email = field_validator("email")(_email)
    _v_phone = field_validator("phone")(_phone)


@dataclass
class WithPassword:
    """A person plus the one-time password to show the administrator (None if they chose it)."""

    person: Person
    password: str | None = field(default=None, repr=False)


def snapshot(p: Person) -> dict[str, Any]:
    """The audited fields of a person (never the password hash)."""
    return {"username": p.username, "display_name": p.display_name, "org_id": p.org_id, "post": p.post,
            "phone": p.phone, "email": p.email, "active": p.active, "must_change_password": p.must_change_password,
            "locked_until": p.locked_until}


def get(session: Session, person_id: int) -> Person:
    p = session.get(Person, person_id)
    if p is None:
        raise NotFound(f"人员 {person_id} 不存在", f"person {person_id} does not exist")
    return p


def _org(session: Session, org_id: int) -> Org:
    org = session.get(Org, org_id)
    if org is None:
        zh, en = f"机构 {org_id} 不存在", f"org {org_id} does not exist"
        raise ValidationFailed(zh, en, fields=field_error("org_id", zh, en))
    if not org.active:
        zh, en = f"机构“{org.name}”已停用", f"org {org.name!r} is deactivated"
        raise ValidationFailed(zh, en, fields=field_error("org_id", zh, en))
    return org


def create(session: Session, actor: audit.Actor | None, ctx: Any,
           data: PersonCreate | Mapping[str, Any]) -> WithPassword:
    """Create a person with an account that must change its password at first login."""
    d = coerce(PersonCreate, data)
    _org(session, d.org_id)
    if session.scalar(select(Person.id).where(func.lower(Person.username) == d.username.lower()).limit(1)):
        zh, en = f"用户名“{d.username}”已被使用", f"user name {d.username!r} is already taken"
        raise ValidationFailed(zh, en, fields=field_error("username", zh, en))
    policy = ctx.deployment.security
    generated = None
    if d.password:
        auth.check_password_policy(d.password, policy, d.username, "password", display_name=d.display_name)
        password = d.password
    else:
        password = generated = auth.generate_password(policy)
    p = Person(username=d.username, display_name=d.display_name, org_id=d.org_id, post=d.post, phone=d.phone,
               email=d.email, active=True)
    auth.set_password(p, password, must_change=True)
    session.add(p)
    session.flush()
    audit.record(session, actor, "person_create", "person", p.id,
                 after=mask_snapshot({**snapshot(p), "password": "generated" if generated else "set"}, PII),
                 summary=f"创建人员 {p.username}")
    return WithPassword(p, generated)


def edit(session: Session, actor: audit.Actor | None, ctx: Any, person_id: int,
         data: PersonUpdate | Mapping[str, Any]) -> Person:
    """Change name, org, post and contacts; a stale ``version`` is a conflict and nothing is written."""
    d = coerce(PersonUpdate, data)
    p = get(session, person_id)
    check_version(p, d.version, "人员", "person")
    before = snapshot(p)
    if d.org_id is not None and d.org_id != p.org_id:
        _org(session, d.org_id)
        p.org_id = d.org_id
    for name in ("display_name", "post", "phone", "email"):
        value = getattr(d, name)
        if value is not None:
            setattr(p, name, value)
    b, a = audit.changes(before, snapshot(p))
    if a:
        session.flush()  # the version-checked UPDATE: a concurrent save raises StaleDataError
        audit.record(session, actor, "person_edit", "person", p.id, before=mask_snapshot(b, PII),
                     after=mask_snapshot(a, PII),
                     summary=f"修改人员 {p.username}")
    return p


def move(session: Session, actor: audit.Actor | None, ctx: Any, person_id: int, org_id: int,
         version: int | None = None) -> Person:
    """Move a person to another (active) org."""
    p = get(session, person_id)
    return edit(session, actor, ctx, person_id, {"version": p.version if version is None else version,
                                                 "org_id": org_id})


def _flag(session: Session, actor: audit.Actor | None, p: Person, action: str, summary: str,
          **values: Any) -> Person:
    before = snapshot(p)
    for k, v in values.items():
        setattr(p, k, v)
    b, a = audit.changes(before, snapshot(p))
    session.flush()
    audit.record(session, actor, action, "person", p.id, before=b, after=a, summary=summary)
    return p


def deactivate(session: Session, actor: audit.Actor | None, ctx: Any, person_id: int,
               version: int | None = None) -> Person:
    """Stop the account: it cannot log in and every open session ends at once."""
    p = get(session, person_id)
    check_version(p, version, "人员", "person")
    if actor is not None and actor.id == p.id:
        raise Conflict("不能停用自己的账户", "you cannot deactivate your own account")
    if p.active:
        _flag(session, actor, p, "person_deactivate", f"停用人员 {p.username}", active=False)
    auth.revoke_sessions(session, p.id)
    return p


def activate(session: Session, actor: audit.Actor | None, ctx: Any, person_id: int,
             version: int | None = None) -> Person:
    """Let the account log in again (its org must be active)."""
    p = get(session, person_id)
    check_version(p, version, "人员", "person")
    if not p.active:
        org = session.get(Org, p.org_id)
        if org is not None and not org.active:
            raise Conflict(f"所属机构“{org.name}”已停用，请先调整机构", f"org {org.name!r} is deactivated: move the person first")
        _flag(session, actor, p, "person_activate", f"启用人员 {p.username}", active=True)
    return p


def unlock(session: Session, actor: audit.Actor | None, ctx: Any, person_id: int,
           version: int | None = None) -> Person:
    """Clear a lockout after too many wrong passwords."""
    p = get(session, person_id)
    check_version(p, version, "人员", "person")
    if p.locked_until is not None or p.failed_logins:
        _flag(session, actor, p, "person_unlock", f"解锁人员 {p.username}", locked_until=None, failed_logins=0)
    login_guard.forget_account(session, p.username)  # its failure counters start again too
    return p


def reset_password(session: Session, actor: audit.Actor | None, ctx: Any, person_id: int,
                   version: int | None = None) -> WithPassword:
    """A new generated password, shown once; must be changed at next login.

    Whoever may have known the old password may also hold its sessions or have
    made API tokens with it, so every session ends and every API token is
    revoked (not suspended: the owner makes new ones after logging in; a
    suspended token would come back to life on a click the intruder can make too).
    """
    p = get(session, person_id)
    check_version(p, version, "人员", "person")
    password = auth.generate_password(ctx.deployment.security)
    before = snapshot(p)
    auth.set_password(p, password, must_change=True)
    session.flush()
    ended = auth.revoke_sessions(session, p.id)
    revoked = auth.revoke_tokens(session, p.id)
    b, a = audit.changes(before, snapshot(p))
    audit.record(session, actor, "person_reset_password", "person", p.id, before=b,
                 after={**a, "password": "reset", "sessions_ended": ended,
                        "tokens_revoked": [t.prefix for t in revoked]},
                 summary=f"重置密码 {p.username}")
    return WithPassword(p, password)


def is_locked(p: Person) -> bool:
    return p.locked_until is not None and p.locked_until > utcnow()


def _filtered(stmt: Select[Any], paths: list[str], q: str, org_path: str | None, active: bool | None) -> Select[Any]:
    stmt = stmt.join(Org, Org.id == Person.org_id).where(subtree_filter(paths))
    if q:
        like = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Person.display_name.ilike(like, escape="\\"),
                              Person.username.ilike(like, escape="\\")))
    if org_path:
        stmt = stmt.where(Org.path.like(org_path + "%"))
    if active is not None:
        stmt = stmt.where(Person.active.is_(active))
    return stmt.order_by(Person.display_name, Person.id)


def search(paths: list[str], q: str = "", org_path: str | None = None, active: bool | None = None) -> Select[Any]:
    """People (with their org) within the permitted subtrees ``paths``, filtered; ordered for stable paging."""
    return _filtered(select(Person, Org), paths, q, org_path, active)


def search_rows(paths: list[str], q: str = "", org_path: str | None = None,
                active: bool | None = None) -> Select[Any]:
    """Like :func:`search`, but only the columns a list screen shows (no ORM objects: cheaper)."""
    cols = select(Person.id, Person.username, Person.display_name, Person.post, Person.active,
                  Person.locked_until, Org.name.label("org_name"))
    return _filtered(cols, paths, q, org_path, active)


def count(session: Session, stmt: Select[Any]) -> int:
    """Rows a search would return (its ORDER BY dropped: counting needs no order)."""
    return session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0


def as_dict(p: Person, org: Org | None = None) -> dict[str, Any]:
    """The JSON shape of a person (``PersonOut``); never the password hash."""
    return {"id": p.id, "username": p.username, "display_name": p.display_name, "org_id": p.org_id,
            "org_name": org.name if org else None, "post": p.post, "phone": p.phone, "email": p.email,
            "active": p.active, "must_change_password": p.must_change_password, "locked": is_locked(p),
            "locked_until": p.locked_until, "last_login_at": p.last_login_at, "created_at": p.created_at,
            "version": p.version}
