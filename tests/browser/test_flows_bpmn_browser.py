"""A BPMN file from another modeler, imported through 流程配置 in the browser: the designer opens on the
draft with its placeholder nodes marked (table, diagram) and explained in Chinese.
Screenshots: test-artifacts/flows-bpmn-import-1366.png and -390.png."""

from __future__ import annotations

from typing import Any

from browserkit import logged_in, shot
from browserkit import sqlite_only as backend  # noqa: F401  (SQLite only)

from ccms.flows.bpmn import BPMN_NS
from ccms.testing import ADMIN_PASSWORD, ADMIN_USER

# a 市容 permit drawn in another modeler: a lane, a user task without assignee rule, a script task,
# a message wait and an untyped task
MODELER_FILE = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN_NS}" id="D1" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="Process_Permit" name="户外广告设置审批" isExecutable="true">
    <bpmn:laneSet id="LS"><bpmn:lane id="Lane_1" name="审批科"><bpmn:flowNodeRef>Review</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="Start" name="提交申请"/>
    <bpmn:userTask id="Review" name="材料审核"/>
    <bpmn:scriptTask id="Fee" name="计算费用"><bpmn:script>fee = area * 12</bpmn:script></bpmn:scriptTask>
    <bpmn:intermediateCatchEvent id="Paid" name="等待缴费"><bpmn:messageEventDefinition id="M1"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:task id="Check" name="现场核查"/>
    <bpmn:endEvent id="End" name="办结"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Fee"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Fee" targetRef="Paid"/>
    <bpmn:sequenceFlow id="f4" sourceRef="Paid" targetRef="Check"/>
    <bpmn:sequenceFlow id="f5" sourceRef="Check" targetRef="End"/>
  </bpmn:process>
</bpmn:definitions>""".encode()


def test_an_imported_draft_shows_its_placeholders_at_desktop_and_phone_width(browser: Any, live_server: Any,
                                                                              tmp_path: Any) -> None:
    path = tmp_path / "permit.bpmn"
    path.write_bytes(MODELER_FILE)
    context, page, errors = logged_in(browser, live_server.url, ADMIN_USER, ADMIN_PASSWORD,
                                      {"width": 1366, "height": 900})
    try:
        page.goto(live_server.url + "/admin/flows")
        page.set_input_files("[data-testid=flow-import] input[type=file]", str(path))
        page.click("[data-testid=flow-import-save]")
        page.wait_for_selector("[data-testid=bpmn-import]")
        assert page.url.endswith("/admin/flows/process_permit")
        help_text = page.inner_text("[data-testid=bpmn-placeholder-help]")
        assert "占位节点" in help_text and "发布" in help_text
        for node in ("Fee", "Paid", "Check"):
            assert page.locator(f"[data-testid=node-row-{node}].bpmn-placeholder").count() == 1
            assert page.locator(f"[data-testid=flow-node-{node}].fd-placeholder").count() == 1
        assert page.locator("[data-testid=node-row-Review].bpmn-placeholder").count() == 0
        assert page.locator("[data-testid=publish]").count() == 0  # nothing to publish until it is finished
        page.locator("[data-testid=node-panel-Fee] > summary").click()
        assert "计算费用" in page.inner_text("[data-testid=node-panel-Fee]")
        assert page.locator("#n-Fee-type").input_value() == "auto"  # the suggested replacement
        shot(page, "flows-bpmn-import-1366")
        assert not errors, errors
    finally:
        context.close()
    context, page, errors = logged_in(browser, live_server.url, ADMIN_USER, ADMIN_PASSWORD,
                                      {"width": 390, "height": 844})
    try:
        page.goto(live_server.url + "/admin/flows/process_permit")
        page.wait_for_selector("[data-testid=bpmn-import]")
        assert page.locator("[data-testid=node-row-Fee].bpmn-placeholder").count() == 1
        shot(page, "flows-bpmn-import-390")
        assert not errors, errors
    finally:
        context.close()
