"""The ``ccms`` command line: demo, serve, database, plugins, users.

Mistakes a user can make (a missing or invalid deployment file, a bad region
code, a weak password, an unmigrated database) print a bilingual message on
stderr and exit with status 2 — never a traceback. Plugins add commands via
the ``ccms_register_commands`` hook; those need ``--config`` (or
``CCMS_CONFIG``) so the enabled plugins are known.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from . import cli_backup
from .cli_audit import add_commands as add_audit_commands
# Helpers the command modules share (cli_audit, cli_backup, cli_pii ...): they live in cli_common so
# those modules need not import this one, which imports them.
from .cli_common import _config_path, _fail, _help, _os_user, _version, _width, load_app, table  # noqa: F401
from .cli_pii import add_commands as add_pii_commands  # ccms pii …: encryption at rest, keys
from .cli_plugins import add_commands as add_plugin_commands  # ccms plugins hooks
from .errors import CcmsError, ConfigError, NotFound, StartupError, ValidationFailed

CORE_COMMANDS = ("demo", "serve", "db", "plugins", "user", "backup", "restore", "audit")
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$")
CONFIG_HELP = "部署配置文件 (TOML)，默认取环境变量 CCMS_CONFIG / deployment file (TOML), default $CCMS_CONFIG"


# --- output helpers -------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse with bilingual usage errors (exit status 2, as argparse does)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        hint = ""
        if "invalid choice" in message and self.prog == "ccms":
            hint = ("\n插件提供的命令需要 --config（或 CCMS_CONFIG）才能找到"
                    "\nplugin commands need --config (or CCMS_CONFIG) to be found")
        self.exit(2, f"错误：命令行参数有误：{message}\nerror: bad command line: {message}{hint}\n")


# --- loading a deployment ---------------------------------------------------------

def _ensure_sqlite_dir(ctx: Any) -> None:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from .db import sqlite_file
    f = sqlite_file(ctx.db.url)
    if f is not None:
        f.parent.mkdir(parents=True, exist_ok=True)


# --- demo ---------------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from . import demo, migrate, seed
    from .serve import check_port, run, url_for

    files = demo.DemoFiles(Path(args.data_dir).absolute())
    if not args.no_serve:
        check_port(args.host, args.port)  # before touching anything
    if args.reset:
        files.reset()
        print(f"已删除旧的演示数据 / removed the previous demo in {files.data_dir}")
    demo.write_config(files)
    app = load_app(str(files.config))
    ctx = app.state.ccms
    progress = demo.Progress()
    try:
        _ensure_sqlite_dir(ctx)
        migrate.upgrade(ctx.db.engine, ctx.plugins)
        files.database.chmod(0o600)  # it holds password hashes
        seed.bootstrap(ctx)
        with ctx.db.session() as s:
            fresh = not demo.is_seeded(s)
        if fresh:
            print(f"正在创建演示城市（约需半分钟）/ seeding the demo city (about half a minute) in {files.data_dir}",
                  file=sys.stderr, flush=True)
        created = demo.seed_demo(ctx, files, progress)
        with ctx.db.session() as s:
            names = demo.role_names(s)
    except BaseException:
        ctx.db.dispose()
        raise
    if created is not None:
        print(f"已创建演示数据 / demo data seeded ({len(created)} 个账号 / accounts, "
              f"{progress.seconds():.0f} 秒 / s)")
    logins = demo.read_logins(files.logins)
    print(f"\n{ctx.deployment.name}  ({ctx.deployment.identity})")
    print(f"演示数据目录 / demo data folder: {files.data_dir}\n"
          "  在别的目录运行 ccms demo 会另建一个演示（另有密码）；--data-dir 指定目录，--reset 删除重建\n"
          "  ccms demo in another folder makes a separate demo (with other passwords); "
          "--data-dir chooses the folder, --reset starts over")
    if logins:
        print(f"演示账号（另存于 {files.logins}）/ demo logins (also in {files.logins}):")
        print(table(["用户名 username", "姓名 name", "角色 role", "范围 scope", "密码 password"],
                    [(x.username, x.name, names.get(x.role) or x.role_name or x.role, x.scope, x.password)
                     for x in logins]))
    else:
        print(f"找不到演示账号文件 {files.logins}，请用 --reset 重建演示数据"
              f"\nthe demo logins file {files.logins} is missing: run with --reset to recreate the demo")
    if args.no_serve:
        ctx.db.dispose()
        print(f"\n启动 / to serve: ccms demo --data-dir {files.data_dir}  "
              f"或 / or: ccms serve --config {files.config}")
        print(f"访问地址（启动后）/ open (once served): {url_for(args.host, args.port)}")
        return 0
    print(f"\n访问地址 / open: {url_for(args.host, args.port)}\n", flush=True)
    run(app, args.host, args.port)
    return 0


# --- serve ------------------------------------------------------------------------------

PLACEHOLDER_MARK = "change-me"


def cmd_serve(args: argparse.Namespace) -> int:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from .serve import check_port, check_workers, ensure_migrated, run, url_for

    config = _config_path(args)
    if args.workers < 1:
        raise ConfigError("--workers 至少为 1", "--workers must be at least 1")
    app = load_app(config)
    ctx = app.state.ccms
    if PLACEHOLDER_MARK in ctx.deployment.secret_key.lower():
        raise ConfigError("secret_key 仍是示例值，请换成随机值，例如: python -c \"import secrets; "
                          "print(secrets.token_urlsafe(32))\"",
                          "secret_key is still the example placeholder: set a random one, e.g. python -c "
                          "\"import secrets; print(secrets.token_urlsafe(32))\"")
    ensure_migrated(ctx, config)
    check_workers(ctx, args.workers)
    check_port(args.host, args.port)
    print(f"{ctx.deployment.name} ({ctx.deployment.identity}) → {url_for(args.host, args.port)}", flush=True)
    if args.workers > 1:
        ctx.db.dispose()
        run(None, args.host, args.port, args.workers, config_file=config)
    else:
        run(app, args.host, args.port)
    return 0


# --- db ---------------------------------------------------------------------------------

def cmd_db_upgrade(args: argparse.Namespace) -> int:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from . import migrate, seed
    from .serve import migration_state

    config = _config_path(args)
    ctx = load_app(config).state.ccms
    try:
        _ensure_sqlite_dir(ctx)
        migrate.upgrade(ctx.db.engine, ctx.plugins)
        seed.bootstrap(ctx)
        for h in migration_state(ctx):
            print(f"{h.owner}: {h.applied or '-'} (head {h.head or '-'})")
        print("数据库已升级到最新版本 / database upgraded to head")
    finally:
        ctx.db.dispose()
    return 0


def cmd_flows_timers(args: argparse.Namespace) -> int:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from .flows import timers

    ctx = load_app(_config_path(args)).state.ccms
    try:
        return timers.cli(ctx, loop=args.loop, interval=args.interval)
    finally:
        ctx.db.dispose()


def cmd_db_current(args: argparse.Namespace) -> int:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from .serve import STATUS_TEXT, migration_state

    ctx = load_app(_config_path(args)).state.ccms
    try:
        states = migration_state(ctx)
    finally:
        ctx.db.dispose()
    print(table(["owner", "applied", "head", "status"],
                [(h.owner, h.applied or "-", h.head or "-", f"{h.status} / {STATUS_TEXT[h.status]}")
                 for h in states]))
    return 0 if all(h.ok for h in states) else 1


# --- plugins ------------------------------------------------------------------------------

def plugin_table_rows(config: str | None) -> tuple[list[str], list[list[Any]], list[tuple[str, str, bool]]]:
    """(headers, rows, failures) of ``ccms plugins list``: core, then enabled plugins
    in load order, then the others; the enabled column only when a deployment is
    given. ``failures``: (id, error, enabled) of plugins whose module cannot be imported."""
    # lazy: ccms imports every command module at start; a command loads what it runs
    from . import plugin_loader as loader
    from .app import CORE_MANIFEST

    available = loader.discover()
    enabled: list[str] | None = None
    if config:
        # lazy: ccms imports every command module at start; a command loads what it runs
        from .config import load_deployment
        dep = load_deployment(config)
        enabled = [p.id for p in loader.resolve(available, dep.profile, dep.tier, dep.plugins.enable,
                                                dep.plugins.disable, deployment_file=config)]
    core = loader.read_manifest(CORE_MANIFEST)
    rows_in = [{"id": "core", "name": core["name"]["zh-CN"], "version": core["version"], "tiers": core["tiers"],
                "depends": [], "enabled": True, "source": "built-in", "status": "enabled", "error": None}]
    rows_in += loader.plugin_rows(available, enabled or [])
    headers = ["id", "名称 name", "version", "tiers", "depends"] + (["enabled"] if config else []) + ["source"]
    rows = []
    for r in rows_in:
        row: list[Any] = [r["id"], r["name"], r["version"], ",".join(r["tiers"]), ",".join(r["depends"]) or "-"]
        if config:
            row.append("failed" if r["status"] == "failed" else "yes" if r["enabled"] else "no")
        rows.append(row + [r["source"]])
    return headers, rows, [(r["id"], r["error"], r["enabled"]) for r in rows_in if r["status"] == "failed"]


def cmd_plugins_list(args: argparse.Namespace) -> int:
    headers, rows, failures = plugin_table_rows(args.config)
    print(table(headers, rows))
    for pid, error, _enabled in failures:
        print(f"failed 导入失败 {pid}: {error}")
    return 1 if any(enabled for _, _, enabled in failures) else 0


def cmd_plugins_new(args: argparse.Namespace) -> int:
    try:
        # lazy: ccms imports every command module at start; a command loads what it runs
        from .scaffold import scaffold_plugin
    except ImportError:
        raise ConfigError("此版本没有插件脚手架 (core/scaffold.py)", "this build has no plugin scaffold "
                          "(core/scaffold.py)") from None
    tiers = [t.strip() for t in args.tiers.split(",") if t.strip()]
    folder = scaffold_plugin(args.name, Path(args.dest), title_zh=args.title_zh, title_en=args.title_en,
                             tiers=tiers)
    print(f"已创建插件 / plugin created: {folder}\n"
          f"安装 / install: pip install -e {folder}")
    return 0


# --- users ------------------------------------------------------------------------------

def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
    elif sys.stdin.isatty():
        password = getpass.getpass("密码 / password: ")
        if password != getpass.getpass("再次输入 / again: "):
            raise ValidationFailed("两次输入的密码不一致", "the two passwords differ")
    else:
        raise ValidationFailed("没有提供密码：请用 --password-stdin 从标准输入读取，或在终端中交互输入",
                               "no password given: use --password-stdin, or run in a terminal to be prompted")
    if not password:
        raise ValidationFailed("密码不能为空", "the password is empty")
    return password


def cmd_user_create(args: argparse.Namespace) -> int:
    # lazy: ccms imports every command module at start; a command loads what it runs
    from . import audit, auth, seed
    from .models import Org
    from .serve import ensure_migrated
    from .services import people

    config = _config_path(args)
    username, name = args.username.strip(), args.name.strip()
    if not USERNAME_RE.match(username):
        raise ValidationFailed("用户名须为2–64位字母、数字或 _ . @ -，并以字母或数字开头",
                               "user name: 2-64 letters, digits or _ . @ -, starting with a letter or digit")
    if not 1 <= len(name) <= 100:
        raise ValidationFailed("姓名须为1–100个字符", "name must be 1-100 characters")
    ctx = load_app(config).state.ccms
    try:
        ensure_migrated(ctx, config)
        password = _read_password(args)
        auth.check_password_policy(password, ctx.deployment.security, username, display_name=name)
        with ctx.db.session() as s:
            if args.org_id is not None and s.get(Org, args.org_id) is None:
                raise NotFound(f"机构 {args.org_id} 不存在", f"org {args.org_id} does not exist")
            actor = audit.Actor(None, f"cli:{_os_user()}")
            if args.admin:  # the grant is always at the root; --org-id only places the person
                person = seed.create_admin(ctx, s, username, name, password)
                if args.org_id is not None and args.org_id != person.org_id:
                    person.org_id = args.org_id
                    s.flush()
                    audit.record(s, actor, "person_edit", "person", person.id, after={"org_id": args.org_id},
                                 summary="org set by ccms user create")
            else:
                org_id = args.org_id if args.org_id is not None else seed.ensure_root_org(ctx, s).id
                person = people.create(s, actor, ctx, {
                    "username": username, "display_name": name, "org_id": org_id, "password": password}).person
            pid = person.id
    finally:
        ctx.db.dispose()
    if args.admin:
        print(f"已创建管理员 {username} (id {pid})，拥有根机构的 admin 角色"
              f"\nadministrator {username} created (id {pid}) with the admin role at the root org")
    else:
        print(f"已创建用户 {username} (id {pid})，首次登录须修改密码；请在“权限配置”中授予角色"
              f"\nuser {username} created (id {pid}): must change the password at first login; grant roles "
              f"under Maintenance > Roles")
    return 0


# --- plugin commands ------------------------------------------------------------------

def _find_config(argv: Sequence[str]) -> str | None:
    for i, a in enumerate(argv):
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--config="):
            return a.split("=", 1)[1]
    return os.environ.get("CCMS_CONFIG") or None


def _first_command(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def plugin_commands(argv: Sequence[str]) -> tuple[list[Any], Any]:
    """Commands of the enabled plugins when a deployment file is known, with its app context."""
    first = _first_command(argv)
    config = _find_config(argv)
    if first in CORE_COMMANDS or not config:
        return [], None
    try:
        ctx = load_app(config).state.ccms
    except CcmsError:
        if first is None:  # plain `ccms --help`: list the core commands anyway
            return [], None
        raise
    commands = ctx.hook_list("ccms_register_commands")
    seen = set(CORE_COMMANDS)
    for cmd in commands:
        if cmd.name in seen:
            raise StartupError(f"命令名 {cmd.name} 重复", f"command {cmd.name} is defined twice",
                               plugin=getattr(cmd, "plugin", "-"), file=config, field="ccms_register_commands")
        seen.add(cmd.name)
    return commands, ctx


# --- parser -----------------------------------------------------------------------------

def build_parser(extra_commands: Sequence[Any] = ()) -> argparse.ArgumentParser:
    env_config = os.environ.get("CCMS_CONFIG") or None
    p = _Parser(prog="ccms", description="ccms 城市综合管理服务平台 / city comprehensive management service platform")
    p.add_argument("--version", action="version", version=f"ccms {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add_config(parser: argparse.ArgumentParser, required: bool = True) -> None:
        parser.add_argument("--config", default=env_config, required=required and env_config is None,
                            metavar="FILE", help=CONFIG_HELP)

    d = sub.add_parser("demo", help="初始化并启动演示部署 / seed and serve the demo deployment",
                       description="写入 data/demo.toml、迁移数据库、创建演示城市并启动 / write data/demo.toml, "
                                   "migrate, seed a demo city once and serve it")
    d.add_argument("--host", default="127.0.0.1", help="监听地址 / listen address")
    d.add_argument("--port", type=int, default=8000, help="端口 / port")
    d.add_argument("--data-dir", default="./data",
                   help="数据目录（默认为当前目录下的 data）/ data folder (default: data in the current folder)")
    d.add_argument("--no-serve", action="store_true", help="只初始化，不启动 / seed only, do not serve")
    d.add_argument("--reset", action="store_true", help="删除并重建演示数据 / delete and recreate the demo")
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser("serve", help="启动一个部署 / serve a deployment")
    add_config(s)
    s.add_argument("--host", default="127.0.0.1", help="监听地址 / listen address")
    s.add_argument("--port", type=int, default=8000, help="端口 / port")
    s.add_argument("--workers", type=int, default=1,
                   help="工作进程数，约每核一个；SQLite 只能为 1 / worker processes: about one per core; 1 on SQLite")
    s.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="数据库迁移 / database migrations")
    dbsub = db.add_subparsers(dest="db_command", metavar="ACTION")
    up = dbsub.add_parser("upgrade", help="升级核心与已启用插件的数据库 / apply core and enabled plugins' migrations")
    add_config(up)
    up.set_defaults(func=cmd_db_upgrade)
    cur = dbsub.add_parser("current", help="显示迁移状态 / show migration state")
    add_config(cur)
    cur.set_defaults(func=cmd_db_current)
    db.set_defaults(func=lambda a: _help(db))

    pl = sub.add_parser("plugins", help="插件 / plugins")
    plsub = pl.add_subparsers(dest="plugins_command", metavar="ACTION")
    ls = plsub.add_parser("list", help="列出可用插件 / list available plugins")
    add_config(ls, required=False)
    ls.set_defaults(func=cmd_plugins_list)
    new = plsub.add_parser("new", help="生成新插件骨架 / scaffold a new plugin")
    new.add_argument("name", help="插件 id（小写字母、数字、下划线）/ plugin id (lower case, digits, _)")
    new.add_argument("--dest", default=".", help="目标目录 / destination folder")
    new.add_argument("--title-zh", default=None, help="中文名称 / Chinese title")
    new.add_argument("--title-en", default=None, help="英文名称 / English title")
    new.add_argument("--tiers", default="city", help="适用层级，逗号分隔 / tiers, comma separated "
                                                     "(national,province,city,county)")
    new.set_defaults(func=cmd_plugins_new)
    add_plugin_commands(plsub, add_config)
    pl.set_defaults(func=lambda a: _help(pl))

    u = sub.add_parser("user", help="用户 / users")
    usub = u.add_subparsers(dest="user_command", metavar="ACTION")
    uc = usub.add_parser("create", help="创建用户（首个管理员用 --admin）/ create a user (--admin for the first "
                                        "administrator)")
    add_config(uc)
    uc.add_argument("--username", required=True, help="用户名 / user name")
    uc.add_argument("--name", required=True, help="姓名 / display name")
    uc.add_argument("--org-id", type=int, default=None, help="所属机构 id，默认根机构 / org id (default: root org)")
    uc.add_argument("--admin", action="store_true", help="授予根机构的 admin 角色 / grant the admin role at the root org")
    uc.add_argument("--password-stdin", action="store_true",
                    help="从标准输入读取密码（一行）/ read the password from stdin (one line)")
    uc.set_defaults(func=cmd_user_create)
    u.set_defaults(func=lambda a: _help(u))

    fl = sub.add_parser("flows", help="流程 / flows")
    flsub = fl.add_subparsers(dest="flows_command", metavar="ACTION")
    ft = flsub.add_parser("timers", help="运行流程定时器：预警、超期、定时流转 / run flow timers: warnings, overdue, "
                                         "escalations")
    add_config(ft)
    ft.add_argument("--loop", action="store_true", help="持续运行 / keep running")
    ft.add_argument("--interval", type=float, default=30.0, help="轮询间隔秒数 / seconds between runs (default 30)")
    ft.set_defaults(func=cmd_flows_timers)
    fl.set_defaults(func=lambda a: _help(fl))
    cli_backup.add_commands(sub, add_config)
    add_pii_commands(sub, add_config)

    add_audit_commands(sub, add_config)

    for cmd in extra_commands:
        cp = sub.add_parser(cmd.name, help=str(cmd.help))
        add_config(cp)
        cmd.configure(cp)
        cp.set_defaults(func=None, plugin_command=cmd)
    return p


def _db_error(exc: Exception) -> int:
    orig = getattr(exc, "orig", None) or exc
    detail = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return _fail(f"数据库操作失败（检查 database_url 与数据库服务）: {detail}",
                 f"database error (check database_url and the database server): {detail}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ccms`` console script; returns the exit status."""
    # lazy: ccms imports every command module at start; a command loads what it runs
    from sqlalchemy.exc import DBAPIError, OperationalError

    argv = list(sys.argv[1:] if argv is None else argv)
    ctx = None
    try:
        commands, ctx = plugin_commands(argv)
        parser = build_parser(commands)
        args = parser.parse_args(argv)
        if getattr(args, "plugin_command", None) is not None:
            # plugin commands get the closed context, like every hook (never the kernel's App)
            return int(args.plugin_command.run(args, ctx.plugin_context if ctx is not None else None) or 0)
        if getattr(args, "func", None) is None:
            return _help(parser)
        return int(args.func(args) or 0)
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except StartupError as exc:
        where = f"plugin={exc.plugin or '-'} file={exc.file or '-'} field={exc.field or '-'}"
        return _fail(f"{exc.zh} [{where}]", f"{exc.en} [{where}]")
    except CcmsError as exc:
        return _fail(exc.zh, exc.en)
    except (OperationalError, DBAPIError) as exc:
        return _db_error(exc)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `ccms plugins list | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    finally:
        if ctx is not None:
            ctx.db.dispose()


if __name__ == "__main__":
    sys.exit(main())
