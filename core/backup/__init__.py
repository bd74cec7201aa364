"""Backup and restore of a deployment: database, attachments and deployment file.

A backup is ONE file, ``ccms-backup-<identity>-<UTC time>.tar`` (or
``.tar.enc`` when encrypted, see :mod:`core.backup.crypto`), holding::

    database/ccms.sqlite3 | database/ccms.pgdump   the database snapshot
    deployment/<file>.toml                         the deployment file
    attachments/...                                every stored upload
    manifest.json                                  (last) sizes and SHA-256 of all the above,
                                                   applied migrations, ccms version, time, identity

One file is easy to copy off-site and to prune; the manifest comes last so a
backup is written in a single pass, and a file cut short has no manifest.
Everything is checked (checksums, sizes, no missing or extra member) before
a restore writes anything to the target.

Without encryption the checksums detect damage, not a forger who rewrites
the manifest too; encrypt (AES-256-GCM) for that, and because the backup
holds the deployment file with its secret key and the password hashes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from .. import audit_chain, migrate
from ..errors import ConfigError, ValidationFailed
from ..migrate import CORE_MIGRATIONS
from . import database as dbs
from .crypto import (
    MAGIC,
    DecryptingReader,
    EncryptingWriter,
    Secret,
    check_secret_for_writing,
)

FORMAT = "ccms-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
NAME_RE = re.compile(r"^ccms-backup-(?P<slug>.+)-(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?\.tar(?:\.enc)?$")
MEMBER_RE = re.compile(r"^(database|deployment|attachments)/[^\x00]+$")
SKIP_IN_ATTACHMENTS = (".upload-",)  # the store's half-written temporary files
BUF = 1024 * 1024


@dataclass
class Result:
    """What a backup, verify or restore did, for the command line to print."""

    path: Path
    manifest: dict[str, Any]
    notes: list[tuple[str, str]] = field(default_factory=list)  # (zh, en)
    pruned: list[Path] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)


# --- helpers ----------------------------------------------------------------------------

def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def slug(identity: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "-", identity).strip("-") or "ccms"


def attachments_root(deployment: Any) -> Path:
    return Path(deployment.resolve(deployment.attachments_dir))


def _attachment_files(root: Path) -> Iterator[tuple[Path, str]]:
    """(file, relative posix path) of every stored upload, sorted; symlinks and
    the store's temporary files are left out."""
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if name.startswith(SKIP_IN_ATTACHMENTS) or p.is_symlink() or not p.is_file():
                continue
            yield p, p.relative_to(root).as_posix()


