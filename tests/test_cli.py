"""The ``ccms`` command line: database upgrade/current, users, plugins and
plugin commands — run in-process through ``ccms.cli.main`` on SQLite and
PostgreSQL."""

from __future__ import annotations

import io
import json
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from alembic.script import ScriptDirectory
from conftest import PG_URL, SECRET, Client, login, plugins_toml
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from ccms import plugin_loader
from ccms.app import create_app
from ccms.cli import main
from ccms.config import load_deployment
from ccms.migrate import CORE_MIGRATIONS
from ccms.models import AuditLog, Org, Person, Role

STRONG = "Gd#Passw0rd-2024"
CORE_HEAD = ScriptDirectory(str(CORE_MIGRATIONS)).get_current_head()


@pytest.fixture
def empty_db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all (``ccms db upgrade`` has to make them)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'site' / 'ccms.db'}"  # the folder does not exist yet either
        return
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"ccms_cli_{uuid.uuid4().hex[:12]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def write_config(tmp_path: Path, url: str, extra: str = "") -> Path:
    f = tmp_path / "deploy.toml"
    f.write_text(f'profile = "city"\nregion_code = "320500"\nname = "测试市城市综合管理服务平台"\n'
                 f'secret_key = "{SECRET}"\ndatabase_url = "{url}"\n{extra}', encoding="utf-8")
    block = plugins_toml()  # core without plugins/: the disable line an operator would write
    if block:
        text = f.read_text(encoding="utf-8")
        text = text.replace("[plugins]\n", block, 1) if "[plugins]\n" in text else text + "\n" + block
        f.write_text(text, encoding="utf-8")
    return f


def cli(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str | None = None,
        monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def migrated(backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], _templates) -> Iterator[Path]:
    """A deployment after ``ccms db upgrade``: a copy of one upgraded once per session
    (test_db_upgrade_then_current runs the upgrade itself)."""
    def upgrade(url: str) -> None:
        folder = Path(tempfile.mkdtemp(dir=tmp_path))
        code, _out, err = cli(capsys, "db", "upgrade", "--config", str(write_config(folder, url)))
        assert code == 0, err

    if backend == "sqlite":
        (tmp_path / "site").mkdir()
        url = _templates.fresh_sqlite("cli: db upgrade", upgrade, tmp_path / "site" / "ccms.db")
    else:
        url = _templates.fresh_postgresql("cli: db upgrade", upgrade)
    yield write_config(tmp_path, url)
    _templates.release(url)


def count(config: Path, model: type) -> int:
    ctx = create_app(load_deployment(config)).state.ccms
    try:
        with ctx.db.session() as s:
            return s.scalar(select(func.count()).select_from(model))
    finally:
        ctx.db.dispose()


# --- db -----------------------------------------------------------------------------

def test_db_upgrade_then_current(empty_db_url, tmp_path, capsys):
    config = write_config(tmp_path, empty_db_url)
    code, out, _ = cli(capsys, "db", "current", "--config", str(config))
    assert code == 1 and "not migrated" in out and "未迁移" in out
    if empty_db_url.startswith("sqlite"):
        assert not (tmp_path / "site").exists()  # looking never creates a database

    code, out, err = cli(capsys, "db", "upgrade", "--config", str(config))
    assert code == 0, err
    assert f"core: {CORE_HEAD} (head {CORE_HEAD})" in out
    code, out, _ = cli(capsys, "db", "current", "--config", str(config))
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("core "))
    assert CORE_HEAD in line and "up to date" in line

    # bootstrap ran: proposed roles and the root org with the deployment's name
    ctx = create_app(load_deployment(config)).state.ccms
    with ctx.db.session() as s:
        assert {"admin", "org_admin", "auditor", "staff"} <= set(s.scalars(select(Role.code)))
        root = s.scalar(select(Org).where(Org.parent_id.is_(None)))
        assert root.name == "测试市城市综合管理服务平台" and root.region_code == "320500"
    ctx.db.dispose()

    before = count(config, AuditLog)
    assert cli(capsys, "db", "upgrade", "--config", str(config))[0] == 0  # idempotent
    assert count(config, AuditLog) == before


