"""Authentication: argon2 passwords, policy, lockout, server-side sessions, API tokens.

Everything here is plain functions over a SQLAlchemy session so the web layer,
the CLI and tests share one implementation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
import string
import threading
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import audit, login_guard, password_rules
from .config import SecurityPolicy
from .db import utcnow
from .errors import ValidationFailed
from .models import ApiToken, LoginSession, Person


def _make_hasher() -> PasswordHasher:
    """argon2id with the library's RFC 9106 defaults. The test suite sets
    ``CCMS_ARGON2_CHEAP=1`` to hash faster; hashes carry their parameters, so
    verification is unaffected and a real deployment never sets it."""
    if os.environ.get("CCMS_ARGON2_CHEAP") == "1":
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()


_hasher = _make_hasher()
# Verifying against this keeps the time of "no such user" equal to "wrong password".
_DUMMY_HASH = _hasher.hash("ccms-dummy-password")
# argon2 runs in worker threads (never on the event loop) and each hash takes
# 64 MiB by default: at most this many at once, so a burst of logins cannot
# exhaust memory; the rest wait their turn in their threads.
_HASH_SLOTS = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))


def hash_password(password: str) -> str:
    """Blocking (argon2): call from a worker thread in request handlers."""
    with _HASH_SLOTS:
        return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Blocking (argon2): call from a worker thread in request handlers."""
    try:
        with _HASH_SLOTS:
            return _hasher.verify(stored or _DUMMY_HASH, password) and bool(stored)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problems(password: str, policy: SecurityPolicy, username: str = "",
                      display_name: str = "") -> list[tuple[str, str]]:
    """Why a password is refused, as (zh, en) pairs naming the rule; empty when it is fine."""
    problems = []
    if len(password) < policy.password_min_length:
        problems.append((f"密码至少需要{policy.password_min_length}个字符",
                         f"password needs at least {policy.password_min_length} characters"))
    classes = sum([any(c.islower() for c in password), any(c.isupper() for c in password),
                   any(c.isdigit() for c in password), any(c in string.punctuation or c == " " for c in password)])
    if classes < policy.password_classes:
        problems.append((f"密码需包含小写字母、大写字母、数字、符号中的至少{policy.password_classes}类",
                         f"password needs at least {policy.password_classes} of: lower case, upper case, digits, symbols"))
    if policy.refuse_common_passwords and password_rules.is_common(password):
        problems.append(("密码过于常见（在常用及已泄露密码列表中，包括加数字或符号的变体），请换一个",
                         ("password is too common (on the list of common and leaked passwords, "
                          "digit or symbol variants included): choose another")))
    if username and username.lower() in password.lower():
        problems.append(("密码不能包含用户名", "password must not contain the user name"))
    if display_name and password_rules.name_in_password(password, display_name):
        problems.append(("密码不能包含本人姓名的拼音或拼音首字母",
                         "password must not contain the person's name (pinyin or its initials)"))
    return problems


def check_password_policy(password: str, policy: SecurityPolicy, username: str = "", field_name: str = "password",
                          display_name: str = "") -> None:
    problems = password_problems(password, policy, username, display_name)
    if problems:
        zh = "；".join(p[0] for p in problems)
        en = "; ".join(p[1] for p in problems)
        raise ValidationFailed(zh, en, fields={field_name: {"message": zh, "message_en": en}})


def generate_password(policy: SecurityPolicy) -> str:
    """A random password that satisfies the policy (for resets and the demo)."""
    alphabet = string.ascii_letters + string.digits + "!@#%^*-_=+"
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(max(policy.password_min_length, 14)))
        if not password_problems(pw, policy):
            return pw


def password_expired(person: Person, policy: SecurityPolicy, now: dt.datetime | None = None) -> bool:
    if person.must_change_password:
        return True
    if policy.password_max_age_days <= 0 or person.password_changed_at is None:
        return False
    now = now or utcnow()
    return person.password_changed_at + dt.timedelta(days=policy.password_max_age_days) < now


