"""The plugin contract: start-up refusals, load order, one hook manager per
deployment, disabled plugins, and the worked example plugin ``example_notice``.

Fixture plugins live in ``tests/plugin_fixtures/``; each test copies the ones
it needs into its own folder (see the ``fixture_plugins`` fixture).
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import create_engine, inspect, select

from conftest import ADMIN_PASSWORD, ADMIN_USER, deployment_data
from ccms import migrate
from ccms.api import get_settings
from ccms.app import create_app
from ccms.config import load_deployment, parse_deployment
from ccms.errors import StartupError
from ccms.models import AuditLog
from ccms.plugin_loader import BUILTIN_DIR, PluginInfo, discover, plugin_rows, resolve
from ccms.seed import ensure_root_org
from ccms.testing import add_user, login_client

FIXTURES = Path(__file__).parent / "plugin_fixtures"
NO_DB = "sqlite:///:memory:"  # refusals happen before any connection


@pytest.fixture
def fixture_plugins(tmp_path: Path) -> Iterator[Callable[..., dict[str, PluginInfo]]]:
    """``fixture_plugins("fx_alpha", ...)`` -> ``available`` of just those plugins.

    Copies them into a folder of this test, puts it on ``sys.path`` (built-in
    style plugins import under their folder name) and removes the folder and
    every module loaded from it afterwards.
    """
    folders: list[Path] = []

    def make(*names: str, discover_now: bool = True) -> Any:
        folder = tmp_path / f"fixture-plugins-{len(folders)}"
        folder.mkdir()
        for name in names:
            shutil.copytree(FIXTURES / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
        sys.path.insert(0, str(folder))
        folders.append(folder)
        importlib.invalidate_caches()
        return discover(builtin_dir=folder, use_entry_points=False) if discover_now else folder

    yield make
    for folder in folders:
        sys.path.remove(str(folder))
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and any(Path(file).is_relative_to(f) for f in folders):
            del sys.modules[name]
    importlib.invalidate_caches()


EMPTY_PROFILES: dict[str, list[str]] = {"city": [], "national": []}


def start(available: dict[str, PluginInfo] | None = None, *, profiles: Any = EMPTY_PROFILES,
          deployment_file: str = "<deployment>", **overrides: Any) -> Any:
    """Start a deployment (no database work) as production does. By default
    no profile plugins; ``profiles=None`` means core's ``profiles.json``."""
    overrides.setdefault("database_url", NO_DB)
    return create_app(parse_deployment(deployment_data(**overrides)), available=available, profiles=profiles,
                      deployment_file=deployment_file)


def assert_names(exc: pytest.ExceptionInfo[StartupError], plugin: str, file: Path | str, field: str) -> str:
    """One message naming the plugin, the file and the field (in Chinese and English)."""
    text = str(exc.value)
    assert plugin in text and str(file) in text and field in text, text
    assert exc.value.plugin == plugin and str(exc.value.file) == str(file) and exc.value.field == field
    assert " / " in text  # zh / en
    return text


# --- start-up refusals ---------------------------------------------------------------------

def test_invalid_version_in_manifest_stops_startup(fixture_plugins):
    with pytest.raises(StartupError) as exc:
        start(fixture_plugins("fx_bad_version"), plugins={"enable": ["fx_bad_version"]})
    text = assert_names(exc, "fx_bad_version", exc.value.file, "version")
    assert exc.value.file.endswith("fx_bad_version/plugin.json")
    assert "插件清单无效" in text and "'one'" in text


def test_missing_english_name_names_the_nested_field(fixture_plugins):
    with pytest.raises(StartupError) as exc:
        start(fixture_plugins("fx_no_name_en"))
    assert_names(exc, "fx_no_name_en", exc.value.file, "name.en")
    assert exc.value.file.endswith("fx_no_name_en/plugin.json")


