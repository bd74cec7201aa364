"""运行监控 and 日志分析 in Chromium at desktop and phone width: figures,
sparklines, flags and their links, no CSP violation, no sideways scrolling."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from browserkit import logged_in, settled, shot
from browserkit import sqlite_only as backend  # noqa: F401

from ccms import audit
from ccms.db import utcnow
from ccms.metrics import MonitorSample
from ccms.testing import ADMIN_PASSWORD, ADMIN_USER

pytestmark = pytest.mark.browser


@pytest.fixture
def app(make_app: Any) -> Any:
    app = make_app(monitoring={"metrics_token": "metrics-token-0123456789", "min_free_mb": 0},
                   logging={"access": "logs/access.log", "system": "logs/system.log"})
    ctx = app.state.ccms
    rnd = random.Random(7)
    now = utcnow().replace(second=0, microsecond=0)
    with ctx.db.session() as s:  # a day of history, one row per 10 minutes
        for i in range(144):
            s.add(MonitorSample(at=now - dt.timedelta(minutes=10 * (144 - i)), worker="w1", data={
                "requests": rnd.randint(200, 900), "errors": rnd.choice([0, 0, 0, 1]), "refusals": rnd.randint(0, 6),
                "avg_ms": round(rnd.uniform(8, 40), 1), "jobs_queued": rnd.randint(0, 3), "jobs_running": 0,
                "jobs_late": 0, "timers_queued": 12, "timers_late": rnd.choice([0, 0, 1]),
                "login_failures_hour": rnd.randint(0, 4), "backup_age": None, "pool_checked_out": rnd.randint(0, 5),
                "disk_free_mb": {"data": 50000}}))
    for i in range(6):  # a failed-login burst from one address
        with ctx.db.session() as s:
            audit.record(s, audit.Actor(None, f"guess{i}", "203.0.113.66"), "login_failed", "person", "",
                         summary="unknown user", success=False)
    return app


@pytest.mark.parametrize("width", [1366, 390])
def test_monitor_and_logs_screens(browser: Any, live_server: Any, width: int) -> None:
    context, page, errors = logged_in(browser, live_server.url, ADMIN_USER, ADMIN_PASSWORD,
                                      viewport={"width": width, "height": 900})
    try:
        page.goto(live_server.url + "/admin/monitor")
        page.wait_for_selector("[data-testid=monitor-ready]")
        assert page.locator("[data-testid=check-database] .badge.on").count() == 1
        assert page.locator("[data-testid=spark-requests] polyline").count() == 1
        assert page.locator("[data-testid=fig-login-failures]").inner_text() == "6"
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
        shot(page, f"monitor-{width}")

        page.goto(live_server.url + "/admin/logs")
        page.wait_for_selector("[data-testid=logs-flags]")
        flag = page.locator("[data-testid=flag-failed_login_burst]")
        assert flag.count() >= 1 and "203.0.113.66" in flag.first.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
        shot(page, f"logs-{width}")
        flag.first.locator("[data-testid=flag-link]").click()
        page.wait_for_url("**/admin/logs?*client=203.0.113.66*")
        page.wait_for_selector("[data-testid=logs-table]")
        assert page.locator("[data-testid=log-row]").count() == 6
        shot(page, f"logs-flag-rows-{width}")
        page.click("[data-testid=logs-search]")  # searching again keeps the flag's span to the second
        page.wait_for_timeout(300)
        settled(page, "[data-testid=logs-table]")
        assert page.locator("[data-testid=log-row]").count() == 6
        assert errors == []
    finally:
        context.close()
