"""Personal information: masking by role and optional encryption at rest.

Masking. Phone and citizen-ID numbers are shown in full only to holders of
``core.pii.view`` (or a plugin's own unmask permission) *in the org that owns
the record*; everyone else sees ``138****5678`` / ``110105********1234``
(:mod:`ccms.mask`). Audit snapshots always hold the masked form.

Encryption at rest. Columns typed :class:`PiiString` are encrypted when the
deployment names a key (``[pii] key_file`` or ``[pii] key_env``); the key
never lives in the database. A stored value reads
``pii1:<key id>:<base64url(nonce | ciphertext | tag)>``: the key id picks the
key, so during a rotation old keys still decrypt while the first key in the
key file encrypts. Suites: ``aes-256-gcm`` (32-byte key) and ``sm4-gcm``
(16-byte key, GB/T 32907), both through ``cryptography``. Plaintext rows are
still read as they are, so switching encryption on is ``ccms pii encrypt``
after the fact, not a flag day. Nothing searches by these columns (random
nonces make equal numbers differ in the database); a lookup by phone would
need a keyed-hash column.

The keyring is attached to the engine's dialect (one per app), so two
deployments in one process keep their own keys.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Column, String, column, event, inspect, select, table, update
from sqlalchemy.types import TypeDecorator

from .errors import ConfigError
from .mask import mask_idcard, mask_phone

log = logging.getLogger("ccms.pii")

PERMISSION = "core.pii.view"
PREFIX = "pii1:"
SUITES = {"aes-256-gcm": 32, "sm4-gcm": 16}
_AAD = b"ccms-pii-v1"
_KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
MASKERS = {"phone": mask_phone, "idcard": mask_idcard}


# --------------------------------------------------------------------------- masking


def may_unmask(ctx: Any, user: Any, org_id: int | None, *also: str) -> bool:
    """``core.pii.view`` (or one of ``also``) held in ``org_id``'s domain."""
    if org_id is None:
        return False  # no owner known: nobody is "in the right org"
    return any(ctx.can(user, p, org_id) for p in (PERMISSION, *also))


def mask(value: Any, kind: str = "phone") -> str:
    """The masked text of a phone (``138****5678``) or ID-card number (``110105********1234``)."""
    if value in (None, ""):
        return ""
    return MASKERS[kind](value)


def shown(value: Any, full: bool, kind: str = "phone") -> str:
    """What a reader sees: the value itself when ``full``, else masked."""
    if value in (None, ""):
        return ""
    return str(value) if full else mask(value, kind)


def mask_snapshot(data: dict[str, Any] | None, kinds: Mapping[str, str]) -> dict[str, Any] | None:
    """An audit before/after dict with the personal numbers masked (the log never holds them in clear)."""
    if data is None:
        return None
    return {k: (mask(v, kinds[k]) if k in kinds and isinstance(v, str) else v) for k, v in data.items()}


def kept_if_masked(submitted: str | None, stored: str, kind: str = "phone") -> str | None:
    """An edit form shows a masked value to someone who may not see it in full; sending it back
    unchanged keeps the stored number (``None`` = keep) instead of overwriting it with stars."""
    if submitted is None or not stored:
        return submitted
    return None if submitted.strip() == mask(stored, kind) else submitted


# --------------------------------------------------------------------------- configuration


class PiiConfig(BaseModel):
    """``[pii]`` in the deployment file. No key: personal numbers are stored as given."""

    model_config = ConfigDict(extra="forbid")
    key_file: str | None = Field(None, description="file of keys, one '<id> <suite> <base64 key>' a line, "
                                                   "the first encrypts; relative to the deployment file")
    key_env: str | None = Field(None, description="environment variable holding the same lines "
                                                  "(';' may separate them)")


@dataclass(frozen=True)
class Key:
    kid: str
    suite: str
    secret: bytes = b""

    def __repr__(self) -> str:  # never print key material
        return f"Key({self.kid!r}, {self.suite!r})"


def _bad_keys(zh: str, en: str, source: str) -> ConfigError:
    return ConfigError(f"个人信息加密密钥 {source} 有误: {zh}", f"personal-information key {source} is invalid: {en}")


