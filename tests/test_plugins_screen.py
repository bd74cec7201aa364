"""应用维护 → 插件: every known plugin with what it declares, enabled here or not (both backends)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_roles import PW, make_person, root_id

from ccms.plugin_loader import PluginInfo, discover

pytestmark = pytest.mark.needs_plugins("command", "supervision")  # the screen is checked listing these built-ins


def vendor_plugin() -> PluginInfo:
    """A third-party plugin, as if installed from a distribution (not enabled)."""
    import types
    manifest = {"id": "acme_parks", "name": {"zh-CN": "园林绿化（艾克美）", "en": "Parks (ACME)"}, "version": "2.1.0",
                "tiers": ["city", "county"], "depends": ["command"],
                "permissions": [{"id": "acme_parks.view", "name": {"zh-CN": "查看园林", "en": "View parks"}}],
                "menus": [{"id": "acme", "title": {"zh-CN": "园林", "en": "Parks"}, "children": [
                    {"id": "acme.list", "title": {"zh-CN": "绿地", "en": "Green spaces"}, "url": "/acme/list",
                     "permission": "acme_parks.view"}]}]}
    return PluginInfo("acme_parks", manifest, Path(__file__).parent, "acme_parks",
                      "distribution acme-ccms-parks 2.1.0", module=types.ModuleType("acme_parks"))


def test_plugin_list_shows_enabled_and_available_plugins(admin):
    page = admin.get("/admin/plugins")
    assert page.status_code == 200
    text = page.text
    assert 'data-testid="plugin-row-core"' in text and 'data-testid="plugin-enabled-command"' in text
    assert 'data-testid="plugin-disabled-supervision"' in text and "不适用于本层级" in text  # national/province only
    assert "指挥协调" in text and "市级" in text and "内置" in text
    assert "使用指挥协调" in text and "/command/intake" in text  # declared permissions and menus, in <details>
    frag = admin.get("/admin/plugins?enabled=0", headers={"HX-Request": "true", "HX-Target": "list"})
    assert "<html" not in frag.text and "plugin-row-supervision" in frag.text and "plugin-row-command" not in frag.text


def test_api_plugins(admin):
    r = admin.api("GET", "/api/plugins")
    assert r.status_code == 200
    items = {p["id"]: p for p in r.json()["items"]}
    assert r.json()["items"][0]["id"] == "core"
    cmd = items["command"]
    assert cmd["enabled"] is True and cmd["name"] == "指挥协调" and cmd["tiers"] == ["city"]
    assert cmd["source"] == "built-in" and cmd["permissions"][0] == {"id": "command.view", "name": "使用指挥协调"}
    assert {"id": "command.intake", "title": "指挥协调 › 信息采集", "url": "/command/intake",
            "permission": "command.case.report"} in cmd["menus"]
    assert items["supervision"]["enabled"] is False and items["supervision"]["tier_ok"] is False
    assert items["core"]["has_settings"] is True
    assert all(p["enabled"] for p in admin.api("GET", "/api/plugins?enabled=1").json()["items"])
    r = admin.api("GET", "/api/plugins?enabled=maybe")
    assert r.status_code == 422 and "enabled" in r.json()["error"]["fields"]


def test_distribution_plugin_source_and_dependencies(make_app, client_for):
    from conftest import ADMIN_PASSWORD, ADMIN_USER
    app = make_app(available={**discover(), "acme_parks": vendor_plugin()})
    c = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=app)
    acme = next(p for p in c.api("GET", "/api/plugins").json()["items"] if p["id"] == "acme_parks")
    assert acme["source"] == "distribution acme-ccms-parks 2.1.0" and acme["builtin"] is False
    assert acme["enabled"] is False and acme["tier_ok"] is True and acme["depends"] == ["command"]
    page = c.get("/admin/plugins").text
    assert "第三方发行包" in page and "acme-ccms-parks 2.1.0" in page and "<code>command</code>" in page


def test_english_deployment_and_permission(make_app, client_for):
    from conftest import ADMIN_PASSWORD, ADMIN_USER
    app = make_app(locale="en")
    c = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=app)
    items = {p["id"]: p for p in c.api("GET", "/api/plugins").json()["items"]}
    assert items["command"]["name"] == "Command and coordination"
    assert "Not for this tier" in c.get("/admin/plugins").text
    ctx = app.state.ccms
    make_person(ctx, "staff1", roles=[("staff", root_id(ctx))])
    staff = client_for("staff1", PW, app_=app)
    assert staff.get("/admin/plugins").status_code == 403 and staff.api("GET", "/api/plugins").status_code == 403
