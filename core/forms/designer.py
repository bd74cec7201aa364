"""Form designer (表单配置) edits: pure functions over a definition document.

Each function takes a definition dict and returns a *new* dict (the input is
never mutated) that has passed :func:`core.forms.definition.load_definition`,
so a bad edit is refused with the JSON path of the fault before anything is
saved. The screens in :mod:`core.web.admin_forms` call these and store the
result as a new draft version.

Only top-level fields are edited here; nested objects and repeating groups
written by hand in a definition file are kept as they are.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .definition import DRAFT_2020_12, DefinitionError, jpath, load_definition

FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RULE_EFFECTS = ("show", "hide", "enable", "disable")
RULE_OPS = ("eq", "ne", "in", "empty", "not_empty", "gt", "lt")
#: Keywords ``set_field_props`` may set on a field's schema; ``None`` removes them.
LIMIT_KEYS = ("minLength", "maxLength", "minimum", "maximum", "pattern")


def _err(zh: str, en: str, path: str) -> DefinitionError:
    return DefinitionError(zh, en, path=path, source="designer")


def new_definition(form_id: str, title: str, title_en: str = "") -> dict[str, Any]:
    """An empty form: no fields yet, checked like any other."""
    t: Any = {"zh-CN": title, "en": title_en} if title_en else title
    d = {"id": form_id, "title": t, "schema": {"$schema": DRAFT_2020_12, "type": "object", "properties": {}}}
    return checked(d)


def checked(defn: Mapping[str, Any]) -> dict[str, Any]:
    """The document after :func:`load_definition` accepted it (raises otherwise);
    ui sections the edit left empty are dropped so versions differ only by substance."""
    d = dict(defn)
    ui = d.get("ui")
    if isinstance(ui, dict):
        ui = {k: v for k, v in ui.items() if not (k == "fields" and v == {})}
        d["ui"] = ui
        if not ui:
            del d["ui"]
    return load_definition(d, "designer").to_dict()


def _props(d: dict[str, Any]) -> dict[str, Any]:
    return d["schema"].setdefault("properties", {})


def _need_field(d: Mapping[str, Any], name: str) -> dict[str, Any]:
    props = d["schema"].get("properties", {})
    if name not in props:
        raise _err(f"字段 {name} 不存在", f"field {name} does not exist", jpath(["schema", "properties", name]))
    return props[name]


def _flat_names(items: list[Any]) -> list[str]:
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            out += _flat_names(item.get("items", []))
    return out


def field_order(d: Mapping[str, Any]) -> list[str]:
    """Top-level fields as screens show them: layout order first, then schema order."""
    props = list(d["schema"].get("properties", {}))
    laid = [n for n in _flat_names((d.get("ui") or {}).get("layout", [])) if n in props]
    return laid + [n for n in props if n not in laid]


def _container(items: list[Any], name: str) -> list[Any] | None:
    """The layout list (top level or inside a group) that holds ``name``."""
    if name in items:
        return items
    for item in items:
        if isinstance(item, dict):
            found = _container(item.get("items", []), name)
            if found is not None:
                return found
    return None


def _text(zh: str, en: str = "") -> Any:
    zh, en = (zh or "").strip(), (en or "").strip()
    return {"zh-CN": zh, "en": en} if en else zh


def field_schema(field_types: Any, type_name: str, label: str, label_en: str = "",
                 options: Iterable[tuple[Any, str]] = ()) -> dict[str, Any]:
    """The schema fragment of a new field: the type's own fragment plus the label."""
    if type_name not in field_types:
        raise _err(f"未知的字段类型 {type_name}", f"unknown field type {type_name}", "$.schema.properties")
    ft = field_types.get(type_name)
    opts = list(options)
    if type_name in ("enum", "multiselect"):
        out = ft.schema(options=opts)
    else:
        out = ft.schema()
    out["title"] = (label or "").strip()
    if (label_en or "").strip():
        out["x-ccms-title"] = {"zh-CN": label.strip(), "en": label_en.strip()}
    return out


