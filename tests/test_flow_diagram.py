"""The server-rendered flow diagram: what an administrator or handler sees of a flow.

Checks the picture's structure (parsed as XML), not pixels: every node drawn
with the shape of its type, names shown as text (never markup), loops drawn
as arcs, the current node and per-node states as CSS classes (no inline
styles: CSP), a layout without crossings where one exists, sized to content.
"""

from __future__ import annotations

import copy
import json
import re
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from ccms.flows.diagram import compute_layout, layout, render_svg

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "tests" / "flow_examples"
SVG = "{http://www.w3.org/2000/svg}"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def node_group(root: ET.Element, nid: str) -> ET.Element:
    for g in root.iter(f"{SVG}g"):
        if g.get("data-node") == nid:
            return g
    raise AssertionError(f"node {nid} not drawn")


def texts(el: ET.Element) -> list[str]:
    return [(t.text or "") for t in el.iter(f"{SVG}text")]


def test_every_node_is_drawn_with_the_shape_of_its_type():
    d = example("joint_review")
    root = parse(render_svg(d))
    assert root.tag == f"{SVG}svg"
    assert root.get("data-testid") == "flow-diagram"
    shapes = {"start": "circle", "end": "circle", "task": "rect", "auto": "rect", "subflow": "rect",
              "exclusive": "polygon", "parallel": "polygon", "join": "polygon"}
    for n in d["nodes"]:
        g = node_group(root, n["id"])
        assert f"fd-{n['type']}" in g.get("class").split()
        assert g.find(f"{SVG}{shapes[n['type']]}") is not None, n["id"]
        assert g.get("data-testid") == f"flow-node-{n['id']}"
    # gateways carry their marker: × for exclusive, + for parallel split and join
    assert node_group(root, "route").find(f"{SVG}path").get("d").count("M") == 2
    assert "V" in node_group(root, "split").find(f"{SVG}path").get("d")
    assert "V" in node_group(root, "join").find(f"{SVG}path").get("d")
    # the end circle is drawn heavier than the start circle (stylesheet class)
    assert "fd-end" in node_group(root, "end").get("class")


def test_titles_time_limits_and_transition_labels_are_shown():
    d = example("case_loop")
    root = parse(render_svg(d))
    assert "信息采集" in texts(node_group(root, "collect"))
    assert "时限 1 工作时" in texts(node_group(root, "collect"))
    labels = texts(root.find(f"{SVG}g[@class='fd-edge-labels']"))
    assert any(t.startswith("上报") for t in labels)
    assert any("返工" in t for t in labels)
    en = parse(render_svg(d, locale="en"))
    assert "Collect" in texts(node_group(en, "collect"))
    assert "limit 1 work h" in texts(node_group(en, "collect"))
    assert any(t.startswith("Report") for t in texts(en))


def test_conditions_defaults_and_timers_are_labelled():
    d = example("joint_review")
    svg = render_svg(d)
    root = parse(svg)
    labels = texts(root.find(f"{SVG}g[@class='fd-edge-labels']"))
    # the field has no title in the definition: the line says a condition applies, the tooltip shows it
    assert "大额 满足条件时" in labels and not any("amount" in t for t in labels)
    assert any("[amount > 10000]" in (t.text or "") for t in root.iter(f"{SVG}title"))
    assert "(默认)" in labels
    assert "超时 4 工作时" in labels
    timer_edges = [p for p in root.iter(f"{SVG}path") if "fd-timer" in (p.get("class") or "").split()]
    assert len(timer_edges) == 1 and timer_edges[0].get("data-to") == "escalate"
    assert any("fd-default-mark" == (p.get("class") or "") for p in root.iter(f"{SVG}path"))


