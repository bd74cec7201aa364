"""工作日历 in a real browser: htmx swaps the calculator, the settings form with
an inline error and the year view after adding a holiday; the year view fits a phone."""

from conftest import ADMIN_PASSWORD, ADMIN_USER
from browserkit import menu_click, shot, sqlite_only as backend  # noqa: F401  (SQLite only)


def login(page, url):
    page.goto(url + "/login")
    page.fill("input[name=username]", ADMIN_USER)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_selector("[data-testid=menu]", state="attached")


def test_calendar_screen_in_chromium(live_server, new_page, browser):
    page = new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.text} @ {m.location}") if m.type == "error" else None)
    login(page, live_server.url)
    menu_click(page, "工作日历")
    page.click("[data-testid=calendar-row-default] a >> nth=0")
    page.wait_for_selector("[data-testid=year-title]")
    page.goto(live_server.url + "/admin/calendars/default?year=2026")
    page.click("[data-testid=year-prev]")  # htmx swaps the year view
    page.wait_for_selector("[data-testid=calendar-year][data-year='2025']")
    assert page.url.endswith("year=2025")

    # Calculator: an htmx GET swaps the result in place.
    page.fill("#f-start", "2025-09-30T16:00")
    page.fill("#f-amount", "4")
    page.select_option("#f-unit", "work_hours")
    page.click("[data-testid=calc-submit]")
    page.wait_for_selector("[data-testid=calc-deadline]")
    assert "2025-10-09 11:00" in page.inner_text("[data-testid=calc-deadline]")

    # Settings: an overlapping segment is refused inline, nothing else on the page moves.
    page.fill("#f-start_2", "11:00")
    page.click("[data-testid=settings-save]")
    page.wait_for_selector("[data-testid=error-start_2]")
    assert "重叠" in page.inner_text("[data-testid=error-start_2]")

    # A local holiday: the year view is swapped with the day marked 休.
    page.fill("#f-day", "2025-10-13")
    page.fill("#f-day_name", "本地假日")
    page.click("[data-testid=day-add]")
    page.wait_for_selector("[data-testid='day-2025-10-13'][data-kind=holiday]")
    assert "休" in page.inner_text("[data-testid='day-2025-10-13']")
    # ... and the settings form took the new version: saving it now is not refused as stale.
    page.fill("#f-start_2", "13:30")
    page.click("[data-testid=settings-save]")
    page.wait_for_selector("[data-testid=settings-saved]")
    shot(page, "calendar-desktop")
    assert not [e for e in errors if "Content Security Policy" in e], errors

    phone = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 800}, is_mobile=True)
    p2 = phone.new_page()
    login(p2, live_server.url)
    p2.goto(live_server.url + "/admin/calendars/default?year=2025")
    width = p2.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways on a phone ({width}px)"
    shot(p2, "calendar-phone")
    phone.close()
