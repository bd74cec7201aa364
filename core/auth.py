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
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import audit, password_rules
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


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
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
                         "password is too common (on the list of common and leaked passwords, "
                         "digit or symbol variants included): choose another"))
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


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def login(session: Session, username: str, password: str, policy: SecurityPolicy, client_ip: str = "",
          user_agent: str = "", now: dt.datetime | None = None) -> LoginResult:
    """Check credentials, apply lockout, open a server-side session, audit it."""
    now = now or utcnow()
    person = session.scalar(select(Person).where(Person.username == username.strip()))
    actor = audit.Actor(person.id if person else None, username[:100], client_ip)
    if person is None:
        verify_password("", password)
        audit.record(session, actor, "login_failed", "person", "", summary="unknown user", success=False)
        return LoginResult(False, None, "用户名或密码错误", "wrong user name or password", "bad_credentials")
    if person.locked_until and person.locked_until > now:
        minutes = max(1, int((person.locked_until - now).total_seconds() // 60) + 1)
        audit.record(session, actor, "login_failed", "person", person.id, summary="account locked", success=False)
        return LoginResult(False, person, f"账户已被锁定，请{minutes}分钟后再试，或联系管理员解锁",
                           f"account locked: try again in {minutes} minutes or ask an administrator",
                           "locked")
    if not verify_password(person.password_hash, password):
        # One UPDATE so concurrent failures all count.
        session.execute(update(Person).where(Person.id == person.id)
                        .values(failed_logins=Person.failed_logins + 1)
                        .execution_options(synchronize_session=False))
        session.refresh(person)
        locked = person.failed_logins >= policy.lockout_threshold
        if locked:
            session.execute(update(Person).where(Person.id == person.id)
                            .values(locked_until=now + dt.timedelta(minutes=policy.lockout_minutes), failed_logins=0)
                            .execution_options(synchronize_session=False))
        audit.record(session, actor, "login_failed", "person", person.id,
                     summary="wrong password" + (", account locked" if locked else ""), success=False)
        if locked:
            return LoginResult(False, person,
                               f"密码连续错误{policy.lockout_threshold}次，账户已锁定{policy.lockout_minutes}分钟",
                               f"{policy.lockout_threshold} wrong passwords: account locked for {policy.lockout_minutes} minutes",
                               "locked")
        left = policy.lockout_threshold - person.failed_logins
        return LoginResult(False, person, f"用户名或密码错误（再错{left}次将锁定账户）",
                           f"wrong user name or password ({left} tries left before lockout)", "bad_credentials")
    if not person.active:
        audit.record(session, actor, "login_failed", "person", person.id, summary="account inactive", success=False)
        return LoginResult(False, person, "账户已停用，请联系管理员", "account is deactivated: ask an administrator",
                           "inactive")
    token = secrets.token_urlsafe(32)
    session.add(LoginSession(id=_sha(token), person_id=person.id, created_at=now, last_seen_at=now,
                             client_ip=client_ip[:64], user_agent=user_agent[:300]))
    session.execute(update(Person).where(Person.id == person.id)
                    .values(failed_logins=0, locked_until=None, last_login_at=now)
                    .execution_options(synchronize_session=False))
    audit.record(session, actor, "login", "person", person.id, summary="login")
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