def parse_keys(text: str, source: str) -> list[Key]:
    """Key lines ``<id> <suite> <base64 key>`` (``#`` comments); the first is the current key."""
    keys: list[Key] = []
    for n, raw in enumerate(re.split(r"[;\n]", text), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3:
            raise _bad_keys(f"第 {n} 行应为“编号 算法 base64密钥”", f"line {n} must read '<id> <suite> <base64 key>'",
                            source)
        kid, suite, b64 = parts
        if not _KID_RE.match(kid):
            raise _bad_keys(f"第 {n} 行的编号应为 1-16 位字母、数字、_ 或 -",
                            f"line {n}: the id must be 1-16 letters, digits, _ or -", source)
        if suite not in SUITES:
            raise _bad_keys(f"第 {n} 行的算法 {suite} 不支持（可用 {', '.join(SUITES)}）",
                            f"line {n}: suite {suite} is not supported (use {', '.join(SUITES)})", source)
        try:
            secret = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise _bad_keys(f"第 {n} 行的密钥不是 base64", f"line {n}: the key is not base64", source) from None
        if len(secret) != SUITES[suite]:
            raise _bad_keys(f"第 {n} 行的 {suite} 密钥应为 {SUITES[suite]} 字节，实为 {len(secret)} 字节",
                            f"line {n}: a {suite} key has {SUITES[suite]} bytes, this one {len(secret)}", source)
        if any(k.kid == kid for k in keys):
            raise _bad_keys(f"编号 {kid} 重复", f"key id {kid} appears twice", source)
        keys.append(Key(kid, suite, secret))
    if not keys:
        raise _bad_keys("没有密钥", "it holds no key", source)
    return keys


def new_key_line(kid: str, suite: str = "aes-256-gcm") -> str:
    """A fresh key line for the key file."""
    if suite not in SUITES:
        raise ConfigError(f"不支持的算法 {suite}", f"unsupported suite {suite}")
    return f"{kid} {suite} {base64.b64encode(secrets.token_bytes(SUITES[suite])).decode()}"


class Keyring:
    """The deployment's keys: the first encrypts, every one decrypts (rotation)."""

    def __init__(self, keys: list[Key], source: str = "") -> None:
        self.keys = {k.kid: k for k in keys}
        self.current = keys[0]
        self.source = source

    @staticmethod
    def _cipher(key: Key, nonce: bytes, tag: bytes | None = None) -> Any:
        # lazy: cryptography only when a PII key is configured
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        algo = algorithms.AES(key.secret) if key.suite == "aes-256-gcm" else algorithms.SM4(key.secret)
        return Cipher(algo, modes.GCM(nonce, tag))

    def encrypt(self, plain: str) -> str:
        nonce = os.urandom(12)
        enc = self._cipher(self.current, nonce).encryptor()
        enc.authenticate_additional_data(_AAD)
        body = enc.update(plain.encode("utf-8")) + enc.finalize()
        blob = base64.urlsafe_b64encode(nonce + body + enc.tag).decode().rstrip("=")
        return f"{PREFIX}{self.current.kid}:{blob}"

    def decrypt(self, stored: str) -> str:
        kid, blob = key_id(stored), stored.split(":", 2)[2]
        key = self.keys.get(kid)
        if key is None:
            raise missing_key(kid, self.source)
        # lazy: cryptography only when a PII key is configured
        from cryptography.exceptions import InvalidTag
        try:
            raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
            dec = self._cipher(key, raw[:12], raw[-16:]).decryptor()
            dec.authenticate_additional_data(_AAD)
            return (dec.update(raw[12:-16]) + dec.finalize()).decode("utf-8")
        except (InvalidTag, ValueError, binascii.Error):
            raise ConfigError(f"密钥 {kid}（{self.source}）无法解密已存数据：密钥错误或数据被篡改",
                              f"key {kid} ({self.source}) does not decrypt stored data: wrong key or "
                              f"altered data") from None


def key_id(stored: str) -> str:
    return stored.split(":", 2)[1]


def missing_key(kid: str, source: str) -> ConfigError:
    where = source or "[pii]"
    return ConfigError(f"数据库中有用密钥 {kid} 加密的个人信息，但 {where} 中没有该密钥",
                       f"the database holds personal information encrypted with key {kid}, "
                       f"which {where} does not have")


def load_keyring(conf: PiiConfig, base_dir: str | Path = ".") -> Keyring | None:
    """The keyring the deployment names; ``None`` when it names none. Bilingual errors otherwise."""
    if conf.key_file and conf.key_env:
        raise ConfigError("[pii] 只能设置 key_file 或 key_env 之一", "[pii] takes key_file or key_env, not both")
    if conf.key_file:
        path = Path(conf.key_file)
        path = path if path.is_absolute() else Path(base_dir) / path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"找不到个人信息加密密钥文件: {path}",
                              f"personal-information key file not found: {path}") from None
        except OSError as exc:
            raise ConfigError(f"无法读取个人信息加密密钥文件 {path}: {exc}",
                              f"cannot read personal-information key file {path}: {exc}") from None
        if os.name == "posix" and path.stat().st_mode & 0o077:
            log.warning("个人信息加密密钥文件 %s 可被其他用户读取，请执行 chmod 600 / personal-information key file "
                        "%s is readable by other users: chmod 600 it", path, path)
        return Keyring(parse_keys(text, str(path)), str(path))
    if conf.key_env:
        text = os.environ.get(conf.key_env)
        if not text:
            raise ConfigError(f"环境变量 {conf.key_env} 未设置（[pii] key_env 要求它持有密钥）",
                              f"environment variable {conf.key_env} is not set ([pii] key_env needs the keys there)")
        return Keyring(parse_keys(text, f"${conf.key_env}"), f"${conf.key_env}")
    return None


# --------------------------------------------------------------------------- the column type


_KEYRING_ATTR = "ccms_pii_keyring"


