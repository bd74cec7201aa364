"""日志分析: search the access, system and audit logs together and flag
suspicious patterns.

Access and system lines come from the JSON log files (:mod:`core.accesslog`),
audit entries from ``core_audit_log``. Each :class:`Flag` carries the filter
(:class:`LogFilter`) that finds the rows behind it, so the screen links every
flag to a search.

Patterns (thresholds in ``[logging]``):

* ``failed_login_burst``: at least N failed logins from one address, or
  against one account, within M minutes (audit ``login_failed``);
* ``refusal_burst``: at least N 403 answers to one address or one user within
  M minutes (access log);
* ``bulk_export``: N exports by one person within M minutes, or one export of
  at least R rows (audit actions containing ``export``);
* ``odd_hours_login``: a login outside the office hours (local time);
* ``new_address_login``: a login from an address the person has not logged
  in from during the previous D days (people with no earlier login are not
  flagged: everything would be new).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import and_, or_, select

from .accesslog import read_lines
from .models import AuditLog

if TYPE_CHECKING:
    from .app import App

SOURCES = ("access", "system", "audit")
# One entry per failure, or (login throttling) one entry per address and window with ``after.attempts``.
FAILED_LOGIN_ACTIONS = ("login_failed", "login_failed_aggregate")
MAX_FLAGS_PER_KIND = 100


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class LogFilter(BaseModel):
    """Query parameters of 日志分析 (and of every flag's link)."""

    model_config = ConfigDict(extra="ignore")
    source: str = Field("", pattern=r"^(|access|system|audit)$", description="empty: all three")
    since: dt.datetime | None = Field(None, description="local time, e.g. 2026-12-07T08:00")
    until: dt.datetime | None = None
    user: str = Field("", max_length=100, description="user name or id")
    client: str = Field("", max_length=64, description="client address (exact)")
    status: int | None = Field(None, ge=100, le=599, description="HTTP status (access log only)")
    action: str = Field("", max_length=64, description="audit action (audit log only)")
    q: str = Field("", max_length=200, description="text contained in the line")
    limit: int = Field(200, ge=1, le=1000)

    @field_validator("since", "until", "status", mode="before")
    @classmethod
    def _blank(cls, v: Any) -> Any:
        return None if isinstance(v, str) and v.strip() == "" else v

    @field_validator("user", "client", "action", "q")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip()

    def bounds(self, tz: ZoneInfo) -> tuple[dt.datetime | None, dt.datetime | None]:
        """(since, until) in UTC; naive values are local time."""
        def utc(v: dt.datetime | None) -> dt.datetime | None:
            if v is None:
                return None
            return (v if v.tzinfo else v.replace(tzinfo=tz)).astimezone(dt.UTC)
        return utc(self.since), utc(self.until)

    def params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for k in ("source", "user", "client", "action", "q"):
            if getattr(self, k):
                out[k] = getattr(self, k)
        for k in ("since", "until"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v.strftime("%Y-%m-%dT%H:%M:%S")
        if self.status is not None:
            out["status"] = str(self.status)
        return out

    def sources(self) -> tuple[str, ...]:
        if self.source:
            return (self.source,)
        if self.status is not None:
            return ("access",)
        if self.action:
            return ("audit",)
        return SOURCES


@dataclass
class Row:
    """One line of any log, as the screen shows it."""

    source: str
    at: dt.datetime
    user: str
    client: str
    what: str
    status: str = ""
    ok: bool = True
    detail: dict[str, Any] = field(default_factory=dict)


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _file_rows(ctx: App, kind: str, f: LogFilter, since: dt.datetime | None,
               until: dt.datetime | None) -> Iterable[Row]:
    uid = int(f.user) if f.user.isdigit() else None
    for item in read_lines(ctx.deployment, kind, contains=f.q):
        at = _parse_time(item.get("time"))
        if at is None:
            continue
        if until is not None and at >= until:
            continue
        if since is not None and at < since:
            return  # newest first: everything further is older
        if kind == "access":
            if f.user and item.get("user") != f.user and (uid is None or item.get("uid") != uid):
                continue
            if f.client and item.get("client") != f.client:
                continue
            if f.status is not None and item.get("status") != f.status:
                continue
            status = item.get("status")
            yield Row("access", at, str(item.get("user") or ""), str(item.get("client") or ""),
                      f"{item.get('method', '')} {item.get('path', '')}", str(status or ""),
                      ok=isinstance(status, int) and status < 400,
                      detail={"route": item.get("route"), "ms": item.get("ms"), "uid": item.get("uid")})
        else:
            if f.user or f.client:
                continue  # system lines belong to no user or address
            level = str(item.get("level") or "")
            yield Row("system", at, "", "", str(item.get("msg") or ""), level,
                      ok=level not in ("ERROR", "CRITICAL"),
                      detail={"logger": item.get("logger"), "exc": item.get("exc")})


def _audit_stmt(f: LogFilter, since: dt.datetime | None, until: dt.datetime | None) -> Any:
    conds = []
    if since is not None:
        conds.append(AuditLog.at >= since)
    if until is not None:
        conds.append(AuditLog.at < until)
    if f.user:
        conds.append(or_(AuditLog.actor_name == f.user, *( [AuditLog.actor_id == int(f.user)]
                                                            if f.user.isdigit() and len(f.user) < 10 else [])))
    if f.client:
        conds.append(AuditLog.client_ip == f.client)
    if f.action:
        conds.append(AuditLog.action == f.action)
    if f.q:
        like = _like(f.q)
        conds.append(or_(*(c.ilike(like, escape="\\") for c in
                           (AuditLog.summary, AuditLog.action, AuditLog.object_id, AuditLog.actor_name,
                            AuditLog.client_ip))))
    stmt = select(AuditLog)
    if conds:
        stmt = stmt.where(and_(*conds))
    return stmt.order_by(AuditLog.at.desc(), AuditLog.id.desc())


def search(ctx: App, f: LogFilter) -> list[Row]:
    """The newest ``f.limit`` rows of the chosen logs matching ``f``, newest first."""
    since, until = f.bounds(ZoneInfo(ctx.deployment.timezone))
    rows: list[Row] = []
    for kind in f.sources():
        if kind == "audit":
            with ctx.db.Session() as s:
                for e in s.scalars(_audit_stmt(f, since, until).limit(f.limit)):
                    rows.append(Row("audit", e.at, e.actor_name, e.client_ip,
                                    f"{e.action} {e.object_type}{(' ' + e.object_id) if e.object_id else ''}"
                                    + (f" · {e.summary}" if e.summary else ""),
                                    "", ok=e.success, detail={"id": e.id, "action": e.action}))
        else:
            for n, row in enumerate(_file_rows(ctx, kind, f, since, until)):
                if n >= f.limit:
                    break
                rows.append(row)
    rows.sort(key=lambda r: r.at, reverse=True)
    return rows[:f.limit]


# --- suspicious patterns --------------------------------------------------------------

@dataclass
class Flag:
    kind: str
    subject: str  # "address" or "account"/"user"
    who: str
    count: int
    start: dt.datetime
    end: dt.datetime
    link: dict[str, str]
    note: str = ""  # the address of a new-address login, the action of a big export


def _window(times: list[tuple[dt.datetime, int]], n: int, minutes: int) -> tuple[int, dt.datetime, dt.datetime] | None:
    """The densest run of ``times`` (sorted ``(time, weight)``) spanning at most ``minutes``,
    when its weights add up to ``n`` or more."""
    span = dt.timedelta(minutes=minutes)
    best: tuple[int, dt.datetime, dt.datetime] | None = None
    j = 0
    total = 0
    for t, w in times:
        total += w
        while t - times[j][0] > span:
            total -= times[j][1]
            j += 1
        if total >= n and (best is None or total > best[0]):
            best = (total, times[j][0], t)
    return best


def _link(tz: ZoneInfo, start: dt.datetime, end: dt.datetime, **kw: Any) -> dict[str, str]:
    """Filter of the rows behind a flag: its own time span (whole seconds, end inclusive)."""
    f = LogFilter(since=start.astimezone(tz).replace(tzinfo=None, microsecond=0),
                  until=(end + dt.timedelta(seconds=1)).astimezone(tz).replace(tzinfo=None, microsecond=0), **kw)
    return f.params()


def _bursts(kind: str, groups: dict[tuple[str, str], list[tuple[dt.datetime, int]]], n: int, minutes: int,
            tz: ZoneInfo, link_extra: dict[str, Any]) -> list[Flag]:
    flags: list[Flag] = []
    for (subject, who), times in groups.items():
        hit = _window(sorted(times, key=lambda x: x[0]), n, minutes)
        if hit is None:
            continue
        count, start, end = hit
        key = "client" if subject == "address" else "user"
        flags.append(Flag(kind, subject, who, count, start, end, _link(tz, start, end, **{key: who}, **link_extra)))
    return sorted(flags, key=lambda fl: fl.start, reverse=True)[:MAX_FLAGS_PER_KIND]


def analyse(ctx: App, since: dt.datetime, until: dt.datetime) -> list[Flag]:
    """Every suspicious pattern between ``since`` and ``until`` (UTC), newest first within a kind."""
    cfg = ctx.deployment.logging
    tz = ZoneInfo(ctx.deployment.timezone)
    flags: list[Flag] = []
    with ctx.db.Session() as s:
        failed = s.execute(select(AuditLog.at, AuditLog.client_ip, AuditLog.actor_name, AuditLog.after).where(
            AuditLog.action.in_(FAILED_LOGIN_ACTIONS), AuditLog.at >= since, AuditLog.at < until)).all()
        exports = s.execute(select(AuditLog.at, AuditLog.actor_name, AuditLog.after, AuditLog.action).where(
            AuditLog.action.ilike("%export%"), AuditLog.at >= since, AuditLog.at < until)).all()
        lookback = since - dt.timedelta(days=cfg.new_address_days)
        logins = s.execute(select(AuditLog.at, AuditLog.actor_id, AuditLog.actor_name, AuditLog.client_ip).where(
            AuditLog.action == "login", AuditLog.success.is_(True), AuditLog.at >= lookback, AuditLog.at < until)
            .order_by(AuditLog.at, AuditLog.id)).all()

    groups: dict[tuple[str, str], list[tuple[dt.datetime, int]]] = {}
    for at, ip, name, after in failed:
        weight = failed_attempts(after)
        if ip:
            groups.setdefault(("address", ip), []).append((at, weight))
        if name:
            groups.setdefault(("account", name), []).append((at, weight))
    flags += _bursts("failed_login_burst", groups, cfg.failed_login_burst, cfg.failed_login_minutes, tz,
                     {"source": "audit", "q": "login_failed"})

    groups = {}
    for item in _access_refusals(ctx, since, until):
        at = item[0]
        if item[1]:
            groups.setdefault(("address", item[1]), []).append((at, 1))
        if item[2]:
            groups.setdefault(("user", item[2]), []).append((at, 1))
    flags += _bursts("refusal_burst", groups, cfg.refusal_burst, cfg.refusal_minutes, tz,
                     {"source": "access", "status": 403})

    groups = {}
    big: list[Flag] = []
    for at, name, after, action in exports:
        groups.setdefault(("user", name), []).append((at, 1))
        rows = _rows_of(after)
        if rows is not None and rows >= cfg.export_rows:
            big.append(Flag("bulk_export", "user", name, rows, at, at,
                            _link(tz, at, at, source="audit", user=name, action=action), note=action))
    flags += _bursts("bulk_export", groups, cfg.export_burst, cfg.export_minutes, tz, {"source": "audit", "q": "export"})
    flags += big[:MAX_FLAGS_PER_KIND]

    start_min, end_min = cfg.office_range()
    odd: list[Flag] = []
    new: list[Flag] = []
    seen: dict[tuple[Any, str], dt.datetime] = {}
    history: dict[Any, dt.datetime] = {}
    window = dt.timedelta(days=cfg.new_address_days)
    for at, uid, name, ip in logins:
        key = uid if uid is not None else name
        if at >= since:
            local = at.astimezone(tz)
            minute = local.hour * 60 + local.minute
            if not start_min <= minute < end_min:
                odd.append(Flag("odd_hours_login", "user", name, 1, at, at,
                                _link(tz, at, at, source="audit", user=name, action="login")))
            last_here = seen.get((key, ip))
            last_any = history.get(key)
            if ip and last_any is not None and at - last_any <= window and \
                    (last_here is None or at - last_here > window):
                new.append(Flag("new_address_login", "user", name, 1, at, at,
                                _link(tz, at, at, source="audit", user=name, client=ip, action="login"), note=ip))
        seen[(key, ip)] = at
        history[key] = at
    flags += sorted(odd, key=lambda fl: fl.start, reverse=True)[:MAX_FLAGS_PER_KIND]
    flags += sorted(new, key=lambda fl: fl.start, reverse=True)[:MAX_FLAGS_PER_KIND]
    return flags


def failed_attempts(after: Any) -> int:
    """How many failed logins one audit entry stands for."""
    n = after.get("attempts") if isinstance(after, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1


def _rows_of(after: Any) -> int | None:
    if isinstance(after, dict):
        for k in ("rows", "count", "total"):
            v = after.get(k)
            if isinstance(v, int) and not isinstance(v, bool):
                return v
    return None


def _access_refusals(ctx: App, since: dt.datetime, until: dt.datetime) -> Iterable[tuple[dt.datetime, str, str]]:
    for item in read_lines(ctx.deployment, "access", contains='"status": 403'):
        at = _parse_time(item.get("time"))
        if at is None or at >= until:
            continue
        if at < since:
            return
        if item.get("status") == 403:
            yield at, str(item.get("client") or ""), str(item.get("user") or "")