def test_db_current_flags_an_unknown_revision_and_serve_refuses(migrated, capsys):
    ctx = create_app(load_deployment(migrated)).state.ccms
    with ctx.db.engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
    ctx.db.dispose()
    code, out, _ = cli(capsys, "db", "current", "--config", str(migrated))
    assert code == 1 and "unknown" in out
    code, _, err = cli(capsys, "serve", "--config", str(migrated), "--port", "1")
    assert code == 2 and "ccms db upgrade --config" in err


def test_serve_refuses_an_unmigrated_database(tmp_path, capsys):
    config = write_config(tmp_path, "sqlite:///never.db")
    code, out, err = cli(capsys, "serve", "--config", str(config))
    assert code == 2 and out == ""
    assert "数据库未迁移到最新版本" in err and f"run ccms db upgrade --config {config}" in err
    assert not (tmp_path / "never.db").exists()


def test_serve_refuses_bad_worker_count(migrated, capsys):
    code, _, err = cli(capsys, "serve", "--config", str(migrated), "--workers", "0")
    assert code == 2 and "--workers" in err


def test_unreachable_database_is_a_clear_error(tmp_path, capsys):
    config = write_config(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/nothing")
    code, _, err = cli(capsys, "db", "current", "--config", str(config))
    assert code == 2
    assert "数据库操作失败" in err and "database error" in err and "Traceback" not in err


def test_unknown_database_scheme_is_a_clear_error(tmp_path, capsys):
    config = write_config(tmp_path, "nosuchdb://x/y")
    code, _, err = cli(capsys, "db", "upgrade", "--config", str(config))
    assert code == 2 and "database_url" in err


# --- users ----------------------------------------------------------------------------

def test_first_administrator_from_stdin_can_log_in(migrated, capsys, monkeypatch):
    code, out, err = cli(capsys, "user", "create", "--config", str(migrated), "--username", "chief",
                         "--name", "王局长", "--admin", "--password-stdin", stdin=STRONG + "\n",
                         monkeypatch=monkeypatch)
    assert code == 0, err
    assert "chief" in out and "admin" in out
    app = create_app(load_deployment(migrated))
    with Client(app) as client:
        assert login(client, "chief", STRONG).status_code == 303
        home = client.get("/")
        assert home.status_code == 200 and "应用维护" in home.text  # administrator's menu
    ctx = app.state.ccms
    with ctx.db.session() as s:
        person = s.scalar(select(Person).where(Person.username == "chief"))
        root = s.scalar(select(Org).where(Org.parent_id.is_(None)))
        assert ctx.authz.check(person.id, "core.role.edit", root.id)
        assert STRONG not in person.password_hash
        entry = s.scalar(select(AuditLog).where(AuditLog.action == "person_create",
                                                AuditLog.object_id == str(person.id)))
        assert entry is not None and STRONG not in json.dumps(entry.after, ensure_ascii=False)
    ctx.db.dispose()


def test_admin_placed_in_a_department_still_holds_admin_at_the_root(migrated, capsys, monkeypatch):
    ctx = create_app(load_deployment(migrated)).state.ccms
    with ctx.db.session() as s:
        root = s.scalar(select(Org).where(Org.parent_id.is_(None)))
        dept = Org(parent_id=root.id, name="市城管局", kind="department", region_code="320500", path="")
        s.add(dept)
        s.flush()
        dept.path = f"{root.path}{dept.id}/"
        root_id, dept_id = root.id, dept.id
    code, _, err = cli(capsys, "user", "create", "--config", str(migrated), "--username", "chief", "--name", "王",
                       "--admin", "--org-id", str(dept_id), "--password-stdin", stdin=STRONG, monkeypatch=monkeypatch)
    assert code == 0, err
    with ctx.db.session() as s:
        person = s.scalar(select(Person).where(Person.username == "chief"))
        assert person.org_id == dept_id
    ctx.authz.ensure_fresh()
    assert ctx.authz.check(person.id, "core.role.edit", root_id)
    ctx.db.dispose()


def test_plain_user_must_change_the_password_at_first_login(migrated, capsys, monkeypatch):
    code, out, err = cli(capsys, "user", "create", "--config", str(migrated), "--username", "clerk",
                         "--name", "李科员", "--password-stdin", stdin=STRONG, monkeypatch=monkeypatch)
    assert code == 0, err
    app = create_app(load_deployment(migrated))
    with Client(app) as client:
        r = login(client, "clerk", STRONG)
        assert r.status_code == 303 and r.headers["location"].startswith("/account/password")
    app.state.ccms.db.dispose()


WEAK = {
    "short": ("Ab1#x", ["密码至少需要10个字符", "at least 10 characters"]),
    "one_class": ("abcdefghijklmn", ["至少3类", "at least 3 of"]),
    "contains_username": ("Xboss#2024abc", ["不能包含用户名", "must not contain the user name"]),
    "empty": ("", ["密码不能为空", "the password is empty"]),
}


@pytest.mark.parametrize("case", sorted(WEAK))
def test_weak_password_is_refused_and_nothing_written(case, migrated, capsys, monkeypatch):
    password, expected = WEAK[case]
    before = count(migrated, Person), count(migrated, AuditLog)
    code, out, err = cli(capsys, "user", "create", "--config", str(migrated), "--username", "boss",
                         "--name", "老板", "--admin", "--password-stdin", stdin=password + "\n",
                         monkeypatch=monkeypatch)
    assert code == 2 and out == ""
    for piece in expected:
        assert piece in err
    assert (count(migrated, Person), count(migrated, AuditLog)) == before


def test_no_password_without_stdin_flag_or_terminal(migrated, capsys, monkeypatch):
    code, _, err = cli(capsys, "user", "create", "--config", str(migrated), "--username", "boss", "--name", "老板",
                       stdin=STRONG + "\n", monkeypatch=monkeypatch)
    assert code == 2 and "--password-stdin" in err
    assert count(migrated, Person) == 0


def test_interactive_password_is_asked_twice(migrated, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    answers = iter([STRONG, STRONG + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    code, _, err = cli(capsys, "user", "create", "--config", str(migrated), "--username", "boss", "--name", "老板",
                       "--admin")
    assert code == 2 and "两次输入的密码不一致" in err and "differ" in err
    answers = iter([STRONG, STRONG])
    code, _, err = cli(capsys, "user", "create", "--config", str(migrated), "--username", "boss", "--name", "老板",
                       "--admin")
    assert code == 0, err


@pytest.mark.parametrize("argv,expected", [
    (["--username", "x", "--name", "某"], "用户名须为2–64位"),
    (["--username", "-bad", "--name", "某"], "命令行参数有误"),
    (["--username", "good", "--name", " "], "姓名须为1–100个字符"),
    (["--username", "good", "--name", "某", "--org-id", "999"], "机构 999 不存在"),
    (["--username", "good", "--name", "某", "--org-id", "abc"], "命令行参数有误"),
])
def test_bad_user_input_is_refused(argv, expected, migrated, capsys, monkeypatch):
    code, _, err = cli(capsys, "user", "create", "--config", str(migrated), *argv, "--password-stdin",
                       stdin=STRONG, monkeypatch=monkeypatch)
    assert code == 2 and expected in err
    assert count(migrated, Person) == 0


def test_duplicate_user_name_is_refused(migrated, capsys, monkeypatch):
    argv = ["user", "create", "--config", str(migrated), "--username", "chief", "--name", "王局长", "--admin",
            "--password-stdin"]
    assert cli(capsys, *argv, stdin=STRONG, monkeypatch=monkeypatch)[0] == 0
    code, _, err = cli(capsys, *argv, stdin=STRONG, monkeypatch=monkeypatch)
    assert code == 2 and "已存在" in err and "already exists" in err


def test_user_create_on_an_unmigrated_database_says_what_to_run(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path, "sqlite:///fresh.db")
    code, _, err = cli(capsys, "user", "create", "--config", str(config), "--username", "chief", "--name", "王",
                       "--admin", "--password-stdin", stdin=STRONG, monkeypatch=monkeypatch)
    assert code == 2 and "ccms db upgrade --config" in err


# --- plugins ---------------------------------------------------------------------------

@pytest.mark.needs_plugins("command")
def test_plugins_list_without_and_with_a_deployment(tmp_path, capsys):
    code, out, _ = cli(capsys, "plugins", "list")
    assert code == 0
    assert "enabled" not in out.splitlines()[0]
    ids = [line.split()[0] for line in out.splitlines()[2:]]
    assert ids[0] == "core" and {"command", "supervision", "exchange"} <= set(ids)

    config = write_config(tmp_path, "sqlite:///x.db", '[plugins]\ndisable = ["industry"]\n')
    code, out, _ = cli(capsys, "plugins", "list", "--config", str(config))
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert "enabled" in out.splitlines()[0]
    assert "yes" in rows["command"] and "no" in rows["supervision"] and "no" in rows["industry"]
    assert rows["command"][-1] == "built-in"


def test_plugins_new_writes_a_distribution(tmp_path, capsys):
    pytest.importorskip("ccms.scaffold")
    code, out, err = cli(capsys, "plugins", "new", "acme_parking", "--dest", str(tmp_path), "--tiers", "city,county")
    assert code == 0, err
    folder = tmp_path / "ccms-acme-parking"
    assert str(folder) in out
    manifest = next(folder.rglob("plugin.json"))
    data = json.loads(manifest.read_text(encoding="utf-8"))
    assert data["id"] == "acme_parking" and data["tiers"] == ["city", "county"]
    code, _, err = cli(capsys, "plugins", "new", "Bad-Name", "--dest", str(tmp_path))
    assert code == 2 and "无效" in err and "invalid" in err


PROBE_INIT = '''
from ccms.api import hookimpl


class Hello:
    name = "hello"
    help = "问候 / say hello"

    def configure(self, parser):
        parser.add_argument("--who", default="世界")

    def run(self, args, ctx):
        print(f"你好，{args.who}！{ctx.platform_name}")
        return 3


@hookimpl
def ccms_register_commands(ctx):
    return [Hello()]
'''


def add_probe_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plugin_id: str, init: str) -> None:
    """Make a plugin folder discoverable for this test only."""
    folder = tmp_path / "probe_plugins" / plugin_id
    folder.mkdir(parents=True)
    (folder / "plugin.json").write_text(json.dumps({
        "id": plugin_id, "name": {"zh-CN": "探针", "en": "Probe"}, "version": "0.0.1",
        "tiers": ["city"]}), encoding="utf-8")
    (folder / "__init__.py").write_text(init, encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder.parent))
    info = plugin_loader.PluginInfo(plugin_id, plugin_loader.read_manifest(folder / "plugin.json", plugin_id),
                                    folder, plugin_id, "test")
    real = plugin_loader.discover

    def discover(*args, **kwargs):
        found = real(*args, **kwargs)
        found[plugin_id] = info
        return found

    monkeypatch.setattr(plugin_loader, "discover", discover)


def test_plugin_command_appears_as_a_subcommand(tmp_path, capsys, monkeypatch):
    add_probe_plugin(tmp_path, monkeypatch, "cli_probe", PROBE_INIT)
    config = write_config(tmp_path, "sqlite:///x.db", '[plugins]\nenable = ["cli_probe"]\n')
    code, out, _ = cli(capsys, "hello", "--config", str(config), "--who", "苏州")
    assert code == 3 and "你好，苏州！测试市城市综合管理服务平台" in out
    monkeypatch.setenv("CCMS_CONFIG", str(config))
    code, out, _ = cli(capsys, "--help")
    assert code == 0 and "hello" in out and "问候 / say hello" in out
    monkeypatch.delenv("CCMS_CONFIG")
    # without the plugin enabled, the command does not exist
    code, _, err = cli(capsys, "hello", "--config", str(write_config(tmp_path, "sqlite:///x.db")))
    assert code == 2 and "invalid choice" in err


def test_plugin_command_clashing_with_a_core_command_is_refused(tmp_path, capsys, monkeypatch):
    add_probe_plugin(tmp_path, monkeypatch, "clash_probe", PROBE_INIT.replace(
        "return [Hello()]", "clash = Hello()\n    clash.name = 'serve'\n    return [Hello(), clash]"))
    config = write_config(tmp_path, "sqlite:///x.db", '[plugins]\nenable = ["clash_probe"]\n')
    code, _, err = cli(capsys, "hello", "--config", str(config))
    assert code == 2 and "命令名 serve 重复" in err and "defined twice" in err


# --- general ----------------------------------------------------------------------------

def test_version_and_help(capsys):
    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.startswith("ccms ")
    code, _, err = cli(capsys)
    assert code == 2 and "demo" in err and "serve" in err


def test_unknown_command_is_a_bilingual_usage_error(capsys, monkeypatch):
    monkeypatch.delenv("CCMS_CONFIG", raising=False)
    code, _, err = cli(capsys, "frobnicate")
    assert code == 2 and "命令行参数有误" in err and "bad command line" in err


def test_bad_port_value_is_a_usage_error(capsys):
    code, _, err = cli(capsys, "demo", "--port", "eighty")
    assert code == 2 and "--port" in err
