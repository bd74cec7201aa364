"""A plugin that cannot be imported shows as failed; ``ccms plugins hooks``
lists who implements which hook; ``CCMS_TRACE_HOOKS`` logs hook calls."""

from __future__ import annotations

import json
import logging

from ccms import plugin_loader
from ccms.plugin_loader import discover, plugin_rows
from conftest import ADMIN_PASSWORD, ADMIN_USER
from test_cli import cli, write_config
from test_plugins import fixture_plugins, start  # noqa: F401  (fixture)


def test_plugin_rows_show_a_failing_import_as_failed(fixture_plugins):
    available = fixture_plugins("fx_alpha", "fx_import_error")
    rows = {r["id"]: r for r in plugin_rows(available, ["fx_alpha", "fx_import_error"])}
    assert rows["fx_alpha"]["status"] == "enabled" and rows["fx_alpha"]["error"] is None
    failed = rows["fx_import_error"]
    assert failed["status"] == "failed" and "no_such_module_for_ccms_tests" in failed["error"]
    assert failed["error"].startswith("ModuleNotFoundError")


def test_plugins_list_shows_the_failed_plugin_and_its_error(tmp_path, capsys, monkeypatch, fixture_plugins):
    """It used to read "yes" (enabled) for a plugin whose module cannot be imported."""
    extra = fixture_plugins("fx_import_error")
    real = plugin_loader.discover
    monkeypatch.setattr(plugin_loader, "discover", lambda *a, **k: {**real(*a, **k), **extra})
    config = write_config(tmp_path, "sqlite:///x.db", '[plugins]\nenable = ["fx_import_error"]\n')
    code, out, _ = cli(capsys, "plugins", "list", "--config", str(config))
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line.strip()}
    assert "failed" in rows["fx_import_error"] and "yes" not in rows["fx_import_error"]
    assert "yes" in rows["command"]
    assert "fx_import_error: ModuleNotFoundError" in out and "no_such_module_for_ccms_tests" in out
    assert code == 1  # an enabled plugin that cannot start


def test_plugins_screen_shows_a_failed_plugin(make_app, client_for, fixture_plugins):
    available = {**discover(), **fixture_plugins("fx_import_error")}
    app = make_app(available=available)
    c = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=app)
    page = c.get("/admin/plugins").text
    assert 'data-testid="plugin-failed-fx_import_error"' in page and "导入失败" in page
    assert "no_such_module_for_ccms_tests" in page
    assert 'data-testid="plugin-enabled-command"' in page
    items = {p["id"]: p for p in c.get("/api/plugins").json()["items"]}
    assert items["fx_import_error"]["status"] == "failed" and items["fx_import_error"]["enabled"] is False
    assert items["command"]["status"] == "enabled" and items["command"]["error"] is None


def test_plugins_hooks_lists_who_implements_each_hook(tmp_path, capsys, monkeypatch, fixture_plugins):
    extra = fixture_plugins("fx_hooks")
    real = plugin_loader.discover
    monkeypatch.setattr(plugin_loader, "discover", lambda *a, **k: {**real(*a, **k), **extra})
    config = write_config(tmp_path, "sqlite:///x.db", '[plugins]\nenable = ["fx_hooks"]\n')
    code, out, _ = cli(capsys, "plugins", "hooks", "--config", str(config), "--json")
    assert code == 0
    rows = {r["hook"]: r["plugins"] for r in json.loads(out)}
    assert rows["ccms_register_routes"][0] == "core" and {"command", "fx_hooks"} <= set(rows["ccms_register_routes"])
    assert rows["ccms_register_template_dirs"] == ["fx_hooks"]
    assert rows["ccms_app_stopping"] == ["fx_hooks"] and rows["ccms_audit_recorded"] == []
    code, out, _ = cli(capsys, "plugins", "hooks", "--config", str(config))
    assert code == 0 and "ccms_register_field_types" in out and "CCMS_TRACE_HOOKS" in out


def test_hook_calls_are_traced_on_request(monkeypatch, caplog, fixture_plugins):
    available = fixture_plugins("fx_alpha")
    monkeypatch.setenv("CCMS_TRACE_HOOKS", "1")
    with caplog.at_level(logging.INFO, logger="ccms.hooks"):
        ctx = start(available, plugins={"enable": ["fx_alpha"]}).state.ccms
        ctx.hook_list("ccms_register_dashboard_panels", user=None)
    lines = [r.getMessage() for r in caplog.records if r.name == "ccms.hooks"]
    assert any(m.startswith("hook ccms_register_dashboard_panels -> fx_alpha, core:ccms.builtin (ctx, user)")
               for m in lines), lines
    assert any(m.startswith("hook ccms_register_dashboard_panels done in") for m in lines)
    monkeypatch.setenv("CCMS_TRACE_HOOKS", "0")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ccms.hooks"):
        start(available, plugins={"enable": ["fx_alpha"]}).state.ccms.hook_list("ccms_register_routes")
    assert not [r for r in caplog.records if r.name == "ccms.hooks"]
