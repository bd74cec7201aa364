"""BPMN 2.0 import/export: flows drawn in a standard modeler come in, ours go out and come back unchanged.

Bad input: malformed XML, a wrong root, elements outside the subset, XML
bombs and external entities — each refused with a bilingual message naming
the element, nothing half-imported.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from ccms.errors import ValidationFailed
from ccms.flows.bpmn import BPMN_NS, CCMS_NS, export_bpmn, import_bpmn, import_bpmn_report
from ccms.flows.definition import check_flow, check_structure

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "tests" / "flow_examples"
B = f"{{{BPMN_NS}}}"
DI = "{http://www.omg.org/spec/DD/20100524/DI}"  # waypoints


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


DEFINITIONS = {"case_loop": example("case_loop"), "joint_review": example("joint_review"),
               "simple_approval": json.loads((ROOT / "core" / "flow_defs" / "simple_approval.json").read_text(encoding="utf-8"))}


def wrap(process_body: str, extra_ns: str = "", root_extra: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<bpmn:definitions xmlns:bpmn="{BPMN_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'{extra_ns} id="D1" targetNamespace="http://x">{root_extra}'
            f'<bpmn:process id="p1" isExecutable="true">{process_body}</bpmn:process></bpmn:definitions>')


MINIMAL = ('<bpmn:startEvent id="s"/><bpmn:userTask id="t" name="审核"/><bpmn:endEvent id="e"/>'
           '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>'
           '<bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/>')


def refused(xml: str | bytes, **kw) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as info:
        import_bpmn(xml, **kw)
    err = info.value
    assert err.code == "bpmn_invalid" and err.zh and err.en and err.status == 422
    return err


# -- round trip -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_round_trip_gives_back_the_same_definition(name):
    d = DEFINITIONS[name]
    assert not check_flow(d, name), "the example must be a valid definition"
    xml = export_bpmn(d)
    back, warnings = import_bpmn_report(xml)
    assert back == d
    assert warnings == []
    assert export_bpmn(back) == xml  # stable


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_export_is_valid_bpmn_with_a_diagram_for_modelers(name):
    d = DEFINITIONS[name]
    xml = export_bpmn(d)
    root = ET.fromstring(xml)
    proc = root.find(f"{B}process")
    assert proc.get("id") == d["id"] and proc.get("isExecutable") == "true"
    shapes = {s.get("bpmnElement") for s in root.iter("{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape")}
    edges = {e.get("bpmnElement") for e in root.iter("{http://www.omg.org/spec/BPMN/20100524/DI}BPMNEdge")}
    assert {n["id"] for n in d["nodes"]} <= shapes
    flows = {f.get("id") for f in proc.iter(f"{B}sequenceFlow")}
    assert len(flows) == len(d["transitions"]) and flows == edges
    for e in root.iter("{http://www.omg.org/spec/BPMN/20100524/DI}BPMNEdge"):
        assert len(e.findall(f"{DI}waypoint")) >= 2
    # the XML schema of BPMN 2.0 itself (shipped with SpiffWorkflow, a bench dependency)
    parser = pytest.importorskip("SpiffWorkflow.bpmn.parser.BpmnParser")
    lxml = pytest.importorskip("lxml.etree")
    parser.BpmnValidator().validate(lxml.fromstring(xml.encode()))


def test_export_maps_our_nodes_to_bpmn_elements():
    xml = export_bpmn(DEFINITIONS["joint_review"])
    proc = ET.fromstring(xml).find(f"{B}process")
    tag = {el.get("id"): el.tag.removeprefix(B) for el in proc}
    assert tag["apply"] == "userTask" and tag["notify"] == "serviceTask" and tag["archive"] == "callActivity"
    assert tag["route"] == "exclusiveGateway" and tag["split"] == tag["join"] == "parallelGateway"
    assert proc.find(f"{B}parallelGateway[@id='split']").get("gatewayDirection") == "Diverging"
    assert proc.find(f"{B}parallelGateway[@id='join']").get("gatewayDirection") == "Converging"
    assert proc.find(f"{B}callActivity").get("calledElement") == "archive"
    route = proc.find(f"{B}exclusiveGateway")
    default = proc.find(f"{B}sequenceFlow[@id='{route.get('default')}']")
    assert default.get("targetRef") == "quick"
    cond = proc.find(f"{B}sequenceFlow[@sourceRef='route'][@targetRef='split']/{B}conditionExpression")
    assert cond.text == "amount > 10000"
    timer = proc.find(f"{B}boundaryEvent")
    assert timer.get("attachedToRef") == "dept_a"
    assert timer.find(f"{B}timerEventDefinition/{B}timeDuration").text == "PT4H"
    # our settings travel as ccms extensions
    attrs = {a.get("name"): json.loads(a.text) for a in proc.find(f"{B}userTask[@id='dept_a']").iter(f"{{{CCMS_NS}}}attr")}
    assert attrs["assignee"] == {"rule": "role", "role": "dept_head", "scope": "record_region"}
    assert attrs["time_limit"] == {"amount": 3, "unit": "work_days"}


@pytest.mark.parametrize("unit,iso", [("minutes", "PT30M"), ("work_hours", "PT30H"), ("work_days", "P30D")])
def test_timer_units_map_to_iso_durations_and_back(unit, iso):
    d = DEFINITIONS["joint_review"]
    d = json.loads(json.dumps(d))
    d["transitions"][7]["timer"] = {"amount": 30, "unit": unit}
    xml = export_bpmn(d)
    assert f">{iso}</bpmn:timeDuration>" in xml
    assert import_bpmn(xml) == d


def test_a_timer_given_as_an_expression_survives_the_round_trip():
    d = json.loads(json.dumps(DEFINITIONS["joint_review"]))
    d["transitions"][7]["timer"] = {"amount": "limit_hours", "unit": "work_hours"}
    assert import_bpmn(export_bpmn(d)) == d


def test_names_edited_in_a_modeler_replace_the_chinese_title_and_keep_english():
    xml = export_bpmn(DEFINITIONS["case_loop"]).replace('name="信息采集"', 'name="信息采集与上报"')
    back = import_bpmn(xml)
    collect = next(n for n in back["nodes"] if n["id"] == "collect")
    assert collect["title"] == {"zh-CN": "信息采集与上报", "en": "Collect"}


# -- a file from a standard modeler ------------------------------------------------


def test_import_a_camunda_modeler_file():
    xml = (EXAMPLES / "modeler_leave.bpmn").read_bytes()
    d, warnings = import_bpmn_report(xml, flow_id="leave")
    check_structure(d, "modeler_leave.bpmn")  # the meta-schema accepts it
    assert d["id"] == "leave" and d["title"] == {"zh-CN": "请假审批"}
    types = {n["id"]: n["type"] for n in d["nodes"]}
    assert types == {"StartEvent_1": "start", "Activity_Review": "task", "Gateway_Days": "exclusive",
                     "Activity_Leader": "task", "Activity_Office": "task", "Event_End": "end"}
    by = {(t["from"], t["to"]): t for t in d["transitions"]}
    assert by[("Gateway_Days", "Activity_Leader")]["condition"] == "days > 3"
    assert by[("Gateway_Days", "Event_End")]["default"] is True
    assert by[("Activity_Leader", "Activity_Office")]["timer"] == {"amount": 4, "unit": "work_hours"}
    assert "action" not in by[("Activity_Leader", "Activity_Office")]
    # a task's transitions are buttons: named for the administrator to rename
    assert by[("Activity_Review", "Gateway_Days")]["action"] == "to_gateway_days"
    assert by[("Activity_Review", "Gateway_Days")]["label"] == {"zh-CN": "同意"}
    text = " ".join(w["message_en"] for w in warnings)
    for ignored in ("camunda:assignee", "camunda:candidateGroups", "camunda:formKey", "camunda:formData",
                    "camunda:historyTimeToLive", "documentation", "textAnnotation TextAnnotation_1",
                    "association Association_1", "no assignee rule", "${…} removed"):
        assert ignored in text, ignored
    assert all(w["message"] and w["element"] for w in warnings)
    # what is left for the designer to finish: assignee rules and the condition's field
    faults = {e.path for e in check_flow(d)}
    assert "$.nodes[1].assignee" in faults
    # and it goes out and comes back unchanged
    assert import_bpmn(export_bpmn(d)) == d


def test_process_id_of_a_modeler_becomes_a_flow_id_unless_one_is_given():
    d, warnings = import_bpmn_report((EXAMPLES / "modeler_leave.bpmn").read_bytes())
    assert d["id"] == "process_leave_1"
    assert any("renamed" in w["message_en"] for w in warnings)


def test_element_ids_that_are_not_node_ids_are_renamed_consistently():
    xml = wrap('<bpmn:startEvent id="sid-1"/><bpmn:userTask id="sid-2"/><bpmn:endEvent id="sid-3"/>'
               '<bpmn:sequenceFlow id="a" sourceRef="sid-1" targetRef="sid-2"/>'
               '<bpmn:sequenceFlow id="b" sourceRef="sid-2" targetRef="sid-3"/>')
    d, warnings = import_bpmn_report(xml, "x1")
    assert [n["id"] for n in d["nodes"]] == ["sid_1", "sid_2", "sid_3"]
    assert [(t["from"], t["to"]) for t in d["transitions"]] == [("sid_1", "sid_2"), ("sid_2", "sid_3")]
    assert any("sid-2 renamed to sid_2" in w["message_en"] for w in warnings)


def test_parallel_gateway_direction_from_its_flows_when_not_declared():
    xml = wrap('<bpmn:startEvent id="s"/><bpmn:parallelGateway id="g1"/><bpmn:userTask id="a"/>'
               '<bpmn:userTask id="b"/><bpmn:parallelGateway id="g2"/><bpmn:endEvent id="e"/>'
               '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="g1"/>'
               '<bpmn:sequenceFlow id="f2" sourceRef="g1" targetRef="a"/>'
               '<bpmn:sequenceFlow id="f3" sourceRef="g1" targetRef="b"/>'
               '<bpmn:sequenceFlow id="f4" sourceRef="a" targetRef="g2"/>'
               '<bpmn:sequenceFlow id="f5" sourceRef="b" targetRef="g2"/>'
               '<bpmn:sequenceFlow id="f6" sourceRef="g2" targetRef="e"/>')
    types = {n["id"]: n["type"] for n in import_bpmn(xml, "par")["nodes"]}
    assert types["g1"] == "parallel" and types["g2"] == "join"


def test_service_task_action_may_be_an_attribute():
    xml = wrap('<bpmn:startEvent id="s"/><bpmn:serviceTask id="t" ccms:action="notice.send"/><bpmn:endEvent id="e"/>'
               '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>'
               '<bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/>', f'xmlns:ccms="{CCMS_NS}"')
    node = import_bpmn(xml, "svc")["nodes"][1]
    assert node == {"id": "t", "type": "auto", "action": "notice.send"}


# -- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize("xml", ["<bpmn:definitions", "not xml at all", "<a><b></a>"])
def test_malformed_xml_is_refused_with_its_position(xml):
    err = refused(xml)
    assert "XML" in err.zh and "line" in err.en


@pytest.mark.parametrize("xml", ["", b"   ", "\n"])
def test_an_empty_file_is_refused(xml):
    assert "empty" in refused(xml).en


def test_a_huge_file_is_refused_before_parsing():
    assert "too large" in refused(b"<x>" + b" " * 5_000_001 + b"</x>").en


@pytest.mark.parametrize("xml,what", [
    ('<svg xmlns="http://www.w3.org/2000/svg"/>', "svg"),
    ("<definitions/>", "no namespace"),
    ('<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/DI"/>', "definitions"),
])
def test_a_wrong_root_element_is_refused(xml, what):
    err = refused(xml)
    assert "definitions" in err.en and what in err.en


def test_entity_expansion_attack_is_refused():
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
            '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
            '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
            '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>\n'
            f'<bpmn:definitions xmlns:bpmn="{BPMN_NS}"><bpmn:process id="p" name="&lol4;"/></bpmn:definitions>')
    err = refused(bomb)
    assert "DTD" in err.en and "安全" in err.zh


def test_external_entities_are_refused():
    xxe = ('<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
           f'<bpmn:definitions xmlns:bpmn="{BPMN_NS}"><bpmn:process id="p" name="&x;"/></bpmn:definitions>')
    err = refused(xxe)
    assert "root:" not in err.zh + err.en and "refused" in err.en


@pytest.mark.parametrize("body,element,what", [
    ('<bpmn:inclusiveGateway id="Gateway_Inc"/>', "Gateway_Inc", "inclusiveGateway"),
    ('<bpmn:scriptTask id="Activity_Script"><bpmn:script>rm -rf /</bpmn:script></bpmn:scriptTask>',
     "Activity_Script", "scriptTask"),
    ('<bpmn:task id="Activity_Plain"/>', "Activity_Plain", "task"),
    ('<bpmn:intermediateCatchEvent id="Event_Wait"/>', "Event_Wait", "intermediateCatchEvent"),
    ('<bpmn:subProcess id="Sub_1"/>', "Sub_1", "subProcess"),
    ('<bpmn:dataObject id="Data_1"/>', "Data_1", "dataObject"),
])
def test_elements_outside_the_subset_are_refused_by_id(body, element, what):
    err = refused(wrap(MINIMAL + body))
    assert element in err.zh and element in err.en and what in err.en
    assert err.fields["bpmn"]["element"] == element


@pytest.mark.parametrize("body,element", [
    ('<bpmn:startEvent id="s"><bpmn:timerEventDefinition id="TimerDef_1"/></bpmn:startEvent>', "TimerDef_1"),
    ('<bpmn:endEvent id="e"><bpmn:terminateEventDefinition id="Term_1"/></bpmn:endEvent>', "Term_1"),
    ('<bpmn:userTask id="t"><bpmn:standardLoopCharacteristics/></bpmn:userTask>', "t"),
])
def test_event_definitions_and_loops_outside_the_subset_are_refused(body, element):
    xml = wrap(body + '<bpmn:startEvent id="s0"/>')
    err = refused(xml)
    assert element in err.en


def test_a_root_level_message_definition_is_refused():
    xml = wrap(MINIMAL, root_extra='<bpmn:message id="Message_1" name="m"/>')
    assert "Message_1" in refused(xml).en


@pytest.mark.parametrize("boundary,why", [
    ('<bpmn:boundaryEvent id="B1" attachedToRef="t"><bpmn:errorEventDefinition id="Err1"/></bpmn:boundaryEvent>',
     "Err1"),
    ('<bpmn:boundaryEvent id="B1" attachedToRef="t" cancelActivity="false"><bpmn:timerEventDefinition>'
     '<bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>', "non-interrupting"),
    ('<bpmn:boundaryEvent id="B1" attachedToRef="t"><bpmn:timerEventDefinition>'
     '<bpmn:timeDuration>PT1H30M</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>', "PT1H30M"),
    ('<bpmn:boundaryEvent id="B1" attachedToRef="t"><bpmn:timerEventDefinition>'
     '<bpmn:timeCycle>R3/PT1H</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:boundaryEvent>', "timeDuration"),
    ('<bpmn:boundaryEvent id="B1" attachedToRef="s"><bpmn:timerEventDefinition>'
     '<bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>', "user task"),
])
def test_unsupported_boundary_events_are_refused(boundary, why):
    xml = wrap(MINIMAL + boundary + '<bpmn:sequenceFlow id="f9" sourceRef="B1" targetRef="e"/>')
    err = refused(xml)
    assert why in err.en and ("B1" in err.en or "Err1" in err.en)


def test_a_gateway_that_joins_and_splits_at_once_is_refused():
    xml = wrap('<bpmn:startEvent id="s"/><bpmn:startEvent id="s2"/><bpmn:parallelGateway id="G_mixed"/>'
               '<bpmn:endEvent id="e"/><bpmn:endEvent id="e2"/>'
               '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="G_mixed"/>'
               '<bpmn:sequenceFlow id="f2" sourceRef="s2" targetRef="G_mixed"/>'
               '<bpmn:sequenceFlow id="f3" sourceRef="G_mixed" targetRef="e"/>'
               '<bpmn:sequenceFlow id="f4" sourceRef="G_mixed" targetRef="e2"/>')
    assert "G_mixed" in refused(xml).en


@pytest.mark.parametrize("body,element", [
    ('<bpmn:serviceTask id="Svc_1"/>', "Svc_1"),  # no action
    ('<bpmn:callActivity id="Call_1"/>', "Call_1"),  # no calledElement
    ('<bpmn:sequenceFlow id="Flow_X" sourceRef="t" targetRef="nowhere"/>', "Flow_X"),
    ('<bpmn:sequenceFlow id="Flow_Y" sourceRef="nowhere" targetRef="t"/>', "Flow_Y"),
    ('<bpmn:startEvent id="s_again"/>', "s_again"),  # a second start event
    ('<bpmn:userTask id="Multi_1"><bpmn:multiInstanceLoopCharacteristics/></bpmn:userTask>', "Multi_1"),
    ('<bpmn:userTask id="Bad_Json"><bpmn:extensionElements><ccms:attr name="assignee">{nope</ccms:attr>'
     '</bpmn:extensionElements></bpmn:userTask>', "Bad_Json"),
])
def test_incomplete_or_inconsistent_elements_are_refused_by_id(body, element):
    err = refused(wrap(MINIMAL + body, f'xmlns:ccms="{CCMS_NS}"'))
    assert element in err.en and element in err.zh


def test_two_processes_are_refused():
    xml = wrap(MINIMAL).replace("</bpmn:definitions>", '<bpmn:process id="p2"/></bpmn:definitions>')
    assert "exactly one process" in refused(xml).en


def test_a_bad_flow_id_is_refused():
    assert "flow id" in refused(wrap(MINIMAL), flow_id="Bad-Id").en


def test_a_refused_import_gives_no_partial_result_and_leaves_warnings_alone():
    warnings: list = []
    with pytest.raises(ValidationFailed):
        import_bpmn(wrap('<bpmn:userTask id="t" camunda:assignee="x"/><bpmn:inclusiveGateway id="G"/>',
                         'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"'), warnings=warnings)
    assert warnings == []


def test_errors_reach_api_clients_as_bilingual_json():
    err = refused(wrap(MINIMAL + '<bpmn:complexGateway id="Gateway_C"/>'))
    body = err.to_json()["error"]
    assert body["code"] == "bpmn_invalid" and "Gateway_C" in body["message"] and "Gateway_C" in body["message_en"]


# -- a standard BPMN engine runs what we export; the flow benchmark's harness ---------


def test_a_standard_bpmn_engine_runs_our_export_task_by_task():
    pytest.importorskip("SpiffWorkflow")
    import sys
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_flows

    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.util.task import TaskState

    d = bench_flows.case_loop()
    parser = BpmnParser()
    parser.add_bpmn_str(export_bpmn(d).encode())
    wf = BpmnWorkflow(parser.get_spec(d["id"]))
    wf.do_engine_steps()
    done = []
    while ready := wf.get_tasks(state=TaskState.READY, manual=True):
        done.append(ready[0].task_spec.name)
        ready[0].run()
        wf.do_engine_steps()
    assert done == [nid for nid, _ in bench_flows.STAGES] and wf.is_completed()


@pytest.mark.needs_plugins("guidance", "command", "industry", "public_service", "data_hub", "exchange")  # bench/: a city deployment
def test_flow_benchmark_harness_runs_end_to_end():
    """``bench_flows.run(smoke=True)``: both sides drive every instance to the end, the rework
    loop ends, the inbox probe sees its 200 tasks through the index. No timing is asserted."""
    pytest.importorskip("SpiffWorkflow")
    import sys
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_flows

    result = bench_flows.run(smoke=True)
    inst = result["instances"]
    assert "engine_missing" not in result
    for side in ("ours", "spiff", "spiff_memory"):
        assert inst[side]["instances"] > 0 and inst[side]["ips"] > 0
    assert inst["ratio"] > 0 and isinstance(inst["passed"], bool) and inst["floor_ms_per_step"] > 0
    assert result["rework"]["ended"] and len(result["rework"]["ms"]) == bench_flows.SIZES["smoke"]["rework"]
    rows = result["inbox"]["rows"]
    assert [r["open_tasks"] for r in rows] == list(bench_flows.SIZES["smoke"]["inbox"])
    assert all(r["total"] == bench_flows.PROBE_TASKS and r["page_rows"] == bench_flows.PAGE for r in rows)
    assert "ix_core_flow_task_assignee" in result["inbox"]["plan"]
    assert len(bench_flows.verdicts(result)) == 3
