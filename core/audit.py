"""Append-only audit log: who did what, when, from where, before and after.

Write with :func:`record` inside the same session as the change it describes,
so the change and its audit entry commit (or roll back) together.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import Select, and_, insert, or_, select
from sqlalchemy.orm import Session

from .db import utcnow
from .models import AuditLog

SECRET_FIELDS = {"password", "password_hash", "token", "token_hash", "secret", "secret_key"}


def scrub(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """Never write secrets to the log; mark that they changed instead."""
    if data is None:
        return None
    return {k: ("***" if k in SECRET_FIELDS else _jsonable(v)) for k, v in data.items()}


def _jsonable(v: Any) -> Any:
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set)):
        return [_jsonable(x) for x in v]
    return v


@dataclass
class Actor:
    """Who acts: a person (id, name) or the system, and the client address."""

    id: int | None = None
    name: str = "system"
    client_ip: str = ""


SYSTEM = Actor()

CLIENT_IP_KEY = "ccms.client_ip"


def client_ip(scope: Mapping[str, Any]) -> str:
    """The client's address: the peer, or — when the peer is a configured
    trusted proxy — the nearest untrusted address in ``X-Forwarded-For``.
    Computed once per request by ``ccms.web.middleware.AuthMiddleware``."""
    known = scope.get(CLIENT_IP_KEY)
    if known is not None:
        return known
    c = scope.get("client")
    return c[0] if c else ""


def actor_of_scope(scope: Mapping[str, Any]) -> Actor:
    """The audit actor of a request's ASGI scope (its user and client address)."""
    user = scope.get("user")
    ip = client_ip(scope)
    return Actor(user.id, user.username, ip) if user else Actor(None, "anonymous", ip)


def actor_of(request: Any) -> Actor:
    """The audit actor of a request (its user and client address)."""
    return actor_of_scope(request.scope)


# Why the current request is being refused (permission, org_id, code, reason), collected for
# ccms.audit_refusals, which sets it per request; it lives here because record() adds to it.
refusal_details: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("ccms_refusal", default=None)


def note(**details: Any) -> None:
    """Remember why this request is being refused (permission, org_id, code,
    reason); called by ``ctx.require`` and the error renderer."""
    cur = refusal_details.get()
    if cur is not None:
        cur.update({k: v for k, v in details.items() if v is not None})


PENDING = "ccms.audit.pending"  # session.info key: entries to announce after commit


def record(session: Session, actor: Actor | None, action: str, object_type: str, object_id: Any = "",
           *, before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
           summary: str = "", success: bool = True) -> dict[str, Any]:
    """Write one entry in the caller's transaction; returns it as a dict.

    A plain INSERT, not an ORM object: the log is written on every change and
    never read back in the same unit of work. Once the transaction commits,
    the app announces the entry to plugins (``ccms_audit_recorded``).
    """
    e = entry(actor, action, object_type, object_id, before=before, after=after, summary=summary, success=success)
    session.execute(insert(AuditLog.__table__), [e])
    announce(session, e)
    if action.endswith("export"):  # the request's generic export entry would repeat this one
        note(export_audited=True)
    return e


def entry(actor: Actor | None, action: str, object_type: str, object_id: Any = "", *,
          before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
          summary: str = "", success: bool = True) -> dict[str, Any]:
    """The row :func:`record` writes, for callers that batch their inserts
    (the flow engine); they must :func:`announce` it too."""
    actor = actor or SYSTEM
    return {"at": utcnow(), "actor_id": actor.id, "actor_name": actor.name[:100], "client_ip": actor.client_ip[:64],
            "action": action[:64], "object_type": object_type[:64], "object_id": str(object_id)[:64],
            "summary": summary[:500], "before": scrub(before), "after": scrub(after), "success": success}


def announce(session: Session, e: dict[str, Any]) -> None:
    """Announce ``e`` to plugins once the session's transaction commits."""
    session.info.setdefault(PENDING, []).append(e)


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys that differ, for compact before/after entries."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


@dataclass
class AuditQuery:
    q: str = ""
    action: str = ""
    object_type: str = ""
    actor: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    success: bool | None = None

    def statement(self) -> Select[tuple[AuditLog]]:
        conds = []
        if self.q:
            # The user's % and _ are literal characters, not wildcards.
            like = "%" + self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conds.append(or_(*(col.ilike(like, escape="\\") for col in
                               (AuditLog.summary, AuditLog.object_id, AuditLog.actor_name, AuditLog.client_ip))))
        if self.action:
            conds.append(AuditLog.action == self.action)
        if self.object_type:
            conds.append(AuditLog.object_type == self.object_type)
        if self.actor:
            conds.append(AuditLog.actor_name == self.actor)
        if self.since:
            conds.append(AuditLog.at >= self.since)
        if self.until:
            conds.append(AuditLog.at < self.until)
        if self.success is not None:
            conds.append(AuditLog.success == self.success)
        stmt = select(AuditLog)
        if conds:
            stmt = stmt.where(and_(*conds))
        return stmt.order_by(AuditLog.id.desc())


def as_dict(e: AuditLog) -> dict[str, Any]:
    return {"id": e.id, "at": e.at.isoformat(), "actor_id": e.actor_id, "actor_name": e.actor_name,
            "client_ip": e.client_ip, "action": e.action, "object_type": e.object_type,
            "object_id": e.object_id, "summary": e.summary, "before": e.before, "after": e.after,
            "success": e.success}
