"""Flow designer (流程配置) edits: pure functions over a definition document.

Each takes a document and returns a *new* one (the input is never mutated)
whose structure passes the meta-schema, so a malformed edit is refused with
the JSON path of the fault. Graph and name faults (a node not yet connected,
a condition naming a field the form lacks) are allowed in the working copy
and listed by :func:`ccms.flows.definition.check_flow`; saving a version
refuses them. The screens in :mod:`ccms.web.admin_flows` turn form posts
into these calls.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from .definition import NODE_TYPES, OPERATIONS, TIME_UNITS, FlowDefinitionError, check_structure

NODE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
ASSIGNEE_KEYS = ("role", "scope", "field", "username")
LIST_KEYS = ("view", "editable", "required_attachments")


def _err(zh: str, en: str, path: str) -> FlowDefinitionError:
    return FlowDefinitionError(zh, en, path=path, source="designer")


def text_value(zh: str, en: str = "") -> Any:
    """A label as stored: plain text, or {"zh-CN", "en"} when English is given."""
    zh, en = zh.strip(), en.strip()
    if en:
        return {"zh-CN": zh, "en": en}
    return zh


def checked(d: Mapping[str, Any]) -> dict[str, Any]:
    check_structure(d, "designer")
    return dict(d)


def new_flow(flow_id: str, title: str, title_en: str = "") -> dict[str, Any]:
    """The smallest flow that loads: start -> end."""
    return checked({"id": flow_id, "title": text_value(title, title_en),
                    "nodes": [{"id": "start", "type": "start", "title": {"zh-CN": "开始", "en": "Start"}},
                              {"id": "end", "type": "end", "title": {"zh-CN": "结束", "en": "End"}}],
                    "transitions": [{"from": "start", "to": "end"}]})


def parse_amount(raw: str, path: str) -> int | float | str | None:
    """A time-limit amount from a form: a number, an expression, or None when empty."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        return raw  # an expression, compiled by check_flow
    if not math.isfinite(value):
        raise _err("请输入数字或表达式", "enter a number or an expression", path)
    return int(value) if value.is_integer() else value


def parse_names(raw: Any) -> list[str]:
    """Comma, 、 or newline separated names, order kept, duplicates dropped."""
    items = raw if isinstance(raw, list) else re.split(r"[,，、\s]+", str(raw or ""))
    out: list[str] = []
    for item in items:
        item = str(item).strip()
        if item and item not in out:
            out.append(item)
    return out


def parse_variables(raw: str) -> dict[str, Any]:
    """``name:type`` per line (``amount:number``); type defaults to string."""
    out: dict[str, Any] = {}
    for line in str(raw or "").replace("\r\n", "\n").split("\n"):
        line = line.strip()
        if not line:
            continue
        name, _, kind = line.partition(":")
        out[name.strip()] = {"type": kind.strip() or "string"}
    return out


