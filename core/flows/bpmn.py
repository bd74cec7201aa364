"""BPMN 2.0 import and export for a subset of BPMN, so flows can be drawn in any standard modeler.

Why a subset: our engine runs what a flow definition can say, so only the
BPMN elements with a meaning in our format are accepted; anything else is
refused with a clear bilingual :class:`ValidationFailed` naming the element
id, never silently dropped. The mapping:

=========================================  ===========================================
BPMN                                       flow definition
=========================================  ===========================================
``startEvent`` / ``endEvent`` (plain)      ``start`` / ``end``
``userTask``                               ``task``
``serviceTask``                            ``auto`` (``action`` from our extension)
``exclusiveGateway`` (``default`` flow)    ``exclusive`` (``"default": true``)
``parallelGateway`` diverging/converging   ``parallel`` / ``join`` (by direction, else by
                                           the number of incoming and outgoing flows)
``callActivity`` ``calledElement``         ``subflow`` ``flow``
``sequenceFlow`` + ``conditionExpression``  transition + ``condition``
``boundaryEvent`` with a timer on a        transition with ``timer`` (``PT4H`` → 4
``userTask`` (``timeDuration``)            work hours, ``P2D`` → 2 work days, ``PT30M``
                                           → 30 minutes)
=========================================  ===========================================

Everything of ours that BPMN has no attribute for (assignee rules, time
limits, operations, actions, labels in other languages, form, variables, …)
travels in ``extensionElements`` as ``<ccms:attr name="key">JSON</ccms:attr>``
in the ``ccms`` namespace (:data:`CCMS_NS`); modelers keep unknown extension
elements, so a definition survives a round trip through one. Vendor
extensions (``camunda:``, ``zeebe:``, …), documentation, lanes and text
annotations mean nothing to our engine: they are reported in a warning list
and ignored. The XML is parsed with defusedxml: DTDs, entities and external
references are refused.

This strict import is the round trip through a modeler (and the API). A
file drawn in another modeler is imported by the designer through
:mod:`ccms.flows.bpmn_draft`, which turns what this module refuses into
placeholder nodes and notes of an editable draft instead.

The diagram interchange (BPMNDI) we write comes from
:func:`ccms.flows.diagram.compute_layout` (left to right); on import the
positions are ignored (our diagrams are laid out on the server).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

import defusedxml
from defusedxml import ElementTree as SafeET

from ..errors import ValidationFailed
from .diagram import GAP_RANK, compute_layout, localize

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
CCMS_NS = "https://ccms.invalid/schema/bpmn/1"
MAX_BYTES = 5_000_000
FLOW_ID_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
NODE_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
NCNAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
DURATION_RE = re.compile(r"^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?)?$")

NODE_TAGS = {"start": "startEvent", "end": "endEvent", "task": "userTask", "auto": "serviceTask",
             "exclusive": "exclusiveGateway", "parallel": "parallelGateway", "join": "parallelGateway",
             "subflow": "callActivity"}
TAG_TYPES = {"startEvent": "start", "endEvent": "end", "userTask": "task", "serviceTask": "auto",
             "exclusiveGateway": "exclusive", "callActivity": "subflow"}
#: node keys written as BPMN attributes rather than ccms extensions
NATIVE_NODE_KEYS = {"id", "type", "title"}
NATIVE_TRANSITION_KEYS = {"from", "to", "label", "condition"}
#: BPMN attributes that carry nothing we need but are harmless (defaults written by modelers)
QUIET_ATTRS = {"id", "name", "isExecutable", "isForCompensation", "startQuantity", "completionQuantity",
               "implementation", "isInterrupting", "parallelMultiple", "isImmediate", "gatewayDirection",
               "default", "calledElement", "attachedToRef", "cancelActivity", "sourceRef", "targetRef",
               "processType", "isClosed", "processRef", "exporter", "exporterVersion", "targetNamespace",
               "typeLanguage", "expressionLanguage"}

Warning = dict[str, str]


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


# ---------------------------------------------------------------------------
# export


def _text_is_plain(value: Any, name: str) -> bool:
    """True when ``value`` is fully said by the BPMN ``name`` attribute."""
    return value == {"zh-CN": name} or (value is None and not name)


def _ext(pairs: list[tuple[str, Any]], indent: str) -> str:
    if not pairs:
        return ""
    inner = "".join(f'{indent}  <ccms:attr name={quoteattr(k)}>'
                    f'{escape(json.dumps(v, ensure_ascii=False, sort_keys=True))}</ccms:attr>\n' for k, v in pairs)
    return f"{indent}<bpmn:extensionElements>\n{inner}{indent}</bpmn:extensionElements>\n"


def _iso_duration(timer: Mapping[str, Any]) -> str | None:
    amount, unit = timer.get("amount"), timer.get("unit")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
        return None
    num = str(int(amount)) if float(amount).is_integer() else repr(float(amount))
    return {"minutes": f"PT{num}M", "work_hours": f"PT{num}H", "work_days": f"P{num}D"}.get(str(unit))


def export_bpmn(definition: Mapping[str, Any]) -> str:
    """The definition as BPMN 2.0 XML with diagram interchange (BPMNDI) for modelers.

    Raises :class:`ValidationFailed` only when an id cannot be an XML id.
    """
    flow_id = str(definition.get("id") or "flow")
    nodes = [n for n in definition.get("nodes") or [] if isinstance(n, Mapping)]
    transitions = [t for t in definition.get("transitions") or [] if isinstance(t, Mapping)]
    for n in nodes:
        if not isinstance(n.get("id"), str) or not NCNAME_RE.match(n["id"]):
            raise ValidationFailed(f"节点 id {n.get('id')!r} 不能用作 BPMN 元素 id",
                                   f"node id {n.get('id')!r} cannot be a BPMN element id")
    if not NCNAME_RE.match(flow_id):
        raise ValidationFailed(f"流程 id {flow_id!r} 不能用作 BPMN 流程 id", f"flow id {flow_id!r} cannot be a BPMN process id")
    by_id = {n["id"]: n for n in nodes}
    used = set(by_id) | {flow_id}

    def fresh(base: str) -> str:
        k, name = 1, base
        while name in used:
            k += 1
            name = f"{base}_{k}"
        used.add(name)
        return name

    flow_ids: list[str] = []
    boundary: dict[int, str] = {}  # transition index -> boundary event id
    for i, t in enumerate(transitions):
        flow_ids.append(fresh(f"Flow_{i + 1}"))
        src = by_id.get(t.get("from"))
        if t.get("timer") and src is not None and src.get("type") == "task":
            boundary[i] = fresh(f"{t['from']}_timer_{i + 1}")
    incoming: dict[str, list[str]] = {}
    outgoing: dict[str, list[str]] = {}
    for i, t in enumerate(transitions):
        outgoing.setdefault(boundary.get(i, str(t.get("from"))), []).append(flow_ids[i])
        incoming.setdefault(str(t.get("to")), []).append(flow_ids[i])

    out: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>\n',
                      f'<bpmn:definitions xmlns:bpmn="{BPMN_NS}" xmlns:bpmndi="{BPMNDI_NS}" xmlns:dc="{DC_NS}" '
                      f'xmlns:di="{DI_NS}" xmlns:xsi="{XSI_NS}" xmlns:ccms="{CCMS_NS}" '
                      f'id={quoteattr("Definitions_" + flow_id)} targetNamespace="{CCMS_NS}" '
                      f'exporter="ccms" exporterVersion="1">\n']
    title = localize(definition.get("title"), "zh-CN")
    out.append(f'  <bpmn:process id={quoteattr(flow_id)} name={quoteattr(title)} isExecutable="true">\n')
    pext = [(k, v) for k, v in definition.items() if k not in ("id", "nodes", "transitions", "title")]
    if not _text_is_plain(definition.get("title"), title):
        pext.insert(0, ("title", definition.get("title")))
    out.append(_ext(pext, "    "))

    for n in nodes:
        nid, ntype = n["id"], str(n.get("type") or "")
        tag = NODE_TAGS.get(ntype)
        if tag is None:
            raise ValidationFailed(f"节点 {nid} 的类型 {ntype!r} 无法导出为 BPMN",
                                   f"node {nid}: type {ntype!r} has no BPMN element")
        name = localize(n.get("title"), "zh-CN")
        attrs = f"id={quoteattr(nid)}" + (f" name={quoteattr(name)}" if name else "")
        if ntype == "exclusive":
            default = [flow_ids[i] for i, t in enumerate(transitions) if t.get("from") == nid and t.get("default")]
            if default:
                attrs += f" default={quoteattr(default[0])}"
        elif ntype in ("parallel", "join"):
            attrs += ' gatewayDirection="Diverging"' if ntype == "parallel" else ' gatewayDirection="Converging"'
        elif ntype == "subflow" and n.get("flow"):
            attrs += f" calledElement={quoteattr(str(n['flow']))}"
        ext = [(k, v) for k, v in n.items() if k not in NATIVE_NODE_KEYS and not (ntype == "subflow" and k == "flow")]
        if not _text_is_plain(n.get("title"), name):
            ext.insert(0, ("title", n.get("title")))
        out.append(f"    <bpmn:{tag} {attrs}>\n")
        out.append(_ext(ext, "      "))
        out += [f"      <bpmn:incoming>{f}</bpmn:incoming>\n" for f in incoming.get(nid, [])]
        out += [f"      <bpmn:outgoing>{f}</bpmn:outgoing>\n" for f in outgoing.get(nid, [])]
        if ntype == "task" and n.get("multi"):
            out.append('      <bpmn:multiInstanceLoopCharacteristics />\n')
        out.append(f"    </bpmn:{tag}>\n")

    for i, bid in boundary.items():
        t = transitions[i]
        timer = t["timer"]
        iso = _iso_duration(timer)
        ext = [] if iso else [("timer", timer)]
        text = iso or str(timer.get("amount", ""))
        out.append(f"    <bpmn:boundaryEvent id={quoteattr(bid)} attachedToRef={quoteattr(str(t['from']))} "
                   f'cancelActivity="true">\n')
        out.append(_ext(ext, "      "))
        out.append(f"      <bpmn:outgoing>{flow_ids[i]}</bpmn:outgoing>\n")
        out.append(f'      <bpmn:timerEventDefinition id={quoteattr(bid + "_def")}>\n'
                   f'        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{escape(text)}</bpmn:timeDuration>\n'
                   f"      </bpmn:timerEventDefinition>\n    </bpmn:boundaryEvent>\n")

    for i, t in enumerate(transitions):
        src = boundary.get(i, str(t.get("from")))
        name = localize(t.get("label"), "zh-CN")
        attrs = f"id={quoteattr(flow_ids[i])} sourceRef={quoteattr(src)} targetRef={quoteattr(str(t.get('to')))}"
        if name:
            attrs += f" name={quoteattr(name)}"
        native_default = t.get("default") is True and by_id.get(t.get("from"), {}).get("type") == "exclusive"
        ext = [(k, v) for k, v in t.items() if k not in NATIVE_TRANSITION_KEYS
               and not (k == "default" and native_default) and not (k == "timer" and i in boundary)]
        if not _text_is_plain(t.get("label"), name):
            ext.insert(0, ("label", t.get("label")))
        cond = t.get("condition")
        body = _ext(ext, "      ")
        if isinstance(cond, str):
            body += (f'      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(cond)}'
                     f"</bpmn:conditionExpression>\n")
        out.append(f"    <bpmn:sequenceFlow {attrs}>\n{body}    </bpmn:sequenceFlow>\n" if body
                   else f"    <bpmn:sequenceFlow {attrs} />\n")
    out.append("  </bpmn:process>\n")
    out.append(_diagram(definition, flow_id, transitions, flow_ids, boundary))
    out.append("</bpmn:definitions>\n")
    return "".join(out)


def _diagram(definition: Mapping[str, Any], flow_id: str, transitions: list[Mapping[str, Any]],
             flow_ids: list[str], boundary: Mapping[int, str]) -> str:
    lay = compute_layout(definition, "LR")
    out = [f'  <bpmndi:BPMNDiagram id={quoteattr("BPMNDiagram_" + flow_id)}>\n'
           f'    <bpmndi:BPMNPlane id={quoteattr("BPMNPlane_" + flow_id)} bpmnElement={quoteattr(flow_id)}>\n']

    def shape(element: str, x: float, y: float, w: float, h: float, extra: str = "") -> None:
        out.append(f'      <bpmndi:BPMNShape id={quoteattr(element + "_di")} bpmnElement={quoteattr(element)}{extra}>\n'
                   f'        <dc:Bounds x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" />\n'
                   f"      </bpmndi:BPMNShape>\n")

    for nid, b in lay.nodes.items():
        shape(nid, round(b.x), round(b.y), b.w, b.h, ' isMarkerVisible="true"'
              if lay.types[nid] == "exclusive" else "")
    routes = {r.edge.index: r for r in lay.routes}
    # boundary timers sit on the bottom edge of their task; k-th timer of a task moves right
    per_task: dict[str, int] = {}
    timer_at: dict[int, tuple[float, float]] = {}
    for i, bid in boundary.items():
        task = str(transitions[i]["from"])
        b = lay.nodes.get(task)
        if b is None:
            continue
        k = per_task.get(task, 0)
        per_task[task] = k + 1
        cx, cy = b.x + b.w - 24 - 30 * k, b.y + b.h
        timer_at[i] = (cx, cy)
        shape(bid, round(cx - 18), round(cy - 18), 36, 36)
    for i, fid in enumerate(flow_ids):
        r = routes.get(i)
        if r is None:
            continue
        pts = list(r.points)
        if i in timer_at:  # out of the timer's bottom, along the gap under the task, then to the target
            cx, cy = timer_at[i]
            tgt = pts[-1]
            b = lay.nodes[str(transitions[i]["from"])]
            if tgt[0] > b.x + b.w:
                gap_x = b.x + b.w + GAP_RANK["LR"] / 2
                pts = [(cx, cy + 18), (cx, cy + 26), (gap_x, cy + 26), (gap_x, tgt[1]), tgt]
            else:
                pts = [(cx, cy + 18), (cx, cy + 26), (tgt[0], cy + 26), tgt]
        wps = "".join(f'        <di:waypoint x="{round(x)}" y="{round(y)}" />\n' for x, y in pts)
        out.append(f'      <bpmndi:BPMNEdge id={quoteattr(fid + "_di")} bpmnElement={quoteattr(fid)}>\n'
                   f"{wps}      </bpmndi:BPMNEdge>\n")
    out.append("    </bpmndi:BPMNPlane>\n  </bpmndi:BPMNDiagram>\n")
    return "".join(out)


# ---------------------------------------------------------------------------
# import


def _fail(zh: str, en: str, element: str = "") -> ValidationFailed:
    fields = {"bpmn": {"message": zh, "message_en": en, **({"element": element} if element else {})}}
    return ValidationFailed(f"BPMN 导入失败：{zh}", f"BPMN import failed: {en}", code="bpmn_invalid", fields=fields)


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _prefix(ns: str) -> str:
    known = {"http://camunda.org/schema/1.0/bpmn": "camunda", "http://camunda.org/schema/zeebe/1.0": "zeebe",
             "http://activiti.org/bpmn": "activiti", "http://flowable.org/bpmn": "flowable",
             "http://www.signavio.com": "signavio", "http://bpmn.io/schema/bpmn": "bioc",
             "http://www.omg.org/spec/BPMN/non-normative/color/1.0": "color", CCMS_NS: "ccms",
             "http://camunda.org/schema/modeler/1.0": "modeler"}
    return known.get(ns, ns)


def check_root(root: ET.Element) -> None:
    """Refuse a document whose root is not BPMN 2.0 ``definitions`` (both importers)."""
    if root.tag != _q(BPMN_NS, "definitions"):
        ns, local = _split(root.tag)
        raise _fail(f"根元素应为 BPMN 2.0 的 definitions，实为 {local}",
                    f"the root element must be BPMN 2.0 definitions, not {local}"
                    + (f" ({ns})" if ns else " (no namespace)"))


class _Importer:
    def __init__(self, flow_id: str) -> None:
        self.flow_id = flow_id
        self.warnings: list[Warning] = []
        self.ids: dict[str, str] = {}  # BPMN id -> our node id
        self.taken: set[str] = set()

    def warn(self, element: str, zh: str, en: str) -> None:
        self.warnings.append({"element": element, "message": zh, "message_en": en})

    def ident(self, el: ET.Element) -> str:
        return el.get("id") or f"<{_split(el.tag)[1]}>"

    # -- attributes and children ------------------------------------------------

    def check_attrs(self, el: ET.Element, allowed: set[str] = frozenset()) -> None:
        eid = self.ident(el)
        for key in el.attrib:
            ns, local = _split(key)
            if ns == CCMS_NS and local in allowed:
                continue
            if ns == "" and (local in QUIET_ATTRS or local in allowed):
                continue
            if ns == XSI_NS:
                continue
            name = f"{_prefix(ns)}:{local}" if ns else local
            self.warn(eid, f"{eid} 的属性 {name} 已忽略", f"attribute {name} of {eid} ignored")

    def extensions(self, el: ET.Element) -> dict[str, Any]:
        """Our ``ccms:attr`` values; other vendors' extension elements are reported and ignored."""
        eid = self.ident(el)
        out: dict[str, Any] = {}
        for ext in el.findall(_q(BPMN_NS, "extensionElements")):
            for child in ext:
                ns, local = _split(child.tag)
                if ns == CCMS_NS and local == "attr":
                    key = child.get("name") or ""
                    try:
                        out[key] = json.loads(child.text or "")
                    except ValueError:
                        raise _fail(f"元素 {eid} 的扩展属性 {key} 不是合法的 JSON",
                                    f"element {eid}: extension attribute {key} is not valid JSON", eid) from None
                    if not key:
                        raise _fail(f"元素 {eid} 的扩展属性缺少 name", f"element {eid}: an extension attribute has no name",
                                    eid)
                else:
                    name = f"{_prefix(ns)}:{local}" if ns else local
                    self.warn(eid, f"{eid} 的扩展元素 {name} 已忽略", f"extension element {name} of {eid} ignored")
        return out

    def children(self, el: ET.Element, allowed: set[str]) -> list[ET.Element]:
        """BPMN children other than the ones every element may carry; refuses the ones not in ``allowed``."""
        eid = self.ident(el)
        kept = []
        for child in el:
            ns, local = _split(child.tag)
            if ns != BPMN_NS:
                name = f"{_prefix(ns)}:{local}" if ns else local
                self.warn(eid, f"{eid} 的子元素 {name} 已忽略", f"child element {name} of {eid} ignored")
                continue
            if local in ("extensionElements", "incoming", "outgoing"):
                continue
            if local == "documentation":
                self.warn(eid, f"{eid} 的说明（documentation）未导入", f"documentation of {eid} not imported")
                continue
            if local not in allowed:
                cid = child.get("id")
                what = f"{local} {cid}" if cid else local
                raise _fail(f"元素 {eid} 含有不支持的 BPMN 内容 {what}",
                            f"element {eid} contains {what}, which is outside the supported BPMN subset", cid or eid)
            kept.append(child)
        return kept

    def node_id(self, bpmn_id: str) -> str:
        if bpmn_id in self.ids:
            return self.ids[bpmn_id]
        nid = bpmn_id
        if not NODE_ID_RE.match(nid):
            nid = re.sub(r"[^A-Za-z0-9_]", "_", nid)
            if not nid[:1].isalpha():
                nid = "n" + nid
            nid = nid[:64]
        base, k = nid, 1
        while nid in self.taken:
            k += 1
            nid = f"{base[:60]}_{k}"
        if nid != bpmn_id:
            self.warn(bpmn_id, f"元素 id {bpmn_id} 改为 {nid}", f"element id {bpmn_id} renamed to {nid}")
        self.ids[bpmn_id] = nid
        self.taken.add(nid)
        return nid

    @staticmethod
    def text_value(ext: Mapping[str, Any], key: str, name: str) -> Any:
        """A title/label: our extension wins, except that a name changed in the modeler replaces zh-CN."""
        if key in ext:
            value = ext[key]
            if isinstance(value, dict) and name and value.get("zh-CN") != name:
                value = {**value, "zh-CN": name}
            elif isinstance(value, str) and name and value != name:
                value = name
            return value
        return {"zh-CN": name} if name else None

    # -- the document -----------------------------------------------------------

    def run(self, root: ET.Element) -> dict[str, Any]:
        check_root(root)
        processes = []
        for child in root:
            ns, local = _split(child.tag)
            eid = self.ident(child)
            if ns == BPMN_NS and local == "process":
                processes.append(child)
            elif ns == BPMNDI_NS and local == "BPMNDiagram":
                continue  # positions: our diagrams are laid out on the server
            elif ns == BPMN_NS and local == "collaboration":
                for part in child:
                    pns, plocal = _split(part.tag)
                    if pns == BPMN_NS and plocal not in ("participant", "documentation", "extensionElements"):
                        raise _fail(f"协作图中的 {plocal} {part.get('id', '')} 不在支持范围内",
                                    f"{plocal} {part.get('id', '')} in a collaboration is outside the supported subset",
                                    part.get("id", eid))
                self.warn(eid, f"泳池（{eid}）已忽略，只导入流程", f"pool/collaboration {eid} ignored; only the process is imported")
            elif ns == BPMN_NS:
                raise _fail(f"不支持的 BPMN 元素 {local}（{eid}）", f"unsupported BPMN element {local} ({eid})", eid)
            else:
                name = f"{_prefix(ns)}:{local}" if ns else local
                self.warn(eid, f"元素 {name} 已忽略", f"element {name} ignored")
        self.check_attrs(root)
        if len(processes) != 1:
            raise _fail(f"文件须恰好含一个流程（process），实有 {len(processes)} 个",
                        f"the file must hold exactly one process, it has {len(processes)}")
        return self.process(processes[0])

    def process(self, proc: ET.Element) -> dict[str, Any]:
        pid = proc.get("id") or ""
        self.check_attrs(proc)
        ext = self.extensions(proc)
        flow_id = self.flow_id or ext.pop("id", None) or pid
        if not FLOW_ID_RE.match(flow_id):
            cleaned = clean_flow_id(flow_id)
            if cleaned is None:
                raise _fail(f"流程 id {flow_id!r} 不可用，请指定流程 id", f"process id {flow_id!r} is unusable; give a flow id",
                            pid)
            self.warn(pid, f"流程 id {flow_id} 改为 {cleaned}", f"process id {flow_id} renamed to {cleaned}")
            flow_id = cleaned
        definition: dict[str, Any] = {"id": flow_id}
        title = self.text_value(ext, "title", proc.get("name") or "")
        ext.pop("title", None)
        definition["title"] = title if title is not None else {"zh-CN": flow_id}
        definition.update(ext)

        elements = self.children(proc, {"startEvent", "endEvent", "userTask", "serviceTask", "exclusiveGateway",
                                        "parallelGateway", "callActivity", "boundaryEvent", "sequenceFlow",
                                        "laneSet", "textAnnotation", "association", "group"})
        nodes: list[dict[str, Any]] = []
        node_el: dict[str, ET.Element] = {}
        boundaries: dict[str, ET.Element] = {}
        flows: list[ET.Element] = []
        for el in elements:
            local = _split(el.tag)[1]
            eid = el.get("id")
            if not eid:
                raise _fail(f"{local} 元素缺少 id", f"a {local} element has no id")
            if local in ("laneSet", "textAnnotation", "association", "group"):
                self.warn(eid, f"{local} {eid} 已忽略（不影响流程）", f"{local} {eid} ignored (no effect on the flow)")
            elif local == "boundaryEvent":
                boundaries[eid] = el
            elif local == "sequenceFlow":
                flows.append(el)
            else:
                if eid in node_el:
                    raise _fail(f"元素 id {eid} 重复", f"duplicate element id {eid}", eid)
                node_el[eid] = el
        in_count: dict[str, int] = {}
        out_count: dict[str, int] = {}
        for f in flows:
            out_count[f.get("sourceRef", "")] = out_count.get(f.get("sourceRef", ""), 0) + 1
            in_count[f.get("targetRef", "")] = in_count.get(f.get("targetRef", ""), 0) + 1
        for eid, el in node_el.items():
            nodes.append(self.node(el, in_count.get(eid, 0), out_count.get(eid, 0)))
        definition["nodes"] = nodes
        types = {n["id"]: n["type"] for n in nodes}

        timers: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}  # boundary id -> (task id, timer, ext)
        for bid, el in boundaries.items():
            timers[bid] = self.boundary(el, node_el, types)
        transitions = []
        defaults = {el.get("default") for el in node_el.values() if el.get("default")}
        for f in flows:
            transitions.append(self.flow(f, node_el, timers, defaults, types))
        for bid in timers:
            if sum(1 for f in flows if f.get("sourceRef") == bid) != 1:
                raise _fail(f"定时边界事件 {bid} 须恰好有一条流出的顺序流",
                            f"timer boundary event {bid} needs exactly one outgoing sequence flow", bid)
        for eid, el in node_el.items():
            d = el.get("default")
            if d and not any(f.get("id") == d for f in flows):
                raise _fail(f"{eid} 的默认流 {d} 不存在", f"default flow {d} of {eid} does not exist", eid)
        self.name_actions(transitions, types)
        definition["transitions"] = transitions
        starts = [n["id"] for n in nodes if n["type"] == "start"]
        if len(starts) > 1:
            raise _fail(f"只能有一个开始事件，实有 {len(starts)} 个：{', '.join(starts)}",
                        f"only one start event is allowed, found {len(starts)}: {', '.join(starts)}", starts[1])
        return definition

    def node(self, el: ET.Element, n_in: int, n_out: int) -> dict[str, Any]:
        local = _split(el.tag)[1]
        bid = el.get("id", "")
        allowed_children: set[str] = set()
        ccms_attrs: set[str] = set()
        if local == "userTask":
            allowed_children = {"multiInstanceLoopCharacteristics"}
        elif local == "serviceTask":
            ccms_attrs = {"action"}
        self.check_attrs(el, ccms_attrs)
        ext = self.extensions(el)
        kids = self.children(el, allowed_children)
        nid = self.node_id(bid)
        if local == "parallelGateway":
            direction = el.get("gatewayDirection", "Unspecified")
            if direction == "Converging" or (direction in ("Unspecified", "") and n_in > 1 and n_out <= 1):
                ntype = "join"
            elif direction == "Diverging" or (direction in ("Unspecified", "") and n_in <= 1):
                ntype = "parallel"
            else:
                raise _fail(f"并行网关 {bid} 同时汇聚和分支（{direction}），请拆成汇聚网关和分支网关两个",
                            f"parallel gateway {bid} both joins and splits ({direction}); draw a joining and a splitting "
                            f"gateway instead", bid)
        else:
            ntype = TAG_TYPES[local]
        node: dict[str, Any] = {"id": nid, "type": ntype}
        title = self.text_value(ext, "title", el.get("name") or "")
        ext.pop("title", None)
        if title is not None:
            node["title"] = title
        if ntype == "subflow":
            called = el.get("calledElement")
            if not called and "flow" not in ext:
                raise _fail(f"调用活动 {bid} 缺少 calledElement（子流程 id）",
                            f"call activity {bid} has no calledElement (the sub-flow id)", bid)
            if called:  # the called process's id becomes a flow id the same way as the process's own
                node["flow"] = clean_flow_id(called) or called
        if ntype == "auto":
            action = el.get(_q(CCMS_NS, "action"))
            if action and "action" not in ext:
                node["action"] = action
            elif not action and "action" not in ext:
                raise _fail(f"服务任务 {bid} 缺少动作（ccms action）",
                            f"service task {bid} names no action (ccms action)", bid)
        for k in kids:  # multiInstanceLoopCharacteristics on a userTask
            if "multi" not in ext:
                raise _fail(f"多实例任务 {bid} 须在 ccms 扩展中指定 multi（按哪个字段分派）",
                            f"multi-instance task {bid} needs the ccms multi setting (the field to fan out over)", bid)
            self.children(k, set())
        node.update(ext)
        node["id"], node["type"] = nid, ntype
        if ntype == "task" and "assignee" not in node:
            self.warn(bid, f"任务 {bid} 没有办理人规则，请在流程设计器中设置",
                      f"task {bid} has no assignee rule; set one in the flow designer")
        if local in ("startEvent", "endEvent"):
            pass  # event definitions were refused by children() above
        return node

    def name_actions(self, transitions: list[dict[str, Any]], types: Mapping[str, str]) -> None:
        """A task's outgoing transition is a button and needs an ``action``: modelers have none, so name it."""
        used: dict[str, set[str]] = {}
        for t in transitions:
            if "action" in t:
                used.setdefault(t["from"], set()).add(t["action"])
        for t in transitions:
            if types.get(t["from"]) != "task" or "action" in t or "timer" in t:
                continue
            base = ("to_" + t["to"].lower())[:60]
            name, k = base, 1
            while name in used.setdefault(t["from"], set()):
                k += 1
                name = f"{base}_{k}"
            used[t["from"]].add(name)
            t["action"] = name
            self.warn(t["from"], f"任务 {t['from']} 到 {t['to']} 的流转命名为按钮 {name}",
                      f"transition {t['from']} → {t['to']} named as button {name}")

    def boundary(self, el: ET.Element, node_el: Mapping[str, ET.Element],
                 types: Mapping[str, str]) -> tuple[str, dict[str, Any], dict[str, Any]]:
        bid = el.get("id", "")
        self.check_attrs(el)
        ext = self.extensions(el)
        kids = self.children(el, {"timerEventDefinition"})
        if len(kids) != 1:
            raise _fail(f"边界事件 {bid} 只支持定时器（timerEventDefinition）",
                        f"boundary event {bid}: only timer boundary events are supported", bid)
        attached = el.get("attachedToRef", "")
        if attached not in node_el or _split(node_el[attached].tag)[1] != "userTask":
            raise _fail(f"定时边界事件 {bid} 须附着在用户任务上", f"timer boundary event {bid} must sit on a user task", bid)
        if el.get("cancelActivity", "true") == "false":
            raise _fail(f"定时边界事件 {bid} 不中断任务（cancelActivity=false），不在支持范围内",
                        f"non-interrupting timer {bid} (cancelActivity=false) is outside the supported subset", bid)
        timer_el = kids[0]
        self.check_attrs(timer_el)
        parts = self.children(timer_el, {"timeDuration", "timeDate", "timeCycle"})
        if "timer" in ext:
            return self.ids[attached], ext.pop("timer"), ext
        if len(parts) != 1 or _split(parts[0].tag)[1] != "timeDuration":
            raise _fail(f"定时边界事件 {bid} 须给出时长（timeDuration，如 PT4H）",
                        f"timer boundary event {bid} needs a timeDuration (e.g. PT4H)", bid)
        text = (parts[0].text or "").strip()
        return self.ids[attached], self.duration(text, bid), ext

    def duration(self, text: str, bid: str) -> dict[str, Any]:
        m = DURATION_RE.match(text)
        values = [g for g in m.groups()] if m else []
        filled = [(i, v) for i, v in enumerate(values) if v is not None]
        if not m or len(filled) != 1:
            raise _fail(f"定时边界事件 {bid} 的时长 {text!r} 不支持：请用 PT{{n}}M（分钟）、PT{{n}}H（工作时）或 P{{n}}D（工作日）之一",
                        f"timer boundary event {bid}: duration {text!r} is not supported; use one of PT{{n}}M (minutes), "
                        f"PT{{n}}H (work hours) or P{{n}}D (work days)", bid)
        i, v = filled[0]
        amount: int | float = float(v)
        if amount.is_integer():
            amount = int(amount)
        return {"amount": amount, "unit": ("work_days", "work_hours", "minutes")[i]}

    def flow(self, f: ET.Element, node_el: Mapping[str, ET.Element],
             timers: Mapping[str, tuple[str, dict[str, Any], dict[str, Any]]], defaults: set[str],
             types: Mapping[str, str]) -> dict[str, Any]:
        fid = f.get("id", "")
        self.check_attrs(f)
        ext = self.extensions(f)
        kids = self.children(f, {"conditionExpression"})
        src, tgt = f.get("sourceRef", ""), f.get("targetRef", "")
        if tgt not in node_el:
            raise _fail(f"顺序流 {fid} 的目标 {tgt!r} 不是受支持的节点", f"sequence flow {fid}: target {tgt!r} is not a supported node",
                        fid)
        t: dict[str, Any] = {}
        timer_ext: dict[str, Any] = {}
        if src in timers:
            task, timer, timer_ext = timers[src]
            t["from"] = task
        elif src in node_el:
            t["from"] = self.ids[src]
            timer = None
        else:
            raise _fail(f"顺序流 {fid} 的起点 {src!r} 不是受支持的节点", f"sequence flow {fid}: source {src!r} is not a supported node",
                        fid)
        t["to"] = self.ids[tgt]
        label = self.text_value(ext, "label", f.get("name") or "")
        ext.pop("label", None)
        if label is not None:
            t["label"] = label
        for k in kids:
            self.check_attrs(k)
            text = (k.text or "").strip()
            m = re.fullmatch(r"[$#]\{(.*)\}", text, re.S)
            if m:
                text = m.group(1).strip()
                self.warn(fid, f"顺序流 {fid} 的条件去掉了 ${{…}}，请确认它符合本平台的表达式语法",
                          f"condition of sequence flow {fid}: ${{…}} removed; check it against our expression language")
            if not text:
                raise _fail(f"顺序流 {fid} 的条件为空", f"sequence flow {fid} has an empty condition", fid)
            t["condition"] = text
        if fid in defaults:
            t["default"] = True
        if timer is not None:
            t["timer"] = timer
        t.update(timer_ext)
        t.update(ext)
        return t


