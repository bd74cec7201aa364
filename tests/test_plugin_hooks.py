"""Hooks not covered elsewhere: per-user menu items, API docs, extra template folders, shut-down."""

from __future__ import annotations

import sys

from conftest import ADMIN_PASSWORD, ADMIN_USER, Client, login
from test_plugins import fixture_plugins  # noqa: F401  (fixture)


def test_menu_items_api_docs_template_dirs_and_shutdown(make_app, fixture_plugins):  # noqa: F811
    available = {**__import__("ccms.plugin_loader").plugin_loader.discover(), **fixture_plugins("fx_hooks")}
    app = make_app(available=available, plugins={"enable": ["fx_hooks"]})
    with Client(app) as c:
        assert login(c, ADMIN_USER, ADMIN_PASSWORD).status_code == 303
        home = c.get("/").text
        assert "平台管理员的待办" in home and "/fx_hooks/todo" in home  # admin holds "*"
        # The plugin's template folder is searched before the default theme.
        page = c.get("/fx_hooks/todo").text  # the plugin's page renders placeholder.html
        assert "来自 fx_hooks 模板目录的页面" in page
        # ccms_register_api_docs: the entry is published with its permission
        op = c.get("/api/openapi.json").json()["paths"]["/fx_hooks/todo"]["get"]
        assert op["summary"] == "fx_hooks 待办 / fx_hooks to-do" and op["x-permission"] == "fx_hooks.view"
    assert sys.modules["fx_hooks"].STOPPED == [app.state.ccms.deployment.identity]


def test_dynamic_menu_respects_permissions(make_app, client_for, fixture_plugins):  # noqa: F811
    from ccms import auth
    from ccms.models import Person
    available = {**__import__("ccms.plugin_loader").plugin_loader.discover(), **fixture_plugins("fx_hooks")}
    app = make_app(available=available, plugins={"enable": ["fx_hooks"]})
    ctx = app.state.ccms
    with ctx.db.session() as s:
        p = Person(username="lisi", display_name="李四", org_id=1)
        auth.set_password(p, ADMIN_PASSWORD)
        s.add(p)
        s.flush()
        ctx.authz.grant(s, p.id, "auditor", 1)
    home = client_for("lisi", ADMIN_PASSWORD, app_=app).get("/").text
    assert "李四的待办" not in home and "/fx_hooks/todo" not in home


def test_plugin_field_type_validates_records(make_app, fixture_plugins):  # noqa: F811
    from ccms.api import load_form_definition, record_validator
    available = {**__import__("ccms.plugin_loader").plugin_loader.discover(), **fixture_plugins("fx_hooks")}
    ctx = make_app(available=available, plugins={"enable": ["fx_hooks"]}).state.ccms
    assert "plate" in ctx.field_types
    definition = load_form_definition({"id": "vehicles", "title": "车辆", "schema": {
        "type": "object", "properties": {"plate": {"type": "string", "x-ccms-type": "plate", "title": "车牌"}}}})
    validator = record_validator(ctx, definition)
    assert validator.validate({"plate": "苏E12345"}) == {}
    assert validator.validate({"plate": "12345"})["plate"]["message"] == "车牌号格式不正确"