def test_conditions_and_variable_time_limits_read_as_words_not_codes():
    """Issue 11 item 13: the case loop's diagram said "时限 limit_hours 工…" and "[need_verify]"."""
    d = {"id": "f", "variables": {"need_verify": {"type": "boolean", "title": {"zh-CN": "需核实", "en": "to verify"}},
                                  "quick": {"type": "boolean"},
                                  "limit_hours": {"type": "number", "default": 16, "title": "按立案标准"}},
         "nodes": [{"id": "s", "type": "start"}, {"id": "g", "type": "exclusive"},
                   {"id": "t", "type": "task", "title": "处置", "time_limit": {"amount": "limit_hours", "unit": "work_hours"}},
                   {"id": "u", "type": "task", "title": "复核", "time_limit": {"amount": "x_hours", "unit": "work_hours"}},
                   {"id": "e", "type": "end"}],
         "transitions": [{"from": "s", "to": "g"},
                         {"from": "g", "to": "t", "condition": "need_verify and not rework_count > 1"},
                         {"from": "g", "to": "u", "condition": "quick"},
                         {"from": "g", "to": "e", "default": True}, {"from": "t", "to": "e"}, {"from": "u", "to": "e"}]}
    root = parse(render_svg(d))
    shown = texts(root)
    assert "当需核实 且 非 返工次数 > 1" in shown and "满足条件时" in shown
    assert "时限 按立案标准" in texts(node_group(root, "t")) and "时限 按规定" in texts(node_group(root, "u"))
    assert not [t for t in shown if re.search(r"[a-z]+_[a-z]+|\[", t)], shown
    en = texts(parse(render_svg(d, locale="en")))
    assert any(t.startswith("if to verify and not") for t in en)


@pytest.mark.parametrize("evil", ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "a & b < c"])
def test_names_from_administrators_show_as_text_never_markup(evil):
    d = example("case_loop")
    d["title"] = {"zh-CN": evil}
    d["nodes"][1]["title"] = {"zh-CN": evil}
    d["nodes"][-1]["title"] = {"zh-CN": evil}
    d["transitions"][1]["label"] = {"zh-CN": evil}
    d["transitions"][1]["condition"] = evil
    svg = render_svg(d, highlight={evil}, states={"collect": evil})
    assert "<script" not in svg and "<img" not in svg
    root = parse(svg)  # still well-formed XML
    assert not list(root.iter(f"{SVG}script"))
    assert not any(el.tag.endswith("img") for el in root.iter())
    g = node_group(root, "collect")
    assert evil in "".join(g.find(f"{SVG}title").itertext())  # the whole name in the tooltip
    assert texts(g)[0].startswith(evil[:6])  # shown as text (cut with … when long)
    assert evil in "".join(root.find(f"{SVG}title").itertext())
    # a state word that is not a plain word never reaches the class attribute
    assert node_group(root, "collect").get("class").split() == ["fd-node", "fd-task"]


def test_no_inline_styles_or_scripts_anywhere():
    for name in ("case_loop", "joint_review"):
        svg = render_svg(example(name), highlight={"dispose"}, states={"collect": "done"})
        root = parse(svg)
        for el in root.iter():
            assert "style" not in el.attrib, el.tag
            assert not any(a.startswith("on") for a in el.attrib), el.tag
            assert not el.tag.endswith(("style", "script", "foreignObject"))


def test_current_node_and_states_become_css_classes_defined_in_flows_css():
    d = example("case_loop")
    root = parse(render_svg(d, highlight={"dispose"},
                            states={"start": "done", "collect": "done", "dispose": "active", "feedback": "waiting"}))
    assert "current" in node_group(root, "dispose").get("class").split()
    assert "state-active" in node_group(root, "dispose").get("class").split()
    assert "state-done" in node_group(root, "collect").get("class").split()
    assert "state-waiting" in node_group(root, "feedback").get("class").split()
    assert "current" not in node_group(root, "collect").get("class").split()
    css = (ROOT / "core" / "themes" / "default" / "static" / "flows.css").read_text(encoding="utf-8")
    for cls in (".state-done", ".state-active", ".state-waiting", ".current", ".fd-back", ".fd-edge-label",
                ".flow-diagram"):
        assert cls in css, cls


