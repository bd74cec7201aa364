"""The plugin contract: start-up refusals, load order, one hook manager per
deployment and disabled plugins (the worked example plugin ``example_notice`` has its own
tests in ``plugins/example_notice/tests/``).

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

from conftest import ADMIN_PASSWORD, ADMIN_USER, deployment_data
from ccms.app import create_app
from ccms.config import load_deployment, parse_deployment
from ccms.errors import StartupError
from ccms.plugin_loader import BUILTIN_DIR, PluginInfo, discover, load_profiles, plugin_rows, resolve
from ccms.testing import add_user, login_client

FIXTURES = Path(__file__).parent / "plugin_fixtures"
NO_DB = "sqlite:///:memory:"  # refusals happen before any connection
# tests that use the shipped plugins as their subject (skipped when core runs alone)
BUILTINS = pytest.mark.needs_plugins("example_notice", *sorted({p for ids in load_profiles().values() for p in ids}))


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


@pytest.mark.needs_plugins("command")
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


@pytest.mark.needs_plugins("command")
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
    titles = [p["title"] for p in ctx.hook_list("ccms_register_dashboard_panels", user=None)]
    assert titles == ["fx_alpha panel", "fx_beta panel", "fx_gamma panel"]


# --- one plugin manager per app instance ------------------------------------------------------------

@BUILTINS
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
    assert sys.modules["fx_alpha"].STARTED == [c_ctx.identity]  # never started for national

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
    assert n_ctx.hook_list("ccms_register_dashboard_panels", user=None) == []


# --- disabled plugin -------------------------------------------------------------------------

@pytest.mark.needs_plugins("command")
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


@pytest.mark.needs_plugins("command")
def test_enabled_plugin_page_needs_its_permission(app):
    add_user(app, "clerk", permissions=["command.base.view"])
    clerk = login_client(app, "clerk")
    assert clerk.get("/command/cases").status_code == 403
    home = clerk.get("/").text
    assert 'data-menu="command"' not in home and 'data-menu="command_base"' in home


# --- plugin_rows (for `ccms plugins list`) --------------------------------------------------------

@BUILTINS
def test_plugin_rows_list_every_available_plugin(fixture_plugins):
    available = {**discover(), **fixture_plugins("fx_alpha")}
    ctx = start(available, profiles=None, plugins={"enable": ["fx_alpha"], "disable": ["industry"]}).state.ccms
    rows = plugin_rows(ctx)
    assert [r["id"] for r in rows if r["enabled"]] == [p.id for p in ctx.plugins]
    assert {r["id"] for r in rows} == set(available)
    by_id = {r["id"]: r for r in rows}
    assert by_id["industry"]["enabled"] is False and by_id["example_notice"]["enabled"] is False
    assert by_id["command"] == {"id": "command", "name": "指挥协调", "version": "0.1.0", "tiers": ["city"],
                                "depends": [], "enabled": True, "source": "built-in", "status": "enabled", "error": None}
    assert plugin_rows(available, ["guidance"])[0]["id"] == "guidance"
    assert sum(r["enabled"] for r in plugin_rows(available, ["guidance", "nope"])) == 1


# The worked example plugin's own tests: plugins/example_notice/tests/test_example_notice.py