def set_settings(d: Mapping[str, Any], *, title: str, title_en: str = "", form: str = "", calendar: str = "",
                 warn_ratio: float | None = None, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    new = copy.deepcopy(dict(d))
    if not title.strip():
        raise _err("请填写流程标题", "a title is required", "$.title")
    new["title"] = text_value(title, title_en)
    for key, value in (("form", form.strip()), ("calendar", calendar.strip())):
        if value:
            new[key] = value
        else:
            new.pop(key, None)
    if warn_ratio is None:
        new.pop("warn_ratio", None)
    else:
        new["warn_ratio"] = warn_ratio
    if variables is not None:
        old = new.get("variables") or {}
        merged = {k: {**(old.get(k) or {}), **v} for k, v in variables.items()}
        if merged:
            new["variables"] = merged
        else:
            new.pop("variables", None)
    return checked(new)


def _node_index(d: Mapping[str, Any], node_id: str) -> int:
    for i, node in enumerate(d.get("nodes", [])):
        if node.get("id") == node_id:
            return i
    raise _err(f"节点 {node_id} 不存在", f"node {node_id} does not exist", "$.nodes")


def add_node(d: Mapping[str, Any], node_id: str, node_type: str, title: str = "", title_en: str = "") -> dict[str, Any]:
    """A new node, placed before the first end node (ends read last)."""
    node_id = node_id.strip()
    if not NODE_ID.match(node_id):
        raise _err("节点编码以字母开头，只含字母、数字、下划线（最多 64 个字符）",
                   "a node id starts with a letter and has only letters, digits and underscores (at most 64)",
                   "$.nodes.id")
    if node_type not in NODE_TYPES:
        raise _err("请选择节点类型", "choose a node type", "$.nodes.type")
    if any(n.get("id") == node_id for n in d.get("nodes", [])):
        raise _err(f"节点编码 {node_id} 已被使用", f"node id {node_id} is taken", "$.nodes.id")
    new = copy.deepcopy(dict(d))
    node: dict[str, Any] = {"id": node_id, "type": node_type}
    if title.strip():
        node["title"] = text_value(title, title_en)
    if node_type == "task":
        node["assignee"] = {"rule": "initiator"}
    nodes = new["nodes"]
    at = next((i for i, n in enumerate(nodes) if n.get("type") == "end"), len(nodes))
    nodes.insert(at, node)
    return checked(new)


def set_node(d: Mapping[str, Any], node_id: str, node: Mapping[str, Any]) -> dict[str, Any]:
    """Replace a node's settings (its id stays)."""
    new = copy.deepcopy(dict(d))
    i = _node_index(new, node_id)
    new["nodes"][i] = {"id": node_id, **{k: v for k, v in node.items() if k != "id"}}
    return checked(new)


def move_node(d: Mapping[str, Any], node_id: str, where: str) -> dict[str, Any]:
    new = copy.deepcopy(dict(d))
    i = _node_index(new, node_id)
    j = i - 1 if where == "up" else i + 1
    nodes = new["nodes"]
    if 0 <= j < len(nodes):
        nodes[i], nodes[j] = nodes[j], nodes[i]
    return checked(new)


def remove_node(d: Mapping[str, Any], node_id: str) -> dict[str, Any]:
    """Drop a node with every transition touching it and every return to it."""
    new = copy.deepcopy(dict(d))
    i = _node_index(new, node_id)
    if len(new["nodes"]) == 1:
        raise _err("流程至少需要一个节点", "a flow needs at least one node", "$.nodes")
    del new["nodes"][i]
    new["transitions"] = [t for t in new["transitions"] if node_id not in (t.get("from"), t.get("to"))]
    for node in new["nodes"]:
        ret = (node.get("operations") or {}).get("return")
        if ret and node_id in ret.get("to", []):
            ret["to"] = [x for x in ret["to"] if x != node_id]
            if not ret["to"]:
                del node["operations"]["return"]
    return checked(new)


def _transition_index(d: Mapping[str, Any], index: int) -> int:
    if not 0 <= index < len(d.get("transitions", [])):
        raise _err(f"流转 {index + 1} 不存在", f"transition {index + 1} does not exist", "$.transitions")
    return index


def add_transition(d: Mapping[str, Any], t: Mapping[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(dict(d))
    new["transitions"].append(dict(t))
    return checked(new)


def set_transition(d: Mapping[str, Any], index: int, t: Mapping[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(dict(d))
    new["transitions"][_transition_index(new, index)] = dict(t)
    return checked(new)


def move_transition(d: Mapping[str, Any], index: int, where: str) -> dict[str, Any]:
    """Order matters for an exclusive gateway: the first condition that holds wins."""
    new = copy.deepcopy(dict(d))
    i = _transition_index(new, index)
    j = i - 1 if where == "up" else i + 1
    ts = new["transitions"]
    if 0 <= j < len(ts):
        ts[i], ts[j] = ts[j], ts[i]
    return checked(new)


def remove_transition(d: Mapping[str, Any], index: int) -> dict[str, Any]:
    new = copy.deepcopy(dict(d))
    del new["transitions"][_transition_index(new, index)]
    return checked(new)


# --- form posts -> node and transition dicts ---------------------------------------------------

def _get(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key, "")
    if isinstance(value, list):
        value = value[-1] if value else ""
    return str(value or "").strip()


def _approval(data: Mapping[str, Any], op: str, old: Mapping[str, Any]) -> dict[str, Any] | None:
    role = _get(data, f"{op}_approval_role")
    if role:
        return {"rule": "role", "role": role}
    previous = (old.get(op) or {}).get("approval")
    if previous and previous.get("rule") != "role":
        return dict(previous)  # a rule written in JSON that the form does not show: kept
    return None


def operations_from_form(data: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    ops: dict[str, Any] = {}
    for op in OPERATIONS:
        if not data.get(f"op_{op}"):
            continue
        conf: dict[str, Any] = {}
        approval = _approval(data, op, old)
        if op == "return":
            conf["to"] = parse_names(data.get("return_to"))
        if approval is not None and op != "withdraw" and op != "urge":
            conf["approval"] = approval
        if op == "extend" and _get(data, "extend_max_times"):
            try:
                conf["max_times"] = int(_get(data, "extend_max_times"))
            except ValueError:
                raise _err("请输入整数", "enter a whole number", "$.operations.extend.max_times") from None
        if op == "void" and _get(data, "void_outcome"):
            conf["outcome"] = _get(data, "void_outcome")
        if op == "urge" and _get(data, "urge_role"):
            conf["role"] = _get(data, "urge_role")
        ops[op] = conf
    return ops


def bulk_choices(d: Mapping[str, Any], node_id: str) -> list[str]:
    """Actions of a node the inbox may do in bulk: those of its outgoing transitions that
    need no comment and fire no timer (the inbox offers nothing else), in order."""
    out: list[str] = []
    for t in d.get("transitions", []):
        action = t.get("action")
        if (t.get("from") == node_id and action and action not in out and not t.get("comment_required")
                and "timer" not in t):
            out.append(action)
    return out


def bulk_from_form(data: Mapping[str, Any], old: Mapping[str, Any], choices: list[str] | None) -> list[str]:
    """批量办理 from the panel's checkboxes (``bulk``); a post without the chooser
    (``bulk_shown`` absent, e.g. an older page) keeps what the node had."""
    if not data.get("bulk_shown"):
        return list(old.get("bulk") or [])
    picked = parse_names(data.get("bulk"))
    if choices is not None:
        bad = [a for a in picked if a not in choices]
        if bad:
            raise _err(f"批量办理只能选择本节点无需填写意见的按钮：{'、'.join(bad)} 不可用",
                       f"bulk can only use this node's actions that need no comment: {', '.join(bad)} cannot",
                       "$.bulk")
    return picked


def node_from_form(node_type: str, data: Mapping[str, Any], old: Mapping[str, Any],
                   bulk_allowed: list[str] | None = None) -> dict[str, Any]:
    """The node a designer panel describes; keys the panel does not show are kept.
    ``bulk_allowed`` (from :func:`bulk_choices`) checks the 批量办理 checkboxes posted."""
    node: dict[str, Any] = {"type": node_type}
    if _get(data, "title"):
        node["title"] = text_value(_get(data, "title"), _get(data, "title_en"))
    if old.get("description"):
        node["description"] = old["description"]
    if node_type == "task":
        rule = _get(data, "assignee_rule")
        if rule:
            assignee = {"rule": rule}
            for key in ASSIGNEE_KEYS:
                if _get(data, f"assignee_{key}"):
                    assignee[key] = _get(data, f"assignee_{key}")
            node["assignee"] = assignee
        if data.get("claim"):
            node["claim"] = True
        amount = parse_amount(_get(data, "limit_amount"), "$.time_limit.amount")
        if amount is not None:
            node["time_limit"] = {"amount": amount, "unit": _get(data, "limit_unit") or "work_days"}
        for key in LIST_KEYS:
            names = parse_names(data.get(key))
            if names:
                node[key] = names
        if _get(data, "multi_field"):
            node["multi"] = {"field": _get(data, "multi_field")}
        ops = operations_from_form(data, old.get("operations") or {})
        if ops:
            node["operations"] = ops
        bulk = bulk_from_form(data, old, bulk_allowed)
        if bulk:
            node["bulk"] = bulk
    elif node_type == "auto":
        if _get(data, "action"):
            node["action"] = _get(data, "action")
        params = _get(data, "params")
        if params:
            try:
                node["params"] = json.loads(params)
            except ValueError:
                raise _err("参数必须是 JSON 对象", "params must be a JSON object", "$.params") from None
    elif node_type == "subflow" and _get(data, "flow"):
        node["flow"] = _get(data, "flow")
    elif node_type == "end" and _get(data, "outcome"):
        node["outcome"] = _get(data, "outcome")
    return node


def transition_from_form(data: Mapping[str, Any]) -> dict[str, Any]:
    t: dict[str, Any] = {"from": _get(data, "from"), "to": _get(data, "to")}
    if not t["from"]:
        raise _err("请选择起点节点", "choose the node it leaves", "$.from")
    if not t["to"]:
        raise _err("请选择终点节点", "choose the node it goes to", "$.to")
    if _get(data, "action"):
        t["action"] = _get(data, "action")
    if _get(data, "label"):
        t["label"] = text_value(_get(data, "label"), _get(data, "label_en"))
    if _get(data, "condition"):
        t["condition"] = _get(data, "condition")
    for key in ("default", "rework", "comment_required"):
        if data.get(key):
            t[key] = True
    amount = parse_amount(_get(data, "timer_amount"), "$.timer.amount")
    if amount is not None:
        t["timer"] = {"amount": amount, "unit": _get(data, "timer_unit") or "work_hours"}
    return t


def node_form_values(node: Mapping[str, Any]) -> dict[str, Any]:
    """A node as the designer panel's input values (the inverse of :func:`node_from_form`)."""
    title = node.get("title")
    assignee = node.get("assignee") or {}
    limit = node.get("time_limit") or {}
    ops = node.get("operations") or {}
    vals: dict[str, Any] = {
        "title": title.get("zh-CN", "") if isinstance(title, Mapping) else (title or ""),
        "title_en": title.get("en", "") if isinstance(title, Mapping) else "",
        "assignee_rule": assignee.get("rule", ""), "claim": bool(node.get("claim")),
        "limit_amount": "" if limit.get("amount") is None else str(limit["amount"]),
        "limit_unit": limit.get("unit", "work_days"),
        "multi_field": (node.get("multi") or {}).get("field", ""),
        "action": node.get("action", ""), "flow": node.get("flow", ""), "outcome": node.get("outcome", ""),
        "params": json.dumps(node["params"], ensure_ascii=False) if "params" in node else "",
        "return_to": ", ".join((ops.get("return") or {}).get("to", [])),
        "extend_max_times": str((ops.get("extend") or {}).get("max_times", "")),
        "void_outcome": (ops.get("void") or {}).get("outcome", ""),
        "urge_role": (ops.get("urge") or {}).get("role", ""),
        "bulk": list(node.get("bulk") or []),
    }
    for key in ASSIGNEE_KEYS:
        vals[f"assignee_{key}"] = assignee.get(key, "")
    for key in LIST_KEYS:
        vals[key] = ", ".join(node.get(key, []))
    for op in OPERATIONS:
        vals[f"op_{op}"] = op in ops
        approval = (ops.get(op) or {}).get("approval") or {}
        vals[f"{op}_approval_role"] = approval.get("role", "") if approval.get("rule") == "role" else ""
    return vals


def transition_form_values(t: Mapping[str, Any]) -> dict[str, Any]:
    label = t.get("label")
    timer = t.get("timer") or {}
    return {"from": t.get("from", ""), "to": t.get("to", ""), "action": t.get("action", ""),
            "label": label.get("zh-CN", "") if isinstance(label, Mapping) else (label or ""),
            "label_en": label.get("en", "") if isinstance(label, Mapping) else "",
            "condition": t.get("condition", ""), "default": bool(t.get("default")), "rework": bool(t.get("rework")),
            "comment_required": bool(t.get("comment_required")),
            "timer_amount": "" if timer.get("amount") is None else str(timer["amount"]),
            "timer_unit": timer.get("unit", "work_hours")}


__all__ = ["TIME_UNITS", "add_node", "add_transition", "bulk_choices", "bulk_from_form", "move_node",
           "move_transition", "new_flow", "node_form_values", "node_from_form", "parse_amount", "parse_names",
           "parse_variables", "remove_node", "remove_transition", "set_node", "set_settings", "set_transition",
           "text_value", "transition_form_values", "transition_from_form"]