def add_field(defn: Mapping[str, Any], name: str, type_name: str, label: str, required: bool = False,
              options: Iterable[tuple[Any, str]] = (), *, field_types: Any, label_en: str = "") -> dict[str, Any]:
    """Append a top-level field of a registered type."""
    d = copy.deepcopy(dict(defn))
    path = jpath(["schema", "properties", name])
    if not FIELD_NAME.fullmatch(name or ""):
        raise _err("字段名只能用字母、数字和下划线，且不能以数字开头", "a field name is letters, digits and underscores, "
                   "not starting with a digit", "$.schema.properties")
    if name in _props(d):
        raise _err(f"字段 {name} 已经存在", f"field {name} already exists", path)
    if not (label or "").strip():
        raise _err("请填写字段标签", "a label is required", path + ".title")
    opts = list(options)
    if type_name in ("enum", "multiselect") and not opts:
        raise _err("单选/多选字段至少需要一个选项", "a choice field needs at least one option", path + ".oneOf")
    _props(d)[name] = field_schema(field_types, type_name, label, label_en, opts)
    layout = (d.get("ui") or {}).get("layout")
    if layout and all(isinstance(x, str) for x in layout):
        layout.append(name)
    _set_required(d, name, required)
    return checked(d)


def _set_required(d: dict[str, Any], name: str, required: bool) -> None:
    req = [r for r in d["schema"].get("required", []) if r != name]
    if required:
        req.append(name)
    if req:
        d["schema"]["required"] = req
    else:
        d["schema"].pop("required", None)


def references_to(defn: Mapping[str, Any], name: str) -> list[str]:
    """JSON paths outside the schema that still name ``name`` (rules, list, index, permissions)."""
    out: list[str] = []
    ui_fields = (defn.get("ui") or {}).get("fields") or {}
    for owner, conf in ui_fields.items():
        for i, rule in enumerate(conf.get("rules", [])):
            if rule.get("when", {}).get("field") == name and owner != name:
                out.append(jpath(["ui", "fields", owner, "rules", i, "when", "field"]))
    listing = defn.get("list") or {}
    for key in ("columns", "filters"):
        for i, n in enumerate(listing.get(key, [])):
            if n == name:
                out.append(jpath(["list", key, i]))
    if str(listing.get("sort", "")).lstrip("-") == name:
        out.append("$.list.sort")
    for i, n in enumerate(defn.get("indexed", [])):
        if n == name:
            out.append(jpath(["indexed", i]))
    return out


def remove_field(defn: Mapping[str, Any], name: str, *, cascade: bool = False) -> dict[str, Any]:
    """Drop a field and its own ui settings. Rules of other fields that test it
    refuse the removal (naming the path) unless ``cascade``, which drops them;
    list columns/filters, sort, indexes and field permissions follow the field."""
    d = copy.deepcopy(dict(defn))
    _need_field(d, name)
    rule_refs = [p for p in references_to(d, name) if p.startswith("$.ui.")]
    if rule_refs and not cascade:
        raise _err(f"字段 {name} 仍被显示规则引用，请先删除该规则", f"field {name} is still used by a rule: remove it first",
                   rule_refs[0])
    del d["schema"]["properties"][name]
    _set_required(d, name, False)
    ui = d.get("ui") or {}
    (ui.get("fields") or {}).pop(name, None)
    for conf in (ui.get("fields") or {}).values():
        if "rules" in conf:
            conf["rules"] = [r for r in conf["rules"] if r.get("when", {}).get("field") != name]
            if not conf["rules"]:
                del conf["rules"]
    if "fields" in ui:
        ui["fields"] = {k: v for k, v in ui["fields"].items() if v}
    if "layout" in ui:
        ui["layout"] = _drop_from_layout(ui["layout"], name)
    listing = d.get("list") or {}
    for key in ("columns", "filters"):
        if key in listing:
            listing[key] = [n for n in listing[key] if n != name]
    if str(listing.get("sort", "")).lstrip("-") == name:
        del listing["sort"]
    if "indexed" in d:
        d["indexed"] = [n for n in d["indexed"] if n != name]
    perms = (d.get("permissions") or {}).get("fields") or {}
    perms.pop(name, None)
    return checked(d)


def _drop_from_layout(items: list[Any], name: str) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if item == name:
            continue
        if isinstance(item, dict):
            item = {**item, "items": _drop_from_layout(item.get("items", []), name)}
        out.append(item)
    return out


