"""Issue 4's browser journey, clicked and typed as people would.

An administrator draws a three-step approval flow in 流程配置 (填写申请 →
科室核实 → 领导审批: nodes, assignee rules, a time limit, 延期 and 回退,
transitions with button labels), saves it as a version and publishes it.
Staff member 1 starts it from 我的待办, submits, and asks for more time (延期)
at 科室核实; staff member 2 approves the extension from the inbox, then at
领导审批 sends the case back (回退) with a reason; staff member 1 verifies
again and staff member 2 approves. The instance page shows the whole
timeline and the diagram. The designer also ticks 批量办理 for 同意, and staff
member 1 hands a second case over (转办) with the person picker, by keyboard. Screenshots go to test-artifacts/ (flow-journey-*.png).
"""

from __future__ import annotations

from typing import Any

from browserkit import menu_click, settled, shot
from browserkit import sqlite_only as backend  # noqa: F401  (SQLite only)
from flow_engine_kit import person

from ccms.testing import ADMIN_PASSWORD, ADMIN_USER

PW = "x-Secret-123456"
FLOW = "leave3"


def log_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=menu]")


def swap(page: Any, selector: str) -> None:
    """Click a designer button and wait until htmx has swapped the editor in."""
    with page.expect_response(lambda r: r.request.method == "POST" and "/admin/flows/" in r.url) as info:
        page.click(selector)
    assert info.value.status < 500, info.value.status
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')")


def add_node(page: Any, node_id: str, title: str) -> None:
    page.select_option("#an-type", "task")
    page.fill("#an-id", node_id)
    page.fill("#an-title", title)
    swap(page, "[data-testid=add-node-save]")
    page.wait_for_selector(f"[data-testid=node-panel-{node_id}]")


def open_panel(page: Any, testid: str) -> None:
    panel = page.locator(f"[data-testid={testid}]")
    if panel.get_attribute("open") is None:
        panel.locator("summary").click()


def add_transition(page: Any, src: str, dst: str, action: str, label: str) -> None:
    page.select_option("#at-from", src)
    page.select_option("#at-to", dst)
    page.fill("#at-action", action)
    page.fill("#at-label", label)
    swap(page, "[data-testid=add-transition-save]")


def draw_flow(page: Any, base: str) -> None:
    log_in(page, base, ADMIN_USER, ADMIN_PASSWORD)
    menu_click(page, "流程配置")
    page.fill("#f-flow_id", FLOW)
    page.fill("#f-title", "三级请假审批")
    page.click("[data-testid=flow-new-save]")
    page.wait_for_selector("[data-testid=flow-editor]")
    add_node(page, "apply", "填写申请")
    add_node(page, "verify", "科室核实")
    add_node(page, "approve", "领导审批")

    open_panel(page, "node-panel-apply")
    page.select_option("#n-apply-assignee_rule", "initiator")
    swap(page, "[data-testid=node-save-apply]")

    open_panel(page, "node-panel-verify")
    page.select_option("#n-verify-assignee_rule", "person")
    page.fill("#n-verify-assignee_username", "staff1")
    page.fill("#n-verify-limit_amount", "1")
    page.select_option("#n-verify-limit_unit", "work_days")
    page.check("#n-verify-op_extend")
    page.fill("#n-verify-extend_approval_role", "leader")
    page.check("#n-verify-op_reassign")
    swap(page, "[data-testid=node-save-verify]")

    open_panel(page, "node-panel-approve")
    page.select_option("#n-approve-assignee_rule", "person")
    page.fill("#n-approve-assignee_username", "staff2")
    page.check("#n-approve-op_return")
    page.fill("#n-approve-return_to", "verify")
    swap(page, "[data-testid=node-save-approve]")

    open_panel(page, "transition-panel-0")  # the new flow's start → end becomes start → 填写申请
    page.select_option("#t0-to", "apply")
    swap(page, "[data-testid=t-save-0]")
    add_transition(page, "apply", "verify", "submit", "提交")
    add_transition(page, "verify", "approve", "pass", "核实通过")
    add_transition(page, "approve", "end", "agree", "同意")
    open_panel(page, "node-panel-approve")  # 批量办理: 同意 may be done on several tasks at once
    page.check("[data-testid=bulk-approve-agree]")
    swap(page, "[data-testid=node-save-approve]")
    assert page.locator("[data-testid=bulk-approve-agree]").is_checked()
    assert page.locator("svg.flow-diagram").count() == 1
    shot(page, "flow-journey-1-designer")

    swap(page, "button[data-testid=save-version]")
    assert page.locator("[data-testid=flow-error]").count() == 0, page.inner_text("[data-testid=flow-error]")
    page.click("[data-testid=publish]")
    page.wait_for_function("() => /v\\d|版本/.test(document.querySelector('[data-testid=published-version]')"
                           ".textContent) && !document.querySelector('[data-testid=publish]')")
    shot(page, "flow-journey-2-published")


