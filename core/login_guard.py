"""Login abuse guard: per-address throttling, per-account lockout that one
address cannot trigger alone, and aggregated audit of failures.

State lives in one small table (``core_login_throttle``) so every process of a
deployment sees the same counters. Rows, by ``kind``:

* ``address`` (``addr:<ip>``): failed attempts from one client address in the
  current streak. After ``throttle_free_attempts`` each further failure makes
  the address wait (``throttle_delay_seconds``, doubling, at most
  ``throttle_max_delay_seconds``); while it waits, its attempts are refused
  without checking any password. A delay, never a lock: the address may try
  again afterwards. It also counts the attempts not yet audited one by one.
* ``account`` (``user:<name>``): failures against one user name, known or not
  (so unknown names behave exactly like real ones). At ``lockout_threshold``
  the account locks for ``lockout_minutes``.
* ``pair`` (``pair:<name>|<ip>``): failures against one name from one
  address; only the first ``lockout_per_source`` of them count towards the
  account, so one anonymous address cannot lock the administrator out.

A streak ends after ``login_window_minutes`` without failures. Rows that
have nothing left to say are deleted as logins come in, so the table stays
small under attack.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import (
    Integer,
    String,
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import audit
from .config import SecurityPolicy
from .db import Base, UTCDateTime

KEY_MAX = 100  # user names and addresses are cut to this many characters in keys


class LoginThrottle(Base):
    """Login failure counters per client address, per user name and per both."""

    __tablename__ = "core_login_throttle"
    key: Mapped[str] = mapped_column(String(220), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # address | account | pair
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    unaudited: Mapped[int] = mapped_column(Integer, default=0)  # address rows: attempts not yet in the audit log
    audited_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


T = LoginThrottle


def address_key(ip: str) -> str:
    return "addr:" + (ip or "-")[:KEY_MAX]


def account_key(username: str) -> str:
    return "user:" + username.strip().lower()[:KEY_MAX]


def pair_key(username: str, ip: str) -> str:
    return "pair:" + username.strip().lower()[:KEY_MAX] + "|" + (ip or "-")[:KEY_MAX]


def _window(policy: SecurityPolicy) -> dt.timedelta:
    return dt.timedelta(minutes=policy.login_window_minutes)


def _ensure(session: Session, key: str, kind: str, now: dt.datetime) -> None:
    """Create the row if it is missing; a concurrent creator wins harmlessly."""
    values = {"key": key, "kind": kind, "failures": 0, "first_at": now, "last_at": now, "unaudited": 0}
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        session.execute(insert(T).values(**values).on_conflict_do_nothing(index_elements=["key"]))
        return
    try:
        with session.begin_nested():
            session.execute(T.__table__.insert().values(**values))
    except IntegrityError:
        pass


def _count_failure(session: Session, key: str, kind: str, policy: SecurityPolicy, now: dt.datetime,
                   *, unless_blocked: bool = False) -> int | None:
    """Add one failure to ``key`` (a stale streak starts again at 1); the new
    count, or None when ``unless_blocked`` and the row is blocked right now."""
    _ensure(session, key, kind, now)
    stale = T.last_at < now - _window(policy)
    stmt = update(T).where(T.key == key)
    if unless_blocked:
        stmt = stmt.where(or_(T.blocked_until.is_(None), T.blocked_until <= now))
    stmt = stmt.values(failures=case((stale, 1), else_=T.failures + 1),
                       first_at=case((stale, literal(now, UTCDateTime())), else_=T.first_at), last_at=now)
    row = session.execute(stmt.returning(T.failures)).first()
    return None if row is None else int(row[0])


def address_delay(policy: SecurityPolicy, failures: int) -> int:
    """Seconds an address waits after its ``failures``-th failure (0 while free)."""
    over = failures - policy.throttle_free_attempts
    if over <= 0:
        return 0
    return min(policy.throttle_delay_seconds * 2 ** min(over - 1, 30), policy.throttle_max_delay_seconds)


@dataclass
class Admission:
    """Phase one of a login: may this address try now, and is the account locked?"""

    allowed: bool
    retry_after: int = 0  # seconds, when not allowed
    audit_each: bool = True  # this attempt is audited on its own (else counted in the address's aggregate)


def admit(session: Session, policy: SecurityPolicy, ip: str, now: dt.datetime) -> Admission:
    """Charge one attempt to the address up front (so parallel requests cannot
    slip past the throttle); :func:`succeeded` gives it back on success."""
    key = address_key(ip)
    n = _count_failure(session, key, "address", policy, now, unless_blocked=True)
    if n is None:
        session.execute(update(T).where(T.key == key).values(unaudited=T.unaudited + 1))
        until = session.scalar(select(T.blocked_until).where(T.key == key))
        wait = max(1, math.ceil((until - now).total_seconds())) if until else 1
        return Admission(False, retry_after=wait, audit_each=False)
    delay = address_delay(policy, n)
    if delay:
        session.execute(update(T).where(T.key == key).values(blocked_until=now + dt.timedelta(seconds=delay)))
    audit_each = n <= policy.throttle_free_attempts
    if not audit_each:
        session.execute(update(T).where(T.key == key).values(unaudited=T.unaudited + 1))
    return Admission(True, audit_each=audit_each)


def account_locked_until(session: Session, username: str, now: dt.datetime) -> dt.datetime | None:
    """The lock of a user name that belongs to nobody (a real person's lock is on the person)."""
    until = session.scalar(select(T.blocked_until).where(T.key == account_key(username)))
    return until if until and until > now else None


def failed(session: Session, policy: SecurityPolicy, username: str, ip: str, now: dt.datetime) -> bool:
    """Count a wrong password against the account (at most ``lockout_per_source``
    from this address per streak); True when the account is now to be locked."""
    from_here = _count_failure(session, pair_key(username, ip), "pair", policy, now)
    if from_here is None or from_here > policy.lockout_per_source:
        return False
    n = _count_failure(session, account_key(username), "account", policy, now)
    if n is None or n < policy.lockout_threshold:
        return False
    session.execute(update(T).where(T.key == account_key(username)).values(failures=0))
    return True


def lock_unknown(session: Session, policy: SecurityPolicy, username: str, now: dt.datetime) -> dt.datetime:
    """Lock a user name that belongs to nobody, exactly as a real account would be."""
    until = now + dt.timedelta(minutes=policy.lockout_minutes)
    session.execute(update(T).where(T.key == account_key(username)).values(blocked_until=until))
    return until


def succeeded(session: Session, username: str, ip: str, admission: Admission) -> None:
    """The right password: give the address its attempt back, forget the account's failures."""
    session.execute(update(T).where(T.key == address_key(ip), T.failures > 0).values(failures=T.failures - 1))
    if not admission.audit_each:  # the login is audited on its own: not part of the aggregate
        session.execute(update(T).where(T.key == address_key(ip), T.unaudited > 0)
                        .values(unaudited=T.unaudited - 1))
    session.execute(delete(T).where(T.key.in_([pair_key(username, ip), account_key(username)])))


def forget_account(session: Session, username: str) -> None:
    """An administrator unlocked the account: its counters start again."""
    name = username.strip().lower()[:KEY_MAX]
    session.execute(delete(T).where(or_(T.key == account_key(username),
                                        and_(T.kind == "pair", T.key.startswith("pair:" + name + "|",
                                                                                autoescape=True)))))


def housekeeping(session: Session, policy: SecurityPolicy, now: dt.datetime) -> None:
    """Write one audit entry per address and window for the attempts counted
    but not audited one by one, then delete rows with nothing left to say."""
    window = _window(policy)
    due = session.execute(select(T.key, T.unaudited, T.audited_at, T.last_at).where(
        T.kind == "address", T.unaudited > 0, or_(T.audited_at.is_(None), T.audited_at < now - window))).all()
    for key, count, since, last in due:
        done = session.execute(update(T).where(T.key == key, T.unaudited == count)
                               .values(unaudited=0, audited_at=now)).rowcount
        if not done:
            continue  # another process wrote it
        ip = key[len("addr:"):]
        audit.record(session, audit.Actor(None, "", ip), "login_failed_aggregate", "address", ip,
                     after={"attempts": count, "since": since, "last": last},
                     summary=f"来自 {ip} 的 {count} 次失败或被限流的登录 / {count} failed or throttled logins from {ip}",
                     success=False)
    keep = max(window, dt.timedelta(minutes=policy.lockout_minutes))
    session.execute(delete(T).where(T.last_at < now - keep, T.unaudited == 0,
                                    or_(T.blocked_until.is_(None), T.blocked_until < now)))


def address_state(session: Session, ip: str) -> LoginThrottle | None:
    """The address's row (for tests and the monitoring screens)."""
    return session.get(T, address_key(ip))


def rows(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(T)) or 0
