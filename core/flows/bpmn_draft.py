"""BPMN files from other modelers imported as an editable draft (流程设计器 → 导入).

:func:`ccms.flows.bpmn.import_bpmn` is strict: it takes the subset our
engine runs and refuses the rest, which is right for a round trip through a
modeler but wrong for a file drawn elsewhere (Camunda, Signavio, bpmn.io,
SpiffWorkflow): one script task or one lane made the whole file unusable.
:func:`import_bpmn_draft` keeps every file whose structure can be
represented and marks what needs a person:

* **placeholder nodes** (``"type": "placeholder"``) stand where an element has
  no node type of ours — script, business-rule, send, receive and untyped
  tasks, sub-processes of every kind, intermediate events, inclusive,
  complex and event-based gateways, boundary events other than an
  interrupting ``timeDuration`` timer on a user task, a second start event,
  and any supported element whose content is outside the subset (a loop, an
  unusable extension). Each keeps its connections, the reason, a suggested
  replacement and the element's XML, so nothing of the file is lost.
  :func:`ccms.flows.definition.check_flow` reports every placeholder at
  ``$.nodes[i].type``, so the draft cannot be published (nor an edit of it
  saved as a version) until an administrator turns it into one of our node
  types (or removes it) in the designer;
* **tasks without an assignee rule** (user and manual tasks) become ordinary
  ``task`` nodes; the graph checks already refuse them at
  ``$.nodes[i].assignee`` until a rule is set;
* **notes** (``import_notes``) record what has no effect on running a flow —
  lanes (also written on each task's description, as a hint for its
  assignee rule), pools and message flows, data objects and stores, text
  annotations, documentation, vendor attributes — and, for a file with
  several processes, the ones not imported. Notes do not block publishing.

Several processes in one file (a collaboration with pools): the first
executable process that has flow elements is imported, else the first that
has any; the others are listed in the notes (export each from the modeler as
its own file to import it). XML bombs, DTDs and external entities are still
refused by the parser (defusedxml), and anything that cannot be read as
BPMN is refused with a bilingual :class:`~ccms.errors.ValidationFailed`
(code ``bpmn_invalid``), never an unexpected exception.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

from ..errors import Conflict, ValidationFailed
from . import store
from .bpmn import (
    BPMN_NS,
    BPMNDI_NS,
    FLOW_ID_RE,
    _fail,
    _Importer,
    _parse,
    _prefix,
    _q,
    _split,
    check_root,
    clean_flow_id,
)
from .definition import PLACEHOLDER, FlowDefinitionError, check_flow, check_structure

log = logging.getLogger(__name__)

#: flow elements we have a node type for (manualTask: a person confirms it, like a user task)
SUPPORTED = {"startEvent", "endEvent", "userTask", "manualTask", "serviceTask", "exclusiveGateway",
             "parallelGateway", "callActivity"}
#: flow elements that become a placeholder, with the node type suggested to replace it
PLACEHOLDER_SUGGEST: dict[str, str | None] = {
    "task": "task", "receiveTask": "task", "scriptTask": "auto", "businessRuleTask": "auto", "sendTask": "auto",
    "subProcess": "subflow", "transaction": "subflow", "adHocSubProcess": "subflow", "callChoreography": "subflow",
    "subChoreography": "subflow", "choreographyTask": "task",
    "inclusiveGateway": "exclusive", "complexGateway": "exclusive", "eventBasedGateway": "exclusive",
    "intermediateCatchEvent": None, "intermediateThrowEvent": None, "implicitThrowEvent": None,
    "boundaryEvent": None,
}
#: children of a task with no effect on our flows (data mapping): noted, the task is kept
DATA_CHILDREN = {"ioSpecification", "dataInputAssociation", "dataOutputAssociation", "property", "dataInput",
                 "dataOutput", "inputSet", "outputSet", "resourceRole", "performer", "humanPerformer",
                 "potentialOwner", "rendering", "script", "auditing", "monitoring", "categoryValueRef"}
EVENT_DEFINITIONS = {"timerEventDefinition", "messageEventDefinition", "signalEventDefinition",
                     "errorEventDefinition", "escalationEventDefinition", "conditionalEventDefinition",
                     "compensateEventDefinition", "cancelEventDefinition", "terminateEventDefinition",
                     "linkEventDefinition", "eventDefinitionRef"}
ELEMENT_ZH = {
    "task": "未指定类型的任务", "scriptTask": "脚本任务", "businessRuleTask": "业务规则任务", "sendTask": "发送任务",
    "receiveTask": "接收任务", "subProcess": "子流程（内嵌）", "transaction": "事务子流程", "adHocSubProcess": "自由子流程",
    "intermediateCatchEvent": "中间捕获事件", "intermediateThrowEvent": "中间抛出事件", "boundaryEvent": "边界事件",
    "inclusiveGateway": "包容网关", "complexGateway": "复杂网关", "eventBasedGateway": "事件网关",
    "startEvent": "开始事件", "endEvent": "结束事件", "userTask": "用户任务", "serviceTask": "服务任务",
    "callActivity": "调用活动", "parallelGateway": "并行网关", "exclusiveGateway": "排他网关", "manualTask": "手工任务",
}
MAX_NOTES = 500
MAX_XML = 20000


def _local(el: ET.Element) -> str:
    return _split(el.tag)[1]


def _is_bpmn(el: ET.Element) -> bool:
    return _split(el.tag)[0] == BPMN_NS


def _flow_nodes(proc: ET.Element) -> list[ET.Element]:
    return [el for el in proc if _is_bpmn(el) and (_local(el) in SUPPORTED or _local(el) in PLACEHOLDER_SUGGEST)]


class _DraftImporter(_Importer):
    """The strict importer, element by element: what it refuses becomes a placeholder or a note."""

    def __init__(self, flow_id: str) -> None:
        super().__init__(flow_id)
        self.lanes: dict[str, str] = {}  # BPMN id of a flow node -> its lane's name
        self.generated = 0

    # -- lenient children: data mapping is noted, not refused ------------------------------

    def children(self, el: ET.Element, allowed: set[str]) -> list[ET.Element]:
        eid = self.ident(el)
        kept = []
        for child in el:
            ns, local = _split(child.tag)
            if ns == BPMN_NS and local in DATA_CHILDREN and local not in allowed:
                self.warn(eid, f"{eid} 的 {local} 未导入（数据映射、脚本或执行者设置在本平台没有对应）",
                          f"{local} of {eid} not imported (data mapping, scripts and performers have no ccms equivalent)")
                continue
            kept.append(child)
        holder = copy.copy(el)  # the strict check on what is left (refuses loops, event definitions ...)
        holder[:] = kept
        return super().children(holder, allowed)

    def element_id(self, el: ET.Element) -> str:
        eid = el.get("id")
        if not eid:
            self.generated += 1
            eid = f"{_local(el)}_{self.generated}"
            el.set("id", eid)
            self.warn(eid, f"{_local(el)} 元素没有 id，命名为 {eid}", f"a {_local(el)} element had no id: named {eid}")
        return eid

    # -- the document ---------------------------------------------------------------------------

    def run(self, root: ET.Element) -> dict[str, Any]:
        check_root(root)
        processes: list[ET.Element] = []
        for child in root:
            ns, local = _split(child.tag)
            eid = self.ident(child)
            if ns == BPMN_NS and local == "process":
                processes.append(child)
            elif ns == BPMNDI_NS:
                continue  # positions: our diagrams are laid out on the server
            elif ns == BPMN_NS and local == "collaboration":
                parts = sorted({_local(p) for p in child if _is_bpmn(p)} - {"documentation", "extensionElements"})
                self.warn(eid, f"协作图（泳池）{eid} 未导入（含 {'、'.join(parts) or '无'}）：只导入流程本身",
                          f"collaboration (pools) {eid} not imported (holds {', '.join(parts) or 'nothing'}): "
                          f"only the process is")
            elif ns == BPMN_NS:
                self.warn(eid, f"文件级元素 {local} {eid} 未导入（对流程运行无影响）",
                          f"file-level element {local} {eid} not imported (no effect on running the flow)")
            else:
                name = f"{_prefix(ns)}:{local}" if ns else local
                self.warn(eid, f"元素 {name} 已忽略", f"element {name} ignored")
        self.check_attrs(root)
        with_nodes = [p for p in processes if _flow_nodes(p)]
        executable = [p for p in with_nodes if p.get("isExecutable") == "true"]
        chosen = (executable or with_nodes or [None])[0]
        if chosen is None:
            if processes:
                pid = processes[0].get("id", "")
                raise _fail(f"流程 {pid} 中没有任何可导入的节点（开始、任务、网关、结束等）",
                            f"process {pid} has no flow elements to import (start, tasks, gateways, end ...)", pid)
            raise _fail("文件中没有流程（process）", "the file holds no process")
        for other in processes:
            if other is not chosen:
                oid = other.get("id", "")
                name = other.get("name") or oid
                self.warn(oid, f"文件中另有流程 {name}（{oid}）未导入：只导入了 {chosen.get('id', '')}；"
                               f"如需要，请在建模工具中把它另存为单独的文件再导入",
                          f"the file also holds process {name} ({oid}), not imported: only {chosen.get('id', '')} was; "
                          f"save it as a file of its own in the modeler to import it")
        return self.process(chosen)

    def process(self, proc: ET.Element) -> dict[str, Any]:
        pid = proc.get("id") or ""
        self.check_attrs(proc)
        try:
            ext = self.extensions(proc)
        except ValidationFailed as exc:
            self.note_refusal(pid, exc)
            ext = {}
        raw_id = self.flow_id or ext.pop("id", None) or pid
        flow_id = clean_flow_id(str(raw_id)) or "bpmn_import"
        if flow_id != raw_id:
            self.warn(pid, f"流程 id {raw_id} 改为 {flow_id}", f"process id {raw_id} renamed to {flow_id}")
        definition: dict[str, Any] = {"id": flow_id}
        title = self.text_value(ext, "title", proc.get("name") or "")
        ext.pop("title", None)
        definition["title"] = title if title is not None else {"zh-CN": flow_id}
        definition.update(ext)

        node_el: dict[str, ET.Element] = {}
        order: list[str] = []
        boundaries: dict[str, ET.Element] = {}
        flows: list[ET.Element] = []
        for el in proc:
            ns, local = _split(el.tag)
            if ns != BPMN_NS:
                name = f"{_prefix(ns)}:{local}" if ns else local
                self.warn(pid, f"{pid} 的子元素 {name} 已忽略", f"child element {name} of {pid} ignored")
                continue
            if local in ("extensionElements",):
                continue
            if local == "laneSet":
                self.read_lanes(el)
                continue
            if local == "sequenceFlow":
                self.element_id(el)
                flows.append(el)
                continue
            if local not in SUPPORTED and local not in PLACEHOLDER_SUGGEST:
                eid = el.get("id") or local
                self.warn(eid, f"{ELEMENT_ZH.get(local, local)} {eid} 未导入（对流程运行无影响）",
                          f"{local} {eid} not imported (no effect on running the flow)")
                continue
            eid = self.element_id(el)
            if local == "boundaryEvent":
                boundaries[eid] = el
                continue
            if eid in node_el:
                new_id = f"{eid}_{len(node_el) + 1}"
                self.warn(eid, f"元素 id {eid} 重复，第二个改为 {new_id}", f"duplicate element id {eid}: the second is {new_id}")
                el.set("id", new_id)
                eid = new_id
            node_el[eid] = el
            order.append(eid)

        in_count: dict[str, int] = {}
        out_count: dict[str, int] = {}
        for f in flows:
            out_count[f.get("sourceRef", "")] = out_count.get(f.get("sourceRef", ""), 0) + 1
            in_count[f.get("targetRef", "")] = in_count.get(f.get("targetRef", ""), 0) + 1
        nodes: list[dict[str, Any]] = []
        starts = 0
        for eid in order:
            el = node_el[eid]
            node = self.draft_node(el, in_count.get(eid, 0), out_count.get(eid, 0))
            if node["type"] == "start":
                starts += 1
                if starts > 1:
                    node = self.placeholder(el, "流程只能有一个开始事件，这是另一个开始事件：请删除它，或把它接到流程中的某个节点之后",
                                            "a flow has one start event and this is another: remove it, or connect it "
                                            "after a node of the flow", None)
            nodes.append(node)
        types = {n["id"]: n["type"] for n in nodes}

        # boundary events: a timer on a user task is a timer transition; anything else a placeholder after its host
        timers: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}
        extra: list[dict[str, Any]] = []
        for bid, el in boundaries.items():
            try:
                timers[bid] = self.boundary(el, node_el, types)
                continue
            except ValidationFailed as exc:
                reason_zh, reason_en = self.reason(exc)
            node = self.placeholder(el, reason_zh, reason_en, None)
            node_el[bid] = el
            nodes.append(node)
            types[node["id"]] = PLACEHOLDER
            host = el.get("attachedToRef", "")
            if host in node_el and host != bid:
                extra.append({"from": self.ids[host], "to": node["id"]})
            else:
                self.warn(bid, f"边界事件 {bid} 附着的元素 {host!r} 不存在", f"boundary event {bid}: host {host!r} not found")
        if not nodes:
            raise _fail(f"流程 {pid} 中没有任何可导入的节点", f"process {pid} has no flow elements to import", pid)

        transitions: list[dict[str, Any]] = []
        defaults = {el.get("default") for el in node_el.values() if el.get("default")}
        for f in flows:
            t = self.draft_flow(f, node_el, timers, defaults, types)
            if t is not None:
                transitions.append(t)
        transitions.extend(extra)
        for bid in timers:
            n_out = sum(1 for f in flows if f.get("sourceRef") == bid)
            if n_out != 1:
                self.warn(bid, f"定时边界事件 {bid} 有 {n_out} 条流出的顺序流（应恰好一条）",
                          f"timer boundary event {bid} has {n_out} outgoing sequence flows (one is expected)")
        unnamed = [t for t in transitions if "action" not in t and "label" not in t]
        self.name_actions(transitions, types)
        titles = {n["id"]: n.get("title") for n in nodes}
        for t in unnamed:  # the button a person sees says where it leads, not the generated action name
            if "action" in t and titles.get(t["to"]):
                t["label"] = copy.deepcopy(titles[t["to"]])
        definition["nodes"] = nodes
        definition["transitions"] = transitions
        self.write_lanes(nodes)
        return definition

    # -- elements -------------------------------------------------------------------------------

    def reason(self, exc: ValidationFailed) -> tuple[str, str]:
        detail = (exc.fields or {}).get("bpmn") or {}
        return str(detail.get("message") or exc.zh), str(detail.get("message_en") or exc.en)

    def note_refusal(self, element: str, exc: ValidationFailed) -> None:
        zh, en = self.reason(exc)
        self.warn(element, zh, en)

    def placeholder(self, el: ET.Element, zh: str, en: str, suggest: str | None) -> dict[str, Any]:
        local, bid = _local(el), self.element_id(el)
        nid = self.node_id(bid)
        name = (el.get("name") or "").strip()
        kind = ELEMENT_ZH.get(local, local)
        try:
            xml = ET.tostring(el, encoding="unicode")
        except (RecursionError, ValueError):
            xml = ""
        if len(xml) > MAX_XML:
            xml = xml[:MAX_XML - 20] + "<!-- truncated -->"
        origin: dict[str, Any] = {"element": local[:100], "id": bid[:200], "message": zh[:1000],
                                  "message_en": en[:1000]}
        if suggest:
            origin["suggest"] = suggest
        if xml:
            origin["xml"] = xml
        return {"id": nid, "type": PLACEHOLDER, "title": {"zh-CN": name or f"{kind} {bid}"}, "bpmn": origin}

    def draft_node(self, el: ET.Element, n_in: int, n_out: int) -> dict[str, Any]:
        local = _local(el)
        if local in PLACEHOLDER_SUGGEST:
            kind = ELEMENT_ZH.get(local, local)
            suggest = PLACEHOLDER_SUGGEST[local]
            return self.placeholder(el, f"{kind}在本平台没有对应的节点类型", f"{local} has no ccms node type", suggest)
        if local in ("startEvent", "endEvent"):
            return self.event(el)
        source = el
        if local == "manualTask":
            source = copy.copy(el)
            source.tag = _q(BPMN_NS, "userTask")
        try:
            return self.node(source, n_in, n_out)
        except ValidationFailed as exc:
            zh, en = self.reason(exc)
            suggest = {"userTask": "task", "manualTask": "task", "serviceTask": "auto", "callActivity": "subflow",
                       "parallelGateway": None, "exclusiveGateway": "exclusive"}.get(local)
            return self.placeholder(el, zh, en, suggest)

    def event(self, el: ET.Element) -> dict[str, Any]:
        """A start or end event; one with a trigger or result (timer, message, terminate ...) is kept
        as a plain one with a note: a flow of ours is started by a person or a plugin, and ends there."""
        local, bid = _local(el), self.element_id(el)
        self.check_attrs(el)
        try:
            ext = self.extensions(el)
        except ValidationFailed as exc:
            self.note_refusal(bid, exc)
            ext = {}
        kinds = [_local(k) for k in self.children(el, EVENT_DEFINITIONS | {"dataOutputAssociation", "dataOutput",
                                                                             "outputSet", "dataInputAssociation",
                                                                             "dataInput", "inputSet"})
                 if _local(k) in EVENT_DEFINITIONS]
        ntype = "start" if local == "startEvent" else "end"
        if kinds:
            what = ", ".join(k.replace("EventDefinition", "") for k in kinds)
            if ntype == "start":
                self.warn(bid, f"开始事件 {bid} 是 {what} 类开始事件：本平台的流程由办理人或插件发起，已按普通开始事件导入",
                          f"start event {bid} is a {what} start: our flows are started by a person or a plugin; "
                          f"imported as a plain start")
            else:
                self.warn(bid, f"结束事件 {bid} 是 {what} 类结束事件：已按普通结束事件导入",
                          f"end event {bid} is a {what} end event: imported as a plain end")
        node: dict[str, Any] = {"id": self.node_id(bid), "type": ntype}
        title = self.text_value(ext, "title", el.get("name") or "")
        ext.pop("title", None)
        if title is not None:
            node["title"] = title
        node.update(ext)  # our own settings (outcome, description) written by export_bpmn
        node["id"], node["type"] = self.node_id(bid), ntype
        return node

    def draft_flow(self, f: ET.Element, node_el: Mapping[str, ET.Element],
                   timers: Mapping[str, tuple[str, dict[str, Any], dict[str, Any]]], defaults: set[str],
                   types: Mapping[str, str]) -> dict[str, Any] | None:
        fid = f.get("id", "")
        src, tgt = f.get("sourceRef", ""), f.get("targetRef", "")
        if tgt not in node_el or (src not in node_el and src not in timers):
            self.warn(fid, f"顺序流 {fid}（{src} → {tgt}）连接的元素未导入，该顺序流已略去",
                      f"sequence flow {fid} ({src} → {tgt}) joins an element that was not imported: left out")
            return None
        try:
            t = self.flow(f, node_el, timers, defaults, types)
        except ValidationFailed as exc:
            self.note_refusal(fid, exc)
            t = {"from": timers[src][0] if src in timers else self.ids[src], "to": self.ids[tgt]}
        cond = t.get("condition")
        if isinstance(cond, str) and len(cond) > 500:
            self.warn(fid, f"顺序流 {fid} 的条件超过 500 个字符，未导入：{cond[:200]}…",
                      f"the condition of sequence flow {fid} is over 500 characters, not imported: {cond[:200]}…")
            del t["condition"]
        return t

    # -- lanes ------------------------------------------------------------------------------------

    def read_lanes(self, lane_set: ET.Element) -> None:
        for lane in lane_set.iter(_q(BPMN_NS, "lane")):
            name = (lane.get("name") or lane.get("id") or "").strip()
            refs = [(r.text or "").strip() for r in lane.findall(_q(BPMN_NS, "flowNodeRef"))]
            for ref in refs:
                self.lanes[ref] = name  # nested lanes come later in iter(): the innermost wins
            if name:
                self.warn(lane.get("id", ""), f"泳道 {name} 未导入：其中的任务请按它设置办理人规则（如某角色）",
                          f"lane {name} not imported: set the assignee rule of its tasks by it (e.g. a role)")

    def write_lanes(self, nodes: list[dict[str, Any]]) -> None:
        back = {v: k for k, v in self.ids.items()}
        for node in nodes:
            lane = self.lanes.get(back.get(node["id"], ""))
            if lane and node["type"] in ("task", PLACEHOLDER) and "description" not in node:
                node["description"] = {"zh-CN": f"泳道：{lane}", "en": f"lane: {lane}"}


def _notes(warnings: list[dict[str, str]]) -> list[dict[str, str]]:
    out = []
    for w in warnings[:MAX_NOTES]:
        note = {"message": str(w.get("message", ""))[:1000]}
        if w.get("element"):
            note["element"] = str(w["element"])[:200]
        if w.get("message_en"):
            note["message_en"] = str(w["message_en"])[:1000]
        out.append(note)
    if len(warnings) > MAX_NOTES:
        out[-1] = {"message": f"另有 {len(warnings) - MAX_NOTES + 1} 条说明未列出",
                   "message_en": f"{len(warnings) - MAX_NOTES + 1} more notes not listed"}
    return out


def _repair(definition: dict[str, Any], notes: list[dict[str, str]]) -> None:
    """Make the draft pass the meta-schema: a node the schema refuses becomes a placeholder (its
    content kept in the placeholder), a transition or setting it refuses is dropped with a note."""
    for _ in range(200):
        try:
            check_structure(definition, "bpmn")
            return
        except FlowDefinitionError as exc:
            path = exc.path
            parts = path[2:].replace("[", ".").replace("]", "").split(".") if path.startswith("$.") else []
            why = {"element": "", "message": f"{path}：{exc.reason_zh}", "message_en": f"{path}: {exc.reason_en}"}
            if len(parts) >= 2 and parts[0] == "nodes" and parts[1].isdigit():
                i = int(parts[1])
                node = definition["nodes"][i]
                if node.get("type") == PLACEHOLDER and node.get("bpmn", {}).get("xml"):
                    node["bpmn"].pop("xml", None)  # the last thing to give up
                    continue
                nid = node.get("id") if isinstance(node.get("id"), str) else f"node_{i}"
                definition["nodes"][i] = {"id": nid, "type": PLACEHOLDER, "title": {"zh-CN": nid},
                                          "bpmn": {"element": "node", "id": nid, "message": why["message"][:1000],
                                                   "message_en": why["message_en"][:1000]}}
                notes.append({**why, "element": nid})
            elif len(parts) >= 2 and parts[0] == "transitions" and parts[1].isdigit():
                t = definition["transitions"].pop(int(parts[1]))
                notes.append({**why, "element": f"{t.get('from')}→{t.get('to')}"})
            elif parts and parts[0] not in ("id", "nodes", "transitions", "title"):
                definition.pop(parts[0], None)
                notes.append(why)
            else:
                raise _fail(f"无法生成草稿：{exc.reason_zh}（{path}）", f"no draft can be made: {exc.reason_en} ({path})") from None
    raise _fail("无法生成草稿", "no draft can be made")


def import_bpmn_draft(xml: str | bytes, flow_id: str = "") -> tuple[dict[str, Any], list[dict[str, str]]]:
    """``(definition, notes)`` from any BPMN 2.0 file whose structure we can represent.

    The definition passes the meta-schema (so it can be stored as a draft
    version and edited in the designer) but may hold placeholder nodes and tasks without assignee
    rules, which :func:`ccms.flows.definition.check_flow` reports by JSON
    path. ``notes`` (also in ``definition["import_notes"]`` when any) list
    what was not carried over. Raises :class:`ValidationFailed` (code
    ``bpmn_invalid``, bilingual) for a file that is not safe or not BPMN.
    """
    if flow_id and not FLOW_ID_RE.match(flow_id):
        raise _fail(f"流程 id {flow_id!r} 无效（小写字母开头，仅含小写字母、数字、下划线）",
                    f"flow id {flow_id!r} is invalid (a lowercase letter, then lowercase letters, digits, underscores)")
    root = _parse(xml)
    imp = _DraftImporter(flow_id)
    try:
        definition = imp.run(root)
        notes = _notes(imp.warnings)
        _repair(definition, notes)
    except ValidationFailed:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        # a file shaped in a way no test foresaw: a clear refusal, and a log line to learn from
        log.warning("BPMN draft import failed unexpectedly: %r", exc, exc_info=True)
        raise _fail("文件的结构无法识别为 BPMN 流程", f"the file's structure cannot be read as a BPMN process "
                    f"({type(exc).__name__})") from None
    if notes:
        definition["import_notes"] = notes[:MAX_NOTES]
    return definition, notes


# --- storing an import, finishing placeholders ------------------------------------------------------

def save_imported(session: Any, actor: Any, definition: Mapping[str, Any], *, filename: str,
                  ctx: Any = None) -> tuple[str, bool]:
    """Store an imported definition as the flow's next draft version; ``(flow_id, complete)``.

    A complete one (no fault at all) is stored as a JSON import is. An
    incomplete one is stored too (:func:`ccms.flows.store.save_incomplete_draft`),
    its note saying so: the designer opens it with its faults listed by JSON
    path, and publishing refuses it until it is finished (the designer's
    edits then save as a new, complete version). A flow with unsaved designer
    edits (a working copy) is left alone (409: save or discard them first), so
    the import never hides behind, or under, someone's edits.
    """

    flow_id = str(definition["id"])
    source = f"import:{filename}"[:300]
    note = f"BPMN 导入 / imported {filename}"
    if store.work_row(session, flow_id) is not None:
        raise Conflict(f"流程 {flow_id} 有未保存的修改：请先保存为新版本或放弃修改，再导入",
                       f"flow {flow_id} has unsaved changes in the designer: save them as a version or discard "
                       f"them, then import again")
    if not check_flow(dict(definition), "", ctx, session=session):
        row = store.save_draft(session, actor, dict(definition), note=note[:500], source=source, ctx=ctx)
        return row.flow_id, True
    store.save_incomplete_draft(session, actor, dict(definition), source=source,
                                note=f"{note}：待完成（占位节点、办理人规则），在设计器中补全后保存为新版本再发布 / "
                                     f"incomplete: finish it in the designer, save it as a version, then publish")
    return flow_id, False


def name_task_actions(d: Mapping[str, Any], node_id: str) -> dict[str, Any]:
    """After a placeholder became a task in the designer: its outgoing transitions need buttons, so
    name the ones without an action (``to_<target>``) as the import names a modeler's task flows."""
    new = copy.deepcopy(dict(d))
    node = next((n for n in new.get("nodes", []) if n.get("id") == node_id), None)
    if node is None or node.get("type") != "task":
        return new
    used = {t.get("action") for t in new.get("transitions", []) if t.get("from") == node_id and t.get("action")}
    for t in new.get("transitions", []):
        if t.get("from") != node_id or t.get("action") or "timer" in t:
            continue
        base = ("to_" + str(t.get("to", "")).lower())[:60]
        name, k = base, 1
        while name in used:
            k += 1
            name = f"{base}_{k}"
        used.add(name)
        t["action"] = name
        target = next((n for n in new.get("nodes", []) if n.get("id") == t.get("to")), {})
        if target.get("title") and "label" not in t:
            t["label"] = copy.deepcopy(target["title"])
    return new
