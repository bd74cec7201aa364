"""Flow definitions (流程定义): load, check and describe one definition.

A flow definition is data written in ``flow_defs/`` or in the designer, so
every fault is refused with the JSON path where it sits
(``$.transitions[3].condition``) and a Chinese and English reason. Checks,
cheapest first:

1. the structure, against ``flow_defs/meta-schema.json`` (draft 2020-12);
2. the graph: unique node ids, one start, at least one end, transitions
   between existing nodes, the outgoing transitions each node type needs,
   every node reachable from the start and able to reach an end, every
   parallel split met by a join all its branches reach;
3. the names: conditions, expression amounts and assignee fields over the
   bound form's fields, the declared ``variables`` and the counters
   (:data:`COUNTERS`); editable and attachment fields of the form; the form
   published; automatic actions provided by a plugin (when an app context is
   given); operations naming existing nodes.

:func:`check_flow` returns *every* fault found (the designer lists them);
:func:`load_flow` raises the first one.
"""

from __future__ import annotations

import ast
import copy
import json
from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match
from sqlalchemy.orm import Session

from ..errors import ValidationFailed
from ..forms import store as form_store
from ..forms.definition import (
    ROOT,
    DefinitionError,
    _meta_error,
    content_hash,
    jpath,
    localize,
    parse_json,
)
from ..forms.expr import Expr, ExprError, compile_expr

META_SCHEMA_FILE = ROOT / "flow_defs" / "meta-schema.json"
#: Counters every condition may use besides the form's fields and the variables.
COUNTERS = ("rework_count", "extend_count", "return_count")
NODE_TYPES = ("start", "task", "auto", "exclusive", "parallel", "join", "subflow", "end")
TIME_UNITS = ("minutes", "work_hours", "work_days")
OPERATIONS = ("return", "extend", "suspend", "void", "reassign", "withdraw", "urge")
ASSIGNEE_RULES = ("role", "dept_chosen", "field", "previous_actor", "initiator", "person")
#: Node keys each type may carry besides ``id``, ``type``, ``title``, ``description``.
TYPE_KEYS: dict[str, frozenset[str]] = {
    "start": frozenset(),
    "task": frozenset({"assignee", "claim", "time_limit", "view", "editable", "required_attachments", "bulk",
                       "operations", "multi"}),
    "auto": frozenset({"action", "params"}),
    "exclusive": frozenset(),
    "parallel": frozenset(),
    "join": frozenset(),
    "subflow": frozenset({"flow"}),
    "end": frozenset({"outcome"}),
    # a BPMN element with no node type of ours (ccms.flows.bpmn_draft): kept in the designer's
    # working copy until an administrator replaces it; never in a version, so never run
    "placeholder": frozenset({"bpmn"}),
}
PLACEHOLDER = "placeholder"
COMMON_KEYS = frozenset({"id", "type", "title", "description"})
TYPE_NAMES = {"start": ("开始", "start"), "task": ("人工任务", "task"), "auto": ("自动任务", "automatic task"),
              "exclusive": ("排他网关", "exclusive gateway"), "parallel": ("并行分支", "parallel split"),
              "join": ("汇聚", "join"), "subflow": ("子流程", "sub-flow"), "end": ("结束", "end"),
              "placeholder": ("待替换的占位", "placeholder")}


class FlowDefinitionError(DefinitionError):
    """A flow definition is refused: ``path`` is the JSON path of the fault."""

    code = "flow_definition_invalid"

    def __init__(self, zh: str, en: str, *, path: str = "$", source: str = "") -> None:
        where = f"{source} " if source else ""
        ValidationFailed.__init__(self, f"流程定义 {where}{path} 处有误：{zh}", f"flow definition {where}invalid at {path}: {en}",
                                  fields={path: {"message": zh, "message_en": en}})
        self.path, self.source, self.reason_zh, self.reason_en = path, source, zh, en


