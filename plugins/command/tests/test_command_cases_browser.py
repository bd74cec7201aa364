"""Browser test (Chromium, SQLite): a supervisor reports a problem from the phone page as
a new user would — class picked by typing, position from the device, a photo — and the
nearby open case of the same class is shown before sending."""

from __future__ import annotations

from browserkit import shot
from browserkit import sqlite_only as backend  # noqa: F401  (fixture)
from test_command_cases import INSIDE, PW, app, png, report, world  # noqa: F401  (fixtures)


def test_supervisor_reports_from_the_phone(world, browser, live_server, tmp_path):  # noqa: F811
    # an open case of the same class right there, reported earlier by the same supervisor (the
    # duplicate check shows only cases the user may see: issue 10, defect 1)
    ok = report(world["sup"])
    assert ok.status_code == 201
    photo = tmp_path / "site.png"
    photo.write_bytes(png("green"))
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844},
                                  geolocation={"longitude": INSIDE[0], "latitude": INSIDE[1]},
                                  permissions=["geolocation"])
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(live_server.url + "/login")
        page.fill("input[name=username]", "sup")
        page.fill("input[name=password]", PW)
        page.click("button[type=submit]")
        page.goto(live_server.url + "/command/intake")
        page.fill("[data-testid=intake-class]", "E0102")
        page.click("[data-testid=intake-use-position]")
        page.wait_for_selector("[data-testid=nearby-cases]")
        assert page.input_value("[data-testid=intake-lon]").startswith(f"{INSIDE[0]:.4f}")
        page.set_input_files("[data-testid=intake-photos]", str(photo))
        page.fill("#f-description", "路边垃圾堆放")
        shot(page, "command-intake-phone")
        page.click("[data-testid=intake-submit]")
        page.wait_for_selector("[data-testid=case-reported]")
        assert page.locator("[data-testid=case-no]").inner_text().startswith("E0102")
        assert page.locator("[data-testid=case-photos] img").count() == 1
        shot(page, "command-case-reported")
    finally:
        context.close()