def move_field(defn: Mapping[str, Any], name: str, where: str | int) -> dict[str, Any]:
    """Move a field ``"up"``, ``"down"`` or to an index. The order is kept in
    ``ui.layout`` (the definition's place for it; a flat list of names unless
    the layout has groups, where the field moves within its group)."""
    d = copy.deepcopy(dict(defn))
    _need_field(d, name)
    ui = d.setdefault("ui", {})
    layout = ui.get("layout")
    grouped = bool(layout) and not all(isinstance(x, str) for x in layout)
    names: list[Any] = (_container(layout, name) if grouped else None) or field_order(d)
    if grouped and name not in names:  # not in the layout: it follows the layout, in schema order
        names = field_order(d)
        grouped = False
    i = names.index(name)
    if where == "up":
        j = max(0, i - 1)
    elif where == "down":
        j = min(len(names) - 1, i + 1)
    elif isinstance(where, int) and not isinstance(where, bool):
        j = max(0, min(len(names) - 1, where))
    else:
        raise _err("移动方向应为 up、down 或位置序号", "move up, down or to an index", jpath(["schema", "properties", name]))
    names.insert(j, names.pop(i))
    if not grouped:
        ui["layout"] = names
        props = d["schema"]["properties"]
        d["schema"]["properties"] = {n: props[n] for n in names}
    return checked(d)


def _enum_branches(values: Iterable[tuple[Any, str]]) -> list[dict[str, Any]]:
    return [{"const": v, "title": t or str(v)} for v, t in values]


def set_field_props(defn: Mapping[str, Any], name: str, **props: Any) -> dict[str, Any]:
    """Change a field's settings. Keys: ``label``, ``label_en``, ``required``,
    ``minLength``/``maxLength``/``minimum``/``maximum``/``pattern`` (``None``
    removes), ``enum`` (list of (value, label)), ``dictionary`` (a 数据字典
    code), ``help``, ``help_en``, ``placeholder``, ``widget`` (empty removes)."""
    d = copy.deepcopy(dict(defn))
    sub = _need_field(d, name)
    path = jpath(["schema", "properties", name])
    unknown = set(props) - {"label", "label_en", "required", "enum", "dictionary", "help", "help_en",
                            "placeholder", "widget", *LIMIT_KEYS}
    if unknown:
        key = min(unknown)
        raise _err(f"不支持的设置 {key}", f"unknown setting {key}", f"{path}.{key}")
    if "label" in props or "label_en" in props:
        zh = props.get("label", sub.get("title", ""))
        zh = (zh or "").strip()
        if not zh:
            raise _err("请填写字段标签", "a label is required", path + ".title")
        sub["title"] = zh
        en = props.get("label_en")
        if en is None:
            en = ((sub.get("x-ccms-title") or {}).get("en") if isinstance(sub.get("x-ccms-title"), dict) else "") or ""
        if en.strip():
            sub["x-ccms-title"] = {"zh-CN": zh, "en": en.strip()}
        else:
            sub.pop("x-ccms-title", None)
    if "required" in props:
        _set_required(d, name, bool(props["required"]))
    for key in LIMIT_KEYS:
        if key in props:
            if props[key] is None or props[key] == "":
                sub.pop(key, None)
            else:
                sub[key] = props[key]
    if props.get("pattern"):
        try:
            re.compile(props["pattern"])
        except re.error as exc:
            raise _err(f"正则表达式无效：{exc}", f"invalid regular expression: {exc}", path + ".pattern") from None
    if props.get("enum") is not None:
        values = list(props["enum"])
        if not values:
            raise _err("至少需要一个选项", "at least one option is required", path + ".oneOf")
        seen = [v for v, _ in values]
        if len(set(map(repr, seen))) != len(seen):
            raise _err("选项的值不能重复", "option values must be unique", path + ".oneOf")
        target = sub["items"] if sub.get("type") == "array" and isinstance(sub.get("items"), dict) else sub
        target.pop("enum", None)
        target.pop("x-enumNames", None)
        target["oneOf"] = _enum_branches(values)
    if "dictionary" in props and props["dictionary"] is not None:
        if sub.get("x-ccms-type") != "dictionary":
            raise _err("只有数据字典字段可以选择字典", "only a dictionary field has a dictionary", path + ".x-ccms-dictionary")
        sub["x-ccms-dictionary"] = str(props["dictionary"]).strip()
    ui_keys = {"help": "help", "placeholder": "placeholder", "widget": "widget"}
    if any(k in props for k in ("help", "help_en", "placeholder", "widget")):
        conf = d.setdefault("ui", {}).setdefault("fields", {}).setdefault(name, {})
        for key, target_key in ui_keys.items():
            if key not in props:
                continue
            value = props[key]
            if key == "help" and (value or "").strip() and (props.get("help_en") or "").strip():
                value = _text(value or "", props["help_en"])
            if value in (None, ""):
                conf.pop(target_key, None)
            else:
                conf[target_key] = value.strip() if isinstance(value, str) else value
        if not conf:
            d["ui"]["fields"].pop(name)
    return checked(d)