class _Hashing:
    """A file object that hashes (and counts) what is read through it."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f, self.h, self.size = f, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.h.update(data)
        self.size += len(data)
        return data


def _private_file(path: Path) -> BinaryIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


# --- backup -----------------------------------------------------------------------------

def create(ctx: Any, deployment_file: str | Path, to_dir: str | Path, *, secret: Secret | None = None,
           ccms_version: str = "", before_snapshot: Callable[[], None] | None = None) -> Result:
    """Write one backup file of the deployment ``ctx`` into ``to_dir``.

    ``before_snapshot`` runs just before the database is copied (the command
    line writes its audit entry there, so the backup holds its own record).
    The file appears under its final name only when complete.
    """
    dep = ctx.deployment
    url = ctx.db.url
    dialect = dbs.dialect_of(url)
    if secret is not None:
        check_secret_for_writing(secret)
    present = dbs.table_names(url)
    if not present:
        raise ConfigError("数据库是空的（尚未迁移？），没有可备份的内容",
                          "the database is empty (not migrated yet?): nothing to back up", code="empty_database")
    to_dir = Path(to_dir)
    to_dir.mkdir(parents=True, exist_ok=True)
    started = _now()
    stem = f"ccms-backup-{slug(dep.identity)}-{started.strftime('%Y%m%dT%H%M%SZ')}"
    ext = ".tar.enc" if secret is not None else ".tar"
    final, n = to_dir / f"{stem}{ext}", 1
    while final.exists():
        n += 1
        final = to_dir / f"{stem}-{n}{ext}"
    partial = to_dir / f".{final.name}.partial"
    work = Path(tempfile.mkdtemp(prefix=".ccms-backup-", dir=to_dir))
    try:
        if before_snapshot is not None:
            before_snapshot()
        # seal the audit chain now, so the copy holds every committed entry sealed
        # (the app's background sealer would otherwise seal some only after the copy)
        if "core_audit_chain" in present:
            ctx.audit_sealer.close()
            audit_chain.seal(ctx.db.engine)
        db_info: dict[str, Any] = {"dialect": dialect}
        if dialect == "sqlite":
            snap = work / "ccms.sqlite3"
            dbs.sqlite_snapshot(url, snap)
            revisions = dbs.applied_revisions(f"sqlite:///{snap}")
        elif dialect == "postgresql":
            snap = work / "ccms.pgdump"
            revisions = dbs.applied_revisions(url)
            db_info.update(dbs.pg_snapshot(url, snap))
        else:
            raise ConfigError(f"不支持备份 {dialect} 数据库", f"backing up a {dialect} database is not supported")
        db_info["file"] = f"database/{snap.name}"
        members: list[tuple[Path, str]] = [(snap, db_info["file"])]
        cfg = Path(deployment_file)
        members.append((cfg, f"deployment/{cfg.name}"))
        members += [(p, f"attachments/{rel}") for p, rel in _attachment_files(attachments_root(dep))]
        manifest: dict[str, Any] = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "created_at": started.isoformat(),
            "ccms_version": ccms_version,
            "deployment": {"identity": dep.identity, "name": dep.name, "profile": dep.profile,
                           "region_code": dep.region_code, "file": f"deployment/{cfg.name}"},
            "database": db_info, "migrations": revisions,
            "code_heads": _code_heads(ctx), "encrypted": secret is not None, "files": []}
        with _private_file(partial) as out:
            sink: Any = EncryptingWriter(out, secret) if secret is not None else out
            with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for path, arcname in members:
                    manifest["files"].append(_add(tar, path, arcname))
                body = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
                info = _tarinfo(MANIFEST, len(body), started.timestamp())
                tar.addfile(info, io.BytesIO(body))
            if secret is not None:
                sink.close()
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, final)
        _fsync_dir(to_dir)
        return Result(final, manifest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        partial.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (the folder's entry), where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _tarinfo(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(mtime), 0o600
    return info


def _add(tar: tarfile.TarFile, path: Path, arcname: str) -> dict[str, Any]:
    """Add one file, hashing it as it is read; the size is the one at open time
    (content-addressed attachments and the snapshot do not change meanwhile)."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        hashing = _Hashing(f)
        tar.addfile(_tarinfo(arcname, st.st_size, st.st_mtime), hashing)
    return {"path": arcname, "size": hashing.size, "sha256": hashing.h.hexdigest()}


def _code_heads(ctx: Any) -> dict[str, str]:
    return {owner: ",".join(sorted(ScriptDirectory(str(folder)).get_heads()))
            for owner, folder, _t in migrate.histories(ctx.plugins)}


# --- reading a backup ----------------------------------------------------------------------

def _open_stream(path: Path, f: BinaryIO, secret_for: Callable[[], Secret | None]) -> Any:
    head = f.read(len(MAGIC))
    f.seek(0)
    if head.startswith(MAGIC):
        secret = secret_for()
        if secret is None:
            raise ValidationFailed("此备份已加密，请提供口令（--passphrase-file、CCMS_BACKUP_PASSPHRASE 或交互输入）"
                                   "或密钥文件（--key-file）",
                                   "this backup is encrypted: give its passphrase (--passphrase-file, "
                                   "CCMS_BACKUP_PASSPHRASE or the prompt) or key file (--key-file)",
                                   code="wrong_secret")
        return DecryptingReader(f, secret, path.name)
    return f


def is_encrypted(path: str | Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(MAGIC)).startswith(MAGIC)


def _incomplete(name: str, detail: str) -> ValidationFailed:
    return ValidationFailed(f"备份文件 {name} 不完整或已损坏（{detail}）",
                            f"the backup {name} is incomplete or damaged ({detail})", code="backup_truncated")