def clean_flow_id(raw: str) -> str | None:
    """A BPMN process id as a flow id (``Process_Leave-2`` -> ``process_leave_2``), None when nothing usable is left.

    Used for a process's own id and for a call activity's ``calledElement`` alike,
    so a sub-process imported from its own file is found under the id its caller names.
    """
    if FLOW_ID_RE.match(raw):
        return raw
    cleaned = re.sub(r"[^a-z0-9_]", "_", raw.lower())
    if not cleaned[:1].isalpha():
        cleaned = "f" + cleaned
    cleaned = cleaned[:64]
    return cleaned if FLOW_ID_RE.match(cleaned) else None


def _parse(xml: str | bytes) -> ET.Element:
    data = xml.encode("utf-8") if isinstance(xml, str) else bytes(xml)
    if len(data) > MAX_BYTES:
        raise _fail(f"文件过大（超过 {MAX_BYTES // 1_000_000} MB）", f"file too large (over {MAX_BYTES // 1_000_000} MB)")
    if not data.strip():
        raise _fail("文件为空", "the file is empty")
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (defusedxml.DTDForbidden, defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden) as exc:
        raise _fail("文件含 DTD、实体或外部引用，出于安全原因拒绝导入",
                    f"the file contains a DTD, entities or external references, refused for safety ({type(exc).__name__})") \
            from None
    except ET.ParseError as exc:
        line, col = getattr(exc, "position", (0, 0))
        raise _fail(f"XML 格式错误（第 {line} 行第 {col} 列）", f"malformed XML (line {line}, column {col})") from None


