"""Form designer (表单配置) edits: pure functions over a definition document.

Each function takes a definition dict and returns a *new* dict (the input is
never mutated) that has passed :func:`ccms.forms.definition.load_definition`,
so a bad edit is refused with the JSON path of the fault before anything is
saved. The screens in :mod:`ccms.web.admin_forms` call these and store the
result as a new draft version.

Fields are named by their dotted path, as everywhere else in the engine:
``address.city`` is a sub-field of the nested object ``address``,
``members.name`` a column of the repeating group ``members``. Nested objects
and repeating groups made here (types ``object`` and ``group``) hold
sub-fields that are added, reordered, changed and removed like top-level
ones. Renames are declared (``renames``) so old records keep displaying
under the new name; field permissions, indexes, bulk-edit flags, list
settings, the ui layout (sections, columns, tabs) and visibility rules are
edited here too. Anything reached through a ``$ref`` is left as written.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .definition import DRAFT_2020_12, DefinitionError, jpath, load_definition

FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RULE_EFFECTS = ("show", "hide", "enable", "disable")
RULE_OPS = ("eq", "ne", "in", "empty", "not_empty", "gt", "lt")
#: Keywords ``set_field_props`` may set on a field's schema; ``None`` removes them.
LIMIT_KEYS = ("minLength", "maxLength", "minimum", "maximum", "pattern", "minItems", "maxItems")
#: Extension keyword marking a field the list screen's bulk edit may change.
BULK_EDIT = "x-bulk-edit"  # read by the list screen's bulk action (core/forms/bulk_actions.py)
#: Extension keyword for an attachment field's size limit (bytes).
MAX_SIZE = "x-ccms-max-size"
#: Field types that hold sub-fields, and those that may only sit at the top level.
CONTAINER_TYPES = ("object", "group")
TOP_LEVEL_ONLY = ("file", "image")
#: Layout groups the designer makes: a group kind -> the kind of its parts (None: holds fields).
GROUP_KINDS = {"section": None, "tabs": "tab", "columns": "column"}
PART_KINDS = ("tab", "column")
_NUMERIC_TYPES = ("number", "integer")


def _err(zh: str, en: str, path: str) -> DefinitionError:
    return DefinitionError(zh, en, path=path, source="designer")


def new_definition(form_id: str, title: str, title_en: str = "") -> dict[str, Any]:
    """An empty form: no fields yet, checked like any other."""
    t: Any = {"zh-CN": title, "en": title_en} if title_en else title
    d = {"id": form_id, "title": t, "schema": {"$schema": DRAFT_2020_12, "type": "object", "properties": {}}}
    return checked(d)


def _prune(d: dict[str, Any]) -> None:
    """Drop sections an edit left empty, so versions differ only by substance."""
    ui = d.get("ui")
    if isinstance(ui, dict):
        if ui.get("fields") == {}:
            del ui["fields"]
        if not ui:
            del d["ui"]
    perms = d.get("permissions")
    if isinstance(perms, dict):
        if perms.get("fields") == {}:
            del perms["fields"]
        if not perms:
            del d["permissions"]
    for key in ("renames", "indexed", "list"):
        if key in d and not d[key]:
            del d[key]


def checked(defn: Mapping[str, Any]) -> dict[str, Any]:
    """The document after :func:`load_definition` accepted it (raises otherwise)."""
    d = dict(defn)
    _prune(d)
    return load_definition(d, "designer", expressions="draft").to_dict()


# --- finding fields -------------------------------------------------------------------------

def is_container(sub: Mapping[str, Any]) -> str | None:
    """``"object"`` or ``"group"`` when the designer edits the field's sub-fields."""
    if not isinstance(sub, Mapping) or "$ref" in sub or sub.get("x-ccms-type") not in (None, "object", "group"):
        return None
    items = sub.get("items")
    if sub.get("type") == "array" and isinstance(items, Mapping) and "$ref" not in items and (
            items.get("type") == "object" or "properties" in items):
        return "group"
    if sub.get("type") == "object" or ("properties" in sub and "type" not in sub):
        return "object"
    return None


def _inner(sub: dict[str, Any]) -> dict[str, Any]:
    """The object schema holding a container's sub-fields."""
    return sub["items"] if is_container(sub) == "group" else sub


def _locate(d: Mapping[str, Any], name: str) -> tuple[dict[str, Any], str, list[Any]]:
    """(the object schema holding the field, its key there, its JSON path parts)."""
    parts: list[Any] = ["schema"]
    node: Any = d["schema"]
    segs = str(name or "").split(".")
    for i, seg in enumerate(segs):
        props = node.get("properties") if isinstance(node, dict) else None
        if not isinstance(props, dict) or seg not in props:
            raise _err(f"字段 {name} 不存在", f"field {name} does not exist", jpath(parts + ["properties", seg]))
        parts += ["properties", seg]
        if i == len(segs) - 1:
            return node, seg, parts
        sub = props[seg]
        if is_container(sub) is None:
            raise _err(f"字段 {'.'.join(segs[:i + 1])} 不能包含子字段", f"field {'.'.join(segs[:i + 1])} has no "
                       "sub-fields the designer can edit", jpath(parts))
        if is_container(sub) == "group":
            parts.append("items")
        node = _inner(sub)
    raise _err(f"字段 {name} 不存在", f"field {name} does not exist", "$.schema.properties")  # pragma: no cover