def test_manifest_that_is_not_json_or_misnamed(tmp_path, fixture_plugins):
    folder = fixture_plugins("fx_gamma", discover_now=False)
    manifest = folder / "fx_gamma" / "plugin.json"
    manifest.write_text('{"id": "fx_gamma",', encoding="utf-8")
    with pytest.raises(StartupError) as exc:
        discover(builtin_dir=folder, use_entry_points=False)
    assert "fx_gamma" in str(exc.value) and str(manifest) in str(exc.value) and "JSON" in str(exc.value)
    data = json.loads((FIXTURES / "fx_gamma" / "plugin.json").read_text(encoding="utf-8"))
    manifest.write_text(json.dumps({**data, "id": "fx_other"}), encoding="utf-8")
    with pytest.raises(StartupError) as exc:
        discover(builtin_dir=folder, use_entry_points=False)
    assert_names(exc, "fx_gamma", manifest, "id")


def test_unknown_plugin_in_profile_names_the_profiles_file(tmp_path, fixture_plugins):
    profiles = tmp_path / "profiles.json"
    profiles.write_text(json.dumps({"city": ["fx_alpha", "fx_nowhere"]}), encoding="utf-8")
    with pytest.raises(StartupError) as exc:
        start(fixture_plugins("fx_alpha"), profiles=profiles)
    text = assert_names(exc, "fx_nowhere", profiles, "city")
    assert "未安装" in text and "not installed" in text and "plugins.disable" not in text and "disable = [" in text


def test_unknown_plugin_in_deployment_enable_names_the_toml_file(tmp_path, fixture_plugins):
    toml = tmp_path / "city.toml"
    toml.write_text('profile = "city"\nregion_code = "320500"\nname = "测试市"\n'
                    'secret_key = "test-secret-key-0123456789"\ndatabase_url = "sqlite:///:memory:"\n'
                    '[plugins]\nenable = ["fx_alpha", "fx_typo"]\n', encoding="utf-8")
    with pytest.raises(StartupError) as exc:
        create_app(load_deployment(toml), available=fixture_plugins("fx_alpha"), profiles={"city": []},
                   deployment_file=str(toml))
    assert_names(exc, "fx_typo", toml, "plugins.enable")


def test_unknown_plugin_in_deployment_disable_is_refused_too(fixture_plugins):
    with pytest.raises(StartupError) as exc:
        start(fixture_plugins("fx_alpha"), plugins={"disable": ["fx_alhpa"]}, deployment_file="city.toml")
    assert_names(exc, "fx_alhpa", "city.toml", "plugins.disable")


def test_missing_dependency_stops_startup(fixture_plugins):
    available = fixture_plugins("fx_needs_missing")
    with pytest.raises(StartupError) as exc:
        start(available, plugins={"enable": ["fx_needs_missing"]})
    text = assert_names(exc, "fx_needs_missing", available["fx_needs_missing"].manifest_file, "depends")
    assert "fx_nowhere" in text and "does not exist" in text


def test_dependency_available_but_not_enabled_stops_startup(fixture_plugins):
    available = fixture_plugins("fx_needs_gamma", "fx_gamma")
    with pytest.raises(StartupError) as exc:
        start(available, plugins={"enable": ["fx_needs_gamma"]})
    text = assert_names(exc, "fx_needs_gamma", available["fx_needs_gamma"].manifest_file, "depends")
    assert "fx_gamma" in text and "未启用" in text and "is not enabled" in text
    # enabling the dependency as well fixes it
    ctx = start(available, plugins={"enable": ["fx_needs_gamma", "fx_gamma"]}).state.ccms
    assert [p.id for p in ctx.plugins] == ["fx_gamma", "fx_needs_gamma"]


def test_dependency_cycle_stops_startup(fixture_plugins):
    available = fixture_plugins("fx_cycle_a", "fx_cycle_b")
    for order in (["fx_cycle_a", "fx_cycle_b"], ["fx_cycle_b", "fx_cycle_a"]):
        with pytest.raises(StartupError) as exc:
            start(available, plugins={"enable": order})
        text = assert_names(exc, "fx_cycle_a", available["fx_cycle_a"].manifest_file, "depends")
        assert "fx_cycle_a -> fx_cycle_b -> fx_cycle_a" in text


