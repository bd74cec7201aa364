"""Authenticated encryption of a backup stream: AES-256-GCM in chunks.

A whole backup may be larger than memory, and AES-GCM (``cryptography``'s
one-shot AEAD) needs each message in memory, so the stream is cut into 1 MiB
chunks sealed one by one (the "STREAM" construction used by age and Tink):
each chunk's nonce is a random prefix, the chunk's counter and a last-chunk
flag, and every chunk authenticates the file header. Altering, reordering,
dropping or truncating chunks therefore fails authentication, and a wrong
key is told apart by a key check in the header.

File layout::

    b"CCMSBAK1" | u16 length | header JSON | 32-byte key check | sealed chunks

The key comes from a passphrase through scrypt, or from a key file (its
bytes, at least 32, through HKDF-SHA256); the salt is in the header, the
passphrase is never stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import ValidationFailed

MAGIC = b"CCMSBAK1"
CHUNK = 1024 * 1024
TAG = 16
CHECK = 32
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 15, 8, 1  # about 32 MiB and a tenth of a second per derivation
MIN_PASSPHRASE = 12
MIN_KEY_FILE = 32


class Secret:
    """What the key is derived from: a passphrase or a key file's bytes."""

    def __init__(self, *, passphrase: str | None = None, key_material: bytes | None = None) -> None:
        if (passphrase is None) == (key_material is None):
            raise ValueError("give a passphrase or key material")
        self.passphrase = passphrase
        self.key_material = key_material

    @property
    def kind(self) -> str:
        return "passphrase" if self.passphrase is not None else "keyfile"


def check_secret_for_writing(secret: Secret) -> None:
    """Refuse weak secrets before a backup is sealed with them."""
    if secret.passphrase is not None and len(secret.passphrase) < MIN_PASSPHRASE:
        raise ValidationFailed(f"备份口令至少需要 {MIN_PASSPHRASE} 个字符",
                               f"the backup passphrase needs at least {MIN_PASSPHRASE} characters")
    if secret.key_material is not None and len(secret.key_material) < MIN_KEY_FILE:
        raise ValidationFailed(f"密钥文件至少需要 {MIN_KEY_FILE} 字节（例如 head -c 32 /dev/urandom > backup.key）",
                               f"the key file needs at least {MIN_KEY_FILE} bytes "
                               "(e.g. head -c 32 /dev/urandom > backup.key)")


def _derive(secret: Secret, params: dict) -> tuple[bytes, bytes]:
    """(encryption key, key-check key) for the header's parameters."""
    salt = base64.b64decode(params["salt"])
    if params["kdf"] == "scrypt":
        if secret.passphrase is None:
            raise ValidationFailed("此备份用口令加密，请提供口令（--passphrase-file 或 CCMS_BACKUP_PASSPHRASE）",
                                   "this backup is encrypted with a passphrase: give it (--passphrase-file or "
                                   "CCMS_BACKUP_PASSPHRASE)", code="wrong_secret")
        out = Scrypt(salt=salt, length=64, n=int(params["n"]), r=int(params["r"]), p=int(params["p"])).derive(
            secret.passphrase.encode("utf-8"))
    elif params["kdf"] == "hkdf-sha256":
        if secret.key_material is None:
            raise ValidationFailed("此备份用密钥文件加密，请用 --key-file 提供", "this backup is encrypted with a key "
                                   "file: give it with --key-file", code="wrong_secret")
        out = HKDF(algorithm=hashes.SHA256(), length=64, salt=salt, info=b"ccms-backup").derive(secret.key_material)
    else:
        raise ValidationFailed(f"不支持的密钥派生方式 {params['kdf']}", f"unsupported key derivation {params['kdf']}")
    return out[:32], out[32:]


def is_encrypted(head: bytes) -> bool:
    return head.startswith(MAGIC)


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


