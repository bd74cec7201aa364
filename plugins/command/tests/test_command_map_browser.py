"""Browser test (Chromium, SQLite): the case map as a shift leader would use it on the small test
town — the Leaflet map draws its grids, a filter through htmx reloads the map and the counts, the
busiest-grids table leads to a grid's cases; without JavaScript the server-drawn SVG remains —
on a desktop and a phone; no CSP violations."""

from __future__ import annotations

from browserkit import logged_in, shot
from browserkit import sqlite_only as backend  # noqa: F401  (fixture)
from test_command_map import G, town  # noqa: F401  (fixture)

from ccms.testing import ADMIN_PASSWORD, ADMIN_USER

MAP = "[data-testid=leaflet-casemap]"


def test_case_map_filters_and_drill_to_cases(town, browser, live_server):  # noqa: F811
    for name, viewport in (("desktop", {"width": 1366, "height": 900}), ("phone", {"width": 390, "height": 844})):
        context, page, errors = logged_in(browser, live_server.url, ADMIN_USER, ADMIN_PASSWORD, viewport)
        try:
            page.goto(live_server.url + "/command/casemap")
            page.wait_for_selector(f"{MAP}[data-ready='1']")
            assert page.get_attribute(MAP, "data-grids") == "6"
            assert page.locator(f"{MAP} path.cm-b4").count() == 1  # the grid with 11 open cases, darkest
            shot(page, f"command-case-map-town-{name}")
            page.select_option("[data-testid=casemap-level]", "red")  # htmx swaps #casemap, the map reloads
            page.wait_for_url("**level=red**")
            page.wait_for_selector(f"{MAP} path.cm-b4", state="detached")
            page.click(f"[data-testid=casemap-top-{G[0]}] a")
            page.wait_for_selector("[data-testid=casemap-cases]")
            assert page.locator("[data-testid^=casemap-case-]").count() == 1
            assert page.locator("[data-testid=casemap-level-1]").is_visible()
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            context.close()


def test_without_javascript_the_svg_map_remains(town, browser, live_server):  # noqa: F811
    context = browser.new_context(locale="zh-CN", java_script_enabled=False, viewport={"width": 1366, "height": 900})
    try:
        page = context.new_page()
        page.goto(live_server.url + "/login")
        page.fill("input[name=username]", ADMIN_USER)
        page.fill("input[name=password]", ADMIN_PASSWORD)
        page.click("button[type=submit]")
        page.goto(live_server.url + "/command/casemap")
        assert page.locator("[data-testid=casemap-svg]").is_visible()
        assert page.locator(f"[data-testid=casemap-grid-{G[0]}]").get_attribute("data-count") == "3"
    finally:
        context.close()