def read(path: str | Path, secret_for: Callable[[], Secret | None] = lambda: None,
         stage: Path | None = None) -> dict[str, Any]:
    """Read a whole backup, checking every file against the manifest; returns
    the manifest. With ``stage``, files are written under it as they are read
    (nothing outside it). Raises :class:`ValidationFailed` naming the first
    file that is missing, unexpected or whose checksum or size differs."""
    path = Path(path)
    if not path.is_file():
        raise ValidationFailed(f"找不到备份文件: {path}", f"backup file not found: {path}", code="not_found")
    seen: dict[str, tuple[int, str]] = {}
    manifest: dict[str, Any] | None = None
    with open(path, "rb") as f:
        stream = _open_stream(path, f, secret_for)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for m in tar:
                    if m.isdir():
                        continue
                    if not m.isfile() or not (m.name == MANIFEST or MEMBER_RE.match(m.name)) \
                            or _unsafe(m.name) or m.name in seen:
                        raise ValidationFailed(f"备份中有不应出现的条目: {m.name}",
                                               f"the backup holds an unexpected entry: {m.name}",
                                               code="backup_damaged")
                    src = tar.extractfile(m)
                    assert src is not None
                    if m.name == MANIFEST:
                        manifest = _parse_manifest(src.read(), path.name)
                        continue
                    seen[m.name] = _copy(src, stage / m.name if stage is not None else None)
        except tarfile.TarError as exc:
            raise _incomplete(path.name, str(exc)) from None
        except EOFError as exc:
            raise _incomplete(path.name, str(exc) or "unexpected end") from None
    if manifest is None:
        raise _incomplete(path.name, f"没有 {MANIFEST} / no {MANIFEST}")
    listed = {e["path"]: e for e in manifest["files"]}
    for name, e in listed.items():
        if name not in seen:
            raise ValidationFailed(f"备份中缺少文件: {name}", f"a file is missing from the backup: {name}",
                                   code="backup_damaged", fields={"file": name})
        size, digest = seen[name]
        if size != e["size"] or digest != e["sha256"]:
            raise ValidationFailed(f"文件 {name} 的校验和不符（已损坏或被改动）",
                                   f"checksum mismatch for {name} (damaged or altered)",
                                   code="checksum_mismatch", fields={"file": name})
    for key, prefix in (("database", "database/"), ("deployment", "deployment/")):
        if not str(manifest[key].get("file", "")).startswith(prefix) or manifest[key]["file"] not in listed:
            raise ValidationFailed(f"{path.name} 的清单无效（{key}.file）", f"the manifest of {path.name} is "
                                   f"invalid ({key}.file)", code="backup_damaged")
    for name in seen:
        if name not in listed:
            raise ValidationFailed(f"备份中有清单未列出的文件: {name}", f"the backup holds a file not in its "
                                   f"manifest: {name}", code="backup_damaged", fields={"file": name})
    return manifest


def _unsafe(name: str) -> bool:
    parts = name.split("/")
    return name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts)


def _copy(src: IO[bytes], dest: Path | None) -> tuple[int, str]:
    h, size = hashlib.sha256(), 0
    out = None
    if dest is not None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        out = _private_file(dest)
    try:
        while chunk := src.read(BUF):
            h.update(chunk)
            size += len(chunk)
            if out is not None:
                out.write(chunk)
    finally:
        if out is not None:
            out.close()
    return size, h.hexdigest()


def _parse_manifest(data: bytes, name: str) -> dict[str, Any]:
    try:
        m = json.loads(data)
        ok = (m.get("format") == FORMAT and isinstance(m.get("files"), list)
              and all(isinstance(e.get("path"), str) and isinstance(e.get("size"), int)
                      and isinstance(e.get("sha256"), str) for e in m["files"])
              and isinstance(m.get("migrations"), dict) and isinstance(m.get("database"), dict)
              and isinstance(m.get("deployment"), dict))
    except (ValueError, AttributeError):
        ok = False
    if not ok:
        raise ValidationFailed(f"{name} 的清单无效（不是 ccms 备份？）", f"the manifest of {name} is invalid "
                               "(not a ccms backup?)", code="backup_damaged")
    if int(m.get("format_version", 0)) > FORMAT_VERSION:
        raise ValidationFailed(f"备份格式版本 {m['format_version']} 比本程序新，请用更新版本的 ccms 恢复",
                               f"backup format {m['format_version']} is newer than this ccms: restore it with a "
                               "newer version", code="backup_too_new")
    return m


