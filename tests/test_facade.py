"""The plugin facade is closed: plugins get a PluginContext with named methods only, and
import nothing from ccms but ``ccms.api`` (tests/test_architecture.py scans plugins/ for imports)."""

from __future__ import annotations

import dataclasses
import inspect
import sys
import types

import pytest
from starlette.requests import Request

import ccms.api as api
from ccms import contract
from ccms.hookspecs import hookimpl
from ccms.plugin_context import PluginContext
from ccms.testing import add_user
from ccms.web.user import CurrentUser


# The whole surface of ctx: adding a name here is a decision about the facade (and FACADE_VERSION).
CONTEXT_NAMES = {
    "session", "settings", "plugin_enabled",
    "can", "require", "can_anywhere", "require_anywhere",
    "grant_orgs", "org_path", "org_within", "people_with_role",
    "locale", "timezone", "region_code", "tier", "identity", "platform_name",
    "gettext", "localize",
}
KERNEL_ATTRIBUTES = ("authz", "db", "deployment", "catalog", "pm", "plugins", "templates", "field_types")


class _Spy:
    """A plugin registered on the app's manager that keeps the ctx its hook received."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    @hookimpl
    def ccms_register_dashboard_panels(self, ctx: object, user: object) -> list[dict[str, str]]:
        self.seen.append(ctx)
        return []


def test_a_hook_receives_the_closed_context_not_the_app(app):
    kernel = app.state.ccms
    spy = _Spy()
    kernel.pm.register(spy)
    kernel.hook_list("ccms_register_dashboard_panels", user=None)
    (ctx,) = spy.seen
    assert type(ctx) is PluginContext and ctx is not kernel
    for name in KERNEL_ATTRIBUTES:
        assert not hasattr(ctx, name), name
    with pytest.raises(AttributeError, match="ctx.session"):  # the error says what to use instead
        ctx.authz  # noqa: B018
    with pytest.raises(AttributeError):
        ctx.db = kernel.db  # nothing can be hung on it either
    # ctx_of(request) hands out the same object
    assert api.ctx_of(Request({"type": "http", "ccms": kernel})) is ctx


ROUTE_SPY = """
from ccms.api import Route, hookimpl, requires, JSONResponse

SEEN = []


@requires("spy.view")
async def page(request):
    return JSONResponse({})


@hookimpl
def ccms_register_routes(ctx):
    SEEN.append(type(ctx).__name__)
    return [Route("/spy", page)]
"""


def test_route_registration_gets_the_closed_context_too(make_app, temp_plugins):
    """Routes are collected one implementation at a time (to name each route's owner):
    that path must hand plugins the PluginContext as well, never the App."""
    available = temp_plugins({"spy": {"manifest": {"permissions": [{"id": "spy.view", "name": {
        "zh-CN": "查看", "en": "View"}}]}, "files": {"__init__.py": ROUTE_SPY}}})
    make_app(available=available, plugins={"enable": ["spy"]})
    assert sys.modules["spy"].SEEN and set(sys.modules["spy"].SEEN) == {"PluginContext"}


def test_the_context_exposes_exactly_the_documented_names():
    public = {n for n in dir(PluginContext) if not n.startswith("_")}
    assert public == CONTEXT_NAMES
    for name in public:
        assert inspect.getdoc(getattr(PluginContext, name)), f"PluginContext.{name} has no docstring"


def test_context_methods_answer_as_data(app):
    kernel = app.state.ccms
    ctx = kernel.plugin_context
    uid = add_user(app, "clerk", permissions=["command.case.view"])
    user = CurrentUser(uid, "clerk", "clerk", 0)
    with ctx.session() as s:
        root = min(api.org_info(s))
        people = api.person_info(s, [uid, 10**9])
        assert api.person_names(s, [uid]) == {uid: "clerk"}
    assert ctx.grant_orgs(user, "command.case.view") == [root]
    assert ctx.grant_orgs(user, "command.case.handle") == [] and ctx.grant_orgs(None, "command.case.view") == []
    assert ctx.org_path(root) and ctx.org_within(root, root)
    assert ctx.can(user, "command.case.view", root) and not ctx.can(user, "command.case.handle", root)
    assert list(people) == [uid] and people[uid].username == "clerk" and people[uid].active
    with pytest.raises(dataclasses.FrozenInstanceError):
        people[uid].display_name = "someone else"  # type: ignore[misc]
    assert (ctx.locale, ctx.timezone, ctx.region_code) == (kernel.deployment.locale, kernel.deployment.timezone,
                                                            kernel.deployment.region_code)
    assert ctx.localize({"zh-CN": "案件", "en": "Cases"}) == "案件"


def test_a_failed_unit_of_work_rolls_back(app):
    ctx = app.state.ccms.plugin_context
    with ctx.session() as s:
        before = set(api.org_info(s))
    with pytest.raises(RuntimeError), ctx.session() as s:
        from ccms.models import Org  # the test stands in for a plugin's own table here
        s.add(Org(name="临时", kind="department", parent_id=min(before)))
        s.flush()
        raise RuntimeError("fault")
    with ctx.session() as s:
        assert set(api.org_info(s)) == before


def test_all_lists_only_documented_facade_names():
    assert len(api.__all__) == len(set(api.__all__))
    assert api.FACADE_VERSION == contract.FACADE_VERSION
    for name in api.__all__:
        value = getattr(api, name)
        assert not isinstance(value, types.ModuleType) or name == "charts", f"{name} hands out a module"
        assert not hasattr(value, "__table__"), f"{name} hands out an ORM class"
        if callable(value) and getattr(value, "__module__", "").startswith("ccms"):
            assert inspect.getdoc(value), f"ccms.api.{name} has no docstring"
    for gone in ("flow_models", "flow_inbox"):
        assert gone not in api.__all__


# That plugins import only the facade (file and line of any other ccms import) is
# tests/test_architecture.py's test_plugins_import_only_the_facade.
