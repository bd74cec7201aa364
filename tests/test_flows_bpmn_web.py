"""A BPMN file from another modeler, through the designer: it becomes an editable draft with its
placeholders marked, cannot be saved as a version or published while anything is incomplete (the
JSON path of each fault is shown), and publishes once the administrator has finished it with the
designer's own forms."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ccms.flows import store
from ccms.flows.bpmn import BPMN_NS
from ccms.flows.def_models import FlowDef

HX = {"HX-Request": "true"}

# drawn the way a modeler saves it: a lane, a user task without any ccms assignee rule, a script task
MODELER_FILE = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN_NS}" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="D1"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="Process_Permit" name="占道审批" isExecutable="true">
    <bpmn:laneSet id="LaneSet_1"><bpmn:lane id="Lane_Office" name="审批科">
      <bpmn:flowNodeRef>Activity_Review</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="StartEvent_1" name="申请"/>
    <bpmn:userTask id="Activity_Review" name="审核" camunda:candidateGroups="office"/>
    <bpmn:scriptTask id="Activity_Notify" name="短信通知" scriptFormat="python">
      <bpmn:script>send_sms(applicant)</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="Event_End" name="完成"/>
    <bpmn:sequenceFlow id="F1" sourceRef="StartEvent_1" targetRef="Activity_Review"/>
    <bpmn:sequenceFlow id="F2" sourceRef="Activity_Review" targetRef="Activity_Notify"/>
    <bpmn:sequenceFlow id="F3" sourceRef="Activity_Notify" targetRef="Event_End"/>
  </bpmn:process>
</bpmn:definitions>""".encode()


def post_file(admin: Any, name: str, body: bytes) -> Any:
    return admin.post("/admin/flows/import", files={"file": (name, body, "application/xml")},
                      data={"csrf_token": admin.csrf}, follow_redirects=False)


def lock(ctx: Any, flow_id: str) -> int:
    with ctx.db.session() as s:
        row = store.work_row(s, flow_id)
        return 0 if row is None else row.lock_version


def test_a_modeler_file_becomes_a_draft_that_publishes_only_when_finished(admin: Any, ctx: Any) -> None:
    r = post_file(admin, "permit.bpmn", MODELER_FILE)
    assert r.status_code == 303 and r.headers["location"] == "/admin/flows/process_permit"
    with ctx.db.session() as s:
        assert [(v["version"], v["status"]) for v in store.list_versions(s, "process_permit")] == [(1, "draft")]
        assert "待完成" in store.list_versions(s, "process_permit")[0]["note"]
        draft = dict(store.get_version(s, "process_permit", 1).definition)
    types = {n["id"]: n["type"] for n in draft["nodes"]}
    assert types == {"StartEvent_1": "start", "Activity_Review": "task", "Activity_Notify": "placeholder",
                     "Event_End": "end"}
    review = next(n for n in draft["nodes"] if n["id"] == "Activity_Review")
    assert review["description"]["zh-CN"] == "泳道：审批科"  # the lane, as a hint for the assignee rule

    page = admin.get("/admin/flows/process_permit")
    assert page.status_code == 200
    assert 'data-testid="bpmn-placeholder-help"' in page.text and "占位节点" in page.text
    assert 'class="bpmn-placeholder"' in page.text and "fd-placeholder" in page.text  # marked in table and diagram
    assert "$.nodes[1].assignee" in page.text and "$.nodes[2].type" in page.text
    assert "send_sms(applicant)" in page.text  # the original element is kept, not lost

    r = admin.get("/admin/flows/process_permit/export?version=1")  # the draft as JSON: all of it
    assert r.status_code == 200 and r.json()["nodes"][2]["bpmn"]["element"] == "scriptTask"
    r = admin.get("/admin/flows/process_permit/export?version=1&format=bpmn")  # a placeholder has no BPMN of ours
    assert r.status_code == 422 and "placeholder" in r.text

    # publishing the draft is refused, naming the JSON path of each fault
    r = admin.form("/admin/flows/process_permit/publish", {"version": "1"})
    assert r.status_code == 422 and "$.nodes[1].assignee" in r.text
    r = admin.api("POST", "/api/flows/process_permit/publish", json={"version": 1})
    assert r.status_code == 422 and r.json()["error"]["code"] == "flow_definition_invalid"
    assert r.json()["error"]["fields"].keys() & {"$.nodes[1].assignee", "$.nodes[2].type"}
    # finish it with the designer's forms: the script task becomes a task, both tasks get a rule
    r = admin.form("/admin/flows/process_permit/nodes/Activity_Notify",
                   {"lock": lock(ctx, "process_permit"), "type": "task", "title": "短信通知"}, headers=HX)
    assert r.status_code == 200
    for node in ("Activity_Review", "Activity_Notify"):
        r = admin.form(f"/admin/flows/process_permit/nodes/{node}",
                       {"lock": lock(ctx, "process_permit"), "type": "task", "title": node,
                        "assignee_rule": "role", "assignee_role": "admin"}, headers=HX)
        assert r.status_code == 200, r.text
    with ctx.db.session() as s:
        work = dict(store.work_row(s, "process_permit").definition)
    notify_out = [t for t in work["transitions"] if t["from"] == "Activity_Notify"]
    assert notify_out and notify_out[0]["action"] == "to_event_end"  # its flow out became a button
    r = admin.form("/admin/flows/process_permit/save", {"lock": lock(ctx, "process_permit"), "note": "完成"},
                   follow_redirects=False)
    assert r.status_code == 303, r.text
    r = admin.form("/admin/flows/process_permit/publish", {"version": "2"}, follow_redirects=False)
    assert r.status_code == 303
    with ctx.db.session() as s:
        assert [(v["version"], v["status"]) for v in store.list_versions(s, "process_permit")] == \
            [(2, "published"), (1, "draft")]
    with ctx.db.session() as s:
        published = store.get_published(s, "process_permit")
        assert published is not None and published.nodes["Activity_Notify"]["type"] == "task"