@cache
def meta_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(META_SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _structure_error(err: jsonschema.ValidationError) -> tuple[str, str, list[Any]]:
    parts = list(err.absolute_path)
    v, val = err.validator, err.validator_value
    if "propertyNames" in err.schema_path:
        return (f"名称 {err.instance} 不合法（字母或下划线开头，只含字母、数字、下划线）",
                f"invalid name {err.instance} (a letter or underscore, then letters, digits, underscores)",
                parts + [str(err.instance)])
    if v == "exclusiveMinimum":
        return f"必须大于 {val}", f"must be greater than {val}", parts
    if v == "maximum":
        return f"不能大于 {val}", f"must be at most {val}", parts
    if v in ("maxLength", "maxItems"):
        return f"不能超过 {val}", f"must be at most {val} long", parts
    return _meta_error(err)


def check_structure(data: Any, source: str = "") -> None:
    """Validate against the meta-schema; raises the most relevant fault."""
    if not isinstance(data, dict):
        raise FlowDefinitionError("定义必须是 JSON 对象", "a definition must be a JSON object", source=source)
    err = best_match(meta_validator().iter_errors(data))
    if err is not None:
        zh, en, parts = _structure_error(err)
        raise FlowDefinitionError(zh, en, path=jpath(parts), source=source)


# --- the definition ---------------------------------------------------------------------------

def _names_in(text: str) -> set[str]:
    """Variable names an expression uses (function names excluded)."""
    tree = ast.parse(text.strip(), mode="eval")
    calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in calls}


def compile_any(text: str) -> Expr:
    """Compile an expression already checked at load, accepting any name in it
    (names are checked by :func:`check_flow` against the form and variables)."""
    try:
        names = _names_in(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        names = set()
    return compile_expr(text, names)


@dataclass(frozen=True)
class FlowDefinition:
    """A checked flow definition. ``data`` is the document (never mutated);
    ``nodes`` maps node id -> node dict in document order."""

    id: str
    data: dict[str, Any] = field(repr=False)
    source: str = ""
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    transitions: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    start: str = ""
    _out: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict, repr=False, compare=False)
    _in: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict, repr=False, compare=False)
    _exprs: dict[str, Expr] = field(default_factory=dict, repr=False, compare=False)

    # -- graph -------------------------------------------------------------------------------
    def outgoing(self, node_id: str) -> list[dict[str, Any]]:
        """Transitions leaving ``node_id``, in document order (gateways take the first that holds)."""
        return list(self._out.get(node_id, ()))

    def incoming(self, node_id: str) -> list[dict[str, Any]]:
        return list(self._in.get(node_id, ()))

    def node(self, node_id: str) -> dict[str, Any]:
        """The node dict; KeyError for an unknown id."""
        return self.nodes[node_id]

    @property
    def ends(self) -> list[str]:
        return [n for n, node in self.nodes.items() if node["type"] == "end"]

    @property
    def tasks(self) -> list[str]:
        return [n for n, node in self.nodes.items() if node["type"] == "task"]

    # -- settings ----------------------------------------------------------------------------
    @property
    def form(self) -> str | None:
        return self.data.get("form")

    @property
    def calendar(self) -> str | None:
        return self.data.get("calendar")

    @property
    def warn_ratio(self) -> float:
        return float(self.data.get("warn_ratio", 0.8))

    @property
    def variables(self) -> dict[str, Any]:
        return dict(self.data.get("variables") or {})

    def title(self, locale: str = "zh-CN") -> str:
        return localize(self.data.get("title"), locale) or self.id

    def node_title(self, node_id: str, locale: str = "zh-CN") -> str:
        node = self.nodes.get(node_id, {})
        return localize(node.get("title"), locale) or node_id

    def label(self, transition: Mapping[str, Any], locale: str = "zh-CN") -> str:
        """A transition's button text: its label, else its action, else the target's title."""
        return (localize(transition.get("label"), locale) or str(transition.get("action") or "")
                or self.node_title(str(transition.get("to")), locale))

    def expr(self, text: str) -> Expr:
        """The compiled expression (a condition or an expression amount), cached."""
        hit = self._exprs.get(text)
        if hit is None:
            hit = self._exprs[text] = compile_any(text)
        return hit

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)

    def content_hash(self) -> str:
        return content_hash(self.data)


# --- checks ------------------------------------------------------------------------------------

class _Collector:
    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[FlowDefinitionError] = []

    def add(self, zh: str, en: str, parts: Iterable[Any]) -> None:
        self.errors.append(FlowDefinitionError(zh, en, path=jpath(list(parts)), source=self.source))


