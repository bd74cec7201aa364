"""Browser test (Chromium, SQLite): the statistics charts are drawn by ECharts
(SVG renderer) from the page's JSON spec, with no CSP violation or other
console error, and every label is at least 12 px — on a desktop (1366 px) and
on a phone (390 px), where the chart fits the screen instead of being clipped."""

from __future__ import annotations

from browserkit import logged_in, shot
from browserkit import sqlite_only as backend  # noqa: F401  (fixture)
from test_command_stats import seeded  # noqa: F401  (fixture)

from ccms.testing import ADMIN_PASSWORD, ADMIN_USER

URL = "/command/stats?dim=class&period=month&month=2024-05&chart=reported"
# font sizes of every text element of every chart (SVG renderer: real <text> nodes)
FONT_SIZES = """els => els.map(e => parseFloat(getComputedStyle(e).fontSize))"""
BOXES = """els => els.map(e => { const r = e.getBoundingClientRect(); return [r.left, r.right]; })"""


def test_statistics_charts_render_readably_at_desktop_and_phone_width(seeded, browser, live_server):  # noqa: F811
    for name, viewport in (("desktop", {"width": 1366, "height": 900}), ("phone", {"width": 390, "height": 844})):
        context, page, errors = logged_in(browser, live_server.url, ADMIN_USER, ADMIN_PASSWORD, viewport)
        try:
            page.goto(live_server.url + URL)
            for chart in ("stats-bar-chart", "stats-trend-chart"):
                page.wait_for_selector(f"[data-testid={chart}] svg text", state="attached")
            texts = page.locator("[data-testid=stats-bar-chart] svg text, [data-testid=stats-trend-chart] svg text")
            sizes = texts.evaluate_all(FONT_SIZES)
            assert len(sizes) > 10 and min(sizes) >= 12, sizes
            # the category labels (class names) are there and inside the chart, not cut off at its left edge
            bar = page.locator("[data-testid=stats-bar-chart]")
            box = bar.bounding_box()
            assert box["width"] <= viewport["width"]
            labels = page.locator("[data-testid=stats-bar-chart] svg text")
            assert any("E0101" in (t or "") for t in labels.all_text_contents())
            for left, right in labels.evaluate_all(BOXES):
                assert box["x"] - 1 <= left and right <= box["x"] + box["width"] + 1, (left, right, box)
            shot(page, f"command-stats-charts-{name}")
            assert errors == [], errors
        finally:
            context.close()