def set_rule(defn: Mapping[str, Any], name: str, effect: str | None, when_field: str = "", op: str = "eq",
             value: Any = None) -> dict[str, Any]:
    """Give ``name`` one visibility rule (``effect`` when ``when_field op value``);
    ``effect=None`` removes its rules. The tested field must exist and differ."""
    d = copy.deepcopy(dict(defn))
    _need_field(d, name)
    base = ["ui", "fields", name, "rules", 0]
    conf = d.setdefault("ui", {}).setdefault("fields", {}).setdefault(name, {})
    if effect is None or effect == "":
        conf.pop("rules", None)
        if not conf:
            d["ui"]["fields"].pop(name)
        return checked(d)
    if effect not in RULE_EFFECTS:
        raise _err(f"规则效果应为 {'、'.join(RULE_EFFECTS)} 之一", f"effect must be one of {', '.join(RULE_EFFECTS)}",
                   jpath(base + ["effect"]))
    if op not in RULE_OPS:
        raise _err(f"条件应为 {'、'.join(RULE_OPS)} 之一", f"op must be one of {', '.join(RULE_OPS)}",
                   jpath(base + ["when", "op"]))
    if when_field == name:
        raise _err("规则不能以字段自身为条件", "a rule cannot test its own field", jpath(base + ["when", "field"]))
    when: dict[str, Any] = {"field": when_field, "op": op}
    if op not in ("empty", "not_empty"):
        if value is None or value == "" or value == []:
            raise _err("请填写条件的值", "the condition needs a value", jpath(base + ["when", "value"]))
        when["value"] = value
    conf["rules"] = [{"effect": effect, "when": when}]
    return checked(d)


def set_list_settings(defn: Mapping[str, Any], columns: Iterable[str] | None = None,
                      filters: Iterable[str] | None = None, sort: str | None = None) -> dict[str, Any]:
    """List screen settings; ``None`` leaves a setting as it was, empty clears it."""
    d = copy.deepcopy(dict(defn))
    listing = d.setdefault("list", {})
    for key, val in (("columns", columns), ("filters", filters)):
        if val is not None:
            names = [n for n in val if n]
            if names:
                listing[key] = list(dict.fromkeys(names))
            else:
                listing.pop(key, None)
    if sort is not None:
        if sort.strip():
            listing["sort"] = sort.strip()
        else:
            listing.pop("sort", None)
    if not listing:
        d.pop("list")
    return checked(d)


def set_title(defn: Mapping[str, Any], title: str, title_en: str = "") -> dict[str, Any]:
    d = copy.deepcopy(dict(defn))
    if not (title or "").strip():
        raise _err("请填写表单标题", "a title is required", "$.title")
    d["title"] = _text(title, title_en)
    return checked(d)


def field_name_of(path: str) -> str | None:
    """The field a JSON path points into (``$.schema.properties.age.maximum`` -> ``age``,
    ``$.ui.fields.note.rules[0]...`` -> ``note``), so errors can name it."""
    m = re.match(r"^\$\.schema\.properties\.([A-Za-z_][A-Za-z0-9_]*)", path) or \
        re.match(r"^\$\.ui\.fields\.([A-Za-z_][A-Za-z0-9_]*)", path) or \
        re.match(r"^\$\.permissions\.fields\.([A-Za-z_][A-Za-z0-9_]*)", path)
    return m.group(1) if m else None