def verify(path: str | Path, secret_for: Callable[[], Secret | None] = lambda: None,
           extract_config: str | Path | None = None) -> Result:
    """Check a backup without restoring it (nothing is written, except the
    deployment file to ``extract_config`` when asked)."""
    path = Path(path)
    if extract_config is None:
        return Result(path, read(path, secret_for))
    dest = Path(extract_config)
    if dest.exists():
        raise ValidationFailed(f"文件已存在，不会覆盖: {dest}", f"the file exists, it is not overwritten: {dest}")
    stage = Path(tempfile.mkdtemp(prefix=".ccms-verify-", dir=dest.absolute().parent))
    try:
        manifest = read(path, secret_for, stage)
        shutil.copyfile(stage / manifest["deployment"]["file"], dest)
        os.chmod(dest, 0o600)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return Result(path, manifest)


# --- schema revisions ---------------------------------------------------------------------

def _migrations_folder(owner: str, available: dict[str, Any]) -> Path | None:
    if owner == "core":
        return CORE_MIGRATIONS
    info = available.get(owner)
    folder = getattr(info, "migrations_dir", None) if info is not None else None
    return folder if folder is not None and Path(folder).is_dir() else None


def unknown_revisions(revisions: dict[str, str], available: dict[str, Any]) -> list[str]:
    """``owner revision`` for each applied revision this code does not know
    (made by newer code, or by a plugin this installation lacks)."""
    out = []
    for owner, revs in sorted(revisions.items()):
        folder = _migrations_folder(owner, available)
        for rev in revs.split(","):
            known = False
            if folder is not None:
                try:
                    known = ScriptDirectory(str(folder)).get_revision(rev) is not None
                except CommandError:
                    known = False
            if not known:
                out.append(f"{owner} {rev}")
    return out


# --- restore -------------------------------------------------------------------------------

def target_files(ctx: Any) -> list[str]:
    """Entries in the deployment's attachments folder."""
    root = attachments_root(ctx.deployment)
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def latest(to_dir: str | Path, identity: str) -> tuple[dt.datetime, Path] | None:
    """(time made, file) of this deployment's newest backup in ``to_dir`` (for monitoring the backup age)."""
    found = _backups(Path(to_dir), identity)
    return (found[0][0], found[0][2]) if found else None


