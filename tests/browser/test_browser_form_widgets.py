"""Pickers and layout in a real browser (Chromium), at desktop and phone widths: the
person picker by keyboard (type, Tab to a result, Enter), the region cascade loading
each next level, columns side by side on a desktop and stacked on a phone, tabs switched
with arrow keys, and the tab holding an error opened and marked when the form comes back."""

from __future__ import annotations

from typing import Any

import pytest
from browserkit import settled, shot
from browserkit import sqlite_only as backend  # noqa: F401  (SQLite only)
from conftest import ADMIN_PASSWORD, ADMIN_USER
from test_form_records import publish
from test_orgs import districts, make_person

from ccms import demo
from ccms.forms import widgets_region as regions

FORM = "t_dispatch"
DISPATCH: dict[str, Any] = {
    "id": FORM, "version": 1, "title": "派遣单",
    "schema": {"type": "object", "required": ["subject", "deadline"], "additionalProperties": False, "properties": {
        "subject": {"type": "string", "title": "事项", "maxLength": 40},
        "level": {"type": "integer", "title": "等级", "minimum": 1, "maximum": 3},
        "owner": {"type": "integer", "minimum": 1, "x-ccms-type": "person", "title": "责任人"},
        "place": {"type": "object", "x-ccms-type": "region", "title": "发生地"},
        "deadline": {"type": "string", "format": "date", "title": "办结期限"},
        "note": {"type": "string", "title": "备注", "x-ccms-type": "textarea"}}},
    "ui": {"layout": [
        {"kind": "columns", "id": "head", "items": [{"kind": "column", "id": "left", "items": ["subject"]},
                                                    {"kind": "column", "id": "right", "items": ["level"]}]},
        {"kind": "tabs", "id": "body", "items": [
            {"kind": "tab", "id": "who", "title": "人员与地点", "items": ["owner", "place"]},
            {"kind": "tab", "id": "when", "title": "期限", "items": ["deadline", "note"]}]}]},
}


def _box(page: Any, sel: str) -> dict[str, float]:
    return page.locator(sel).bounding_box()


@pytest.fixture
def setup(ctx: Any) -> None:
    publish(ctx, DISPATCH)
    orgs = districts(ctx)
    make_person(ctx, "zhangwei", orgs["a1"], display_name="张伟")
    with ctx.db.session() as s:
        regions.extend(s, demo.region_entries())


def _log_in(page: Any, base: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", ADMIN_USER)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=logout]", state="attached")  # the menu is folded on a phone


def test_pickers_and_tabs_on_a_desktop(live_server: Any, new_page: Any, setup: None) -> None:
    page = new_page()
    _log_in(page, live_server.url)
    page.goto(f"{live_server.url}/forms/{FORM}/new")
    left, right = _box(page, "[data-testid=column-left]"), _box(page, "[data-testid=column-right]")
    assert right["x"] > left["x"] + left["width"] - 1 and abs(right["y"] - left["y"]) < 2  # side by side
    page.fill("#f-subject", "井盖缺失")
    # person picker, keyboard only: type, Tab to the first result, Enter
    page.focus("[data-testid=search-owner]")
    page.keyboard.type("张")
    settled(page, "[data-testid=picker-list-owner] button")
    page.keyboard.press("Tab")
    assert "张伟" in page.evaluate("document.activeElement.textContent")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=picked-owner] >> text=张伟（姑苏区城管局）")
    settled(page, "[data-testid=region-place-0]")
    assert page.locator("input[type=hidden][name=owner]").input_value().isdigit()
    # region cascade: each choice loads the next level
    page.select_option("[data-testid=region-place-0]", "320000")
    settled(page, "[data-testid=region-place-1]")
    page.select_option("[data-testid=region-place-1]", "320500")
    settled(page, "[data-testid=region-place-2]")
    page.select_option("[data-testid=region-place-2]", "320508")
    settled(page, "[data-testid=region-place-3]")
    page.select_option("[data-testid=region-place-3]", "320508001")
    page.wait_for_selector("[data-testid=region-path-place] >> text=江苏省 / 苏州市 / 姑苏区 / 平江街道")
    shot(page, "form-widgets-1-pickers")
    # tabs: the second panel is hidden until its tab is chosen with the arrow keys
    assert not page.is_visible("#f-deadline")
    page.focus("[data-testid=tab-radio-who]")
    page.keyboard.press("ArrowRight")
    assert page.is_visible("#f-deadline") and not page.is_visible("[data-testid=search-owner]")
    page.keyboard.press("ArrowLeft")
    assert page.is_visible("[data-testid=search-owner]")
    # submit without the deadline: the form comes back on the tab holding the error, marked
    page.click("[data-testid=record-save]")
    page.wait_for_selector("[data-testid=error-deadline]")
    assert page.is_visible("[data-testid=error-deadline]")
    assert "tab-error" in (page.get_attribute("[data-testid=tab-when]", "class") or "")
    assert "张伟" in page.inner_text("[data-testid=picked-owner]")  # the choices are kept
    assert page.locator("[data-testid=region-place-3]").input_value() == "320508001"
    shot(page, "form-widgets-2-error-tab")
    page.fill("#f-deadline", "2024-06-01")
    page.click("[data-testid=record-save]")
    page.wait_for_selector("[data-testid=record-detail]")
    detail = page.inner_text("[data-testid=record-detail]")
    assert "张伟" in detail and "江苏省 / 苏州市 / 姑苏区 / 平江街道" in detail
    shot(page, "form-widgets-3-detail")


def test_columns_stack_and_tabs_work_on_a_phone(live_server: Any, browser: Any, setup: None) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True)
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        _log_in(page, live_server.url)
        page.goto(f"{live_server.url}/forms/{FORM}/new")
        left, right = _box(page, "[data-testid=column-left]"), _box(page, "[data-testid=column-right]")
        assert right["y"] >= left["y"] + left["height"] - 1 and abs(right["x"] - left["x"]) < 2  # one column
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
        page.fill("[data-testid=search-owner]", "zhang")
        settled(page, "[data-testid=picker-list-owner] button")
        page.tap("[data-testid=picker-list-owner] button")
        page.wait_for_selector("[data-testid=picked-owner] >> text=张伟")
        page.tap("[data-testid=tab-when]")
        assert page.is_visible("#f-deadline")
        shot(page, "form-widgets-4-phone")
    finally:
        context.close()