def test_duplicate_id_builtin_folder_and_distribution(tmp_path):
    """A vendor distribution claiming a built-in's id is refused, naming both."""
    site = tmp_path / "site"
    pkg = site / "fake_command"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    manifest = json.loads((BUILTIN_DIR / "command" / "plugin.json").read_text(encoding="utf-8"))
    (pkg / "plugin.json").write_text(json.dumps(manifest), encoding="utf-8")
    info = site / "ccms_fake_command-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ccms-fake-command\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[ccms.plugins]\ncommand = fake_command\n", encoding="utf-8")
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    try:
        with pytest.raises(StartupError) as exc:
            create_app(parse_deployment(deployment_data(database_url=NO_DB)))  # default discovery
    finally:
        sys.path.remove(str(site))
        importlib.invalidate_caches()
    text = assert_names(exc, "command", pkg / "plugin.json", "id")
    assert "built-in" in text and "distribution ccms-fake-command 1.0" in text
    assert str(BUILTIN_DIR / "command" / "plugin.json") in text


def test_plugin_not_allowed_on_tier(fixture_plugins):
    available = fixture_plugins("fx_city_only")
    assert start(available, plugins={"enable": ["fx_city_only"]}).state.ccms.enabled("fx_city_only")
    with pytest.raises(StartupError) as exc:
        start(available, profile="national", region_code="110000", plugins={"enable": ["fx_city_only"]})
    text = assert_names(exc, "fx_city_only", available["fx_city_only"].manifest_file, "tiers")
    assert "national" in text and "不适用" in text


def test_builtin_plugin_not_allowed_on_tier():
    with pytest.raises(StartupError) as exc:
        start(None, profiles=None, profile="national", region_code="110000", plugins={"enable": ["command"]})
    assert_names(exc, "command", BUILTIN_DIR / "command" / "plugin.json", "tiers")


def test_misspelt_hook_name_stops_startup(fixture_plugins):
    available = fixture_plugins("fx_misspelt_hook")
    with pytest.raises(StartupError) as exc:
        start(available, plugins={"enable": ["fx_misspelt_hook"]})
    init = Path(sys.modules["fx_misspelt_hook"].__file__)
    text = assert_names(exc, "fx_misspelt_hook", init, "ccms_register_route")
    assert "did you mean ccms_register_routes" in text


def test_misspelt_hook_without_marker_is_caught_too(fixture_plugins):
    available = fixture_plugins("fx_unmarked_hook")
    with pytest.raises(StartupError) as exc:
        start(available, plugins={"enable": ["fx_unmarked_hook"]})
    assert_names(exc, "fx_unmarked_hook", sys.modules["fx_unmarked_hook"].__file__, "ccms_dashbord_panels")


def test_hookimpl_argument_not_in_spec_stops_startup(fixture_plugins):
    available = fixture_plugins("fx_bad_hook_arg")
    with pytest.raises(StartupError) as exc:
        start(available, plugins={"enable": ["fx_bad_hook_arg"]})
    text = assert_names(exc, "fx_bad_hook_arg", sys.modules["fx_bad_hook_arg"].__file__, "ccms_register_routes")
    assert "'app'" in text


def test_plugin_that_cannot_import_stops_startup(fixture_plugins):
    available = fixture_plugins("fx_import_error")
    with pytest.raises(StartupError) as exc:
        start(available, plugins={"enable": ["fx_import_error"]})
    text = assert_names(exc, "fx_import_error", available["fx_import_error"].folder / "__init__.py", "module")
    assert "no_such_module_for_ccms_tests" in text


def test_broken_plugin_that_is_not_enabled_does_not_stop_startup(fixture_plugins):
    """Only enabled plugins are imported: a bad hook in a disabled one is harmless."""
    ctx = start(fixture_plugins("fx_alpha", "fx_misspelt_hook", "fx_import_error"),
                plugins={"enable": ["fx_alpha"]}).state.ccms
    assert [p.id for p in ctx.plugins] == ["fx_alpha"]


