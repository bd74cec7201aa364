"""Deployment files: every mistake gives a bilingual message and exit status 2
(never a traceback), and the four example deployments start with their tier's
plugin set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ADMIN_PASSWORD, ADMIN_USER, SECRET, Client, login

from ccms import migrate, seed
from ccms.app import create_app
from ccms.cli import main
from ccms.config import load_deployment

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "deploy" / "examples"

GOOD = f'''profile = "city"
region_code = "320500"
name = "测试市城市综合管理服务平台"
secret_key = "{SECRET}"
database_url = "sqlite:///ccms.db"
'''


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def write(tmp_path: Path, text: str, name: str = "deploy.toml") -> Path:
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


BAD_FILES = {
    "bad_toml": (GOOD + 'theme = "x\n', ["不是有效的 TOML", "is not valid TOML", "line"]),
    "unknown_key": (GOOD + 'colour = "red"\n', ["colour", "未知的配置项", "Extra inputs are not permitted"]),
    "unknown_nested_key": (GOOD + "[security]\nlockout = 3\n", ["security.lockout", "未知的配置项"]),
    "region_five_digits": (GOOD.replace("320500", "32050"), ["region_code", "6位数字", "six digits"]),
    "region_bad_province": (GOOD.replace("320500", "990000"), ["region_code", "省级部分无效",
                                                                "invalid province part"]),
    "region_not_digits": (GOOD.replace("320500", "32O500"), ["region_code", "6位数字", "six digits"]),
    "national_code_on_city": (GOOD.replace("320500", "100000"), ["仅用于国家级部署", "national deployment only"]),
    "unknown_profile": (GOOD.replace('"city"', '"town"'), ["profile", "取值必须是", "Input should be"]),
    "short_secret": (GOOD.replace(SECRET, "short"), ["secret_key", "至少需要16个字符", "at least 16 characters"]),
    "missing_name": ("\n".join(x for x in GOOD.splitlines() if not x.startswith("name")),
                     ["name", "缺少必填项", "Field required"]),
    "bad_policy_value": (GOOD + "[security]\nlockout_threshold = 0\n", ["security.lockout_threshold", "不能小于1"]),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_deployment_file_is_refused_with_bilingual_message(case, tmp_path, capsys):
    text, expected = BAD_FILES[case]
    f = write(tmp_path, text)
    code, out, err = run_cli(capsys, "db", "current", "--config", str(f))
    assert code == 2
    assert err.startswith("错误：") and "\nerror: " in err
    for piece in expected:
        assert piece in err
    assert str(f) in err  # the message names the file
    assert "Traceback" not in err
    assert not (tmp_path / "ccms.db").exists()  # nothing was created


def test_missing_file_is_named(tmp_path, capsys):
    missing = tmp_path / "nope.toml"
    for argv in (["serve"], ["db", "upgrade"], ["db", "current"], ["user", "create", "--username", "a1",
                                                                   "--name", "A"]):
        code, _out, err = run_cli(capsys, *argv, "--config", str(missing))
        assert code == 2
        assert f"找不到部署配置文件: {missing}" in err and f"deployment file not found: {missing}" in err


@pytest.mark.needs_plugins("guidance", "command", "industry", "public_service", "data_hub", "exchange")  # GOOD: city
def test_config_flag_required_unless_env(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CCMS_CONFIG", raising=False)
    code, _out, err = run_cli(capsys, "db", "current")
    assert code == 2 and "--config" in err and "命令行参数有误" in err
    f = write(tmp_path, GOOD)
    monkeypatch.setenv("CCMS_CONFIG", str(f))
    code, out, _err = run_cli(capsys, "db", "current")
    assert code == 1 and "not migrated" in out  # the env var names the file


def test_national_code_accepted_for_national_profile(tmp_path):
    f = write(tmp_path, GOOD.replace('"city"', '"national"').replace("320500", "100000"))
    assert load_deployment(f).region_code == "100000"


def test_relative_sqlite_path_resolves_against_the_file(tmp_path):
    sub = tmp_path / "site"
    sub.mkdir()
    dep = load_deployment(write(sub, GOOD))
    assert dep.resolved_database_url == f"sqlite:///{sub / 'ccms.db'}"


def test_console_script_prints_no_traceback(tmp_path):
    """The real process, as an operator runs it."""
    f = write(tmp_path, GOOD.replace("320500", "32050"))
    r = subprocess.run([sys.executable, "-m", "ccms.cli", "serve", "--config", str(f)], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "行政区划代码必须是6位数字" in r.stderr and "region code must be six digits" in r.stderr
    assert "Traceback" not in r.stderr


# --- the example deployments -------------------------------------------------------

EXPECTED_PLUGINS = {
    # national and province: every subsystem is still planned (no menu), so the menu is 应用维护 alone
    "national": ({"guidance", "supervision", "evaluation", "exchange"}, "应用维护"),
    "province": ({"guidance", "supervision", "evaluation", "exchange"}, "应用维护"),
    "city": ({"guidance", "command", "industry", "public_service", "data_hub", "exchange", "evaluation"}, "指挥协调"),
    "county": ({"exchange"}, "应用维护"),
}


def test_all_four_examples_exist():
    assert sorted(p.stem for p in EXAMPLES.glob("*.toml")) == sorted(EXPECTED_PLUGINS)


@pytest.mark.parametrize("tier", sorted(EXPECTED_PLUGINS))
@pytest.mark.needs_plugins(*sorted(set().union(*(ids for ids, _menu in EXPECTED_PLUGINS.values()))))
def test_example_deployment_starts_with_its_plugin_set(tier, new_db_url):
    dep = load_deployment(EXAMPLES / f"{tier}.toml")
    assert dep.profile == tier
    plugins, menu = EXPECTED_PLUGINS[tier]
    dep = dep.model_copy(update={"database_url": new_db_url()})
    app = create_app(dep, deployment_file=str(EXAMPLES / f"{tier}.toml"))
    ctx = app.state.ccms
    try:
        assert {p.id for p in ctx.plugins} == plugins
        migrate.upgrade(ctx.db.engine, ctx.plugins)
        seed.bootstrap(ctx)
        with ctx.db.session() as s:
            seed.create_admin(ctx, s, ADMIN_USER, "管理员", ADMIN_PASSWORD)
        with Client(app) as client:
            health = client.get("/healthz")
            assert health.status_code == 200 and health.json()["deployment"] == dep.identity
            assert client.get("/login").status_code == 200
            assert login(client, ADMIN_USER, ADMIN_PASSWORD).status_code == 303
            home = client.get("/")
            assert home.status_code == 200 and menu in home.text
    finally:
        ctx.db.dispose()


@pytest.mark.needs_plugins(*sorted(set().union(*(ids for ids, _menu in EXPECTED_PLUGINS.values()))))  # deploy/*.toml
def test_examples_refuse_to_serve_with_the_placeholder_secret(tmp_path, capsys):
    code, _out, err = run_cli(capsys, "serve", "--config", str(EXAMPLES / "county.toml"))
    assert code == 2
    assert "secret_key 仍是示例值" in err and "placeholder" in err
    assert not (EXAMPLES / "data").exists()
