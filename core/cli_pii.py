"""``ccms pii …``: keys and encryption at rest of personal information (core/pii.py).

* ``keygen`` prints a new key line for the key file (or the environment variable);
* ``status`` counts stored values per column: plaintext or the key id that encrypted them;
* ``encrypt`` brings every value under the current (first) key — the upgrade path when
  encryption is switched on, and the second half of a rotation;
* ``decrypt`` writes plaintext back (before removing ``[pii]``);
* ``rotate-key`` puts a new key first in the key file, re-encrypts everything with it and,
  with ``--prune``, drops the keys nothing uses any more.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import pii
from .errors import ConfigError


def add_commands(sub: Any, add_config: Callable[..., None]) -> None:
    p = sub.add_parser("pii", help="个人信息加密与密钥 / personal information: encryption at rest and keys")
    ps = p.add_subparsers(dest="pii_command", metavar="ACTION")
    kg = ps.add_parser("keygen", help="生成一行新密钥 / print a new key line")
    kg.add_argument("--id", dest="kid", default=None, help="密钥编号 / key id (default k<date-time>)")
    kg.add_argument("--suite", choices=sorted(pii.SUITES), default="aes-256-gcm", help="算法 / suite")
    kg.set_defaults(func=cmd_keygen)
    st = ps.add_parser("status", help="各列明文与各密钥加密的行数 / rows per column: plaintext or key id")
    add_config(st)
    st.set_defaults(func=cmd_status)
    en = ps.add_parser("encrypt", help="用当前密钥加密（或重新加密）全部个人信息 / encrypt (or re-encrypt) every "
                                       "value under the current key")
    add_config(en)
    en.set_defaults(func=cmd_encrypt)
    de = ps.add_parser("decrypt", help="全部写回明文（关闭加密前）/ write every value back in plaintext "
                                       "(before switching encryption off)")
    add_config(de)
    de.set_defaults(func=cmd_decrypt)
    rk = ps.add_parser("rotate-key", help="新密钥置首并重新加密全部数据 / put a new key first in the key file and "
                                          "re-encrypt everything with it")
    add_config(rk)
    rk.add_argument("--id", dest="kid", default=None, help="新密钥编号 / new key id (default k<date-time>)")
    rk.add_argument("--suite", choices=sorted(pii.SUITES), default=None,
                    help="算法，默认同当前密钥 / suite (default: the current key's)")
    rk.add_argument("--prune", action="store_true",
                    help="重新加密后删除不再使用的旧密钥 / afterwards drop the old keys nothing uses")
    rk.set_defaults(func=cmd_rotate)
    p.set_defaults(func=lambda a: (p.print_help(sys.stderr), 2)[1])


def _kid() -> str:
    return "k" + dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")


def _app(args: argparse.Namespace) -> Any:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from .cli_common import _config_path, load_app
    return load_app(_config_path(args)).state.ccms


def _audit(ctx: Any, action: str, done: list[pii.Rewritten], **extra: Any) -> None:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from . import audit
    with ctx.db.session() as s:
        audit.record(s, None, action, "pii", "", after={**extra, "rows": {f"{d.table}.{d.column}": d.rows
                                                                           for d in done}},
                     summary=f"个人信息 {action}: {sum(d.rows for d in done)} 行 / rows")


def _report(done: list[pii.Rewritten]) -> None:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from .cli_common import table
    print(table(["table", "column", "rows rewritten"], [(d.table, d.column, d.rows) for d in done]))


def cmd_keygen(args: argparse.Namespace) -> int:
    print(pii.new_key_line(args.kid or _kid(), args.suite))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from .cli_common import table
    ctx = _app(args)
    try:
        rows = pii.status(ctx.db.engine)
        ring = ctx.pii_keyring
        print(f"当前密钥 / current key: {ring.current.kid} ({ring.current.suite}, {ring.source})" if ring
              else "未配置 [pii] 密钥：以明文保存 / no [pii] key: stored as given")
        print(table(["table", "column", "stored as", "rows"], rows or [("-", "-", "-", 0)]))
    finally:
        ctx.db.dispose()
    return 0


def cmd_encrypt(args: argparse.Namespace) -> int:
    ctx = _app(args)
    try:
        done = pii.rewrite(ctx.db.engine, ctx.pii_keyring, encrypt=True)
        _audit(ctx, "pii_encrypt", done, key=ctx.pii_keyring.current.kid)
        _report(done)
        print(f"已用密钥 {ctx.pii_keyring.current.kid} 加密 / encrypted under key {ctx.pii_keyring.current.kid}")
    finally:
        ctx.db.dispose()
    return 0


def cmd_decrypt(args: argparse.Namespace) -> int:
    ctx = _app(args)
    try:
        done = pii.rewrite(ctx.db.engine, ctx.pii_keyring, encrypt=False)
        _audit(ctx, "pii_decrypt", done)
        _report(done)
        print("已写回明文；现在可以删除 [pii] / plaintext again: [pii] may now be removed")
    finally:
        ctx.db.dispose()
    return 0


def _write_private(path: Path, text: str) -> None:
    """Replace the key file atomically, readable by its owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def cmd_rotate(args: argparse.Namespace) -> int:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from .cli_common import _config_path
    from .config import load_deployment
    dep = load_deployment(_config_path(args))
    if not dep.pii.key_file:
        raise ConfigError("rotate-key 需要 [pii] key_file；用 key_env 时请把新密钥放在变量首位，再运行 ccms pii encrypt",
                          "rotate-key needs [pii] key_file; with key_env put the new key first in the variable "
                          "and run ccms pii encrypt")
    old = pii.load_keyring(dep.pii, dep.base_dir)
    assert old is not None
    path = Path(old.source)
    kid = args.kid or _kid()
    if kid in old.keys:
        raise ConfigError(f"密钥编号 {kid} 已存在", f"key id {kid} exists already")
    lines = path.read_text(encoding="utf-8").splitlines()
    _write_private(path, "\n".join([pii.new_key_line(kid, args.suite or old.current.suite), *lines]) + "\n")
    ctx = _app(args)  # reads the key file again: the new key encrypts, the old ones still decrypt
    try:
        done = pii.rewrite(ctx.db.engine, ctx.pii_keyring, encrypt=True)
        _audit(ctx, "pii_rotate_key", done, key=kid, previous=old.current.kid)
        _report(done)
        still = {form for _t, _c, form, _n in pii.status(ctx.db.engine)} - {"plain"}
    finally:
        ctx.db.dispose()
    if args.prune and still <= {kid}:
        _write_private(path, "\n".join(pii.without_keys(path.read_text(encoding="utf-8").splitlines(), kid)) + "\n")
        print(f"已删除旧密钥 {', '.join(sorted(old.keys))} / old keys removed")
    print(f"新密钥 {kid} 已启用，全部数据已重新加密 / key {kid} is current and every value is re-encrypted")
    return 0