class EncryptingWriter:
    """A write-only file object that seals what it is given into ``out``."""

    def __init__(self, out: BinaryIO, secret: Secret) -> None:
        self.out = out
        params: dict = {"v": 1, "cipher": "AES-256-GCM", "chunk": CHUNK, "salt": base64.b64encode(os.urandom(16)).decode(),
                        "prefix": base64.b64encode(os.urandom(7)).decode()}
        params.update({"kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}
                      if secret.kind == "passphrase" else {"kdf": "hkdf-sha256"})
        body = json.dumps(params, sort_keys=True).encode()
        self.header = MAGIC + struct.pack(">H", len(body)) + body
        key, check_key = _derive(secret, params)
        self.aead = AESGCM(key)
        self.prefix = base64.b64decode(params["prefix"])
        out.write(self.header + hmac.new(check_key, self.header, hashlib.sha256).digest())
        self.buf = bytearray()
        self.counter = 0

    def write(self, data: bytes) -> int:
        self.buf += data
        while len(self.buf) > CHUNK:  # keep at least one byte back: the last chunk is sealed in close()
            self._seal(bytes(self.buf[:CHUNK]), last=False)
            del self.buf[:CHUNK]
        return len(data)

    def _seal(self, plain: bytes, last: bool) -> None:
        self.out.write(self.aead.encrypt(_nonce(self.prefix, self.counter, last), plain, self.header))
        self.counter += 1

    def close(self) -> None:
        self._seal(bytes(self.buf), last=True)
        self.buf.clear()

    def flush(self) -> None:  # tarfile calls it; chunks are written as they fill
        pass


class DecryptingReader:
    """A read-only file object opening what :class:`EncryptingWriter` sealed.

    Raises :class:`ValidationFailed` with code ``wrong_secret`` for a wrong
    passphrase or key, ``backup_damaged`` for altered bytes and
    ``backup_truncated`` for a file cut short.
    """

    def __init__(self, src: BinaryIO, secret: Secret, name: str = "") -> None:
        self.src, self.name = src, name
        head = src.read(len(MAGIC) + 2)
        if len(head) < len(MAGIC) + 2 or not head.startswith(MAGIC):
            raise _truncated(name)
        (n,) = struct.unpack(">H", head[len(MAGIC):])
        body = src.read(n)
        check = src.read(CHECK)
        if len(body) < n or len(check) < CHECK:
            raise _truncated(name)
        try:
            params = json.loads(body)
            self.chunk = int(params["chunk"])
            self.prefix = base64.b64decode(params["prefix"])
        except (ValueError, KeyError, TypeError):
            raise _damaged(name, "header") from None
        self.header = head + body
        key, check_key = _derive(secret, params)
        if not hmac.compare_digest(hmac.new(check_key, self.header, hashlib.sha256).digest(), check):
            raise ValidationFailed(
                "备份口令或密钥不正确（或备份文件头已被改动），无法解密",
                "wrong backup passphrase or key (or the backup's header was altered): cannot decrypt",
                code="wrong_secret")
        self.aead = AESGCM(key)
        self.counter = 0
        self.pending = src.read(self.chunk + TAG)
        self.plain = b""
        self.done = False

    def _next(self) -> None:
        sealed, following = self.pending, self.src.read(self.chunk + TAG)
        last = not following
        if len(sealed) < TAG:
            raise _truncated(self.name)
        try:
            self.plain += self.aead.decrypt(_nonce(self.prefix, self.counter, last), sealed, self.header)
        except InvalidTag:
            if last:  # cut exactly after a chunk that was not the last one?
                try:
                    self.aead.decrypt(_nonce(self.prefix, self.counter, False), sealed, self.header)
                except InvalidTag:
                    pass
                else:
                    raise _truncated(self.name) from None
            raise _damaged(self.name, f"chunk {self.counter}") from None
        self.counter += 1
        self.pending = following
        self.done = last

    def read(self, size: int = -1) -> bytes:
        while not self.done and (size < 0 or len(self.plain) < size):
            self._next()
        if size < 0:
            size = len(self.plain)
        out, self.plain = self.plain[:size], self.plain[size:]
        return out


def _truncated(name: str) -> ValidationFailed:
    return ValidationFailed(f"备份文件 {name} 不完整（被截断）", f"the backup {name} is incomplete (truncated)",
                            code="backup_truncated")


def _damaged(name: str, where: str) -> ValidationFailed:
    return ValidationFailed(f"备份文件 {name} 已损坏、被改动或不完整（{where} 校验失败）",
                            f"the backup {name} is damaged, altered or cut short ({where} fails authentication)",
                            code="backup_damaged")
