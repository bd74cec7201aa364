"""Browser test (Chromium, SQLite): the case map as a shift leader would use it —
filter by deadline colour through htmx, read a grid's tooltip, open its cases —
on a desktop and a phone; no CSP violations."""

from __future__ import annotations

from browserkit import logged_in, shot
from browserkit import sqlite_only as backend  # noqa: F401  (fixture)
from test_command_map import G, town  # noqa: F401  (fixture)

from core.testing import ADMIN_PASSWORD, ADMIN_USER


def test_case_map_filters_tooltips_and_drill_to_cases(town, browser, live_server):  # noqa: F811
    for name, viewport in (("desktop", {"width": 1280, "height": 900}), ("phone", {"width": 390, "height": 844})):
        context, page, errors = logged_in(browser, live_server.url, ADMIN_USER, ADMIN_PASSWORD, viewport)
        try:
            page.goto(live_server.url + "/command/casemap")
            grid = page.locator(f"[data-testid=casemap-grid-{G[0]}]")
            assert grid.get_attribute("data-count") == "3"
            assert "未结案 3 件" in grid.locator("title").text_content()
            assert "未结案 3 件" in grid.get_attribute("aria-label")
            shot(page, f"command-case-map-{name}")
            page.select_option("[data-testid=casemap-level]", "red")  # htmx swaps #casemap
            page.wait_for_selector(f"[data-testid=casemap-grid-{G[0]}][data-count='1']")
            assert "level=red" in page.url
            page.focus(f"[data-testid=casemap-grid-{G[0]}]")  # keyboard: Tab reaches each grid, Enter opens it
            page.keyboard.press("Enter")
            page.wait_for_selector("[data-testid=casemap-cases]")
            assert page.locator("[data-testid^=casemap-case-]").count() == 1
            assert page.locator("[data-testid=casemap-level-1]").is_visible()
            if name == "phone":
                shot(page, "command-case-map-grid-phone")
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            context.close()