def open_task(page: Any, base: str, title_part: str) -> None:
    """From 我的待办, open the first task whose row mentions ``title_part``."""
    page.goto(base + "/tasks")
    row = page.locator("[data-testid^=task-row-]", has_text=title_part).first
    row.locator("a[data-testid^=task-link-]").click()
    page.wait_for_selector("[data-testid=task-page]")


def done(page: Any) -> None:
    """After a post: the task page with its confirmation, or a failure that says what the page showed."""
    page.wait_for_selector("[data-testid=task-flash], .error, [data-testid^=op-error-], h1")
    if page.locator("[data-testid=task-flash]").count() == 0:
        shot(page, "flow-journey-unexpected")
        errors = page.locator(".error, [data-testid^=op-error-], .field-error")
        shown = " | ".join(errors.nth(i).inner_text() for i in range(errors.count()))
        raise AssertionError(f"no confirmation at {page.url}: {shown or page.inner_text('body')[:1500]}")


def act(page: Any, action: str, comment: str = "") -> None:
    if comment:
        page.fill("[data-testid=task-comment]", comment)
    with page.expect_navigation():
        page.click(f"[data-testid=action-{action}]")
    done(page)


def test_admin_draws_a_flow_and_two_staff_move_a_case_through_it(app: Any, live_server: Any,
                                                                  new_page: Any) -> None:
    base = live_server.url
    ctx = app.state.ccms
    person(ctx, "staff1", roles=["staff"])  # 业务人员 may start flows (core.flow.start)
    person(ctx, "staff2", roles=["leader"])

    admin = new_page()
    draw_flow(admin, base)

    # --- staff 1 starts the flow and submits -----------------------------------------------------
    s1 = new_page()
    log_in(s1, base, "staff1", PW)
    menu_click(s1, "我的待办")
    s1.click("[data-testid=start-flow]")
    s1.click(f"[data-testid=start-{FLOW}]")
    s1.fill("[data-testid=start-title]", "张三请假三天")
    s1.click("[data-testid=start-submit]")
    s1.wait_for_selector("[data-testid=task-page]")  # 填写申请 is staff 1's own first task
    act(s1, "submit", "请批准")

    # --- 科室核实: staff 1 asks for an extension --------------------------------------------------
    open_task(s1, base, "张三请假三天")
    assert "科室核实" in s1.inner_text("[data-testid=task-page]")
    assert s1.locator("[data-testid=level-task]").get_attribute("data-level") == "green"
    due_before = s1.inner_text("[data-testid=task-page] dd >> nth=3")
    s1.click("[data-testid=op-extend] summary")
    with s1.expect_navigation():
        s1.click("[data-testid=op-submit-extend]")  # no reason: refused inline, in Chinese
    s1.wait_for_selector("[data-testid=op-error-extend-reason]")
    assert "请填写原因" in s1.inner_text("[data-testid=op-error-extend-reason]")
    s1.fill("[data-testid=extend-amount]", "2")
    s1.select_option("[data-testid=extend-unit]", "work_days")
    s1.fill("[data-testid=extend-reason]", "需要补充病历材料")
    with s1.expect_navigation():
        s1.click("[data-testid=op-submit-extend]")
    s1.wait_for_selector("[data-testid=task-flash]")
    assert "等待审批" in s1.inner_text("[data-testid=task-flash]")
    shot(s1, "flow-journey-3-extension-requested")

    # --- staff 2 approves the extension from the inbox -------------------------------------------
    s2 = new_page()
    log_in(s2, base, "staff2", PW)
    menu_click(s2, "我的待办")
    assert s2.inner_text("[data-testid=count-todo]") == "1"
    shot(s2, "flow-journey-4-inbox")
    s2.locator("a[data-testid^=task-link-]").first.click()
    s2.wait_for_selector("[data-testid=approval-subject]")
    assert "需要补充病历材料" in s2.inner_text("[data-testid=approval-reason]")
    act(s2, "approve", "同意延期")

    s1.reload()
    assert s1.inner_text("[data-testid=task-page] dd >> nth=3") != due_before  # the new deadline shows
    act(s1, "pass", "已核实")

    # --- 领导审批: staff 2 returns it to 科室核实 ------------------------------------------------------
    open_task(s2, base, "张三请假三天")
    assert "领导审批" in s2.inner_text("[data-testid=task-page]")
    s2.click("[data-testid=op-return] summary")
    s2.select_option("[data-testid=return-to]", "verify")
    s2.fill("[data-testid=return-reason]", "病历日期不对，请重新核实")
    with s2.expect_navigation():
        s2.click("[data-testid=op-submit-return]")
    s2.wait_for_selector("[data-testid=task-flash]")
    shot(s2, "flow-journey-5-returned")

    open_task(s1, base, "张三请假三天")
    assert "科室核实" in s1.inner_text("[data-testid=task-page]")
    assert "病历日期不对" in s1.inner_text("[data-testid=timeline]")
    act(s1, "pass", "已重新核实")

    open_task(s2, base, "张三请假三天")
    act(s2, "agree", "同意")
    s2.click("[data-testid=instance-link]")
    s2.wait_for_selector("[data-testid=instance-page]")
    assert s2.get_attribute("[data-testid=instance-page]", "data-status") == "ended"
    kinds = s2.eval_on_selector_all("[data-testid=timeline] li", "els => els.map(e => e.dataset.kind)")
    for kind in ("start", "complete", "op_requested", "op_approved", "extend", "return", "end"):
        assert kind in kinds, (kind, kinds)
    assert s2.locator("svg.flow-diagram .current, svg.flow-diagram .state-done").count() >= 1
    shot(s2, "flow-journey-6-instance")

    # --- 转办: staff 1 hands a second case over to staff 2 with the person picker (keyboard only) ----
    s1.goto(base + f"/flows/start/{FLOW}")
    s1.fill("[data-testid=start-title]", "李四请假一天")
    s1.click("[data-testid=start-submit]")
    s1.wait_for_selector("[data-testid=task-page]")
    act(s1, "submit", "请批准")
    open_task(s1, base, "李四请假一天")
    s1.click("[data-testid=op-reassign] summary")
    s1.fill("[data-testid=search-to_person]", "staff")
    s1.wait_for_selector("[data-testid=picker-list-to_person]")
    s1.focus("[data-testid=search-to_person]")
    s1.keyboard.press("Tab")  # to the first match, then the second (staff2)
    s1.keyboard.press("Tab")
    assert "staff2" in s1.evaluate("() => document.activeElement.textContent")
    s1.keyboard.press("Enter")
    # htmx moves the focus back to the picker's search box when it settles the swap (20 ms later):
    # typing the reason before then would type it there
    settled(s1, "[data-testid=picked-to_person] .picked-name")
    assert "staff2" in s1.inner_text("[data-testid=picked-to_person]")
    assert s1.evaluate("() => document.activeElement.dataset.testid") == "search-to_person"
    s1.fill("[data-testid=reassign-reason]", "本人出差")
    shot(s1, "flow-journey-7-reassign-picker")
    with s1.expect_navigation():
        s1.click("[data-testid=op-submit-reassign]")
    done(s1)
    assert s1.inner_text("[data-testid=task-assignee]") == "staff2"
    s2.goto(base + "/tasks")
    assert s2.locator("[data-testid^=task-row-]", has_text="李四请假一天").count() == 1

    # the inbox is readable on a phone
    s1.set_viewport_size({"width": 390, "height": 800})
    s1.goto(base + "/tasks?group=done")
    assert s1.locator("[data-testid^=task-row-]").count() >= 3
    width = s1.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 400, width
    shot(s1, "flow-journey-8-phone")
