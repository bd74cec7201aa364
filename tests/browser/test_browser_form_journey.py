"""Issue 3's browser journey, clicked and typed as a new user would.

An administrator builds a new form in 表单配置 (a required text field, a
number with limits, a single choice, an image field, list columns and a
filter), publishes it and, on the roles screen (权限配置), gives the staff
member's role the form's permissions. The staff member fills the form with a
real PNG, gets an out-of-range number refused inline in Chinese with the
input kept, fixes it, saves, finds the record with the list filter and
downloads the XLSX export, which is opened with openpyxl. Screenshots go to
test-artifacts/ (form-journey-*.png).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
from browserkit import menu_click, shot
from browserkit import sqlite_only as backend  # noqa: F401  (SQLite only)
from PIL import Image

from ccms.testing import ADMIN_PASSWORD, ADMIN_USER, add_user

FORM = "manhole_check"


def log_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=menu]")


def saved(page: Any, version_before: int) -> int:
    """Wait until the designer shows a version newer than ``version_before`` (htmx swap)."""
    page.wait_for_function(
        "v => Number(document.querySelector('[data-testid=form-editor]').dataset.version) > v", arg=version_before)
    return int(page.get_attribute("[data-testid=form-editor]", "data-version"))


def current(page: Any) -> int:
    return int(page.get_attribute("[data-testid=form-editor]", "data-version"))


def add_field(page: Any, type_name: str, name: str, label: str, *, required: bool = False, options: str = "") -> None:
    v = current(page)
    page.select_option("#add-type", type_name)
    page.fill("#add-name", name)
    page.fill("#add-label", label)
    if required:
        page.check("#add-required")
    if options:
        page.fill("#add-options", options)
    page.click("[data-testid=add-field-save]")
    saved(page, v)
    page.wait_for_selector(f"[data-testid='field-row-{name}']")


def png_file(tmp_path: Path) -> Path:
    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (200, 30, 30)).save(buf, format="PNG")
    path = tmp_path / "井盖.png"
    path.write_bytes(buf.getvalue())
    return path


def test_admin_builds_a_form_and_staff_fill_find_and_export_it(app: Any, live_server: Any, new_page: Any,
                                                               tmp_path: Path) -> None:
    base = live_server.url
    add_user(app, "inspector", [])  # a staff member whose role (test_inspector) has no permissions yet

    # --- 表单配置: a new form, as an administrator clicks it --------------------------------------
    admin = new_page()
    log_in(admin, base, ADMIN_USER, ADMIN_PASSWORD)
    menu_click(admin, "表单配置")
    admin.fill("#f-form_id", FORM)
    admin.fill("#f-title", "井盖巡查<登记>")
    admin.click("[data-testid=form-new-save]")
    admin.wait_for_selector("[data-testid=field-empty]")
    assert "井盖巡查<登记>" in admin.inner_text("h1")  # typed markup shown as text

    add_field(admin, "text", "subject", "事项", required=True)
    add_field(admin, "integer", "depth", "沉降深度（毫米）")
    add_field(admin, "enum", "kind", "位置", options="road=道路\nsquare=广场")
    add_field(admin, "image", "photo", "现场照片")

    # limits on the number, through its settings panel
    admin.click("[data-testid='panel-depth'] summary")
    admin.fill("#p-depth-minimum", "1")
    admin.fill("#p-depth-maximum", "100")
    admin.fill("#p-depth-help", "1–100 毫米")
    v = current(admin)
    admin.click("[data-testid=props-save-depth]")
    saved(admin, v)
    assert admin.inner_text("[data-testid=form-notice]").startswith("已保存")

    # a bad limit is refused inline, the input kept, nothing saved
    admin.click("[data-testid='panel-depth'] summary")
    admin.fill("#p-depth-minimum", "500")
    v = current(admin)
    admin.click("[data-testid=props-save-depth]")
    admin.wait_for_selector("[data-testid=form-error]")
    assert current(admin) == v and admin.input_value("#p-depth-minimum") == "500"
    assert "不能大于" in admin.inner_text("[data-testid=form-error]")
    admin.fill("#p-depth-minimum", "1")

    # list columns, a filter and the default sort
    for name in ("subject", "kind", "depth", "_created_at"):
        admin.check(f"[data-testid=col-{name}]")
    admin.check("[data-testid=filter-kind]")
    admin.select_option("#list-sort", "-_created_at")
    v = current(admin)
    admin.click("[data-testid=list-save]")
    v = saved(admin, v)
    # a section in the page layout, and the text and number fields placed in it
    admin.select_option("#lay-kind", "section")
    admin.fill("#lay-title", "基本情况")
    admin.click("[data-testid=group-add-save]")
    v = saved(admin, v)
    for name in ("subject", "depth"):
        admin.click(f"[data-testid='panel-{name}'] summary")
        admin.select_option(f"#p-{name}-group", label="分组：基本情况")
        admin.click(f"[data-testid=place-save-{name}]")
        v = saved(admin, v)
    assert "subject、depth" in admin.inner_text("[data-testid=layout-groups]")
    preview = admin.inner_text("[data-testid=preview]")
    assert "基本情况" in preview
    assert all(label in preview for label in ("事项", "沉降深度（毫米）", "位置", "现场照片"))
    shot(admin, "form-journey-1-designer")

    admin.click("[data-testid=publish]")
    admin.wait_for_selector(f"text=已发布 v{v}")
    shot(admin, "form-journey-2-published")

    # --- 权限配置: the staff role gets the new form's permissions -----------------------------------
    menu_click(admin, "权限配置")
    admin.click("[data-testid=role-row-test_inspector] a")
    for action in ("list", "read", "create", "export"):
        admin.check(f"[data-testid='perm-form.{FORM}.{action}']")
    admin.click("[data-testid=role-save]")
    admin.wait_for_load_state()
    assert admin.is_checked(f"[data-testid='perm-form.{FORM}.create']")
    shot(admin, "form-journey-3-role")

    # --- the staff member fills it in -----------------------------------------------------------
    staff = new_page()
    log_in(staff, base, "inspector", ADMIN_PASSWORD)
    menu_click(staff, "全部表单")
    staff.click(f"[data-testid=form-link-{FORM}]")
    staff.click("[data-testid=record-new]")
    staff.fill("#f-subject", "人民路井盖下沉<b>")
    staff.fill("#f-depth", "500")  # above the maximum of 100
    staff.select_option("#f-kind", "road")
    staff.set_input_files("[data-testid=upload-photo]", str(png_file(tmp_path)))
    staff.click("[data-testid=record-save]")
    staff.wait_for_selector("[data-testid=error-depth]")
    error = staff.inner_text("[data-testid=error-depth]")
    assert "100" in error and any("\u4e00" <= ch <= "\u9fff" for ch in error), error  # in Chinese
    assert staff.input_value("#f-subject") == "人民路井盖下沉<b>" and staff.input_value("#f-depth") == "500"
    assert staff.locator("[data-testid=attachment-photo-0]").count() == 1  # the upload is kept
    shot(staff, "form-journey-4-inline-error")
    staff.fill("#f-depth", "35")
    staff.click("[data-testid=record-save]")
    staff.wait_for_selector("[data-testid=record-detail]")
    detail = staff.inner_text("[data-testid=record-detail]")
    assert "人民路井盖下沉<b>" in detail and "道路" in detail and "35" in detail
    assert staff.locator("[data-testid^=attachment-link-]").count() >= 1
    shot(staff, "form-journey-5-detail")

    # --- found by the filter, then exported ----------------------------------------------------
    staff.goto(f"{base}/forms/{FORM}")
    staff.select_option("[data-testid=filter-kind]", "square")
    staff.click("[data-testid=record-filter]")
    staff.wait_for_selector("[data-testid=record-empty]")
    staff.select_option("[data-testid=filter-kind]", "road")
    staff.click("[data-testid=record-filter]")
    staff.wait_for_selector("[data-testid=record-table]")
    assert "人民路井盖下沉<b>" in staff.inner_text("#list")
    shot(staff, "form-journey-6-filtered")
    with staff.expect_download() as info:
        staff.click("[data-testid=export-xlsx]")
    path = tmp_path / "export.xlsx"
    info.value.save_as(str(path))
    sheet = openpyxl.load_workbook(path, read_only=True).active
    rows = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    header, data = rows[0], rows[1:]
    assert len(data) == 1, rows
    row = dict(zip(header, data[0]))
    assert row.get("事项") == "人民路井盖下沉<b>", row
    assert row.get("位置") == "道路" and str(row.get("沉降深度（毫米）")) in ("35", "35.0"), row
