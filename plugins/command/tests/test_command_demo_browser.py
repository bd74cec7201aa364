"""Browser test (Chromium, SQLite): the seeded demo as its dispatcher and a supervisor first meet it
(issue 11 item 17) — the dispatch board and the supervisor's 我的待办 are mostly green, not a wall
of 超期 — at desktop (1366 px) and phone width, with screenshots."""

from __future__ import annotations

from browserkit import logged_in, shot
from browserkit import sqlite_only as backend  # noqa: F401  (fixture)

WIDTHS = (("desktop", {"width": 1366, "height": 900}), ("phone", {"width": 390, "height": 844}))
# demo_city: the seeded demo served live, one per session (browserkit.py, re-exported by conftest.py)


def _classes(page, selector: str) -> list[str]:
    return [page.locator(selector).nth(i).get_attribute("class") or "" for i in range(page.locator(selector).count())]


def test_demo_dispatch_board_is_mostly_green(demo_city, browser):
    server, passwords = demo_city
    for name, viewport in WIDTHS:
        context, page, errors = logged_in(browser, server.url, "pqy_1", passwords["pqy_1"], viewport)
        try:
            page.goto(server.url + "/command/dispatch")
            badges = _classes(page, "[data-testid=dispatch-deadline]")
            shot(page, f"command-demo-dispatch-{name}")
            assert len(badges) >= 20
            green = sum("lvl-green" in c for c in badges)
            assert green >= 0.7 * len(badges), badges
            assert any("lvl-red" in c for c in badges) or any("lvl-yellow" in c for c in badges)
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            context.close()


def test_demo_supervisor_tasks_are_mostly_within_their_limits(demo_city, browser):
    server, passwords = demo_city
    for name, viewport in WIDTHS:
        context, page, errors = logged_in(browser, server.url, "jdy_gusu1", passwords["jdy_gusu1"], viewport)
        try:
            page.goto(server.url + "/tasks")
            rows = _classes(page, "[data-testid^=task-row-]")
            shot(page, f"command-demo-supervisor-tasks-{name}")
            todo = int(page.inner_text("[data-testid=count-todo]"))
            overdue = int(page.inner_text("[data-testid=count-overdue]"))
            assert rows and todo == len(rows) and overdue <= todo // 3, (todo, overdue, rows)
            assert sum("lvl-row-green" in c for c in rows) >= len(rows) / 2, rows
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            context.close()