def test_layers_follow_the_longest_path_from_start():
    d = example("case_loop")
    boxes = layout(d)
    order = ["start", "collect", "file", "dispatch", "dispose", "feedback", "verify", "close", "end"]
    ys = [boxes[n][1] for n in order]
    assert ys == sorted(ys) and len(set(ys)) == len(ys)
    # a straight chain stays on one axis
    centres = {round(boxes[n][0] + boxes[n][2] / 2) for n in order}
    assert len(centres) == 1


def test_parallel_branches_share_a_layer_and_the_join_waits_below_them():
    boxes = layout(example("joint_review"))
    assert boxes["dept_a"][1] == boxes["dept_b"][1]
    assert boxes["join"][1] > boxes["escalate"][1] > boxes["dept_a"][1]
    assert boxes["dept_a"][0] != boxes["dept_b"][0]


def test_loops_are_drawn_as_arcs_and_do_not_bend_the_layering():
    d = example("case_loop")
    lay = compute_layout(d)
    back = [r for r in lay.routes if r.edge.back]
    assert [(r.edge.source, r.edge.target) for r in back] == [("verify", "dispose")]
    root = parse(render_svg(d))
    arcs = [p for p in root.iter(f"{SVG}path") if "fd-back" in (p.get("class") or "").split()]
    assert len(arcs) == 1 and "C" in arcs[0].get("d")
    # the arc passes outside the nodes (to the right of every box it spans)
    right = max(x + w for x, y, w, h in layout(d).values())
    c1x = float(re.search(r"C([\d.]+),", arcs[0].get("d")).group(1))
    assert c1x > right


def test_a_self_loop_and_a_return_to_start_are_drawn():
    d = example("joint_review")
    d["transitions"].append({"from": "escalate", "to": "escalate", "action": "again"})
    root = parse(render_svg(d))
    loops = [p for p in root.iter(f"{SVG}path") if p.get("data-from") == p.get("data-to") == "escalate"]
    assert len(loops) == 1 and "C" in loops[0].get("d")


def test_barycentre_ordering_removes_an_avoidable_crossing():
    d = {"id": "x", "title": "x", "nodes": [
        {"id": "start", "type": "start"}, {"id": "split", "type": "parallel"},
        {"id": "a", "type": "task", "title": "A"}, {"id": "b", "type": "task", "title": "B"},
        # listed in the "wrong" order: a naive layout crosses a→x and b→y
        {"id": "y", "type": "task", "title": "Y"}, {"id": "x", "type": "task", "title": "X"},
        {"id": "join", "type": "join"}, {"id": "end", "type": "end"}],
        "transitions": [{"from": "start", "to": "split"}, {"from": "split", "to": "a"}, {"from": "split", "to": "b"},
                        {"from": "a", "to": "x"}, {"from": "b", "to": "y"}, {"from": "x", "to": "join"},
                        {"from": "y", "to": "join"}, {"from": "join", "to": "end"}]}
    boxes = layout(d)
    assert (boxes["a"][0] < boxes["b"][0]) == (boxes["x"][0] < boxes["y"][0])


def test_long_edges_route_between_layers_not_through_nodes():
    d = example("joint_review")
    lay = compute_layout(d)
    route = next(r for r in lay.routes if (r.edge.source, r.edge.target) == ("quick", "end"))
    for nid, b in lay.nodes.items():
        if nid in ("quick", "end"):
            continue
        for (x0, y0), (x1, y1) in zip(route.points, route.points[1:]):
            if x0 == x1:  # vertical run must not cross a node box
                assert not (b.x < x0 < b.x + b.w and min(y0, y1) < b.y + b.h / 2 < max(y0, y1)), nid


