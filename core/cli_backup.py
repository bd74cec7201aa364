"""``ccms backup``, ``ccms backup verify`` and ``ccms restore`` (see :mod:`core.backup`).

Passphrases never come from the command line (other users see it in ``ps``):
from ``--passphrase-file``, the ``CCMS_BACKUP_PASSPHRASE`` environment
variable, or a prompt on a terminal. A key file (``--key-file``) is the
alternative for unattended backups.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ValidationFailed

PASSPHRASE_ENV = "CCMS_BACKUP_PASSPHRASE"


def _read_secret_file(path: str, what_zh: str, what_en: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValidationFailed(f"无法读取{what_zh} {path}: {exc.strerror}",
                               f"cannot read the {what_en} {path}: {exc.strerror}") from None


def _passphrase_file(path: str) -> str:
    data = _read_secret_file(path, "口令文件", "passphrase file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed(f"口令文件 {path} 不是 UTF-8 文本", f"the passphrase file {path} is not UTF-8 text"
                               ) from None
    text = text.removesuffix("\n")  # the line end an editor adds is not part of it
    return text.removesuffix("\r")


def secret_from_args(args: argparse.Namespace, *, writing: bool) -> Any:
    """The :class:`~core.backup.crypto.Secret` the options ask for, or None (no encryption)."""
    # lazy: ccms imports every command module at start; a command loads what it runs
    from .backup.crypto import Secret

    if args.key_file and args.passphrase_file:
        raise ValidationFailed("--key-file 与 --passphrase-file 只能选一个", "give --key-file or --passphrase-file, "
                               "not both")
    if args.key_file:
        return Secret(key_material=_read_secret_file(args.key_file, "密钥文件", "key file"))
    if args.passphrase_file:
        passphrase = _passphrase_file(args.passphrase_file)
    elif os.environ.get(PASSPHRASE_ENV):
        passphrase = os.environ[PASSPHRASE_ENV]
    elif writing and not getattr(args, "encrypt", False):
        return None
    elif sys.stdin.isatty():
        passphrase = getpass.getpass("备份口令 / backup passphrase: ")
        if writing and passphrase != getpass.getpass("再次输入 / again: "):
            raise ValidationFailed("两次输入的口令不一致", "the two passphrases differ")
    else:
        raise ValidationFailed(f"需要备份口令：用 --passphrase-file、环境变量 {PASSPHRASE_ENV} 或在终端中输入",
                               f"a backup passphrase is needed: use --passphrase-file, {PASSPHRASE_ENV}, or run "
                               "in a terminal to be prompted", code="wrong_secret")
    if not passphrase:
        raise ValidationFailed("备份口令不能为空", "the backup passphrase is empty")
    return Secret(passphrase=passphrase)


def _lazy_secret(args: argparse.Namespace) -> Callable[[], Any]:
    """Ask for the secret only when the backup turns out to be encrypted."""
    return lambda: secret_from_args(args, writing=False)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _summary(manifest: dict[str, Any]) -> str:
    files = manifest["files"]
    att = [f for f in files if f["path"].startswith("attachments/")]
    migrations = ", ".join(f"{k} {v}" for k, v in sorted(manifest["migrations"].items()))
    return (f"  部署 / deployment: {manifest['deployment'].get('name')} ({manifest['deployment'].get('identity')})\n"
            f"  时间 / made at: {manifest.get('created_at')}   ccms {manifest.get('ccms_version') or '?'}\n"
            f"  数据库 / database: {manifest['database'].get('dialect')}  迁移 / migrations: {migrations}\n"
            f"  文件 / files: {len(files)} ({_size(sum(f['size'] for f in files))}), "
            f"附件 / attachments: {len(att)}")


# --- commands -------------------------------------------------------------------------------

def cmd_backup(args: argparse.Namespace) -> int:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from . import audit, backup
    from .cli_common import _config_path, _os_user, _version, load_app
    from .serve import migration_state

    config = _config_path(args)
    if args.keep is not None and args.keep < 1:
        raise ValidationFailed("--keep 至少为 1", "--keep must be at least 1")
    if args.keep_days is not None and args.keep_days <= 0:
        raise ValidationFailed("--keep-days 必须大于 0", "--keep-days must be more than 0")
    secret = secret_from_args(args, writing=True)
    ctx = load_app(config).state.ccms
    try:
        to_dir = Path(args.to) if args.to else ctx.deployment.resolve("backups")

        def audit_entry() -> None:  # inside the backup: it records its own making
            if all(h.ok for h in migration_state(ctx)):
                with ctx.db.session() as s:
                    audit.record(s, audit.Actor(None, f"cli:{_os_user()}"), "backup", "deployment",
                                 ctx.deployment.identity, after={"to": str(to_dir), "encrypted": secret is not None},
                                 summary="ccms backup（本条之后制作快照 / snapshot taken after this entry）")

        result = backup.create(ctx, config, to_dir, secret=secret, ccms_version=_version(),
                               before_snapshot=audit_entry)
        if args.keep is not None or args.keep_days is not None:
            result.pruned = backup.prune(to_dir, ctx.deployment.identity, keep=args.keep, keep_days=args.keep_days,
                                         protect=result.path)
    finally:
        ctx.db.dispose()
    enc = "已加密 AES-256-GCM / encrypted" if secret is not None else "未加密 / not encrypted"
    print(f"备份完成 / backup written: {result.path} ({_size(result.path.stat().st_size)}, {enc})")
    print(_summary(result.manifest))
    for p in result.pruned:
        print(f"已删除旧备份 / pruned: {p}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from . import backup

    result = backup.verify(args.from_, _lazy_secret(args), extract_config=args.extract_config)
    print(f"备份完好 / backup verified: {result.path}")
    print(_summary(result.manifest))
    if args.extract_config:
        print(f"部署文件已写出 / deployment file written: {args.extract_config}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from . import backup
    from .cli_common import _config_path, load_app

    config = _config_path(args)
    ctx = load_app(config).state.ccms
    try:
        url = None
        if args.database_url_env:
            url = os.environ.get(args.database_url_env)
            if not url:
                raise ValidationFailed(f"环境变量 {args.database_url_env} 未设置", f"the environment variable "
                                       f"{args.database_url_env} is not set")
        result = backup.restore(ctx, args.from_, _lazy_secret(args), force=args.force, database_url=url)
    finally:
        ctx.db.dispose()
    print(f"恢复完成 / restored: {result.path}")
    print(_summary(result.manifest))
    for aside in result.set_aside:
        print(f"原有内容已改名保留 / previous content kept as: {aside}")
    for zh, en in result.notes:
        print(f"注意：{zh}\nnote: {en}")
    return 0


# --- parser ---------------------------------------------------------------------------------

def _secret_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--passphrase-file", default=None, metavar="FILE",
                   help=f"从文件读取口令（或用环境变量 {PASSPHRASE_ENV}）/ read the passphrase from FILE "
                        f"(or set {PASSPHRASE_ENV})")
    p.add_argument("--key-file", default=None, metavar="FILE",
                   help="用密钥文件（至少 32 字节）代替口令 / use a key file (32 bytes or more) instead of a passphrase")


def add_commands(sub: Any, add_config: Callable[..., None]) -> None:
    """Add ``backup`` (with ``verify``) and ``restore`` to the ``ccms`` parser."""
    b = sub.add_parser("backup", allow_abbrev=False, help="备份数据库、附件与部署文件 / back up database, attachments and deployment file",
                       description="写出一个备份文件（tar，可加密）/ write one backup file (tar, optionally encrypted)")
    add_config(b, required=False)
    b.add_argument("--to", default=None, metavar="DIR", help="备份目录，默认部署目录下的 backups / folder "
                                                              "(default: backups beside the deployment file)")
    b.add_argument("--encrypt", action="store_true", help="加密并在终端询问口令 / encrypt, asking for a passphrase")
    _secret_options(b)
    b.add_argument("--keep", type=int, default=None, metavar="N",
                   help="只保留最新的 N 个备份 / keep only the newest N backups in DIR")
    b.add_argument("--keep-days", type=float, default=None, metavar="D",
                   help="删除早于 D 天的备份 / delete backups older than D days")
    b.set_defaults(func=cmd_backup)
    bsub = b.add_subparsers(dest="backup_command", metavar="ACTION")
    v = bsub.add_parser("verify", allow_abbrev=False, help="检查备份（不恢复）/ check a backup without restoring it")
    v.add_argument("--from", dest="from_", required=True, metavar="BACKUP", help="备份文件 / backup file")
    _secret_options(v)
    v.add_argument("--extract-config", default=None, metavar="PATH",
                   help="把备份中的部署文件写到 PATH / write the backup's deployment file to PATH")
    v.set_defaults(func=cmd_verify)

    r = sub.add_parser("restore", allow_abbrev=False, help="从备份恢复到空的部署 / restore a backup into an empty deployment",
                       description="先校验全部文件，再写入；目标须为空，--force 时原有内容改名保留 / checks every "
                                   "file first; the target must be empty, --force renames what is there")
    add_config(r)
    r.add_argument("--from", dest="from_", required=True, metavar="BACKUP", help="备份文件 / backup file")
    _secret_options(r)
    r.add_argument("--force", action="store_true", help="目标不为空时仍恢复（原有内容改名保留）/ restore into a "
                                                        "non-empty target (its content is renamed and kept)")
    r.add_argument("--database-url-env", default=None, metavar="VAR",
                   help="用环境变量 VAR 中的数据库地址代替部署文件中的（例如表的所有者角色）/ use the database URL in "
                        "the environment variable VAR instead of the deployment's (e.g. the tables' owner role)")
    r.set_defaults(func=cmd_restore)
