"""BPMN files from other modelers become editable drafts (ccms.flows.bpmn_draft).

A public corpus (tests/data/bpmn_corpus, see PROVENANCE.md) either imports as a
draft or is refused with a bilingual reason, never an unexpected exception;
elements without a node type of ours become placeholders that block saving a
version and publishing, each reported at its JSON path; a call activity's
mixed-case ``calledElement`` names the flow its own file imports as.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ccms.errors import ValidationFailed
from ccms.flows import designer
from ccms.flows.bpmn import BPMN_NS, import_bpmn
from ccms.flows.bpmn_draft import import_bpmn_draft, name_task_actions
from ccms.flows.definition import (
    FlowDefinitionError,
    check_flow,
    check_structure,
    load_flow,
)

CORPUS = Path(__file__).parent / "data" / "bpmn_corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def wrap(body: str, extra: str = "", root_extra: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions xmlns:bpmn="{BPMN_NS}" {extra} id="D" '
            f'targetNamespace="http://x">{root_extra}<bpmn:process id="p1" isExecutable="true">{body}</bpmn:process>'
            f'</bpmn:definitions>').encode()


def placeholder_paths(d: dict) -> set[str]:
    return {f"$.nodes[{i}].type" for i, n in enumerate(d["nodes"]) if n["type"] == "placeholder"}


# -- the corpus -------------------------------------------------------------------------------------

def test_the_corpus_is_what_its_provenance_says() -> None:
    files = sorted(p.name for p in CORPUS.glob("*.bpmn"))
    assert files == sorted(EXPECTED) and 10 <= len(files) <= 20
    provenance = (CORPUS / "PROVENANCE.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in provenance for name in files) and (CORPUS / "LICENSE").exists()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_public_file_imports_as_a_draft_or_is_refused_with_a_reason(name: str) -> None:
    data = (CORPUS / name).read_bytes()
    if EXPECTED[name] == "refused":
        with pytest.raises(ValidationFailed) as info:
            import_bpmn_draft(data)
        err = info.value
        assert err.code == "bpmn_invalid" and err.status == 422
        assert err.zh.startswith("BPMN 导入失败") and err.en.startswith("BPMN import failed")
        return
    d, notes = import_bpmn_draft(data)
    check_structure(d)  # storable as the designer's working copy
    problems = {p.path for p in check_flow(d)}
    assert placeholder_paths(d) <= problems  # every placeholder blocks saving and publishing
    for n in d["nodes"]:
        if n["type"] == "placeholder":
            assert n["bpmn"]["element"] and n["bpmn"]["message"] and n["bpmn"]["message_en"]
    assert d.get("import_notes", []) == notes


def test_the_corpus_rate_is_kept() -> None:
    drafts = sum(1 for v in EXPECTED.values() if v == "draft")
    assert drafts / len(EXPECTED) >= 0.6


def test_damaged_files_never_crash_the_importer() -> None:
    """Truncated and byte-flipped copies of real files: a draft or a bilingual refusal, nothing else."""
    rng = random.Random(11)
    sources = [(CORPUS / n).read_bytes() for n in sorted(EXPECTED) if EXPECTED[n] == "draft"][:6]
    variants = []
    for data in sources:
        variants += [data[:k] for k in (10, len(data) // 3, len(data) // 2, len(data) - 30)]
        for _ in range(8):
            b = bytearray(data)
            for _ in range(3):
                b[rng.randrange(len(b))] = rng.choice(b'<>/="\x00 ab')
            variants.append(bytes(b))
    outcomes = {"draft": 0, "refused": 0}
    for v in variants:
        try:
            d, _ = import_bpmn_draft(v)
            check_structure(d)
            outcomes["draft"] += 1
        except ValidationFailed as exc:
            assert exc.code == "bpmn_invalid" and exc.zh and exc.en
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == len(variants)


@pytest.mark.parametrize("name", ["case_loop", "joint_review"])
def test_our_own_export_comes_back_unchanged_through_the_draft_import(name: str) -> None:
    from ccms.flows.bpmn import export_bpmn
    d = json.loads((Path(__file__).parent / "flow_examples" / f"{name}.json").read_text(encoding="utf-8"))
    back, _ = import_bpmn_draft(export_bpmn(d))
    assert back == d and check_flow(back) == []


# -- what becomes what ------------------------------------------------------------------------------

EVERYTHING = (
    '<bpmn:laneSet id="LS"><bpmn:lane id="L1" name="受理组"><bpmn:flowNodeRef>Review</bpmn:flowNodeRef></bpmn:lane>'
    '</bpmn:laneSet>'
    '<bpmn:startEvent id="Start"><bpmn:messageEventDefinition id="M1"/></bpmn:startEvent>'
    '<bpmn:userTask id="Review" name="审核"><bpmn:ioSpecification id="io"/></bpmn:userTask>'
    '<bpmn:scriptTask id="Script" name="计算"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>'
    '<bpmn:task id="Plain" name="未指定"/>'
    '<bpmn:intermediateCatchEvent id="Wait"><bpmn:timerEventDefinition id="T1"/></bpmn:intermediateCatchEvent>'
    '<bpmn:boundaryEvent id="Err" attachedToRef="Review"><bpmn:errorEventDefinition id="E1"/></bpmn:boundaryEvent>'
    '<bpmn:dataObject id="Doc"/><bpmn:textAnnotation id="Note"><bpmn:text>n</bpmn:text></bpmn:textAnnotation>'
    '<bpmn:endEvent id="End"><bpmn:terminateEventDefinition id="Term"/></bpmn:endEvent>'
    '<bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>'
    '<bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Script"/>'
    '<bpmn:sequenceFlow id="f3" sourceRef="Script" targetRef="Plain"/>'
    '<bpmn:sequenceFlow id="f4" sourceRef="Plain" targetRef="Wait"/>'
    '<bpmn:sequenceFlow id="f5" sourceRef="Wait" targetRef="End"/>'
    '<bpmn:sequenceFlow id="f6" sourceRef="Err" targetRef="End"/>'
)


def test_unsupported_elements_become_placeholders_and_the_rest_notes() -> None:
    d, notes = import_bpmn_draft(wrap(EVERYTHING))
    check_structure(d)
    types = {n["id"]: n["type"] for n in d["nodes"]}
    assert types == {"Start": "start", "Review": "task", "Script": "placeholder", "Plain": "placeholder",
                     "Wait": "placeholder", "Err": "placeholder", "End": "end"}
    by_id = {n["id"]: n for n in d["nodes"]}
    assert by_id["Script"]["bpmn"]["suggest"] == "auto" and "x = 1" in by_id["Script"]["bpmn"]["xml"]
    assert by_id["Plain"]["bpmn"]["suggest"] == "task"
    assert by_id["Review"]["description"]["zh-CN"] == "泳道：受理组"
    # the error boundary keeps its place: after its task (a button), and on to where it led
    to_err = next(t for t in d["transitions"] if (t["from"], t["to"]) == ("Review", "Err"))
    assert to_err["action"] == "to_err" and to_err["label"] == {"zh-CN": "边界事件 Err"}  # a button people read
    assert next(t for t in d["transitions"] if t["to"] == "Script")["label"] == {"zh-CN": "计算"}
    assert {"from": "Err", "to": "End"} in d["transitions"]
    text = " ".join(n["message_en"] for n in notes)
    for what in ("lane 受理组", "dataObject Doc", "textAnnotation Note", "message start", "terminate end",
                 "ioSpecification of Review"):
        assert what in text
    problems = {p.path: p for p in check_flow(d)}
    assert placeholder_paths(d) <= set(problems) and "$.nodes[1].assignee" in problems
    with pytest.raises(FlowDefinitionError) as info:
        load_flow(d)  # what saving a version and publishing run
    assert info.value.path.startswith("$.nodes[")


def test_replacing_the_placeholders_makes_it_publishable() -> None:
    body = ('<bpmn:startEvent id="s"/><bpmn:task id="Check" name="核查"/><bpmn:endEvent id="e"/>'
            '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="Check"/>'
            '<bpmn:sequenceFlow id="f2" sourceRef="Check" targetRef="e"/>')
    d, _ = import_bpmn_draft(wrap(body))
    assert [p.path for p in check_flow(d)] == ["$.nodes[1].type"]
    d = designer.set_node(d, "Check", {"type": "task", "title": "核查", "assignee": {"rule": "initiator"}})
    d = name_task_actions(d, "Check")
    out = load_flow(d).outgoing("Check")[0]
    assert check_flow(d) == [] and out["action"] == "to_e" and "label" not in out  # the end had no name


def test_a_collaboration_imports_the_executable_process_and_notes_the_others() -> None:
    xml = (f'<bpmn:definitions xmlns:bpmn="{BPMN_NS}" id="D" targetNamespace="http://x">'
           '<bpmn:collaboration id="C"><bpmn:participant id="P1" processRef="Customer"/>'
           '<bpmn:participant id="P2" processRef="Office"/><bpmn:messageFlow id="MF" sourceRef="P1" targetRef="P2"/>'
           '</bpmn:collaboration>'
           '<bpmn:process id="Customer" isExecutable="false"><bpmn:startEvent id="c1"/></bpmn:process>'
           '<bpmn:process id="Office" name="受理" isExecutable="true"><bpmn:startEvent id="o1"/><bpmn:endEvent id="o2"/>'
           '<bpmn:sequenceFlow id="of" sourceRef="o1" targetRef="o2"/></bpmn:process></bpmn:definitions>')
    d, notes = import_bpmn_draft(xml.encode())
    assert d["id"] == "office" and [n["id"] for n in d["nodes"]] == ["o1", "o2"] and check_flow(d) == []
    text = " ".join(n["message_en"] for n in notes)
    assert "process Customer (Customer), not imported" in text and "messageFlow" in text


def test_a_call_activity_names_the_flow_its_own_file_imports_as() -> None:
    sub = (f'<bpmn:definitions xmlns:bpmn="{BPMN_NS}" id="D2" targetNamespace="http://x">'
           '<bpmn:process id="Sub_Process_A" isExecutable="true"><bpmn:startEvent id="s"/><bpmn:endEvent id="e"/>'
           '<bpmn:sequenceFlow id="f" sourceRef="s" targetRef="e"/></bpmn:process></bpmn:definitions>').encode()
    main = wrap('<bpmn:startEvent id="s"/><bpmn:callActivity id="Call" calledElement="Sub_Process_A"/>'
                '<bpmn:endEvent id="e"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="Call"/>'
                '<bpmn:sequenceFlow id="f2" sourceRef="Call" targetRef="e"/>')
    sub_id = import_bpmn_draft(sub)[0]["id"]
    assert sub_id == "sub_process_a"
    for d in (import_bpmn_draft(main)[0], import_bpmn(main)):
        call = next(n for n in d["nodes"] if n["id"] == "Call")
        assert call["type"] == "subflow" and call["flow"] == sub_id


@pytest.mark.parametrize("xml", [
    (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
     b'<lolz>&lol2;</lolz>'),
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
])
def test_xml_bombs_and_external_entities_stay_refused(xml: bytes) -> None:
    with pytest.raises(ValidationFailed) as info:
        import_bpmn_draft(xml)
    assert "DTD" in info.value.en and "出于安全原因" in info.value.zh


def test_the_corpus_benchmark_runs_offline_on_the_repository_files(capsys: pytest.CaptureFixture[str]) -> None:
    """bench/bench_bpmn_corpus.py (the large corpus is fetched at bench time): its harness works."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_bpmn_corpus",
                                                  Path(__file__).parent.parent / "bench" / "bench_bpmn_corpus.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--offline"]) == 0
    out = capsys.readouterr().out
    assert "crashed 0" in out and "verdict: PASS" in out