def set_password(person: Person, password: str, *, must_change: bool = False) -> None:
    person.password_hash = hash_password(password)
    person.password_changed_at = utcnow()
    person.must_change_password = must_change
    person.failed_logins = 0
    person.locked_until = None


@dataclass
class LoginResult:
    ok: bool
    person: Person | None = None
    zh: str = ""
    en: str = ""
    code: str = ""
    session_token: str = ""
    password_expired: bool = False
    retry_after: int = 0  # seconds, when code == "throttled"


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# The same words whether or not the user name exists (defect 7): no "tries left", no "no such user".
BAD_CREDENTIALS = ("用户名或密码错误", "wrong user name or password")


def _locked_message(until: dt.datetime, now: dt.datetime) -> tuple[str, str]:
    minutes = max(1, int((until - now).total_seconds() // 60) + 1)
    return (f"账户已被锁定，请{minutes}分钟后再试，或联系管理员解锁",
            f"account locked: try again in {minutes} minutes or ask an administrator")


def _throttled_message(seconds: int) -> tuple[str, str]:
    return (f"登录失败次数过多，请{seconds}秒后再试",
            f"too many failed logins from this address: try again in {seconds} seconds")


def login(db: Any, username: str, password: str, policy: SecurityPolicy, client_ip: str = "",
          user_agent: str = "", now: dt.datetime | None = None) -> LoginResult:
    """Throttle, check credentials, apply lockout, open a server-side session, audit it.

    Blocking (argon2 and database): call it from a worker thread. ``db`` gives
    units of work (``db.session()``); the password is checked between them, so
    no transaction stays open while argon2 runs. Unknown user names take the
    same path as real ones: a dummy hash is verified, failures are counted and
    locked under the name, and the answers are the same bytes.
    """
    now = now or utcnow()
    username = username.strip()
    with db.session() as s:
        admission = login_guard.admit(s, policy, client_ip, now)
        if not admission.allowed:
            login_guard.housekeeping(s, policy, now)
            zh, en = _throttled_message(admission.retry_after)
            return LoginResult(False, None, zh, en, "throttled", retry_after=admission.retry_after)
        person = s.scalar(select(Person).where(Person.username == username))
        if person is not None:
            s.expunge(person)
            locked_until = person.locked_until if person.locked_until and person.locked_until > now else None
        else:
            locked_until = login_guard.account_locked_until(s, username, now)
    actor = audit.Actor(person.id if person else None, username[:100], client_ip)
    object_id = person.id if person else ""
    password_ok = verify_password(person.password_hash if person else "", password)

    with db.session() as s:
        def failure(summary: str, zh: str, en: str, code: str) -> LoginResult:
            if admission.audit_each:
                audit.record(s, actor, "login_failed", "person", object_id, summary=summary, success=False)
            login_guard.housekeeping(s, policy, now)
            return LoginResult(False, person, zh, en, code)

        if locked_until is not None:
            return failure("account locked" if person else "unknown user, name locked",
                           *_locked_message(locked_until, now), "locked")
        if not password_ok:
            if login_guard.failed(s, policy, username, client_ip, now):
                until = now + dt.timedelta(minutes=policy.lockout_minutes)
                if person is not None:
                    s.execute(update(Person).where(Person.id == person.id)
                              .values(locked_until=until, failed_logins=0)
                              .execution_options(synchronize_session=False))
                else:
                    login_guard.lock_unknown(s, policy, username, now)
                return failure(("wrong password" if person else "unknown user") + ", account locked",
                               f"密码错误次数过多，账户已锁定{policy.lockout_minutes}分钟",
                               f"too many wrong passwords: account locked for {policy.lockout_minutes} minutes",
                               "locked")
            return failure("wrong password" if person else "unknown user", *BAD_CREDENTIALS, "bad_credentials")
        assert person is not None  # the dummy hash never verifies
        if not person.active:
            return failure("account inactive", "账户已停用，请联系管理员", "account is deactivated: ask an administrator",
                           "inactive")
        login_guard.succeeded(s, username, client_ip, admission)
        token = secrets.token_urlsafe(32)
        s.add(LoginSession(id=_sha(token), person_id=person.id, created_at=now, last_seen_at=now,
                           client_ip=client_ip[:64], user_agent=user_agent[:300]))
        s.execute(update(Person).where(Person.id == person.id)
                  .values(failed_logins=0, locked_until=None, last_login_at=now)
                  .execution_options(synchronize_session=False))
        audit.record(s, actor, "login", "person", person.id, summary="login")
        login_guard.housekeeping(s, policy, now)
        return LoginResult(True, person, session_token=token, password_expired=password_expired(person, policy, now))


def logout(session: Session, token: str, actor: audit.Actor) -> None:
    session.execute(update(LoginSession).where(LoginSession.id == _sha(token)).values(revoked=True))
    audit.record(session, actor, "logout", "person", actor.id or "", summary="logout")


def revoke_sessions(session: Session, person_id: int, keep: str = "") -> int:
    """End every session of a person (deactivation, password change or reset)
    except the session id ``keep`` (the one changing its own password); returns how many ended."""
    stmt = update(LoginSession).where(LoginSession.person_id == person_id, LoginSession.revoked.is_(False))
    if keep:
        stmt = stmt.where(LoginSession.id != keep)
    return session.execute(stmt.values(revoked=True)).rowcount or 0


def revoke_tokens(session: Session, person_id: int, now: dt.datetime | None = None) -> list[ApiToken]:
    """Revoke every live API token of a person (administrator's password reset); returns them."""
    now = now or utcnow()
    live = list(session.scalars(select(ApiToken).where(ApiToken.person_id == person_id,
                                                       ApiToken.revoked_at.is_(None))))
    for tok in live:
        tok.revoked_at = now
    session.flush()
    return live


def session_id_of(token: str) -> str:
    return _sha(token)


# --- API tokens ------------------------------------------------------------

TOKEN_PREFIX = "ccms_"


@dataclass
class NewToken:
    token: ApiToken
    secret: str = field(repr=False)


def create_token(session: Session, person_id: int, name: str, scopes: list[str],
                 expires_at: dt.datetime | None = None) -> NewToken:
    """Create a token; the secret is shown once and only its hash is stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    tok = ApiToken(person_id=person_id, name=name, prefix=secret[:12], token_hash=_sha(secret),
                   scopes=scopes or ["*"], expires_at=expires_at)
    session.add(tok)
    session.flush()
    return NewToken(tok, secret)


def find_token(session: Session, secret: str, now: dt.datetime | None = None) -> ApiToken | None:
    now = now or utcnow()
    tok = session.scalar(select(ApiToken).where(ApiToken.token_hash == _sha(secret)))
    if tok is None or tok.revoked_at is not None or (tok.expires_at and tok.expires_at < now):
        return None
    return tok


def scope_allows(scopes: list[str], permission: str) -> bool:
    """``*`` allows all; ``core.org.*`` allows the family; else exact match."""
    for s in scopes:
        if s == "*" or s == permission or (s.endswith(".*") and permission.startswith(s[:-1])):
            return True
    return False


# --- CSRF (signed double-submit) -------------------------------------------

def csrf_token_for(secret_key: str, cookie_value: str) -> str:
    return hmac.new(secret_key.encode(), b"csrf:" + cookie_value.encode(), hashlib.sha256).hexdigest()[:40]


def csrf_valid(secret_key: str, cookie_value: str | None, presented: str | None) -> bool:
    if not cookie_value or not presented:
        return False
    return hmac.compare_digest(csrf_token_for(secret_key, cookie_value), presented)