def _form_fields(form_id: str, ctx: Any, session: Session | None) -> dict[str, Any] | None | bool:
    """The published form's fields; False when it is not published; None when
    no database is at hand to ask."""
    if session is None and ctx is None:
        return None
    if session is None:
        with ctx.db.session() as s:
            d = form_store.get_published(s, form_id)
    else:
        d = form_store.get_published(session, form_id)
    return False if d is None else dict(d.fields)


def _available_actions(ctx: Any) -> Collection[str] | None:
    if ctx is None:
        return None
    try:
        from . import actions  # lazy: optional: definitions are checked without the action registry too
    except ImportError:
        return None
    fn = getattr(actions, "available", None)
    return None if fn is None else set(fn(ctx))


def _check_expr(c: _Collector, text: str, known: set[str] | None, parts: list[Any]) -> None:
    try:
        if known is None:
            compile_any(text)
        else:
            compile_expr(text, known)
    except ExprError as exc:
        c.add(exc.zh, exc.en, parts)


def _check_time(c: _Collector, limit: Mapping[str, Any], known: set[str] | None, parts: list[Any]) -> None:
    amount = limit.get("amount")
    if isinstance(amount, bool):
        c.add("时限必须是正数或表达式", "the amount must be a positive number or an expression", parts + ["amount"])
    elif isinstance(amount, (int, float)):
        if amount <= 0:
            c.add("时限必须大于 0", "the amount must be greater than 0", parts + ["amount"])
    elif isinstance(amount, str):
        _check_expr(c, amount, known, parts + ["amount"])


def _reach(start: Iterable[str], edges: Mapping[str, Iterable[str]], avoid: str | None = None) -> set[str]:
    seen: set[str] = set()
    todo = deque(s for s in start if s != avoid)
    while todo:
        n = todo.popleft()
        if n in seen:
            continue
        seen.add(n)
        todo.extend(m for m in edges.get(n, ()) if m not in seen and m != avoid)
    return seen