class PiiString(TypeDecorator):
    """A string column that is encrypted when the app's engine carries a keyring."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        ring: Keyring | None = getattr(dialect, _KEYRING_ATTR, None)
        if ring is None or value in (None, "") or str(value).startswith(PREFIX):
            return value
        return ring.encrypt(str(value))

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if not isinstance(value, str) or not value.startswith(PREFIX):
            return value
        ring: Keyring | None = getattr(dialect, _KEYRING_ATTR, None)
        if ring is None:
            raise missing_key(key_id(value), "")
        return ring.decrypt(value)


# Columns typed PiiString, by table: core's and plugins' (each plugin has its own declarative base).
PII_COLUMNS: dict[str, set[str]] = {}


@event.listens_for(Column, "after_parent_attach")
def _register(col: Any, parent: Any) -> None:
    if isinstance(col.type, PiiString) and hasattr(parent, "primary_key"):
        PII_COLUMNS.setdefault(parent.name, set()).add(col.name)


def install(engine: Any, ring: Keyring | None) -> None:
    """Give the engine (one per app) its keyring: PiiString columns then encrypt and decrypt."""
    setattr(engine.dialect, _KEYRING_ATTR, ring)


def _pii_tables(conn: Any) -> list[tuple[Any, str]]:
    """(lightweight table with id and the raw columns, table name) for PII tables that exist."""
    have = set(inspect(conn).get_table_names())
    return [(table(name, column("id"), *[column(c, String) for c in sorted(cols)]), name)
            for name, cols in sorted(PII_COLUMNS.items()) if name in have]


def check_data(engine: Any, ring: Keyring | None) -> None:
    """Refuse to start when stored values cannot be read: encrypted data but no key, a key id
    the keyring lacks, or a key that fails to decrypt (wrong key). One row per key id and column."""
    with engine.connect() as conn:
        for t, _name in _pii_tables(conn):
            for c in t.c:
                if c.name == "id":
                    continue
                known = list(ring.keys) if ring else []
                for kid in known:
                    v = conn.scalar(select(c).where(c.like(f"{PREFIX}{kid}:%")).limit(1))
                    if v is not None:
                        ring.decrypt(v)  # type: ignore[union-attr]
                stmt = select(c).where(c.like(f"{PREFIX}%"))
                for kid in known:
                    stmt = stmt.where(~c.like(f"{PREFIX}{kid}:%"))
                v = conn.scalar(stmt.limit(1))
                if v is not None:
                    raise missing_key(key_id(v), ring.source if ring else "")


@dataclass
class Rewritten:
    table: str
    column: str
    rows: int


def rewrite(engine: Any, ring: Keyring | None, *, encrypt: bool = True,
            batch: int = 500) -> list[Rewritten]:
    """Bring every PII value to the target form: encrypted under the current key (``encrypt``) or
    plaintext. Rows already in that form are left alone; batches commit as they go, and a run cut
    short is simply run again (every row is readable in either form throughout)."""
    if encrypt and ring is None:
        raise ConfigError("部署配置没有 [pii] 密钥，无法加密", "the deployment names no [pii] key: nothing to encrypt with")
    target = f"{PREFIX}{ring.current.kid}:" if (encrypt and ring) else None
    done: list[Rewritten] = []
    with engine.connect() as conn:
        tables = _pii_tables(conn)
    for t, name in tables:
        for c in [c for c in t.c if c.name != "id"]:
            count, last = 0, None
            while True:
                with engine.begin() as conn:
                    stmt = select(t.c.id, c).where(c.is_not(None), c != "").order_by(t.c.id).limit(batch)
                    stmt = stmt.where(~c.like(target + "%")) if target else stmt.where(c.like(PREFIX + "%"))
                    if last is not None:
                        stmt = stmt.where(t.c.id > last)
                    rows = conn.execute(stmt).all()
                    for rid, value in rows:
                        plain = ring.decrypt(value) if value.startswith(PREFIX) and ring else value
                        if value.startswith(PREFIX) and ring is None:
                            raise missing_key(key_id(value), "")
                        new = ring.encrypt(plain) if target and ring else plain
                        conn.execute(update(t).where(t.c.id == rid).values({c.name: new}))
                    count += len(rows)
                if len(rows) < batch:
                    break
                last = rows[-1][0]
            done.append(Rewritten(name, c.name, count))
    return done


def status(engine: Any) -> list[tuple[str, str, str, int]]:
    """(table, column, form, rows): form is ``plain`` or the key id that encrypted the rows."""
    out: list[tuple[str, str, str, int]] = []
    with engine.connect() as conn:
        for t, name in _pii_tables(conn):
            for c in [c for c in t.c if c.name != "id"]:
                counts: dict[str, int] = {}
                for (v,) in conn.execute(select(c).where(c.is_not(None), c != "")):
                    form = key_id(v) if v.startswith(PREFIX) else "plain"
                    counts[form] = counts.get(form, 0) + 1
                out.extend((name, c.name, form, n) for form, n in sorted(counts.items()))
    return out


def without_keys(lines: Iterable[str], keep: str) -> list[str]:
    """Key-file lines with every key but ``keep`` removed (comments kept)."""
    out = []
    for line in lines:
        bare = line.split("#", 1)[0].strip()
        if bare and bare.split()[0] != keep:
            continue
        out.append(line)
    return out