def import_bpmn(xml: str | bytes, flow_id: str = "", *, warnings: list[Warning] | None = None) -> dict[str, Any]:
    """A flow definition dict from BPMN 2.0 XML (the subset above).

    ``flow_id`` replaces the process id. What was ignored (vendor attributes,
    lanes, documentation, renamed ids) is appended to ``warnings`` when a list
    is given: ``{"element", "message", "message_en"}`` each. Raises
    :class:`ValidationFailed` (code ``bpmn_invalid``) for unsafe or malformed
    XML and for anything outside the subset, naming the element id.
    """
    if flow_id and not FLOW_ID_RE.match(flow_id):
        raise _fail(f"流程 id {flow_id!r} 无效（小写字母开头，仅含小写字母、数字、下划线）",
                    f"flow id {flow_id!r} is invalid (a lowercase letter, then lowercase letters, digits, underscores)")
    imp = _Importer(flow_id)
    definition = imp.run(_parse(xml))
    if warnings is not None:
        warnings.extend(imp.warnings)
    return definition


def import_bpmn_report(xml: str | bytes, flow_id: str = "") -> tuple[dict[str, Any], list[Warning]]:
    """:func:`import_bpmn` returning ``(definition, warnings)``."""
    warnings: list[Warning] = []
    return import_bpmn(xml, flow_id, warnings=warnings), warnings