def test_a_complete_bpmn_file_still_becomes_a_version(admin: Any, ctx: Any) -> None:
    r = admin.get("/admin/flows/simple_approval/export?format=bpmn")
    body = r.content.replace(b'id="simple_approval"', b'id="copied_flow"').replace(
        b'bpmnElement="simple_approval"', b'bpmnElement="copied_flow"')
    r = post_file(admin, "copied.bpmn", body)
    assert r.status_code == 303
    with ctx.db.session() as s:
        assert [(v["version"], v["status"]) for v in store.list_versions(s, "copied_flow")] == [(1, "draft")]
        assert store.work_row(s, "copied_flow") is None


def test_an_import_never_goes_under_unsaved_designer_edits(admin: Any, ctx: Any) -> None:
    assert post_file(admin, "permit.bpmn", MODELER_FILE).status_code == 303
    r = admin.form("/admin/flows/process_permit/nodes/Activity_Review",
                   {"lock": 0, "type": "task", "title": "审核", "assignee_rule": "initiator"}, headers=HX)
    assert r.status_code == 200
    r = post_file(admin, "permit.bpmn", MODELER_FILE)
    assert r.status_code == 409 and "未保存的修改" in r.text and "unsaved changes" in r.text
    with ctx.db.session() as s:
        assert len(store.list_versions(s, "process_permit")) == 1


def test_unreadable_files_are_refused_in_both_languages_with_nothing_written(admin: Any, ctx: Any) -> None:
    with ctx.db.session() as s:
        total = s.scalar(select(func.count()).select_from(FlowDef))
    bad = [b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
           b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>',
           b"<definitions><process", b"\xff\xfe\x00garbage", b"<notbpmn/>",
           f'<bpmn:definitions xmlns:bpmn="{BPMN_NS}"/>'.encode(),
           f'<bpmn:definitions xmlns:bpmn="{BPMN_NS}"><bpmn:process id="P"/></bpmn:definitions>'.encode()]
    for body in bad:
        r = post_file(admin, "x.bpmn", body)
        assert r.status_code == 422, body
        assert "BPMN 导入失败" in r.text and "BPMN import failed" in r.text, body
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(FlowDef)) == total


def test_the_api_imports_bpmn_as_a_draft_and_says_what_blocks_publishing(admin: Any, ctx: Any) -> None:
    r = admin.api("POST", "/api/flows/import", content=MODELER_FILE, headers={"Content-Type": "application/xml"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["flow_id"] == "process_permit" and body["complete"] is False and body["version"] == 1
    paths = [p["path"] for p in body["problems"]]
    assert "$.nodes[1].assignee" in paths and "$.nodes[2].type" in paths
    assert all(p["message"] and p["message_en"] for p in body["problems"])
    assert any("lane" in n["message_en"] for n in body["notes"])
    with ctx.db.session() as s:
        assert store.get_version(s, "process_permit", 1).definition["nodes"][2]["type"] == "placeholder"
    r = admin.api("POST", "/api/flows/import", content=b"<definitions><process",
                  headers={"Content-Type": "application/xml"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "bpmn_invalid"
    assert "BPMN 导入失败" in r.json()["error"]["message"]
