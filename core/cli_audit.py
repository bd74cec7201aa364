"""``ccms audit …``: seal, verify, anchor and archive the audit chain, and set up
the PostgreSQL application role that cannot alter the audit tables.

Exit status: 0 fine, 1 the chain is broken (the message names the first
broken entry), 2 a usage or configuration mistake.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .errors import ConfigError, ValidationFailed

AUDIT_TABLES = ("core_audit_log", "core_audit_chain", "core_audit_archive")
ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _ctx(args: argparse.Namespace) -> Any:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from .cli_common import _config_path, load_app
    from .serve import ensure_migrated

    config = _config_path(args)
    ctx = load_app(config).state.ccms
    ensure_migrated(ctx, config)
    return ctx


def _engine(ctx: Any, args: argparse.Namespace) -> Any:
    """The deployment's engine, or one for ``--database-url`` (the owner role)."""
    url = getattr(args, "database_url", None)
    if not url:
        return ctx.db.engine
    # lazy: ccms imports every command module at start; a command loads what it runs
    from .db import make_engine
    return make_engine(url)


def _record(ctx: Any, action: str, summary: str, after: dict[str, Any], success: bool = True) -> None:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from . import audit
    from .cli_common import _os_user

    with ctx.db.session() as s:
        audit.record(s, audit.Actor(None, f"cli:{_os_user()}"), action, "audit", "", after=after, summary=summary,
                     success=success)


def cmd_seal(args: argparse.Namespace) -> int:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from . import audit_chain

    ctx = _ctx(args)
    n = audit_chain.seal(ctx.db.engine, full=True)
    print(f"已封存 {n} 条审计条目 / sealed {n} audit entries")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from . import audit_chain

    ctx = _ctx(args)
    anchor = None
    if args.anchor:
        try:
            anchor = json.loads(Path(args.anchor).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"无法读取锚点文件 {args.anchor}: {exc}", f"cannot read anchor file {args.anchor}: {exc}"
                              ) from None
    archive_dir = Path(args.archive) if args.archive else None
    if archive_dir is not None and not archive_dir.is_dir():
        raise ConfigError(f"归档目录不存在: {archive_dir}", f"archive folder not found: {archive_dir}")
    rep = audit_chain.verify(ctx.db.engine, archive_dir=archive_dir, anchor=anchor,
                             secret=ctx.deployment.secret_key, identity=ctx.deployment.identity)
    if args.json:
        print(json.dumps(rep.as_dict(), ensure_ascii=False, indent=2))
    if rep.ok:
        msg_zh = (f"审计链完整：已校验 {rep.checked} 条" + (f"（另有归档 {rep.archived} 条）" if rep.archived else "")
                  + f"，链头封存序号 {rep.head_seq}" + ("，锚点一致" if rep.anchor_ok else ""))
        msg_en = (f"audit chain intact: {rep.checked} entries checked"
                  + (f" (plus {rep.archived} archived)" if rep.archived else "")
                  + f", head seal {rep.head_seq}" + (", anchor matches" if rep.anchor_ok else ""))
    else:
        assert rep.problem is not None
        msg_zh, msg_en = f"审计链校验失败：{rep.problem.zh}", f"audit chain verification FAILED: {rep.problem.en}"
    if not args.json:
        print(f"{msg_zh}\n{msg_en}", file=sys.stdout if rep.ok else sys.stderr)
        if rep.unsealed:
            ids = ", ".join(map(str, rep.unsealed_ids)) + (" …" if rep.unsealed > len(rep.unsealed_ids) else "")
            print(f"尚未封存 {rep.unsealed} 条（编号 {ids}）：运行 ccms audit seal 封存\n"
                  f"{rep.unsealed} entries not sealed yet (ids {ids}): run ccms audit seal")
    _record(ctx, "audit_verify", msg_zh, {"ok": rep.ok, "checked": rep.checked, "archived": rep.archived,
                                         "head_seq": rep.head_seq, "unsealed": rep.unsealed,
                                         "problem": rep.problem.__dict__ if rep.problem else None},
            success=rep.ok)
    return 0 if rep.ok else 1


def cmd_anchor(args: argparse.Namespace) -> int:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from . import audit_chain

    ctx = _ctx(args)
    audit_chain.seal(ctx.db.engine)
    doc = audit_chain.anchor(ctx.db.engine, secret=ctx.deployment.secret_key, identity=ctx.deployment.identity,
                             name=ctx.deployment.name)
    text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"锚点已写入 {args.out}（封存序号 {doc['seq']}）/ anchor written to {args.out} (seal {doc['seq']})",
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    _record(ctx, "audit_anchor", f"导出审计链锚点（封存序号 {doc['seq']}）",
            {"seq": doc["seq"], "chain_hash": doc["chain_hash"]})
    return 0


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"日期格式应为 YYYY-MM-DD: {value}", f"date must be YYYY-MM-DD: {value}") from None


