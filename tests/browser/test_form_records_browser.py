"""表单数据 in a browser: a staff member opens the form from the menu, submits a
record with a mistake, sees the inline error with the input kept, fixes it,
finds the record with a filter (htmx, no reload) and sees its history."""

from __future__ import annotations

from typing import Any

from browserkit import menu_click, shot
from conftest import ADMIN_PASSWORD, ADMIN_USER
from test_admin_journey_browser import log_in
from test_form_records import COMPLAINT, publish


def test_staff_fills_a_form_fixes_an_error_and_finds_the_record(live_server: Any, new_page: Any, ctx: Any) -> None:
    publish(ctx, COMPLAINT)
    base = live_server.url
    page = new_page()
    log_in(page, base, ADMIN_USER, ADMIN_PASSWORD)
    page.wait_for_selector("[data-testid=menu]")
    menu_click(page, "全部表单")
    page.click("[data-testid=form-link-t_complaint]")
    page.click("[data-testid=record-new]")
    page.fill("#f-subject", "人行道破损<b>")
    page.select_option("#f-category", "road")
    page.fill("#f-happened", "2024-05-01")
    page.fill("#f-phone", "12")  # a bad phone number
    page.click("[data-testid=record-save]")
    page.wait_for_selector("[data-testid=error-phone]")
    assert page.input_value("#f-subject") == "人行道破损<b>"  # input kept
    shot(page, "forms-1-inline-error")
    page.fill("#f-phone", "13812345678")
    page.click("[data-testid=record-save]")
    page.wait_for_selector("[data-testid=record-detail]")
    assert "人行道破损<b>" in page.inner_text("[data-testid=record-detail]")  # shown as text
    assert page.locator("[data-testid=history-0]").count() == 1
    shot(page, "forms-2-detail")
    page.goto(base + "/forms/t_complaint")
    page.select_option("[data-testid=filter-category]", "green")
    page.click("[data-testid=record-filter]")
    page.wait_for_selector("[data-testid=record-empty]")
    page.select_option("[data-testid=filter-category]", "road")
    page.click("[data-testid=record-filter]")
    page.wait_for_selector("[data-testid=record-table]")
    assert "人行道破损" in page.inner_text("#list")
    assert page.locator("[data-testid=export-xlsx]").count() == 1
    shot(page, "forms-3-filtered-list")