def restore(ctx: Any, path: str | Path, secret_for: Callable[[], Secret | None] = lambda: None, *,
            force: bool = False, database_url: str | None = None) -> Result:
    """Restore a backup into the deployment ``ctx`` (stop its app first).

    The target database and attachments folder must be empty; ``force``
    sets what is there aside (renamed, never deleted). Refused: a target or
    a backup whose schema is newer than this code, any file that fails its
    checksum — all checked before the target is touched. ``database_url``
    replaces the deployment's (e.g. the schema owner's role when the app's
    own role may not create tables).
    """
    path = Path(path)
    dep = ctx.deployment
    url = database_url or ctx.db.url
    dialect = dbs.dialect_of(url)
    ctx.db.dispose()  # no pooled connection of ours may hold the target open
    tables, files = dbs.table_names(url), target_files(ctx)
    newer_target = unknown_revisions(dbs.applied_revisions(url), ctx.available) if tables else []
    if newer_target:
        raise ValidationFailed(
            f"目标数据库的结构比本程序新（{', '.join(newer_target)}），请用相同或更新版本的 ccms 恢复",
            f"the target database has a newer schema than this ccms ({', '.join(newer_target)}): restore with "
            "the same or a newer version", code="target_schema_newer")
    if (tables or files) and not force:
        what_zh = "、".join(([f"数据库有 {len(tables)} 张表"] if tables else []) + (["附件目录不为空"] if files else []))
        what_en = "; ".join(([f"the database has {len(tables)} tables"] if tables else [])
                            + (["the attachments folder is not empty"] if files else []))
        raise ValidationFailed(f"恢复目标不是空的（{what_zh}）；确认要替换时加 --force（原有内容会改名保留）",
                               f"the restore target is not empty ({what_en}): add --force to replace it "
                               "(what is there is renamed and kept)", code="target_not_empty")
    root = attachments_root(dep)
    root.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".ccms-restore-", dir=root.parent))
    try:
        manifest = read(path, secret_for, stage)  # every checksum, before the target is touched
        result = Result(path, manifest)
        newer = unknown_revisions(manifest["migrations"], ctx.available)
        if newer:
            raise ValidationFailed(
                f"备份的数据库结构比本程序新（{', '.join(newer)}），请先把 ccms 升级到制作备份的版本"
                f"（{manifest.get('ccms_version') or '?'}）或更新",
                f"the backup's schema is newer than this ccms ({', '.join(newer)}): upgrade ccms to the version "
                f"that made it ({manifest.get('ccms_version') or '?'}) or newer", code="backup_schema_newer")
        if manifest["database"].get("dialect") != dialect:
            raise ValidationFailed(
                f"备份来自 {manifest['database'].get('dialect')} 数据库，不能恢复到 {dialect}",
                f"the backup is of a {manifest['database'].get('dialect')} database and cannot be restored into "
                f"{dialect}", code="dialect_mismatch")
        snap = stage / manifest["database"]["file"]
        if dialect == "sqlite":
            problem = dbs.sqlite_check(snap)
            if problem != "ok":
                raise ValidationFailed(f"备份中的数据库文件损坏: {problem}",
                                       f"the database in the backup is damaged: {problem}", code="backup_damaged")
        # -- from here on the target is written --
        when = dbs.stamp()
        if tables:
            result.set_aside.append(str(dbs.sqlite_set_aside(dbs.sqlite_path(url), when)) if dialect == "sqlite"
                                    else f"schema {dbs.pg_set_aside(url, when)}")
        if dialect == "sqlite":
            dbs.sqlite_restore(snap, url)
        else:
            dbs.pg_restore(snap, url, int(manifest["database"].get("pg_dump_major") or 0))
        if files:
            aside = root.with_name(f"{root.name}.before-restore-{when}")
            os.replace(root, aside)
            result.set_aside.append(str(aside))
        elif root.exists():
            root.rmdir()
        staged_att = stage / "attachments"
        if staged_att.is_dir():
            os.replace(staged_att, root)
        else:
            root.mkdir()
        _notes(ctx, manifest, result)
        return result
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _notes(ctx: Any, manifest: dict[str, Any], result: Result) -> None:
    theirs, ours = manifest["deployment"].get("identity"), ctx.deployment.identity
    if theirs != ours:
        result.notes.append((f"备份来自部署 {theirs}，当前部署为 {ours}",
                             f"the backup is of deployment {theirs}, this one is {ours}"))
    heads = _code_heads(ctx)
    behind = ", ".join(o for o, head in heads.items() if manifest["migrations"].get(o) != head)
    if behind:
        result.notes.append((f"备份的数据库结构比本程序旧或缺少插件表（{behind}），请运行 ccms db upgrade",
                             (f"the backup's schema is older than this code or lacks plugin tables ({behind}): "
                              "run ccms db upgrade")))


# --- retention -------------------------------------------------------------------------------

def _backups(to_dir: Path, identity: str) -> list[tuple[dt.datetime, int, Path]]:
    """This deployment's backups in ``to_dir``, newest first (by the time in the name)."""
    mine = []
    for p in to_dir.iterdir() if to_dir.is_dir() else []:
        m = NAME_RE.match(p.name)
        if m and m.group("slug") == slug(identity) and p.is_file():
            when = dt.datetime.strptime(m.group("stamp"), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
            mine.append((when, int(m.group("n") or 1), p))  # -2, -3 …: made later in the same second
    mine.sort(key=lambda x: x[:2], reverse=True)
    return mine


def prune(to_dir: str | Path, identity: str, *, keep: int | None = None, keep_days: float | None = None,
          protect: Path | None = None, now: dt.datetime | None = None) -> list[Path]:
    """Delete this deployment's older backups in ``to_dir``: beyond the newest
    ``keep``, and/or made more than ``keep_days`` ago (by the time in the name).
    Other files, and ``protect`` (the backup just made), are never touched."""
    now = now or _now()
    doomed: list[Path] = []
    for i, (when, _n, p) in enumerate(_backups(Path(to_dir), identity)):
        if protect is not None and p.resolve() == Path(protect).resolve():
            continue
        if (keep is not None and i >= keep) or (keep_days is not None and now - when > dt.timedelta(days=keep_days)):
            doomed.append(p)
    for p in doomed:
        p.unlink()
    return doomed