def cmd_archive(args: argparse.Namespace) -> int:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from . import audit_chain
    from .cli_common import _os_user

    ctx = _ctx(args)
    day = _date(args.before)
    before = dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(ctx.deployment.timezone)).astimezone(dt.UTC)
    engine = _engine(ctx, args)
    try:
        res = audit_chain.archive(engine, before=before, out_dir=Path(args.to),
                                  retention_days=ctx.deployment.audit.retention_days,
                                  identity=ctx.deployment.identity, actor_name=f"cli:{_os_user()}")
    except Exception as exc:
        if "append-only" in str(exc) or "must be owner" in str(exc) or "permission denied" in str(exc):
            raise ConfigError("只有数据库属主角色（运行迁移的角色）可以归档：请用 --database-url 指定属主连接",
                              "only the database owner role (the one that runs migrations) may archive: pass its "
                              "connection with --database-url") from None
        raise
    finally:
        if engine is not ctx.db.engine:
            engine.dispose()
    if res.file is None:
        print(f"没有 {day} 之前已封存的条目可归档 / nothing sealed before {day} to archive")
    else:
        print(f"已归档 {res.entries} 条（封存序号 {res.first_seq}–{res.last_seq}）到 {Path(args.to) / res.file}\n"
              f"archived {res.entries} entries (seals {res.first_seq}-{res.last_seq}) to {Path(args.to) / res.file}")
    return 0


def grant_sql(role: str, database: str) -> list[str]:
    """Statements (run by the owner role) giving ``role`` everything the app
    needs, but only INSERT and SELECT on the audit tables: no UPDATE, DELETE or
    TRUNCATE, and — not being the owner — no ALTER or DROP either."""
    audit_tables = ", ".join(AUDIT_TABLES)
    return [
        f'GRANT CONNECT ON DATABASE "{database}" TO {role}',
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"REVOKE ALL ON {audit_tables} FROM {role}",
        f"GRANT SELECT, INSERT ON {audit_tables} TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    ]


def cmd_grant_app_role(args: argparse.Namespace) -> int:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from sqlalchemy import text

    ctx = _ctx(args)
    if not ROLE_RE.match(args.role):
        raise ValidationFailed("角色名只能含小写字母、数字和下划线", "role name: lower-case letters, digits and _ only")
    engine = _engine(ctx, args)
    if engine.dialect.name != "postgresql":
        raise ConfigError("grant-app-role 只适用于 PostgreSQL（SQLite 没有数据库角色）",
                          "grant-app-role is for PostgreSQL only (SQLite has no database roles)")
    stmts = grant_sql(args.role, engine.url.database or "")
    if args.print:
        print(";\n".join(stmts) + ";")
        return 0
    try:
        with engine.begin() as conn:
            for stmt in stmts:
                conn.execute(text(stmt))
    finally:
        if engine is not ctx.db.engine:
            engine.dispose()
    print(f"已授权应用角色 {args.role}：审计表只能插入和查询\n"
          f"granted the app role {args.role}: insert and select only on the audit tables")
    return 0


def add_commands(sub: Any, add_config: Callable[..., None]) -> None:
    """Add ``ccms audit …`` to the CLI's subparsers."""
    # lazy: ccms imports every command module at start; a command loads what it runs
    from .cli_common import _help

    a = sub.add_parser("audit", help="审计链：封存、校验、锚点、归档 / audit chain: seal, verify, anchor, archive")
    asub = a.add_subparsers(dest="audit_command", metavar="ACTION")
    s = asub.add_parser("seal", help="封存尚未封存的审计条目 / seal audit entries not sealed yet")
    add_config(s)
    s.set_defaults(func=cmd_seal)
    v = asub.add_parser("verify", help="校验审计链，指出第一条被破坏的条目 / walk the chain, name the first broken "
                                       "entry")
    add_config(v)
    v.add_argument("--archive", metavar="DIR", help="同时校验该目录中的归档文件 / also check archive files there")
    v.add_argument("--anchor", metavar="FILE", help="检查链中仍含该锚点 / check the chain still holds this anchor")
    v.add_argument("--json", action="store_true", help="输出 JSON / print the report as JSON")
    v.set_defaults(func=cmd_verify)
    an = asub.add_parser("anchor", help="导出链头（每日锚点）/ export the chain head (daily anchor)")
    add_config(an)
    an.add_argument("--out", metavar="FILE", help="写入文件，默认标准输出 / write to a file (default stdout)")
    an.set_defaults(func=cmd_anchor)
    ar = asub.add_parser("archive", help="把保留期以前的条目移到压缩文件 / move entries older than the retention to "
                                         "compressed files")
    add_config(ar)
    ar.add_argument("--before", required=True, metavar="YYYY-MM-DD", help="归档此日期（本地时间）之前的条目 / "
                                                                         "archive entries before this local date")
    ar.add_argument("--to", required=True, metavar="DIR", help="归档目录 / archive folder")
    ar.add_argument("--database-url", metavar="URL", help="属主角色的数据库连接（PostgreSQL 双角色部署）/ the owner "
                                                          "role's database URL (two-role PostgreSQL set-up)")
    ar.set_defaults(func=cmd_archive)
    g = asub.add_parser("grant-app-role", help="PostgreSQL：授权应用角色（审计表只能插入和查询）/ PostgreSQL: grant "
                                               "the app role (insert and select only on audit tables)")
    add_config(g)
    g.add_argument("--role", required=True, help="应用连接使用的角色 / the role the app connects as")
    g.add_argument("--database-url", metavar="URL", help="属主角色的数据库连接 / the owner role's database URL")
    g.add_argument("--print", action="store_true", help="只打印 SQL，不执行 / print the SQL, do not run it")
    g.set_defaults(func=cmd_grant_app_role)
    a.set_defaults(func=lambda _: _help(a))
