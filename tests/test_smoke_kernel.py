"""First end-to-end checks of the kernel: login, menus, headers, CSRF, 404."""

import pytest
from conftest import ADMIN_USER, login


@pytest.mark.needs_plugins("command")
def test_login_page_then_home_shows_enabled_plugin_menus(admin):
    page = admin.get("/")
    assert page.status_code == 200
    assert "指挥协调" in page.text  # city profile plugin menu
    assert "应用维护" in page.text


def test_unauthenticated_screen_redirects_to_login_with_next(anon):
    r = anon.get("/admin/orgs?x=1", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=/admin/orgs%3Fx%3D1")


def test_unauthenticated_api_gets_json_401(anon):
    r = anon.get("/api/orgs")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "login_required"


def test_wrong_password_message_in_chinese_and_english(anon):
    r = login(anon, ADMIN_USER, "nope")
    assert r.status_code == 401
    assert "用户名或密码错误" in r.text and "wrong user name or password" in r.text


def test_security_headers_on_every_page(anon):
    r = anon.get("/login")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_post_without_csrf_is_refused_and_writes_nothing(admin, ctx):
    from sqlalchemy import func, select
    from ccms.models import LoginSession
    with ctx.db.session() as s:
        before = s.scalar(select(func.count()).select_from(LoginSession).where(LoginSession.revoked.is_(True)))
    r = admin.post("/logout", data={})
    assert r.status_code == 403
    assert "CSRF" in r.text
    with ctx.db.session() as s:
        after = s.scalar(select(func.count()).select_from(LoginSession).where(LoginSession.revoked.is_(True)))
    assert after == before
    assert admin.get("/").status_code == 200  # still logged in


def test_unknown_route_is_404_page(admin):
    r = admin.get("/no/such/page")
    assert r.status_code == 404
    assert "页面不存在" in r.text


def test_unknown_api_route_is_json_404(admin):
    r = admin.get("/api/no/such")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_htmx_served_locally_with_licence(anon):
    r = anon.get("/static/vendor/htmx/htmx.min.js")
    assert r.status_code == 200 and len(r.content) > 40000
    assert anon.get("/static/vendor/htmx/LICENSE").status_code == 200
