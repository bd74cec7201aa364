"""API tokens of a person: create (secret shown once), list, revoke.

A token's scopes only narrow what its owner may do (``ctx.can`` checks both
the scope and the owner's grants), so a token never grants more than its
owner holds. Token events are audited on the owning person, so they show in
that person's history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit, auth
from ..db import utcnow
from ..errors import NotFound, ValidationFailed
from ..models import ApiToken
from . import coerce, field_error
from .people import get as get_person


class TokenCreate(BaseModel):
    """A new token: a name, its scopes (permission ids, ``family.*`` or ``*``), an optional expiry."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=100)
    expires_at: dt.datetime | None = Field(None, description="naive times are in the deployment's time zone")

    @field_validator("name")
    @classmethod
    def _v_name(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("名称不能为空 / name must not be empty")
        return v

    @field_validator("scopes")
    @classmethod
    def _v_scopes(cls, v: list[str]) -> list[str]:
        out: list[str] = []
        for s in v:
            s = s.strip()
            if s and s not in out:
                out.append(s)
        if not out:
            raise ValueError("至少选择一个权限范围 / choose at least one scope")
        return out


def valid_scopes(ctx: Any) -> list[str]:
    """Every scope a token may carry here: ``*``, each permission family and each permission."""
    parts = [p.split(".") for p in ctx.permissions]
    families = sorted({".".join(ps[:i]) + ".*" for ps in parts for i in range(1, len(ps))})
    return ["*", *families, *sorted(ctx.permissions)]


def _check_scopes(ctx: Any, scopes: list[str]) -> None:
    allowed = set(valid_scopes(ctx))
    bad = [s for s in scopes if s not in allowed]
    if bad:
        zh = f"未知的权限范围：{'、'.join(bad)}"
        en = f"unknown scope(s): {', '.join(bad)}"
        raise ValidationFailed(zh, en, fields=field_error("scopes", zh, en))


def _aware(ctx: Any, value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(ctx.deployment.timezone))
    return value.astimezone(dt.timezone.utc)


def snapshot(tok: ApiToken) -> dict[str, Any]:
    return {"token_id": tok.id, "name": tok.name, "prefix": tok.prefix, "scopes": list(tok.scopes or []),
            "expires_at": tok.expires_at, "revoked_at": tok.revoked_at}


def create(session: Session, actor: audit.Actor | None, ctx: Any, person_id: int,
           data: TokenCreate | Mapping[str, Any]) -> auth.NewToken:
    """Create a token for an active person; the returned secret is the only copy."""
    d = coerce(TokenCreate, data)
    person = get_person(session, person_id)
    if not person.active:
        zh, en = "该人员已停用，不能创建令牌", "the person is deactivated: no new tokens"
        raise ValidationFailed(zh, en)
    _check_scopes(ctx, d.scopes)
    expires = _aware(ctx, d.expires_at) if d.expires_at else None
    if expires is not None and expires <= utcnow():
        zh, en = "过期时间必须晚于现在", "the expiry must be in the future"
        raise ValidationFailed(zh, en, fields=field_error("expires_at", zh, en))
    new = auth.create_token(session, person.id, d.name, d.scopes, expires)
    audit.record(session, actor, "token_create", "person", person.id, after=snapshot(new.token),
                 summary=f"为 {person.username} 创建 API 令牌 {new.token.prefix}…")
    return new


def get(session: Session, token_id: int) -> ApiToken:
    tok = session.get(ApiToken, token_id)
    if tok is None:
        raise NotFound(f"令牌 {token_id} 不存在", f"token {token_id} does not exist")
    return tok


def list_for(session: Session, person_id: int) -> list[ApiToken]:
    """A person's tokens, newest first (revoked ones included, for the record)."""
    return list(session.scalars(select(ApiToken).where(ApiToken.person_id == person_id)
                                .order_by(ApiToken.id.desc())))


def revoke(session: Session, actor: audit.Actor | None, ctx: Any, token_id: int) -> ApiToken:
    """Revoke at once; revoking twice is harmless."""
    tok = get(session, token_id)
    if tok.revoked_at is None:
        tok.revoked_at = utcnow()
        session.flush()
        audit.record(session, actor, "token_revoke", "person", tok.person_id,
                     before={"token_id": tok.id, "revoked_at": None}, after={"token_id": tok.id,
                                                                            "revoked_at": tok.revoked_at},
                     summary=f"吊销 API 令牌 {tok.prefix}…")
    return tok


def status(tok: ApiToken, now: dt.datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked``."""
    now = now or utcnow()
    if tok.revoked_at is not None:
        return "revoked"
    if tok.expires_at is not None and tok.expires_at <= now:
        return "expired"
    return "active"


def as_dict(tok: ApiToken) -> dict[str, Any]:
    """The JSON shape of a token (``TokenOut``); never the secret or its hash."""
    return {"id": tok.id, "person_id": tok.person_id, "name": tok.name, "prefix": tok.prefix,
            "scopes": list(tok.scopes or []), "created_at": tok.created_at, "expires_at": tok.expires_at,
            "last_used_at": tok.last_used_at, "revoked_at": tok.revoked_at, "status": status(tok)}
