"""Layering: a later layer extends a definition without copying it.

An overlay document ``{"id": X, "overlay": true, ...}`` (checked by the
meta-schema) may add fields (optionally placed ``after`` an existing one),
change labels, tighten validation, make fields required, and merge ``ui``,
``list``, ``permissions``, ``renames`` and ``indexed``. Tightening must only
tighten: a record valid under the overlaid form is valid under the base, so
a plugin's own code can rely on the base form. Anything that would loosen is
refused with the JSON path of the offending key.

Pure functions over plain dicts; the result is checked again with
:func:`ccms.forms.definition.load_definition`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from .definition import (
    DefinitionError,
    FormDefinition,
    check_structure,
    collect_fields,
    jpath,
    load_definition,
    resolve_pointer,
)

UPPER = ("maxLength", "maxItems", "maximum", "exclusiveMaximum")  # new value must be <= base
LOWER = ("minLength", "minItems", "minimum", "exclusiveMinimum")  # new value must be >= base
TIGHTENABLE = frozenset({*UPPER, *LOWER, "enum", "pattern", "format", "multipleOf", "uniqueItems", "required"})


def is_overlay(data: Any) -> bool:
    return isinstance(data, Mapping) and data.get("overlay") is True


def _prop_slot(schema: dict[str, Any], name: str) -> tuple[dict[str, Any], str]:
    """(the properties dict holding ``name``, its last part), for dotted names."""
    node: Any = schema
    parts = name.split(".")
    for part in parts[:-1]:
        node = _resolved(schema, node["properties"][part])
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            node = _resolved(schema, node["items"])
    node = _resolved(schema, node)
    return node.setdefault("properties", {}), parts[-1]


def _resolved(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` to the (mutable) target inside ``schema``."""
    while "$ref" in node and len(node) == 1:
        node = resolve_pointer(schema, node["$ref"])
    return node