def check_flow(data: Any, source: str = "", ctx: Any = None, *, session: Session | None = None) -> list[FlowDefinitionError]:
    """Every fault of a definition (empty list: it loads). A structural fault
    is reported alone: the other checks need a sound structure."""
    try:
        check_structure(data, source)
    except FlowDefinitionError as exc:
        return [exc]
    c = _Collector(source)
    nodes: dict[str, tuple[int, dict[str, Any]]] = {}
    for i, node in enumerate(data["nodes"]):
        if node["id"] in nodes:
            c.add(f"节点 id {node['id']} 重复（第一次在 $.nodes[{nodes[node['id']][0]}]）",
                  f"duplicate node id {node['id']} (first at $.nodes[{nodes[node['id']][0]}])", ["nodes", i, "id"])
            continue
        nodes[node["id"]] = (i, node)
        extra = sorted(set(node) - COMMON_KEYS - TYPE_KEYS[node["type"]])
        if extra:
            zh_t, en_t = TYPE_NAMES[node["type"]]
            c.add(f"{zh_t}节点不使用 {extra[0]}", f"a {en_t} node does not use {extra[0]}", ["nodes", i, extra[0]])
        if node["type"] == PLACEHOLDER:
            what = str((node.get("bpmn") or {}).get("element") or "")
            c.add(f"占位节点（来自 BPMN {what}）须改为本平台的节点类型或删除后才能保存版本、发布",
                  f"placeholder node (from BPMN {what}) must become one of our node types, or be removed, "
                  f"before a version can be saved or published", ["nodes", i, "type"])
        if node["type"] == "task" and "assignee" not in node:
            c.add("人工任务缺少办理人规则（assignee）", "a task needs an assignee rule (assignee)", ["nodes", i, "assignee"])
        if node["type"] == "auto" and "action" not in node:
            c.add("自动任务缺少动作（action）", "an automatic task needs an action", ["nodes", i, "action"])
        if node["type"] == "subflow":
            if "flow" not in node:
                c.add("子流程节点缺少流程（flow）", "a sub-flow node needs a flow", ["nodes", i, "flow"])
            elif node["flow"] == data["id"]:
                c.add("子流程不能是流程自身", "a sub-flow cannot be the flow itself", ["nodes", i, "flow"])
    starts = [n for n, (_, node) in nodes.items() if node["type"] == "start"]
    ends = [n for n, (_, node) in nodes.items() if node["type"] == "end"]
    if len(starts) != 1:
        where = ["nodes", nodes[starts[1]][0], "type"] if len(starts) > 1 else ["nodes"]
        c.add(f"必须恰好有一个开始节点（现有 {len(starts)} 个）", f"there must be exactly one start node (found {len(starts)})",
              where)
    if not ends:
        c.add("至少需要一个结束节点", "there must be at least one end node", ["nodes"])

    start_perm = (data.get("start") or {}).get("permission")
    if start_perm and ctx is not None and start_perm not in ctx.permissions:
        c.add(f"发起权限 {start_perm} 未声明", f"start permission {start_perm} is not declared by any plugin",
              ["start", "permission"])

    # names conditions and fields may use
    variables = set((data.get("variables") or {}))
    fields: dict[str, Any] | None = None
    if data.get("form"):
        got = _form_fields(data["form"], ctx, session)
        if got is False:
            c.add(f"表单 {data['form']} 不存在或未发布", f"form {data['form']} does not exist or is not published", ["form"])
        elif isinstance(got, dict):
            fields = got
    else:  # no form: only the variables and counters
        fields = {}
    known = None if fields is None else {n for n in fields if "." not in n} | variables | set(COUNTERS)

    def need_name(name: str, parts: list[Any]) -> None:
        if known is not None and name not in known:
            c.add(f"字段或变量 {name} 不存在", f"field or variable {name} does not exist", parts)

    def need_field(name: str, parts: list[Any]) -> None:
        if fields is not None and name not in fields:
            c.add(f"表单字段 {name} 不存在", f"form field {name} does not exist", parts)

    actions = _available_actions(ctx) if any(node["type"] == "auto" for _, node in nodes.values()) else None
    for n, (i, node) in nodes.items():
        base: list[Any] = ["nodes", i]
        rule = node.get("assignee")
        if rule and rule.get("field"):
            need_name(rule["field"], base + ["assignee", "field"])
        if "time_limit" in node:
            _check_time(c, node["time_limit"], known, base + ["time_limit"])
        for key in ("view", "editable", "required_attachments"):
            for j, name in enumerate(node.get(key, [])):
                need_field(name, base + [key, j])
        if "multi" in node:
            need_name(node["multi"]["field"], base + ["multi", "field"])
        ops = node.get("operations") or {}
        for j, target in enumerate((ops.get("return") or {}).get("to", [])):
            if target not in nodes:
                c.add(f"回退目标节点 {target} 不存在", f"return target node {target} does not exist",
                      base + ["operations", "return", "to", j])
            elif nodes[target][1]["type"] != "task":
                c.add(f"只能回退到人工任务节点，{target} 不是", f"a return must go to a task node; {target} is not one",
                      base + ["operations", "return", "to", j])
            elif target == n:
                c.add("不能回退到本节点", "a node cannot return to itself", base + ["operations", "return", "to", j])
        for op, conf in ops.items():
            approval = (conf or {}).get("approval") or {}
            if approval.get("field"):
                need_name(approval["field"], base + ["operations", op, "approval", "field"])
        if node["type"] == "auto" and actions is not None and "action" in node and node["action"] not in actions:
            c.add(f"自动动作 {node['action']} 不存在（没有插件提供）", f"unknown automatic action {node['action']} (no plugin provides it)",
                  base + ["action"])

    # transitions
    out: dict[str, list[tuple[int, dict[str, Any]]]] = {n: [] for n in nodes}
    inc: dict[str, list[tuple[int, dict[str, Any]]]] = {n: [] for n in nodes}
    for k, t in enumerate(data["transitions"]):
        tp: list[Any] = ["transitions", k]
        ok = True
        for end_key in ("from", "to"):
            if t[end_key] not in nodes:
                c.add(f"流转引用的节点 {t[end_key]} 不存在", f"the transition refers to node {t[end_key]}, which does not exist",
                      tp + [end_key])
                ok = False
        if "condition" in t:
            _check_expr(c, t["condition"], known, tp + ["condition"])
        if "timer" in t:
            _check_time(c, t["timer"], known, tp + ["timer"])
        if not ok:
            continue
        src, dst = nodes[t["from"]][1], nodes[t["to"]][1]
        if src["type"] == "end":
            c.add("结束节点不能有流出的流转", "an end node has no outgoing transitions", tp + ["from"])
            continue
        if dst["type"] == "start":
            c.add("开始节点不能作为流转的目标（请回到第一个人工任务）", "the start node cannot be a target (go back to the first task)",
                  tp + ["to"])
        if "action" in t and src["type"] != "task":
            c.add("只有人工任务的流转可以有按钮（action）", "only a task's transitions have an action (button)", tp + ["action"])
        if "timer" in t and src["type"] != "task":
            c.add("只有人工任务的流转可以是定时流转", "only a task's transitions can have a timer", tp + ["timer"])
        if t.get("rework"):
            if src["type"] != "task":
                c.add("返工只能从人工任务发起", "a rework starts from a task", tp + ["rework"])
            elif dst["type"] != "task":
                c.add("返工必须回到人工任务", "a rework must go to a task", tp + ["to"])
        if t.get("default") and src["type"] != "exclusive":
            c.add("只有排他网关的流转可以设为默认", "only an exclusive gateway's transitions can be the default", tp + ["default"])
        if "condition" in t and src["type"] in ("start", "parallel", "join", "auto", "subflow"):
            zh_t, en_t = TYPE_NAMES[src["type"]]
            c.add(f"{zh_t}节点的流转不能带条件", f"transitions from a {en_t} node take no condition", tp + ["condition"])
        if t.get("comment_required") and "action" not in t:
            c.add("要求填写意见的流转必须有按钮（action）", "comment_required needs an action", tp + ["comment_required"])
        out[t["from"]].append((k, t))
        inc[t["to"]].append((k, t))

    for n, (i, node) in nodes.items():
        kind, leaving = node["type"], out[n]
        plain = [(k, t) for k, t in leaving if "timer" not in t]
        if kind == "end":
            continue
        if not leaving:
            c.add(f"节点 {n} 没有流出的流转（死路）", f"node {n} has no outgoing transition (dead end)", ["nodes", i])
            continue
        if kind in ("start", "join", "auto", "subflow") and len(leaving) != 1:
            zh_t, en_t = TYPE_NAMES[kind]
            c.add(f"{zh_t}节点必须恰好有一条流出的流转（现有 {len(leaving)} 条）",
                  f"a {en_t} node needs exactly one outgoing transition (found {len(leaving)})", ["nodes", i])
        if kind == "parallel" and len(leaving) < 2:
            c.add("并行分支至少需要两条流出的流转", "a parallel split needs at least two outgoing transitions", ["nodes", i])
        if kind == "join" and len(inc[n]) < 2:
            c.add("汇聚节点至少需要两条流入的流转", "a join needs at least two incoming transitions", ["nodes", i])
        if kind == "task":
            if not plain:
                c.add(f"人工任务 {n} 只有定时流转，办理人无法提交", f"task {n} has only timer transitions: its assignee cannot act",
                      ["nodes", i])
            seen_actions: dict[str, int] = {}
            for k, t in plain:
                if "action" not in t:
                    c.add("人工任务的流转必须有按钮（action）", "a task's transition needs an action (its button)",
                          ["transitions", k, "action"])
                elif t["action"] in seen_actions:
                    c.add(f"按钮 {t['action']} 在节点 {n} 上重复（另见 $.transitions[{seen_actions[t['action']]}]）",
                          f"action {t['action']} is used twice at node {n} (see also $.transitions[{seen_actions[t['action']]}])",
                          ["transitions", k, "action"])
                else:
                    seen_actions[t["action"]] = k
            bulk = node.get("bulk")
            if bulk is not None and not isinstance(bulk, list):
                c.add("bulk 应为按钮（action）列表", "bulk must be a list of actions", ["nodes", i, "bulk"])
            for b, name in enumerate(bulk if isinstance(bulk, list) else ()):
                t = next((t for _, t in plain if t.get("action") == name), None)
                if t is None:
                    c.add(f"批量办理的按钮 {name} 不是节点 {n} 的流转", f"bulk action {name} is not an action of node {n}",
                          ["nodes", i, "bulk", b])
                elif t.get("comment_required"):
                    c.add(f"按钮 {name} 要求填写意见，不能批量办理", f"action {name} requires a comment: it cannot be done in bulk",
                          ["nodes", i, "bulk", b])
        if kind == "exclusive":
            defaults = [k for k, t in leaving if t.get("default")]
            for k in defaults[1:]:
                c.add("排他网关只能有一条默认流转", "an exclusive gateway has at most one default transition",
                      ["transitions", k, "default"])
            for k, t in leaving:
                if "condition" not in t and not t.get("default"):
                    c.add("排他网关的流转需要条件或设为默认", "an exclusive gateway's transition needs a condition or default: true",
                          ["transitions", k])
                elif "condition" in t and t.get("default"):
                    c.add("默认流转不能带条件", "the default transition takes no condition", ["transitions", k, "condition"])

    # reachability and dead ends
    edges = {n: [t["to"] for _, t in out[n]] for n in nodes}
    back = {n: [t["from"] for _, t in inc[n]] for n in nodes}
    if len(starts) == 1:
        reached = _reach([starts[0]], edges)
        for n, (i, _node) in nodes.items():
            if n not in reached:
                c.add(f"节点 {n} 从开始节点无法到达", f"node {n} cannot be reached from the start", ["nodes", i])
    finishing = _reach(ends, back)
    for n, (i, node) in nodes.items():
        if n not in finishing and out[n]:
            c.add(f"从节点 {n} 无法到达任何结束节点（死路）", f"no path leads from node {n} to an end (dead end)", ["nodes", i])

    # parallel split -> join
    for n, (i, node) in nodes.items():
        if node["type"] != "parallel" or len(out[n]) < 2:
            continue
        common: set[str] | None = None
        for _, t in out[n]:
            joins = {m for m in _reach([t["to"]], edges, avoid=n) if nodes[m][1]["type"] == "join"}
            common = joins if common is None else common & joins
        if not common:
            c.add(f"并行分支 {n} 没有所有分支都会到达的汇聚节点（join）",
                  f"parallel split {n} has no join that all its branches reach", ["nodes", i])
    for n, (i, node) in nodes.items():
        if node["type"] == "join" and not any(nodes[m][1]["type"] == "parallel" for m in _reach(back[n], back)):
            c.add(f"汇聚节点 {n} 之前没有并行分支", f"join {n} has no parallel split before it", ["nodes", i])
    return c.errors