def _need_field(d: Mapping[str, Any], name: str) -> dict[str, Any]:
    node, key, _parts = _locate(d, name)
    return node["properties"][key]


def field_path(d: Mapping[str, Any], name: str) -> str:
    """The JSON path of a field's schema (``$.schema.properties.g.items.properties.x``)."""
    return jpath(_locate(d, name)[2])


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


def all_fields(d: Mapping[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
    """Every field the designer edits as (dotted name, depth, schema): top-level
    ones in screen order, each container followed by its sub-fields."""
    out: list[tuple[str, int, dict[str, Any]]] = []

    def walk(name: str, sub: dict[str, Any], depth: int) -> None:
        out.append((name, depth, sub))
        if is_container(sub):
            for key, child in (_inner(sub).get("properties") or {}).items():
                walk(f"{name}.{key}", child, depth + 1)

    props = d["schema"].get("properties", {})
    for top in field_order(d):
        walk(top, props[top], 0)
    return out


def in_group(d: Mapping[str, Any], name: str) -> bool:
    """True for a field inside a repeating group (one value per row)."""
    segs = name.split(".")
    for i in range(1, len(segs)):
        try:
            if is_container(_need_field(d, ".".join(segs[:i]))) == "group":
                return True
        except DefinitionError:
            return False
    return False


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


def _under(ref: str, name: str) -> bool:
    """``ref`` is the field ``name`` or one of its sub-fields."""
    return ref == name or ref.startswith(name + ".")


# --- fields ---------------------------------------------------------------------------------

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
    if type_name == "object":
        out.setdefault("type", "object")
        out.setdefault("properties", {})
    out["title"] = (label or "").strip()
    if (label_en or "").strip():
        out["x-ccms-title"] = {"zh-CN": label.strip(), "en": label_en.strip()}
    return out


def add_field(defn: Mapping[str, Any], name: str, type_name: str, label: str, required: bool = False,
              options: Iterable[tuple[Any, str]] = (), *, field_types: Any, label_en: str = "",
              parent: str = "") -> dict[str, Any]:
    """Append a field of a registered type: top-level, or a sub-field of the
    nested object / repeating group ``parent``."""
    d = copy.deepcopy(dict(defn))
    if parent:
        psub = _need_field(d, parent)
        ppath = field_path(d, parent)
        kind = is_container(psub)
        if kind is None:
            raise _err("只能在嵌套对象或重复表格中添加子字段", "sub-fields go into a nested object or a repeating group",
                       ppath)
        if type_name in TOP_LEVEL_ONLY:
            raise _err("附件和图片字段只能放在顶层", "attachment and image fields belong at the top level",
                       ppath + ".properties")
        node = _inner(psub)
        node.setdefault("properties", {})
        base_path = ppath + (".items" if kind == "group" else "") + ".properties"
    else:
        node = d["schema"]
        base_path = "$.schema.properties"
    if not FIELD_NAME.fullmatch(name or ""):
        raise _err("字段名只能用字母、数字和下划线，且不能以数字开头", "a field name is letters, digits and underscores, "
                   "not starting with a digit", base_path)
    path = f"{base_path}.{name}"
    if name in node["properties"]:
        raise _err(f"字段 {name} 已经存在", f"field {name} already exists", path)
    if not (label or "").strip():
        raise _err("请填写字段标签", "a label is required", path + ".title")
    opts = list(options)
    if type_name in ("enum", "multiselect") and not opts:
        raise _err("单选/多选字段至少需要一个选项", "a choice field needs at least one option", path + ".oneOf")
    node["properties"][name] = field_schema(field_types, type_name, label, label_en, opts)
    if not parent:
        layout = (d.get("ui") or {}).get("layout")
        if layout:
            layout.append(name)
        # A field of this name was renamed away earlier: that declaration stays in the
        # older versions (records are upgraded version by version), not in this one.
        (d.get("renames") or {}).pop(name, None)
    _set_required(node, name, required)
    return checked(d)


def _set_required(node: dict[str, Any], key: str, required: bool) -> None:
    req = [r for r in node.get("required", []) if r != key]
    if required:
        req.append(key)
    if req:
        node["required"] = req
    else:
        node.pop("required", None)


def _expr_users(d: Mapping[str, Any], name: str) -> list[tuple[str, str]]:
    """(field, JSON path) of computed fields whose expression names ``name``."""
    top = name.split(".")[0]
    word = re.compile(r"(?<![A-Za-z0-9_.])" + re.escape(top) + r"(?![A-Za-z0-9_])")
    out = []
    for fname, _depth, sub in all_fields(d):
        expr = sub.get("x-ccms-expr")
        if isinstance(expr, str) and not _under(fname, name) and word.search(expr):
            out.append((fname, field_path(d, fname) + ".x-ccms-expr"))
    return out


def references_to(defn: Mapping[str, Any], name: str) -> list[str]:
    """JSON paths outside the field itself that still name ``name`` or its
    sub-fields (rules, list, index, permissions, renames)."""
    out: list[str] = []
    ui_fields = (defn.get("ui") or {}).get("fields") or {}
    for owner, conf in ui_fields.items():
        for i, rule in enumerate(conf.get("rules", [])):
            if _under(str(rule.get("when", {}).get("field", "")), name) and not _under(owner, name):
                out.append(jpath(["ui", "fields", owner, "rules", i, "when", "field"]))
    listing = defn.get("list") or {}
    for key in ("columns", "filters"):
        for i, n in enumerate(listing.get(key, [])):
            if _under(n, name):
                out.append(jpath(["list", key, i]))
    if _under(str(listing.get("sort", "")).lstrip("-"), name):
        out.append("$.list.sort")
    for i, n in enumerate(defn.get("indexed", [])):
        if _under(n, name):
            out.append(jpath(["indexed", i]))
    return out


def remove_field(defn: Mapping[str, Any], name: str, *, cascade: bool = False) -> dict[str, Any]:
    """Drop a field (with its sub-fields) and its own ui settings. Rules of other
    fields that test it refuse the removal (naming the path) unless ``cascade``,
    which drops them; a computed field using it always refuses. List columns,
    filters, sort, indexes, field permissions and renames follow the field.
    Saved data is kept: records show it as an archived field."""
    d = copy.deepcopy(dict(defn))
    node, key, _parts = _locate(d, name)
    users = _expr_users(d, name)
    if users:
        raise _err(f"计算字段 {users[0][0]} 的表达式用到了字段 {name}，请先修改该表达式",
                   f"the computed field {users[0][0]} uses {name}: change its expression first", users[0][1])
    rule_refs = [p for p in references_to(d, name) if p.startswith("$.ui.")]
    if rule_refs and not cascade:
        raise _err(f"字段 {name} 仍被显示规则引用，请先删除该规则", f"field {name} is still used by a rule: remove it first",
                   rule_refs[0])
    del node["properties"][key]
    _set_required(node, key, False)
    ui = d.get("ui") or {}
    fields = ui.get("fields") or {}
    for owner in [k for k in fields if _under(k, name)]:
        del fields[owner]
    for conf in fields.values():
        if "rules" in conf:
            conf["rules"] = [r for r in conf["rules"] if not _under(str(r.get("when", {}).get("field", "")), name)]
            if not conf["rules"]:
                del conf["rules"]
    if "fields" in ui:
        ui["fields"] = {k: v for k, v in ui["fields"].items() if v}
    if "layout" in ui:
        ui["layout"] = _drop_from_layout(ui["layout"], name)
    listing = d.get("list") or {}
    for k in ("columns", "filters"):
        if k in listing:
            listing[k] = [n for n in listing[k] if not _under(n, name)]
            if not listing[k]:
                del listing[k]
    if _under(str(listing.get("sort", "")).lstrip("-"), name):
        del listing["sort"]
    if "indexed" in d:
        d["indexed"] = [n for n in d["indexed"] if not _under(n, name)]
    perms = (d.get("permissions") or {}).get("fields") or {}
    for owner in [k for k in perms if _under(k, name)]:
        del perms[owner]
    if "renames" in d:  # old records of a removed field show it as archived, not renamed
        d["renames"] = {o: n for o, n in d["renames"].items() if not _under(n, name)}
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


def _new_index(names: list[Any], name: Any, where: str | int, path: str) -> int:
    i = names.index(name)
    if where == "up":
        return max(0, i - 1)
    if where == "down":
        return min(len(names) - 1, i + 1)
    if isinstance(where, int) and not isinstance(where, bool):
        return max(0, min(len(names) - 1, where))
    raise _err("移动方向应为 up、down 或位置序号", "move up, down or to an index", path)


def move_field(defn: Mapping[str, Any], name: str, where: str | int) -> dict[str, Any]:
    """Move a field ``"up"``, ``"down"`` or to an index among its siblings.
    A sub-field moves within its object or group (schema order). A top-level
    field's order is kept in ``ui.layout`` (a flat list of names unless the
    layout has groups, where the field moves within its group)."""
    d = copy.deepcopy(dict(defn))
    node, key, parts = _locate(d, name)
    if "." in name:
        names = list(node["properties"])
        names.insert(_new_index(names, key, where, jpath(parts)), names.pop(names.index(key)))
        node["properties"] = {n: node["properties"][n] for n in names}
        return checked(d)
    ui = d.setdefault("ui", {})
    layout = ui.get("layout")
    grouped = bool(layout) and not all(isinstance(x, str) for x in layout)
    names = (_container(layout, name) if grouped else None) or field_order(d)
    if grouped and name not in names:  # not in the layout: it follows the layout, in schema order
        names = field_order(d)
        grouped = False
    j = _new_index(names, name, where, jpath(parts))
    names.insert(j, names.pop(names.index(name)))
    if not grouped:
        ui["layout"] = names
        props = d["schema"]["properties"]
        d["schema"]["properties"] = {n: props[n] for n in names}
    return checked(d)


def _rename_ref(ref: str, old: str, new: str) -> str:
    return new + ref.removeprefix(old) if _under(ref, old) else ref


def _rename_layout(items: list[Any], old: str, new: str) -> list[Any]:
    return [new if item == old else ({**item, "items": _rename_layout(item.get("items", []), old, new)}
                                     if isinstance(item, dict) else item) for item in items]


def rename_field(defn: Mapping[str, Any], name: str, new_name: str) -> dict[str, Any]:
    """Give a top-level field a new name and declare the rename (``renames``),
    so records saved under the old name keep displaying under the new one
    (:func:`ccms.forms.records.upgrade`). Every setting naming the field follows."""
    d = copy.deepcopy(dict(defn))
    node, _key, parts = _locate(d, name)
    new_name = (new_name or "").strip()
    path = jpath(parts)
    if "." in name:
        raise _err("只有顶层字段可以改名（旧记录按改名声明对应）；子字段请新增后删除旧的",
                   "only top-level fields can be renamed (old records follow the declared rename); "
                   "add a new sub-field and remove the old one instead", path)
    if not FIELD_NAME.fullmatch(new_name):
        raise _err("字段名只能用字母、数字和下划线，且不能以数字开头", "a field name is letters, digits and underscores, "
                   "not starting with a digit", path)
    if new_name == name:
        return checked(d)
    if new_name in node["properties"]:
        raise _err(f"字段 {new_name} 已经存在", f"field {new_name} already exists", jpath(["schema", "properties",
                                                                                        new_name]))
    users = _expr_users(d, name)
    if users:
        raise _err(f"计算字段 {users[0][0]} 的表达式用到了字段 {name}，请先修改该表达式",
                   f"the computed field {users[0][0]} uses {name}: change its expression first", users[0][1])
    node["properties"] = {(new_name if k == name else k): v for k, v in node["properties"].items()}
    if name in node.get("required", []):
        node["required"] = [new_name if r == name else r for r in node["required"]]
    ui = d.get("ui") or {}
    if "fields" in ui:
        ui["fields"] = {_rename_ref(k, name, new_name): v for k, v in ui["fields"].items()}
        for conf in ui["fields"].values():
            for rule in conf.get("rules", []):
                rule["when"]["field"] = _rename_ref(rule["when"]["field"], name, new_name)
    if "layout" in ui:
        ui["layout"] = _rename_layout(ui["layout"], name, new_name)
    listing = d.get("list") or {}
    for k in ("columns", "filters"):
        if k in listing:
            listing[k] = [_rename_ref(n, name, new_name) for n in listing[k]]
    if "sort" in listing:
        desc = listing["sort"].startswith("-")
        listing["sort"] = ("-" if desc else "") + _rename_ref(listing["sort"].lstrip("-"), name, new_name)
    if "indexed" in d:
        d["indexed"] = [_rename_ref(n, name, new_name) for n in d["indexed"]]
    perms = (d.get("permissions") or {}).get("fields")
    if perms:
        d["permissions"]["fields"] = {_rename_ref(k, name, new_name): v for k, v in perms.items()}
    renames = {o: (new_name if n == name else n) for o, n in (d.get("renames") or {}).items()}
    renames.pop(new_name, None)  # the new name was itself renamed away once: that older step stays in its version
    renames[name] = new_name
    d["renames"] = {o: n for o, n in renames.items() if o != n}
    return checked(d)


def _enum_branches(values: Iterable[tuple[Any, str]]) -> list[dict[str, Any]]:
    return [{"const": v, "title": t or str(v)} for v, t in values]


def enum_values(sub: Mapping[str, Any]) -> list[Any]:
    """The allowed values of an enum or multi-select field (empty for others)."""
    src = sub.get("items") if sub.get("type") == "array" and isinstance(sub.get("items"), Mapping) else sub
    if isinstance(src.get("oneOf"), list):
        return [b.get("const") for b in src["oneOf"] if isinstance(b, Mapping)]
    return list(src.get("enum") or [])


def _is_scalar(sub: Mapping[str, Any]) -> bool:
    t = sub.get("type")
    types = {t} if isinstance(t, str) else set(t or [])
    if not types and ("oneOf" in sub or "enum" in sub or "const" in sub):
        return True
    return bool(types & {"string", "number", "integer", "boolean"}) and not types & {"object", "array"}


_PROP_KEYS = {"label", "label_en", "required", "enum", "dictionary", "help", "help_en", "placeholder",
              "placeholder_en", "widget", "indexed", "bulk_edit", "max_size", *LIMIT_KEYS}


def set_field_props(defn: Mapping[str, Any], name: str, **props: Any) -> dict[str, Any]:
    """Change a field's settings. Keys: ``label``, ``label_en``, ``required``,
    ``minLength``/``maxLength``/``minimum``/``maximum``/``pattern``/``minItems``/
    ``maxItems`` (``None`` removes), ``max_size`` (bytes, attachments), ``enum``
    (list of (value, label)), ``dictionary`` (a 数据字典 code), ``help``,
    ``help_en``, ``placeholder``, ``placeholder_en``, ``widget`` (empty removes),
    ``indexed`` (expression index made on publish; top-level single values) and
    ``bulk_edit`` (the list's bulk edit may change it)."""
    d = copy.deepcopy(dict(defn))
    node, key, parts = _locate(d, name)
    sub = node["properties"][key]
    path = jpath(parts)
    unknown = set(props) - _PROP_KEYS
    if unknown:
        k = min(unknown)
        raise _err(f"不支持的设置 {k}", f"unknown setting {k}", f"{path}.{k}")
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
        _set_required(node, key, bool(props["required"]))
    for k in LIMIT_KEYS:
        if k in props:
            if props[k] is None or props[k] == "":
                sub.pop(k, None)
            else:
                sub[k] = props[k]
    _check_limits(sub, path)
    if props.get("pattern"):
        try:
            re.compile(props["pattern"])
        except re.error as exc:
            raise _err(f"正则表达式无效：{exc}", f"invalid regular expression: {exc}", path + ".pattern") from None
    if "max_size" in props:
        size = props["max_size"]
        if size in (None, ""):
            sub.pop(MAX_SIZE, None)
        elif sub.get("x-ccms-type") not in TOP_LEVEL_ONLY:
            raise _err("只有附件和图片字段有文件大小限制", "only attachment and image fields have a size limit",
                       f"{path}.{MAX_SIZE}")
        elif not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise _err("文件大小上限应为正整数", "the size limit must be a positive whole number", f"{path}.{MAX_SIZE}")
        else:
            sub[MAX_SIZE] = size
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
        code = str(props["dictionary"]).strip()
        if not code:
            raise _err("请选择数据字典", "choose a dictionary", path + ".x-ccms-dictionary")
        sub["x-ccms-dictionary"] = code
    if "bulk_edit" in props:
        if props["bulk_edit"]:
            if "." in name or not _is_scalar(sub) or sub.get("readOnly"):
                raise _err("只有顶层的单值字段可以批量修改", "only top-level single-value fields can be bulk edited",
                           f"{path}.{BULK_EDIT}")
            sub[BULK_EDIT] = True
        else:
            sub.pop(BULK_EDIT, None)
            sub.pop("x-ccms-bulk-edit", None)
    if "indexed" in props:
        indexed = [n for n in d.get("indexed", []) if n != name]
        if props["indexed"]:
            if "." in name:
                raise _err("只有顶层字段可以建索引", "only top-level fields can be indexed", "$.indexed")
            indexed.append(name)
        d["indexed"] = indexed
    ui_keys = ("help", "placeholder", "widget")
    if any(k in props for k in ("help", "help_en", "placeholder", "placeholder_en", "widget")):
        conf = d.setdefault("ui", {}).setdefault("fields", {}).setdefault(name, {})
        for k in ui_keys:
            if k not in props:
                continue
            value = props[k]
            if k in ("help", "placeholder") and (value or "").strip() and (props.get(k + "_en") or "").strip():
                value = _text(value or "", props[k + "_en"])
            if value in (None, ""):
                conf.pop(k, None)
            else:
                conf[k] = value.strip() if isinstance(value, str) else value
        if not conf:
            d["ui"]["fields"].pop(name)
    return checked(d)


def _check_limits(sub: Mapping[str, Any], path: str) -> None:
    """A lower limit above the upper one can never be met."""
    for lo, hi in (("minLength", "maxLength"), ("minimum", "maximum"), ("minItems", "maxItems")):
        a, b = sub.get(lo), sub.get(hi)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a > b:
            raise _err(f"{lo} 不能大于 {hi}（{a} > {b}）", f"{lo} cannot exceed {hi} ({a} > {b})", f"{path}.{lo}")
    for k in ("minLength", "maxLength", "minItems", "maxItems"):
        v = sub.get(k)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise _err("应为不小于 0 的整数", "must be a whole number, at least 0", f"{path}.{k}")


def set_permissions(defn: Mapping[str, Any], name: str, hidden_for: Iterable[str] = (),
                    readonly_for: Iterable[str] = (), *, roles: Iterable[str] | None = None) -> dict[str, Any]:
    """Who may not see (``hidden_for``) or not change (``readonly_for``) a field,
    by role code; ``roles`` (the deployment's role codes) refuses unknown ones."""
    d = copy.deepcopy(dict(defn))
    _locate(d, name)
    base = ["permissions", "fields", name]
    known = set(roles) if roles is not None else None
    rule: dict[str, list[str]] = {}
    for key, codes in (("hidden_for", hidden_for), ("readonly_for", readonly_for)):
        values = list(dict.fromkeys(str(c).strip() for c in codes if str(c).strip()))
        for i, code in enumerate(values):
            if known is not None and code not in known:
                raise _err(f"角色 {code} 不存在", f"role {code} does not exist", jpath(base + [key, i]))
        if values:
            rule[key] = values
    perms = d.setdefault("permissions", {}).setdefault("fields", {})
    if rule:
        perms[name] = rule
    else:
        perms.pop(name, None)
    return checked(d)


# --- rules ----------------------------------------------------------------------------------

def _check_rule_target(d: Mapping[str, Any], name: str, when_field: str, op: str, value: Any,
                       base: list[Any], field_types: Any = None) -> None:
    """The tested field exists, is not the field itself (nor inside it, nor in a
    repeating group), and the value fits it: an option of a choice field, a
    number for a number field or for gt/lt, true/false for a yes/no field."""
    at = jpath(base + ["when", "field"])
    if _under(when_field, name):
        raise _err("规则不能以字段自身为条件", "a rule cannot test its own field", at)
    try:
        target = _need_field(d, when_field)
    except DefinitionError:
        raise _err(f"条件字段 {when_field} 不存在", f"the tested field {when_field} does not exist", at) from None
    if in_group(d, when_field) or is_container(target):
        raise _err("条件字段应为单个值的字段（不能是重复表格或嵌套对象）",
                   "the tested field must hold one value (not a repeating group or nested object)", at)
    if op in ("empty", "not_empty"):
        return
    vat = jpath(base + ["when", "value"])
    values = value if op == "in" else [value]
    if op == "in" and not isinstance(value, list):
        raise _err("“属于”的值应为列表", "the value of “in” must be a list", vat)
    t = target.get("type")
    kind = target.get("x-ccms-type")
    if field_types is not None and (target.get("x-ccms-type") is None or target["x-ccms-type"] in field_types):
        kind = field_types.resolve(target).name
    if op in ("gt", "lt") and t not in _NUMERIC_TYPES and kind not in ("date", "datetime"):
        raise _err("“大于”“小于”只能用于数字或日期字段", "“greater/less than” applies to number and date fields only",
                   jpath(base + ["when", "op"]))
    allowed = enum_values(target)
    for v in values:
        if allowed and v not in allowed:
            shown = "、".join(map(str, allowed))
            raise _err(f"条件的值 {v} 不是该字段的选项（{shown}）", f"{v} is not an option of the tested field ({shown})",
                       vat)
        if t in _NUMERIC_TYPES and (not isinstance(v, (int, float)) or isinstance(v, bool)):
            raise _err("条件的值应为数字", "the value must be a number", vat)
        if t == "boolean" and not isinstance(v, bool):
            raise _err("条件的值应为 是 或 否", "the value must be true or false", vat)


def set_rule(defn: Mapping[str, Any], name: str, effect: str | None, when_field: str = "", op: str = "eq",
             value: Any = None, *, field_types: Any = None) -> dict[str, Any]:
    """Give ``name`` one visibility rule (``effect`` when ``when_field op value``);
    ``effect=None`` removes its rules. The tested field must exist, differ and
    accept the value (see :func:`_check_rule_target`)."""
    d = copy.deepcopy(dict(defn))
    _locate(d, name)
    base: list[Any] = ["ui", "fields", name, "rules", 0]
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
    when: dict[str, Any] = {"field": when_field, "op": op}
    if op not in ("empty", "not_empty"):
        if value is None or value == "" or value == []:
            raise _err("请填写条件的值", "the condition needs a value", jpath(base + ["when", "value"]))
        when["value"] = value
    _check_rule_target(d, name, when_field, op, value, base, field_types)
    conf["rules"] = [{"effect": effect, "when": when}]
    return checked(d)


# --- list settings and title ----------------------------------------------------------------------


def set_list_settings(defn: Mapping[str, Any], columns: Iterable[str] | None = None,
                      filters: Iterable[str] | None = None, sort: str | None = None) -> dict[str, Any]:
    """List screen settings; ``None`` leaves a setting as it was, empty clears it.
    Columns, filters and the sort use top-level fields (the list reads records'
    top-level values); filters and the sort need single values."""
    d = copy.deepcopy(dict(defn))
    listing = d.setdefault("list", {})
    for key, val in (("columns", columns), ("filters", filters)):
        if val is not None:
            names = list(dict.fromkeys(n for n in val if n))
            if names:
                listing[key] = names
            else:
                listing.pop(key, None)
    if sort is not None:
        if sort.strip():
            listing["sort"] = sort.strip()
        else:
            listing.pop("sort", None)
    checked(d)  # unknown names first, with their paths
    uses = [(n, jpath(["list", "filters", i]), "filter") for i, n in enumerate(listing.get("filters", []))]
    if "sort" in listing:
        uses.append((listing["sort"].lstrip("-"), "$.list.sort", "sort"))
    for n, at, use in uses:
        if n.startswith("_"):
            continue
        sub = _need_field(d, n)
        if "." in n or is_container(sub) or sub.get("x-ccms-type") in TOP_LEVEL_ONLY or (
                use == "sort" and not _is_scalar(sub)):
            raise _err(f"字段 {n} 不能用于{'排序' if use == 'sort' else '筛选'}",
                       f"field {n} cannot be used to {use}", at)
    for i, n in enumerate(listing.get("columns", [])):
        if "." in n:
            raise _err(f"子字段 {n} 不能作为列表的列（请用顶层字段）", f"the sub-field {n} cannot be a list column "
                       "(use top-level fields)", jpath(["list", "columns", i]))
    return checked(d)


def set_title(defn: Mapping[str, Any], title: str, title_en: str = "") -> dict[str, Any]:
    d = copy.deepcopy(dict(defn))
    if not (title or "").strip():
        raise _err("请填写表单标题", "a title is required", "$.title")
    d["title"] = _text(title, title_en)
    return checked(d)


# --- layout: sections, tabs, columns ----------------------------------------------------------------

def _materialize(d: dict[str, Any]) -> list[Any]:
    """``ui.layout`` holding every top-level field (those it left out follow at the end)."""
    ui = d.setdefault("ui", {})
    layout = ui.setdefault("layout", [])
    laid = set(_flat_names(layout))
    layout += [n for n in d["schema"].get("properties", {}) if n not in laid]
    return layout


def _group_at(layout: list[Any], where: str) -> tuple[list[Any], int, dict[str, Any]]:
    """(the list holding it, its index, the group) for a group path ``"2"`` / ``"2.0"``."""
    items, node = layout, None
    segs = str(where or "").split(".")
    for depth, seg in enumerate(segs):
        if not seg.isdigit() or int(seg) >= len(items) or not isinstance(items[int(seg)], dict):
            raise _err(f"布局分组 {where} 不存在", f"layout group {where} does not exist",
                       group_path(".".join(segs[:depth + 1])))
        node = items[int(seg)]
        if depth < len(segs) - 1:
            items = node.setdefault("items", [])
    assert node is not None
    return items, int(segs[-1]), node


def group_path(where: str) -> str:
    """The JSON path of a layout group path (``"2.0"`` -> ``$.ui.layout[2].items[0]``)."""
    return "$.ui.layout" + ".items".join(f"[{s}]" for s in str(where).split("."))


def layout_groups(d: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every layout group as {path, kind, title, depth, fields, holds_fields}."""
    out: list[dict[str, Any]] = []

    def walk(items: list[Any], prefix: str, depth: int) -> None:
        for i, item in enumerate(items):
            if isinstance(item, dict):
                path = f"{prefix}{i}"
                kind = item.get("kind", "section")
                out.append({"path": path, "kind": kind, "title": item.get("title"), "depth": depth,
                            "fields": [x for x in item.get("items", []) if isinstance(x, str)],
                            "holds_fields": kind not in ("tabs", "columns")})
                walk(item.get("items", []), path + ".", depth + 1)

    walk(list((d.get("ui") or {}).get("layout") or []), "", 0)
    return out


def add_group(defn: Mapping[str, Any], kind: str, title: str = "", title_en: str = "", *, parts: int = 2,
              inside: str = "") -> dict[str, Any]:
    """Add a layout group at the end of the layout: a ``section`` (with a title),
    ``tabs`` (with ``parts`` tabs) or ``columns`` (``parts`` columns, 2–4); or,
    with ``inside`` naming a tabs/columns group, one more tab/column in it."""
    d = copy.deepcopy(dict(defn))
    layout = _materialize(d)
    if inside:
        _holder, _i, group = _group_at(layout, inside)
        part = GROUP_KINDS.get(group.get("kind", ""))
        if part is None:
            raise _err("只能在标签页组或分栏中再加一页/一栏", "add a tab to tabs or a column to columns only",
                       group_path(inside))
        if part == "tab" and not (title or "").strip():
            raise _err("请填写标签页标题", "a tab needs a title", group_path(inside) + ".items")
        new: dict[str, Any] = {"kind": part, "items": []}
        if (title or "").strip():
            new["title"] = _text(title, title_en)
        group.setdefault("items", []).append(new)
        return checked(d)
    if kind not in GROUP_KINDS:
        raise _err("分组类型应为 section、tabs 或 columns", "the group kind is section, tabs or columns", "$.ui.layout")
    if kind == "section" and not (title or "").strip():
        raise _err("请填写分组标题", "a section needs a title", f"$.ui.layout[{len(layout)}].title")
    if kind != "section" and not (isinstance(parts, int) and 2 <= parts <= 4):
        raise _err("标签页或分栏的数量应为 2–4", "tabs and columns come in 2 to 4 parts",
                   f"$.ui.layout[{len(layout)}].items")
    group = {"kind": kind, "items": []}
    if (title or "").strip():
        group["title"] = _text(title, title_en)
    if kind == "tabs":
        group["items"] = [{"kind": "tab", "title": f"标签页 {i + 1}", "items": []} for i in range(parts)]
    elif kind == "columns":
        group["items"] = [{"kind": "column", "items": []} for _ in range(parts)]
    layout.append(group)
    return checked(d)


def set_group_title(defn: Mapping[str, Any], where: str, title: str, title_en: str = "") -> dict[str, Any]:
    d = copy.deepcopy(dict(defn))
    _holder, _i, group = _group_at(_materialize(d), where)
    if not (title or "").strip():
        if group.get("kind") in ("section", "tab"):
            raise _err("请填写标题", "a title is required", group_path(where) + ".title")
        group.pop("title", None)
    else:
        group["title"] = _text(title, title_en)
    return checked(d)


def remove_group(defn: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Drop a layout group; its fields stay on the form (where the group was,
    or at the end when the group was a tab or a column)."""
    d = copy.deepcopy(dict(defn))
    layout = _materialize(d)
    holder, i, group = _group_at(layout, where)
    fields = _flat_names(group.get("items", []))
    del holder[i]
    if "." in where:
        layout += fields
    else:
        holder[i:i] = fields
    return checked(d)


def move_group(defn: Mapping[str, Any], where: str, direction: str) -> dict[str, Any]:
    """Move a group up or down among its siblings."""
    d = copy.deepcopy(dict(defn))
    holder, i, group = _group_at(_materialize(d), where)
    j = _new_index(holder, group, direction, group_path(where))
    holder.insert(j, holder.pop(i))
    return checked(d)


def place_field(defn: Mapping[str, Any], name: str, where: str = "") -> dict[str, Any]:
    """Put a top-level field at the end of a group (``where`` a group path) or
    back on the top level (``""``). Tabs and columns hold their tabs/columns,
    not fields: place the field in one tab or column."""
    d = copy.deepcopy(dict(defn))
    _locate(d, name)
    if "." in name:
        raise _err("只有顶层字段可以放入分组", "only top-level fields are placed in layout groups",
                   field_path(d, name))
    layout = _materialize(d)
    target = layout
    if where:  # found before the field leaves its place, so positions are those the editor showed
        _holder, _i, group = _group_at(layout, where)
        if group.get("kind") in ("tabs", "columns"):
            raise _err("请选择其中的某一页或某一栏", "choose one tab or one column of it", group_path(where) + ".items")
        target = group.setdefault("items", [])
    _remove_name(layout, name)
    target.append(name)
    return checked(d)


def _remove_name(items: list[Any], name: str) -> None:
    """Take ``name`` out of the layout in place (groups keep their identity)."""
    while name in items:
        items.remove(name)
    for item in items:
        if isinstance(item, dict):
            _remove_name(item.setdefault("items", []), name)


# --- errors ---------------------------------------------------------------------------------------

_TOKEN = re.compile(r'\.([A-Za-z_$][A-Za-z0-9_$-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def _tokens(path: str) -> list[Any]:
    out: list[Any] = []
    for m in _TOKEN.finditer(path.removeprefix("$")):
        name, index, quoted = m.groups()
        out.append(name if name is not None else int(index) if index is not None else json.loads(quoted))
    return out


def field_name_of(path: str) -> str | None:
    """The field a JSON path points into (``$.schema.properties.age.maximum`` -> ``age``,
    ``$.schema.properties.g.items.properties.x.title`` -> ``g.x``,
    ``$.ui.fields.note.rules[0]...`` -> ``note``), so errors can name it."""
    toks = _tokens(path)
    if toks[:2] == ["schema", "properties"] and len(toks) > 2:
        names, i = [], 1
        while i < len(toks) and toks[i] == "properties" and i + 1 < len(toks) and isinstance(toks[i + 1], str):
            names.append(toks[i + 1])
            i += 2
            if i < len(toks) and toks[i] == "items" and i + 1 < len(toks) and toks[i + 1] == "properties":
                i += 1
        return ".".join(names) or None
    if len(toks) > 2 and toks[:2] in (["ui", "fields"], ["permissions", "fields"]) and isinstance(toks[2], str):
        return toks[2]
    return None
