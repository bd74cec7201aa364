"""A provisional year in Chromium at desktop and phone width: the home-page
notice, the 工作日历 year status, 暂定 next to the calculator's deadline, and
confirming the year (htmx), with no CSP violation and no sideways scrolling."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from browserkit import logged_in, settled, shot
from browserkit import sqlite_only as backend  # noqa: F401
from test_calendar_future import ADMIN, CAL, URL, pin

from ccms.calendar import service as svc
from ccms.testing import ADMIN_PASSWORD, ADMIN_USER

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1280, 390])
def test_provisional_year_seen_and_confirmed(app: Any, browser: Any, monkeypatch: Any, width: int) -> None:
    from browserkit import LiveServer
    pin(monkeypatch, dt.date(2026, 12, 7))
    ctx = app.state.ccms
    with ctx.db.session() as s:
        svc.create_calendar(s, ADMIN, {"id": CAL, "name": "未来日历"}, timezone="Asia/Shanghai")
    pin(monkeypatch, dt.date(2027, 10, 2))  # October 2027: 2027 provisional, 2028 missing
    server = LiveServer(app).start()
    context, page, errors = logged_in(browser, server.url, ADMIN_USER, ADMIN_PASSWORD,
                                      viewport={"width": width, "height": 900})
    try:
        page.goto(server.url + "/")
        warning = page.locator(f"[data-testid=calendar-warning-{CAL}-2028]")
        assert warning.is_visible() and "没有 2028 年的节假日安排" in warning.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
        shot(page, f"calendar-future-home-{width}")

        page.goto(server.url + URL + "?year=2027")
        status = page.locator("[data-testid=year-status]")
        assert status.get_attribute("data-status") == "provisional" and status.is_visible()
        page.fill("#f-start", "2027-10-01T09:00")
        page.fill("#f-amount", "3")
        page.select_option("#f-unit", "work_days")
        page.click("[data-testid=calc-submit]")
        settled(page, "[data-testid=calc-result]")
        deadline = page.locator("[data-testid=calc-deadline]")
        assert "2027-10-08 17:30" in deadline.inner_text() and "暂定" in deadline.inner_text()
        assert page.locator("[data-testid=calc-deadline] [data-testid=provisional]").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
        shot(page, f"calendar-future-provisional-{width}")

        page.click("[data-testid=confirm-year]")
        settled(page, "[data-testid=year-status][data-status=confirmed]")
        assert page.locator("[data-testid=year-notice]").is_visible()
        assert page.locator("[data-testid=confirm-year]").count() == 0
        shot(page, f"calendar-future-confirmed-{width}")
        assert errors == []
    finally:
        context.close()
        server.stop()
    with ctx.db.session() as s:
        assert svc.year_status(svc.get(s, CAL), 2027) == "confirmed"