# --- order --------------------------------------------------------------------------------

def _info(pid: str, *depends: str) -> PluginInfo:
    manifest = {"id": pid, "name": {"zh-CN": pid, "en": pid}, "version": "1.0.0", "tiers": ["city"],
                "depends": list(depends)}
    return PluginInfo(pid, manifest, Path("/nowhere") / pid, pid, "built-in")


def test_order_is_topological_with_ties_by_id():
    available = {p.id: p for p in (_info("d", "b", "c"), _info("b", "a"), _info("c", "a"), _info("a"),
                                   _info("e"), _info("aa"))}
    for enable in (["e", "d", "c", "b", "aa", "a"], ["a", "aa", "b", "c", "d", "e"], ["c", "e", "a", "d", "aa", "b"]):
        order = [p.id for p in resolve(available, "city", "city", enable=enable, profiles={"city": []})]
        assert order == ["a", "aa", "b", "c", "d", "e"]
    # a dependant follows its dependency even when its id sorts first
    available = {p.id: p for p in (_info("a", "z"), _info("z"), _info("m"))}
    assert [p.id for p in resolve(available, "city", "city", enable=["a", "m", "z"], profiles={})] == ["m", "z", "a"]


def test_hooks_run_in_dependency_order(fixture_plugins):
    available = fixture_plugins("fx_gamma", "fx_beta", "fx_alpha")
    ctx = start(available, plugins={"enable": ["fx_gamma", "fx_beta", "fx_alpha"]}).state.ccms
    assert [p.id for p in ctx.plugins] == ["fx_alpha", "fx_beta", "fx_gamma"]
    titles = [p["title"] for p in ctx.hook_list("ccms_dashboard_panels", user=None)]
    assert titles == ["fx_alpha panel", "fx_beta panel", "fx_gamma panel"]


# --- one plugin manager per app instance ------------------------------------------------------------

def test_two_deployments_in_one_process_are_independent(make_app, new_db_url, client_for, fixture_plugins):
    available = {**discover(), **fixture_plugins("fx_alpha")}
    fx_alpha = sys.modules.get("fx_alpha")
    assert fx_alpha is None  # discovery imports no plugin code
    national = make_app(profile="national", region_code="110000", available=available)
    city = make_app(db_url=new_db_url(), available=available, plugins={"enable": ["fx_alpha"]})
    n_ctx, c_ctx = national.state.ccms, city.state.ccms
    assert n_ctx.pm is not c_ctx.pm
    assert [p.id for p in n_ctx.plugins] == ["evaluation", "exchange", "guidance", "supervision"]
    assert [p.id for p in c_ctx.plugins] == ["command", "data_hub", "exchange", "fx_alpha", "guidance", "industry",
                                             "public_service"]
    n_admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=national)  # entering runs start-up hooks
    c_admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=city)
    assert sys.modules["fx_alpha"].STARTED == [c_ctx.deployment.identity]  # never started for national

    n_home, c_home = n_admin.get("/").text, c_admin.get("/").text
    assert 'data-menu="command"' not in n_home and 'data-menu="command"' in c_home
    # supervision is enabled for the national tier only (not built yet: a permission, no menu)
    assert "supervision.view" in n_ctx.permissions and "supervision.view" not in c_ctx.permissions
    assert 'data-menu="fx_alpha"' in c_home and 'data-menu="fx_alpha"' not in n_home
    assert "fx_alpha panel of city:320500" in c_home and "fx_alpha panel" not in n_home
    assert c_admin.get("/command/cases").status_code == 200
    assert n_admin.get("/command/cases").status_code == 404
    assert c_admin.get("/fx_alpha").status_code == 200
    assert n_admin.get("/fx_alpha").status_code == 404
    assert "fx_alpha.view" in c_ctx.permissions and "fx_alpha.view" not in n_ctx.permissions
    assert n_ctx.hook_list("ccms_dashboard_panels", user=None) == []


