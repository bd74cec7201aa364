"""A person logs in and out in a real browser; CSP lets our own htmx run."""

from conftest import ADMIN_PASSWORD, ADMIN_USER
from browserkit import shot, sqlite_only as backend  # noqa: F401  (SQLite only)


def test_login_logout_in_chromium(live_server, new_page):
    page = new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(live_server.url + "/")
    assert "/login" in page.url
    page.fill("input[name=username]", ADMIN_USER)
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    assert "用户名或密码错误" in page.inner_text("[data-testid=login-error]")
    page.fill("input[name=username]", ADMIN_USER)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=menu]")
    assert "应用维护" in page.inner_text("[data-testid=menu]")
    assert page.evaluate("typeof window.htmx") == "object", "htmx did not load under our CSP"
    shot(page, "login-home")
    page.click("[data-testid=logout]")
    page.wait_for_url("**/login**")
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_phone_layout_folds_the_menu(live_server, new_page, browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 800}, is_mobile=True)
    page = context.new_page()
    page.goto(live_server.url + "/login")
    page.fill("input[name=username]", ADMIN_USER)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_selector("[data-testid=nav-button]")
    assert not page.is_visible("[data-testid=menu]")   # content first on a phone
    page.click("[data-testid=nav-button]")
    assert page.is_visible("[data-testid=menu]")
    shot(page, "phone-menu-open")
    context.close()