def _effective(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Keywords in force at ``node``: its ``$ref`` target's, then its own."""
    if "$ref" in node:
        base = _effective(schema, resolve_pointer(schema, node["$ref"]))
        return {**base, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _enum_values(node: Mapping[str, Any]) -> list[Any] | None:
    if "enum" in node:
        return list(node["enum"])
    for key in ("oneOf", "anyOf"):
        if key in node:
            return [b["const"] for b in node[key]]
    if "const" in node:
        return [node["const"]]
    return None


def _tighten_one(schema: dict[str, Any], name: str, key: str, value: Any, parts: list[Any],
                 required: list[str], source: str) -> None:
    """Apply one tightening, or refuse it when it would loosen the base."""
    def refuse(zh: str, en: str) -> None:
        raise DefinitionError(zh, en, path=jpath(parts), source=source)

    if key not in TIGHTENABLE:
        refuse(f"不能通过覆盖修改 {key}（可收紧：{', '.join(sorted(TIGHTENABLE))}）",
               f"an overlay cannot change {key} (tightenable: {', '.join(sorted(TIGHTENABLE))})")
    if key == "required":
        if value is not True:
            refuse("覆盖定义不能取消必填", "an overlay cannot make a required field optional")
        if "." in name:
            refuse("只能把顶层字段设为必填", "only top-level fields can be made required here")
        if name not in required:
            required.append(name)
        return
    props, last = _prop_slot(schema, name)
    node = props[last]
    base = _effective(schema, node)
    old = base.get(key)
    if key in UPPER or key in LOWER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            refuse(f"{key} 必须是数字", f"{key} must be a number")
        if old is not None and ((key in UPPER and value > old) or (key in LOWER and value < old)):
            refuse(f"只能收紧：{key} 由 {old} 改为 {value} 会放宽校验",
                   f"tighten only: {key} {old} -> {value} would loosen validation")
    elif key == "enum":
        if not isinstance(value, list) or not value:
            refuse("enum 必须是非空列表", "enum must be a non-empty list")
        allowed = _enum_values(base)
        wider = [v for v in value if allowed is not None and v not in allowed]
        if wider:
            refuse(f"只能收紧：取值 {wider[0]!r} 不在原有的可选值中", f"tighten only: {wider[0]!r} is not among the base values")
        for label_key in ("oneOf", "anyOf"):  # keep the labels of the values that remain
            if label_key in node:
                node[label_key] = [b for b in node[label_key] if b["const"] in value]
                return
    elif key in ("pattern", "format"):
        if old is not None and old != value:
            refuse(f"只能收紧：已有的 {key} 不能被替换", f"tighten only: the existing {key} cannot be replaced")
    elif key == "multipleOf":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            refuse("multipleOf 必须是正数", "multipleOf must be a positive number")
        if old is not None and (Fraction(str(value)) / Fraction(str(old))).denominator != 1:
            refuse(f"只能收紧：{value} 不是 {old} 的整数倍", f"tighten only: {value} is not a multiple of {old}")
    elif key == "uniqueItems" and value is not True:
        refuse("只能收紧：uniqueItems 只能设为 true", "tighten only: uniqueItems can only be set to true")
    node[key] = value


def _insert_in_layout(layout: list[Any], new: str, after: str | None) -> None:
    """Place ``new`` right after ``after`` wherever that sits, else at the end."""
    if after is not None:
        def place(items: list[Any]) -> bool:
            for i, item in enumerate(items):
                if item == after:
                    items.insert(i + 1, new)
                    return True
                if isinstance(item, dict) and place(item.get("items", [])):
                    return True
            return False
        if place(layout):
            return
    layout.append(new)


def _merge_ui(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    if "layout" in extra:
        base["layout"] = copy.deepcopy(extra["layout"])
    for name, conf in (extra.get("fields") or {}).items():
        target = base.setdefault("fields", {}).setdefault(name, {})
        for key, value in conf.items():
            if key == "rules":
                target["rules"] = target.get("rules", []) + copy.deepcopy(value)
            else:
                target[key] = copy.deepcopy(value)


def apply_overlay(base: FormDefinition, overlay: Mapping[str, Any], source: str = "") -> FormDefinition:
    """The base definition with ``overlay`` applied; ``base`` is not changed."""
    if check_structure(overlay, source) != "overlay":
        raise DefinitionError("这不是覆盖定义（缺少 \"overlay\": true）", "not an overlay (\"overlay\": true is missing)",
                              path="$.overlay", source=source)
    if overlay["id"] != base.id:
        raise DefinitionError(f"覆盖定义的 id {overlay['id']} 与基础定义 {base.id} 不同",
                              f"overlay id {overlay['id']} differs from the base id {base.id}", path="$.id", source=source)
    doc = base.to_dict()
    schema = doc["schema"]
    fields = collect_fields(schema)
    if "title" in overlay:
        doc["title"] = copy.deepcopy(overlay["title"])

    after = dict(overlay.get("after") or {})
    for name in after:
        if name not in (overlay.get("add_fields") or {}):
            raise DefinitionError(f"after 只能用于新增的字段：{name}", f"after applies to added fields only: {name}",
                                  path=jpath(["after", name]), source=source)
    for name, sub in (overlay.get("add_fields") or {}).items():
        parts = ["add_fields", name]
        if name in fields:
            raise DefinitionError(f"字段 {name} 已存在，不能重复添加（改标签请用 labels，收紧请用 tighten）",
                                  f"field {name} already exists (use labels or tighten to change it)",
                                  path=jpath(parts), source=source)
        anchor = after.get(name)
        if anchor is not None and anchor not in fields:
            raise DefinitionError(f"字段 {anchor} 不存在", f"field {anchor} does not exist",
                                  path=jpath(["after", name]), source=source)
        parent = name.rpartition(".")[0]
        if parent and parent not in fields:
            raise DefinitionError(f"上级字段 {parent} 不存在", f"parent field {parent} does not exist",
                                  path=jpath(parts), source=source)
        props, last = _prop_slot(schema, name)
        if anchor is not None and anchor.rpartition(".")[0] == parent:  # keep schema order too
            items = list(props.items())
            idx = next(i for i, (k, _) in enumerate(items) if k == anchor.rpartition(".")[2]) + 1
            items.insert(idx, (last, copy.deepcopy(sub)))
            props.clear()
            props.update(items)
        else:
            props[last] = copy.deepcopy(sub)
        if not parent and doc.get("ui", {}).get("layout"):
            _insert_in_layout(doc["ui"]["layout"], name, anchor)
        fields = collect_fields(schema)

    for name, label in (overlay.get("labels") or {}).items():
        if name not in fields:
            raise DefinitionError(f"字段 {name} 不存在", f"field {name} does not exist",
                                  path=jpath(["labels", name]), source=source)
        props, last = _prop_slot(schema, name)
        if isinstance(label, Mapping):  # JSON Schema titles are strings: zh-CN in title, both in x-ccms-title
            props[last]["title"] = label["zh-CN"]
            props[last]["x-ccms-title"] = dict(label)
        else:
            props[last]["title"] = label
            props[last].pop("x-ccms-title", None)

    required: list[str] = schema.setdefault("required", [])
    for name, changes in (overlay.get("tighten") or {}).items():
        if name not in fields:
            raise DefinitionError(f"字段 {name} 不存在", f"field {name} does not exist",
                                  path=jpath(["tighten", name]), source=source)
        for key, value in changes.items():
            _tighten_one(schema, name, key, value, ["tighten", name, key], required, source)
    for i, name in enumerate(overlay.get("required") or []):
        if name not in schema.get("properties", {}):
            raise DefinitionError(f"顶层字段 {name} 不存在", f"top-level field {name} does not exist",
                                  path=jpath(["required", i]), source=source)
        if name not in required:
            required.append(name)
    if not required:
        schema.pop("required")

    if "ui" in overlay:
        _merge_ui(doc.setdefault("ui", {}), overlay["ui"])
    if "list" in overlay:
        doc.setdefault("list", {}).update(copy.deepcopy(overlay["list"]))
    for name, conf in ((overlay.get("permissions") or {}).get("fields") or {}).items():
        target = doc.setdefault("permissions", {}).setdefault("fields", {}).setdefault(name, {})
        for key, roles in conf.items():  # restrictions add up; an overlay never lifts one
            target[key] = list(dict.fromkeys([*target.get(key, []), *roles]))
    if "renames" in overlay:
        doc.setdefault("renames", {}).update(overlay["renames"])
    if "indexed" in overlay:
        doc["indexed"] = list(dict.fromkeys([*doc.get("indexed", []), *overlay["indexed"]]))
    layered = f"{base.source} + {source}" if base.source else source
    return load_definition(doc, layered)


def apply_extends(base: FormDefinition, child: FormDefinition) -> FormDefinition:
    """A definition that ``extends`` another: the base's fields, then the
    child's (a child field with the same name replaces the base's); required,
    ui fields, permissions and indexes add up; the child's layout, list and
    title win when given."""
    doc = child.to_dict()
    b = base.to_dict()
    schema = b["schema"]
    for key, value in doc["schema"].items():
        if key == "properties":
            schema["properties"] = {**schema.get("properties", {}), **value}
        elif key == "required":
            schema["required"] = list(dict.fromkeys([*schema.get("required", []), *value]))
        elif key == "$defs":
            schema["$defs"] = {**schema.get("$defs", {}), **value}
        else:
            schema[key] = value
    doc["schema"] = schema
    ui = b.get("ui", {})
    _merge_ui(ui, doc.get("ui", {}))
    if ui:
        doc["ui"] = ui
    if b.get("list") and not doc.get("list"):
        doc["list"] = b["list"]
    perms = b.get("permissions", {})
    for name, conf in (doc.get("permissions", {}).get("fields") or {}).items():
        target = perms.setdefault("fields", {}).setdefault(name, {})
        for key, roles in conf.items():
            target[key] = list(dict.fromkeys([*target.get(key, []), *roles]))
    if perms:
        doc["permissions"] = perms
    indexed = list(dict.fromkeys([*b.get("indexed", []), *doc.get("indexed", [])]))
    if indexed:
        doc["indexed"] = indexed
    renames = {**b.get("renames", {}), **doc.get("renames", {})}
    if renames:
        doc["renames"] = renames
    doc.pop("extends", None)
    return load_definition(doc, child.source)


__all__ = ["apply_overlay", "apply_extends", "is_overlay"]
