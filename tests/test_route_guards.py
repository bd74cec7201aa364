"""Routes cannot be unguarded (issue 12, deliverable 3).

Start-up refuses a route with no guard, two owners of one method and path
(plugin and plugin, plugin and core), a permission named by ``requires`` or
a menu that no enabled manifest declares, and a permission id without its
plugin's prefix; ``public`` routes answer without a session.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ccms import route_guards
from ccms.api import HTMLResponse, authenticated, public, requires
from ccms.errors import StartupError
from starlette.routing import Route
from test_plugins import assert_names, fixture_plugins, start  # noqa: F401  (fixture)


def _refused(available: dict, *enable: str) -> StartupError:
    with pytest.raises(StartupError) as exc:
        start(available, plugins={"enable": list(enable)})
    assert " / " in str(exc.value)  # zh / en
    return exc.value


def test_route_without_a_guard_stops_startup(fixture_plugins):
    err = _refused(fixture_plugins("fx_unguarded"), "fx_unguarded")
    assert err.plugin == "fx_unguarded" and err.field == "GET /fx_unguarded"
    assert "requires, authenticated, public" in err.en


def test_two_plugins_with_the_same_route_stop_startup_naming_both(fixture_plugins):
    """The case found: a second plugin's /notices silently replaced example_notice's page."""
    err = _refused(fixture_plugins("fx_alpha", "fx_same_route"), "fx_alpha", "fx_same_route")
    assert err.field == "GET /fx_alpha"
    assert "fx_alpha" in err.en and "fx_same_route" in err.en and "fx_alpha" in err.zh and "fx_same_route" in err.zh


def test_route_shadowing_a_core_route_stops_startup(fixture_plugins):
    err = _refused(fixture_plugins("fx_core_route"), "fx_core_route")
    assert err.plugin == "fx_core_route" and err.field == "POST /logout"
    assert "registered by core and by fx_core_route" in err.en


def test_requires_naming_an_undeclared_permission_stops_startup(fixture_plugins):
    """A misspelt permission used to answer 403 to everyone but the administrator."""
    err = _refused(fixture_plugins("fx_misspelt_perm"), "fx_misspelt_perm")
    assert err.plugin == "fx_misspelt_perm" and err.field == "GET /fx_misspelt_perm"
    assert "fx_misspelt_perm.veiw" in err.en and "did you mean fx_misspelt_perm.view" in err.en


def test_menu_naming_an_undeclared_permission_stops_startup(fixture_plugins):
    available = fixture_plugins("fx_menu_perm")
    with pytest.raises(StartupError) as exc:
        start(available, plugins={"enable": ["fx_menu_perm"]})
    text = assert_names(exc, "fx_menu_perm", available["fx_menu_perm"].manifest_file,
                        "menus[0].children[0].permission")
    assert "fx_menu_perm.edit" in text


def test_permission_id_without_its_plugin_prefix_stops_startup(fixture_plugins):
    available = fixture_plugins("fx_perm_prefix")
    with pytest.raises(StartupError) as exc:
        start(available, plugins={"enable": ["fx_perm_prefix"]})
    text = assert_names(exc, "fx_perm_prefix", available["fx_perm_prefix"].manifest_file, "permissions")
    assert "notices.view" in text and "fx_perm_prefix." in text


def test_builtin_plugins_and_core_pass_every_check():
    """Every built-in plugin enabled at once: no clash, no unguarded route, no unknown permission."""
    from ccms.plugin_loader import discover
    available = discover(use_entry_points=False)
    for tier, extra in (("city", {}), ("national", {"profile": "national", "region_code": "110000"})):
        enable = sorted(pid for pid, info in available.items() if tier in info.tiers)
        ctx = start(available, plugins={"enable": enable}, **extra).state.ccms
        assert {p.id for p in ctx.plugins} == set(enable)
        assert {"/login", "/healthz", "/readyz", "/metrics", "/api/openapi.json"} <= ctx.public_paths


def _check(*routes: Route, permissions: tuple[str, ...] = ()) -> list[str]:
    ctx = SimpleNamespace(permissions={p: {} for p in permissions})
    return route_guards.check_routes(ctx, [("fx", r) for r in routes])  # type: ignore[arg-type]


def _page():
    """A fresh endpoint (the guard decorators mark the function itself)."""
    async def page(request):  # pragma: no cover - never requested
        return HTMLResponse("")
    return page


def test_a_route_declares_exactly_one_guard():
    both = public(requires("fx.view")(_page()))
    with pytest.raises(StartupError) as exc:
        _check(Route("/both", both), permissions=("fx.view",))
    assert "exactly one" in exc.value.en and exc.value.field == "GET /both"


def test_same_path_with_other_parameter_names_is_a_clash():
    with pytest.raises(StartupError) as exc:
        _check(Route("/x/{id:int}", authenticated(_page())), Route("/x/{pk:int}", authenticated(_page())))
    assert exc.value.field == "GET /x/{pk:int}" and "duplicate route" in exc.value.en
    _check(Route("/x/{id:int}", authenticated(_page())), Route("/x/{code}", authenticated(_page())))  # not the same


def test_public_applies_to_every_method_of_a_path():
    """The middleware decides by path, so a path cannot be public for GET and guarded for POST."""
    with pytest.raises(StartupError) as exc:
        _check(Route("/p", public(_page()), methods=["GET"]), Route("/p", authenticated(_page()), methods=["POST"]))
    assert exc.value.field == "POST /p"


def test_public_route_answers_without_a_session(make_app, client_for, fixture_plugins):
    app = make_app(available=fixture_plugins("fx_public"), profiles={"city": []}, plugins={"enable": ["fx_public"]})
    anon = client_for(app_=app)
    r = anon.get("/fx_public/hello/ada", follow_redirects=False)
    assert r.status_code == 200 and r.text == "hello ada from anonymous"
    for guarded in ("/fx_public/mine", "/fx_public/guarded"):  # the public path opens no neighbour
        r = anon.get(guarded, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    # a public POST is still CSRF-checked when it comes without a bearer token (the login form)
    r = anon.post("/login", data={"username": "x", "password": "y"}, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    assert app.state.ccms.is_public("/fx_public/hello/ada") and not app.state.ccms.is_public("/fx_public/mine")


def test_routes_inside_a_mount_are_checked_and_static_files_are_public(tmp_path):
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles
    with pytest.raises(StartupError) as exc:
        _check(Mount("/m", routes=[Route("/ok", authenticated(_page())), Route("/x", _page())]))
    assert exc.value.field == "GET /m/x" and exc.value.plugin == "fx"
    with pytest.raises(StartupError) as exc:  # a clash across a mount and a plain route
        _check(Route("/m/ok", authenticated(_page())), Mount("/m", routes=[Route("/ok", authenticated(_page()))]))
    assert "duplicate route GET /m/ok" in exc.value.en
    assert _check(Mount("/files", StaticFiles(directory=str(tmp_path))),
                  Mount("/p", routes=[Route("/{name}", public(_page()))])) == ["/p/{name}"]