def test_nodes_in_a_layer_do_not_overlap_and_fit_the_picture():
    d = example("joint_review")
    svg = render_svg(d)
    root = parse(svg)
    w, h = float(root.get("width")), float(root.get("height"))
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    boxes = layout(d)
    for x, y, bw, bh in boxes.values():
        assert 0 <= x and x + bw <= w and 0 <= y and y + bh <= h
    items = list(boxes.items())
    for i, (n1, (x1, y1, w1, h1)) in enumerate(items):
        for n2, (x2, y2, w2, h2) in items[i + 1:]:
            overlap = x1 < x2 + w2 and x2 < x1 + w1 and y1 < y2 + h2 and y2 < y1 + h1
            assert not overlap, (n1, n2)


def test_size_follows_content():
    small = {"id": "s", "title": "s", "nodes": [{"id": "start", "type": "start"}, {"id": "end", "type": "end"}],
             "transitions": [{"from": "start", "to": "end"}]}
    r1, r2 = parse(render_svg(small)), parse(render_svg(example("case_loop")))
    assert float(r1.get("height")) < float(r2.get("height"))
    assert float(r1.get("width")) <= 400  # a phone shows it at full size
    assert float(r2.get("width")) <= 400  # the seven-stage loop is tall, not wide


def test_lr_layout_for_bpmn_runs_left_to_right():
    boxes = layout(example("case_loop"), direction="LR")
    assert boxes["start"][0] < boxes["collect"][0] < boxes["end"][0]
    assert boxes["start"][1] + boxes["start"][3] / 2 == pytest.approx(boxes["collect"][1] + boxes["collect"][3] / 2)


@pytest.mark.parametrize("broken", [
    {},
    {"nodes": "nope", "transitions": None},
    {"nodes": [{"id": "a", "type": "start"}, {"id": "a", "type": "end"}, {"type": "task"}, "junk"],
     "transitions": [{"from": "a", "to": "missing"}, {"from": None}, 3]},
    {"nodes": [{"id": "a", "type": "mystery", "title": {"en": "only English"}}], "transitions": []},
    {"nodes": [{"id": "a", "type": "task"}, {"id": "b", "type": "task"}],
     "transitions": [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}]},  # a cycle with no start
])
def test_half_edited_definitions_still_render(broken):
    root = parse(render_svg(broken))
    assert root.tag == f"{SVG}svg"


def test_unreachable_nodes_are_marked():
    d = example("case_loop")
    d["nodes"].append({"id": "orphan", "type": "task", "title": "孤立"})
    root = parse(render_svg(d))
    assert "fd-unreachable" in node_group(root, "orphan").get("class").split()
    assert "fd-unreachable" not in node_group(root, "collect").get("class").split()


def test_rendering_does_not_change_the_definition_and_is_deterministic():
    d = example("joint_review")
    before = copy.deepcopy(d)
    assert render_svg(d) == render_svg(d)
    assert d == before


def test_a_large_flow_renders_quickly():
    n = 120
    nodes = [{"id": "start", "type": "start"}] + [{"id": f"t{i}", "type": "task", "title": f"步骤 {i}"}
                                                  for i in range(n)] + [{"id": "end", "type": "end"}]
    trans = [{"from": "start", "to": "t0"}] + [{"from": f"t{i}", "to": f"t{i + 1}", "action": "go"}
                                               for i in range(n - 1)]
    trans += [{"from": f"t{i}", "to": f"t{(i * 7) % n}", "action": "back"} for i in range(0, n, 5)]
    trans += [{"from": f"t{i}", "to": f"t{min(n - 1, i + 9)}", "action": "skip"} for i in range(0, n, 3)]
    trans.append({"from": f"t{n - 1}", "to": "end", "action": "done"})
    started = time.perf_counter()
    svg = render_svg({"id": "big", "title": "big", "nodes": nodes, "transitions": trans})
    assert time.perf_counter() - started < 5
    assert len(layout({"id": "big", "title": "big", "nodes": nodes, "transitions": trans})) == n + 2
    parse(svg)