def load_flow(data: Any, source: str = "", ctx: Any = None, *, session: Session | None = None) -> FlowDefinition:
    """Check a definition document and return it as a :class:`FlowDefinition`.

    With ``ctx`` (the app) or ``session`` the bound form must be published and
    names are checked against its fields; with ``ctx`` automatic actions are
    checked too. Raises :class:`FlowDefinitionError` (a 422) naming the JSON
    path of the first fault.
    """
    errors = check_flow(data, source, ctx, session=session)
    if errors:
        raise errors[0]
    raw = copy.deepcopy(data)
    nodes = {node["id"]: node for node in raw["nodes"]}
    transitions = tuple(raw["transitions"])
    out: dict[str, list[dict[str, Any]]] = {n: [] for n in nodes}
    inc: dict[str, list[dict[str, Any]]] = {n: [] for n in nodes}
    for t in transitions:
        out[t["from"]].append(t)
        inc[t["to"]].append(t)
    start = next(n for n, node in nodes.items() if node["type"] == "start")
    return FlowDefinition(id=raw["id"], data=raw, source=source, nodes=nodes, transitions=transitions, start=start,
                          _out={k: tuple(v) for k, v in out.items()}, _in={k: tuple(v) for k, v in inc.items()})


def load_text(text: str | bytes, source: str = "", ctx: Any = None, *, session: Session | None = None) -> FlowDefinition:
    """Parse JSON text (clear error when it is not JSON) and load it."""
    try:
        data = parse_json(text, source)
    except DefinitionError as exc:
        raise FlowDefinitionError(exc.reason_zh, exc.reason_en, path=exc.path, source=source) from None
    return load_flow(data, source, ctx, session=session)
