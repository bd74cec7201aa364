"""Issue 2's browser journey, as a new administrator would click it.

The administrator logs in, creates a district and a department, creates a
person, grants a role in that district and logs out; the person logs in
(changing the admin-set password first), sees exactly the menus the role
allows, and gets the 403 page on a forbidden URL. Screenshots are saved.
"""

from __future__ import annotations

from typing import Any

from browserkit import menu_click, shot, sqlite_only as backend  # noqa: F401  (SQLite only)
from conftest import ADMIN_PASSWORD, ADMIN_USER


def pick(page: Any, select: str, text: str) -> None:
    """Choose the option of a <select> whose label contains ``text``."""
    value = page.eval_on_selector(
        select, "(el, t) => [...el.options].find(o => o.textContent.includes(t))?.value", text)
    assert value, f"no option containing {text!r} in {select}"
    page.select_option(select, value)


def log_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_admin_sets_up_a_district_and_its_people_see_only_what_their_role_allows(live_server, new_page):
    base = live_server.url
    admin = new_page()
    log_in(admin, base, ADMIN_USER, ADMIN_PASSWORD)
    admin.wait_for_selector("[data-testid=menu]")

    # 机构配置: a district under the platform, then a department inside it.
    menu_click(admin, "机构配置")
    admin.click("[data-testid=org-new]")
    pick(admin, "#f-parent_id", "测试市")
    admin.fill("#f-name", "新城区")
    admin.select_option("#f-kind", "region")
    admin.fill("#f-region_code", "32051")  # one digit short: refused with a field error
    admin.click("[data-testid=org-save]")
    assert "6位数字" in admin.inner_text("[data-testid=error-region_code]")
    assert admin.input_value("#f-name") == "新城区"  # input kept
    admin.fill("#f-region_code", "320509")
    admin.click("[data-testid=org-save]")
    admin.wait_for_selector("text=新城区")
    admin.goto(base + "/admin/orgs/new")
    pick(admin, "#f-parent_id", "新城区")
    admin.fill("#f-name", "新城区城管执法大队")
    admin.select_option("#f-kind", "department")
    admin.click("[data-testid=org-save]")
    admin.goto(base + "/admin/orgs")
    tree = admin.inner_text("main")
    assert "新城区" in tree and "新城区城管执法大队" in tree
    shot(admin, "journey-1-org-tree")

    # 人员配置: a person in the district with an initial password.
    menu_click(admin, "人员配置")
    admin.click("[data-testid=person-new]")
    admin.fill("#f-username", "xincheng_admin")
    admin.fill("#f-display_name", "新城区管理员")
    pick(admin, "#f-org_id", "新城区")
    admin.fill("#f-post", "人员管理员")
    admin.fill("#f-password", "Xc#Initial2026")
    admin.click("[data-testid=person-save]")
    admin.wait_for_selector("[data-testid=person-name]")
    assert admin.inner_text("[data-testid=person-name]") == "新城区管理员"

    # 权限配置: grant 机构人员管理员 (org_admin) within 新城区.
    admin.click("[data-testid=person-manage-grants]")
    admin.select_option("#f-role", "org_admin")
    pick(admin, "#f-org_id", "新城区")
    admin.click("[data-testid=person-grant-save]")
    admin.wait_for_selector("text=机构人员管理员")
    shot(admin, "journey-2-grant")
    admin.click("[data-testid=logout]")
    admin.wait_for_url("**/login**")

    # The person: first login forces a new password, then the menus of the role only.
    person = new_page()
    log_in(person, base, "xincheng_admin", "Xc#Initial2026")
    person.wait_for_url("**/account/password**")
    person.fill("#f-current", "Xc#Initial2026")
    person.fill("#f-new", "Xc#Changed2026!")
    person.fill("#f-confirm", "Xc#Changed2026!")
    person.click("main button[type=submit]")
    person.wait_for_selector("[data-testid=menu]")
    items = person.eval_on_selector_all("[data-testid=menu] li li a", "els => els.map(e => e.textContent.trim())")
    assert sorted(items) == sorted(["机构配置", "人员配置", "权限配置"]), items
    shot(person, "journey-3-person-menus")

    # Their org tree is their district only.
    menu_click(person, "机构配置")
    tree = person.inner_text("main")
    assert "新城区城管执法大队" in tree and "测试市城市综合管理服务平台" not in tree

    # A forbidden URL: the 403 page, not a crash and not a login loop.
    response = person.goto(base + "/admin/audit")
    assert response.status == 403
    assert "没有权限" in person.inner_text("[data-testid=error-403]")
    shot(person, "journey-4-forbidden")