# --- disabled plugin -------------------------------------------------------------------------

def test_disabled_plugin_has_no_route_menu_or_permission(make_app, new_db_url, client_for):
    off = make_app(plugins={"disable": ["command"]})
    on = make_app(db_url=new_db_url())
    off_admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=off)
    on_admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=on)
    assert off_admin.get("/command/cases").status_code == 404
    assert off_admin.get("/command/intake").status_code == 404
    home = off_admin.get("/").text
    assert "指挥协调" not in home and 'data-menu="command"' not in home
    assert "command.view" not in off.state.ccms.permissions
    assert not off.state.ccms.enabled("command")

    page = on_admin.get("/command/cases")
    assert page.status_code == 200 and "案件管理" in page.text
    assert "指挥协调" in on_admin.get("/").text
    assert "command.view" in on.state.ccms.permissions


def test_enabled_plugin_page_needs_its_permission(app):
    add_user(app, "clerk", permissions=["command.base.view"])
    clerk = login_client(app, "clerk")
    assert clerk.get("/command/cases").status_code == 403
    home = clerk.get("/").text
    assert 'data-menu="command"' not in home and 'data-menu="command_base"' in home


# --- plugin_rows (for `ccms plugins list`) --------------------------------------------------------

def test_plugin_rows_list_every_available_plugin(fixture_plugins):
    available = {**discover(), **fixture_plugins("fx_alpha")}
    ctx = start(available, profiles=None, plugins={"enable": ["fx_alpha"], "disable": ["industry"]}).state.ccms
    rows = plugin_rows(ctx)
    assert [r["id"] for r in rows if r["enabled"]] == [p.id for p in ctx.plugins]
    assert {r["id"] for r in rows} == set(available)
    by_id = {r["id"]: r for r in rows}
    assert by_id["industry"]["enabled"] is False and by_id["example_notice"]["enabled"] is False
    assert by_id["command"] == {"id": "command", "name": "指挥协调", "version": "0.1.0", "tiers": ["city"],
                                "depends": [], "enabled": True, "source": "built-in"}
    assert plugin_rows(available, ["guidance"])[0]["id"] == "guidance"
    assert sum(r["enabled"] for r in plugin_rows(available, ["guidance", "nope"])) == 1


# --- example_notice: the worked example -------------------------------------------------------

NOTICE = {"plugins": {"enable": ["example_notice"]}}


def _tables(url: str) -> set[str]:
    eng = create_engine(url)
    try:
        return set(inspect(eng).get_table_names())
    finally:
        eng.dispose()


def test_example_notice_migrations_only_when_enabled(make_app, new_db_url, db_url):
    plain = make_app()
    assert "example_notice_item" not in _tables(db_url)
    owners = [h[0] for h in migrate.current(plain.state.ccms.db.engine, plain.state.ccms.plugins)]
    assert owners[0] == "core" and "example_notice" not in owners  # (the city's command plugin has its own)

    url = new_db_url()
    app = make_app(db_url=url, **NOTICE)
    ctx = app.state.ccms
    tables = _tables(url)
    assert "example_notice_item" in tables and "example_notice_alembic_version" in tables
    current = migrate.current(ctx.db.engine, ctx.plugins)
    assert ("example_notice", "0001_example_notice", "0001_example_notice") in current
    assert current[0][0] == "core" and current[0][1] == current[0][2]  # core's own history untouched (at its head)
    assert migrate.histories(ctx.plugins)[-1][2] == "example_notice_alembic_version"


@pytest.mark.parametrize("profile,region", [("national", "110000"), ("province", "320000"), ("city", "320500"),
                                            ("county", "320506")])
def test_example_notice_can_be_enabled_on_every_tier(profile, region):
    ctx = start(None, profiles=None, profile=profile, region_code=region, **NOTICE).state.ccms
    assert ctx.enabled("example_notice") and "notice.edit" in ctx.permissions


