"""Browser test (Chromium, SQLite): 绩效考核 as a city leader uses it — switch
the object type through htmx, read the grades, on a desktop and a phone; no
CSP violations (no console errors)."""

from __future__ import annotations

from browserkit import logged_in, shot
from browserkit import sqlite_only as backend  # noqa: F401  (fixture)
from test_command_evaluation import D1, A, posts, seeded  # noqa: F401  (fixtures)

from ccms.testing import ADMIN_PASSWORD, ADMIN_USER


def test_evaluation_page_switches_object_type_and_shows_grades(seeded, browser, live_server):  # noqa: F811
    for name, viewport in (("desktop", {"width": 1280, "height": 900}), ("phone", {"width": 390, "height": 844})):
        context, page, errors = logged_in(browser, live_server.url, ADMIN_USER, ADMIN_PASSWORD, viewport)
        try:
            page.goto(live_server.url + "/command/evaluation?type=dept&period=month&month=2024-05")
            assert page.locator(f"[data-testid=eval-{A}-grade] .eval-grade-c").is_visible()
            page.select_option("[data-testid=eval-type]", "district")  # htmx swaps #evaluation
            page.wait_for_selector(f"[data-testid=eval-row-{D1}]")
            assert "type=district" in page.url
            assert page.locator(f"[data-testid=eval-{D1}-composite]").text_content() == "68.00"
            assert page.locator("[data-testid=eval-chart]").is_visible()
            page.wait_for_selector("[data-testid=eval-chart] svg text", state="attached")  # redrawn after the swap
            shot(page, f"command-evaluation-{name}")
            assert errors == [], errors
        finally:
            context.close()


def test_evaluation_of_dispatchers_by_keyboard_on_a_phone(posts, browser, live_server):  # noqa: F811
    context, page, errors = logged_in(browser, live_server.url, ADMIN_USER, ADMIN_PASSWORD,
                                      {"width": 390, "height": 844})
    try:
        page.goto(live_server.url + "/command/evaluation?type=dept&period=month&month=2024-05")
        page.focus("[data-testid=eval-type]")
        page.select_option("[data-testid=eval-type]", "dispatcher")  # htmx swaps #evaluation
        dp2 = posts["dp2"]
        page.wait_for_selector(f"[data-testid=eval-row-{dp2}]")
        assert "type=dispatcher" in page.url
        assert page.locator(f"[data-testid=eval-row-{dp2}] th").text_content() == "dp2"
        assert page.locator(f"[data-testid=eval-{dp2}-composite]").text_content() == "93.33"
        assert page.locator(f"[data-testid=eval-{dp2}-grade] .eval-grade-a").is_visible()
        shot(page, "command-evaluation-dispatchers-phone")
        assert errors == [], errors
    finally:
        context.close()