def test_example_notice_screens_end_to_end(make_app, client_for):
    app = make_app(**NOTICE)
    ctx = app.state.ccms
    admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=app)
    home = admin.get("/").text
    assert 'data-menu="publishing.notices"' in home and "信息发布" in home
    assert 'data-testid="notice-panel"' in home and "暂无通知" in home

    listing = admin.get("/notices")
    assert listing.status_code == 200 and 'data-testid="notice-empty"' in listing.text
    form = admin.get("/notices/new")
    assert form.status_code == 200 and 'name="csrf_token"' in form.text

    bad = admin.form("/notices/new", {"title": "   ", "body": "保留我的输入"})
    assert bad.status_code == 422
    assert 'data-testid="error-title"' in bad.text and "标题不能为空" in bad.text and "保留我的输入" in bad.text
    long = admin.form("/notices/new", {"title": "长" * 201})
    assert long.status_code == 422 and "最多允许200个字符" in long.text

    ok = admin.form("/notices/new", {"title": "停水通知", "body": "明日停水"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/notices?flash=notice_created"
    listing = admin.get(ok.headers["location"])
    assert "通知已发布" in listing.text and "停水通知" in listing.text and "明日停水" in listing.text

    admin.form("/notices/new", {"title": "道路施工公告"})
    fragment = admin.get("/notices?q=施工", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "道路施工公告" in fragment.text and "停水通知" not in fragment.text
    assert "共 1 条" in fragment.text
    assert "停水通知" in admin.get("/").text  # the home panel shows the latest notices

    with ctx.db.session() as s:
        entries = s.scalars(select(AuditLog).where(AuditLog.action == "notice_create")).all()
    assert len(entries) == 2 and entries[0].actor_name == ADMIN_USER
    assert entries[0].after == {"title": "停水通知", "org_id": entries[0].after["org_id"]}


def test_example_notice_form_without_csrf_writes_nothing(make_app, client_for):
    app = make_app(**NOTICE)
    admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=app)
    r = admin.post("/notices/new", data={"title": "伪造"})
    assert r.status_code == 403 and "CSRF" in r.text
    assert admin.get("/api/notices").json()["total"] == 0


def test_example_notice_api_end_to_end(make_app, client_for):
    app = make_app(**NOTICE)
    admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=app)
    r = admin.api("POST", "/api/notices", json={"title": "接口通知", "body": "正文"})
    assert r.status_code == 201
    item = r.json()
    assert item["title"] == "接口通知" and item["org_name"] == "测试市城市综合管理服务平台"
    listed = admin.get("/api/notices").json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == item["id"]
    assert admin.get("/api/notices?q=没有").json() == {"items": [], "total": 0}

    for body, field in (({"title": ""}, "title"), ({"title": "x", "org_id": 999999}, "org_id"),
                        ({"title": "x", "colour": "red"}, "colour"), ({"body": "no title"}, "title")):
        r = admin.api("POST", "/api/notices", json=body)
        assert r.status_code == 422, body
        err = r.json()["error"]
        assert field in err["fields"] and err["message"] and err["message_en"]
    r = admin.api("POST", "/api/notices", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    assert admin.get("/api/notices").json()["total"] == 1  # nothing written by refused requests

    doc = admin.get("/api/openapi.json").json()
    ops = doc["paths"]["/api/notices"]
    assert ops["get"]["x-permission"] == "notice.view" and ops["post"]["x-permission"] == "notice.edit"
    assert "NoticeIn" in doc["components"]["schemas"]


def test_example_notice_permissions(make_app, client_for):
    app = make_app(**NOTICE)
    add_user(app, "reader", permissions=["notice.view"])
    add_user(app, "nobody", permissions=[])
    reader = login_client(app, "reader")
    nobody = login_client(app, "nobody")
    assert reader.get("/notices").status_code == 200
    assert 'data-testid="notice-new"' not in reader.get("/notices").text
    assert reader.get("/notices/new").status_code == 403
    r = reader.api("POST", "/api/notices", json={"title": "越权"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert nobody.get("/notices").status_code == 403
    assert nobody.get("/api/notices").status_code == 403
    assert 'data-testid="notice-panel"' not in nobody.get("/").text
    assert 'data-menu="publishing"' not in nobody.get("/").text


def test_example_notice_is_404_when_not_enabled(admin, ctx):
    assert not ctx.enabled("example_notice")
    assert admin.get("/notices").status_code == 404
    r = admin.get("/api/notices")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert "notice.view" not in ctx.permissions
    assert 'data-menu="publishing"' not in admin.get("/").text


def test_example_notice_settings_drive_the_home_panel(make_app, client_for):
    app = make_app(**NOTICE)
    ctx = app.state.ccms
    assert get_settings(ctx, "example_notice") == {"banner": "", "max_items": 5}
    admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=app)
    for i in range(4):
        admin.api("POST", "/api/notices", json={"title": f"通知{i}"})
    r = admin.api("PUT", "/api/settings/example_notice",
                  json={"values": {"banner": "防汛期间请保持通讯畅通", "max_items": 2}, "version": 0})
    assert r.status_code == 200, r.text
    bad = admin.api("PUT", "/api/settings/example_notice", json={"values": {"max_items": 99}, "version": 1})
    assert bad.status_code == 422  # the manifest's settings schema is enforced
    home = admin.get("/").text
    assert "防汛期间请保持通讯畅通" in home
    assert home.count('data-testid="notice-panel-item"') == 2
    assert "通知3" in home and "通知0" not in home


def test_example_notice_seeds_demo_data(make_app):
    app = make_app(**NOTICE)
    ctx = app.state.ccms
    with ctx.db.session() as s:
        org_id = ensure_root_org(ctx, s).id
        ctx.pm.hook.ccms_seed_demo(ctx=ctx, session=s, orgs={"root": org_id})
    client = login_client(app)
    listed = client.get("/api/notices").json()
    assert listed["total"] == 2 and all(i["org_id"] == org_id for i in listed["items"])


def test_example_notice_locales_have_the_same_keys():
    base = BUILTIN_DIR / "example_notice" / "locales"
    zh = json.loads((base / "zh-CN" / "example_notice.json").read_text(encoding="utf-8"))
    en = json.loads((base / "en" / "example_notice.json").read_text(encoding="utf-8"))
    assert set(zh) == set(en) and all(zh.values()) and all(en.values())


def test_example_notice_in_english(make_app, client_for):
    app = make_app(locale="en", **NOTICE)
    admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=app)
    page = admin.get("/notices").text
    assert "Notices" in page and "No notices yet" in page


def test_example_notice_rows_are_scoped_to_the_users_org_subtree(make_app, client_for):
    from ccms.models import Org
    app = make_app(**NOTICE)
    ctx = app.state.ccms
    with ctx.db.session() as s:
        root = ensure_root_org(ctx, s)
        child = Org(parent_id=root.id, name="市城管局", kind="department", path="")
        s.add(child)
        s.flush()
        child.path = f"{root.path}{child.id}/"
        ctx.authz.bump(s)
        root_id, child_id = root.id, child.id
    admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=app)
    assert admin.api("POST", "/api/notices", json={"title": "全市通知", "org_id": root_id}).status_code == 201
    assert admin.api("POST", "/api/notices", json={"title": "城管局通知", "org_id": child_id}).status_code == 201
    add_user(app, "bureau", permissions=["notice.view", "notice.edit"], org_id=child_id)
    bureau = login_client(app, "bureau")
    titles = [i["title"] for i in bureau.get("/api/notices").json()["items"]]
    assert titles == ["城管局通知"]
    assert "全市通知" not in bureau.get("/notices").text
    assert bureau.api("POST", "/api/notices", json={"title": "发到上级", "org_id": root_id}).status_code == 403
    mine = bureau.api("POST", "/api/notices", json={"title": "本局通知"})
    assert mine.status_code == 201 and mine.json()["org_id"] == child_id  # defaults to the author's org
    assert admin.get("/api/notices").json()["total"] == 3
