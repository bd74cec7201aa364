"""Form definitions (表单定义): load, check and describe one definition.

A definition is data, written by developers in ``form_defs/`` or by
administrators in the designer, so every fault must be refused with the JSON
path where it sits (``$.ui.fields.phone.rules[0].when.field``) and a Chinese
and English reason. Three layers of checks, cheapest first:

1. the structure, against ``form_defs/meta-schema.json`` (draft 2020-12);
2. the data schema itself: a valid draft 2020-12 schema
   (``Draft202012Validator.check_schema``) that uses only the keywords the
   engine supports (:data:`SUPPORTED_KEYWORDS`) — an unsupported keyword is an
   error, never silently ignored — with local ``$ref`` targets that exist and
   never form a cycle;
3. cross references: ui rules, layout, list columns and filters, sort,
   indexed fields, field permissions and renames name existing fields.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from ..errors import ValidationFailed
from . import dataurl
from .compose import object_parts
from .expr import ExprError, compile_expr

ROOT = Path(__file__).resolve().parent.parent  # the ccms package: form_defs/ and flow_defs/ are its package data
META_SCHEMA_FILE = ROOT / "form_defs" / "meta-schema.json"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

#: JSON Schema keywords the engine implements (plus ``x-ccms-*`` extensions).
SUPPORTED_KEYWORDS = frozenset({
    "type", "properties", "required", "additionalProperties", "enum", "const",
    "minLength", "maxLength", "pattern", "format",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "items", "minItems", "maxItems", "uniqueItems",
    "title", "description", "default", "examples", "readOnly", "$comment",
    "$ref", "$defs", "oneOf", "anyOf",
    "x-enumNames",  # enum labels as used by core/jsonform.py (settings screens)
    # what schemas written for other form libraries use (core/forms/compose.py renders them):
    "definitions",  # draft-07's name for $defs; "#/definitions/x" references resolve the same way
    "allOf", "if", "then", "else",  # merged fields; conditional fields
    "dependentRequired", "dependentSchemas", "dependencies",  # draft-07 "dependencies" is read as these two
    "patternProperties", "propertyNames", "minProperties", "maxProperties",
    "additionalItems",  # only beside a schema-valued "items", where no draft gives it any effect
})
#: Extensions outside the ``x-ccms-`` prefix, accepted anywhere and ignored by validation.
EXTENSION_KEYWORDS = frozenset({"x-bulk-edit"})  # true: the list's bulk "set field" offers it (forms/bulk_actions.py)
ROOT_ONLY_KEYWORDS = frozenset({"$schema", "$id"})
#: ``$schema`` values accepted at the root; every schema is validated with draft 2020-12 semantics
#: (draft-07's ``dependencies`` read as dependentRequired/dependentSchemas, see compose.normalize).
DIALECTS = frozenset({DRAFT_2020_12, "https://json-schema.org/draft/2019-09/schema", "http://json-schema.org/schema",
                      "http://json-schema.org/draft-07/schema", "http://json-schema.org/draft-06/schema",
                      "http://json-schema.org/draft-04/schema"})
#: Formats jsonschema's checker decides (so ccms and jsonschema agree), plus ours; ``password`` is a widget.
SUPPORTED_FORMATS = frozenset({"date", "date-time", "time", "email", "uri", "uri-reference", "regex", "uuid",
                               "ipv4", "ipv6", "phone", "idcard", "password"})
#: Branch keywords allowed in oneOf/anyOf: only "enum with labels" ({"const", "title"}).
LABELLED_ENUM_KEYS = frozenset({"const", "title", "description"})
#: Record columns a list may show, filter or sort by besides the fields.
META_COLUMNS = frozenset({"_created_at", "_created_by", "_updated_at", "_updated_by", "_ref_no", "_status",
                          "_region_code", "_org"})
SCALAR_TYPES = frozenset({"string", "number", "integer", "boolean"})


class DefinitionError(ValidationFailed):
    """A definition (or overlay) is refused. ``path`` is the JSON path of the
    fault, ``source`` the file or origin; ``reason_zh``/``reason_en`` the bare reason."""

    code = "form_definition_invalid"

    def __init__(self, zh: str, en: str, *, path: str = "$", source: str = "") -> None:
        where = f"{source} " if source else ""
        super().__init__(f"表单定义 {where}{path} 处有误：{zh}", f"form definition {where}invalid at {path}: {en}",
                         fields={path: {"message": zh, "message_en": en}})
        self.path, self.source, self.reason_zh, self.reason_en = path, source, zh, en


def jpath(parts: tuple[Any, ...] | list[Any]) -> str:
    """``("ui", "layout", 0, "items")`` -> ``$.ui.layout[0].items``."""
    out = "$"
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$-]*", str(p)):
            out += f".{p}"
        else:
            out += "[" + json.dumps(str(p), ensure_ascii=False) + "]"
    return out


@cache
def meta_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(META_SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# --- step 1: structure ----------------------------------------------------------------

def _meta_error(err: jsonschema.ValidationError) -> tuple[str, str, list[Any]]:
    """(zh, en, path parts) of one meta-schema error, pointing at the key at fault."""
    parts = list(err.absolute_path)
    v, val, inst = err.validator, err.validator_value, err.instance
    if v == "additionalProperties" and isinstance(inst, dict):
        known = set(err.schema.get("properties", {}))
        extra = sorted(k for k in inst if k not in known)
        if extra:
            return (f"不支持的键 {extra[0]}（请检查拼写）", f"unknown key {extra[0]} (check the spelling)",
                    parts + [extra[0]])
    if v == "required" and isinstance(inst, dict):
        missing = [k for k in val if k not in inst]
        if missing:
            return f"缺少必填项 {missing[0]}", f"missing required key {missing[0]}", parts + [missing[0]]
    if v in ("enum", "const"):
        allowed = val if v == "enum" else [val]
        shown = ", ".join(json.dumps(a, ensure_ascii=False) for a in allowed)
        return f"取值必须是 {shown} 之一", f"must be one of {shown}", parts
    if v == "type":
        return f"类型应为 {val}", f"must be of type {val}", parts
    if v == "pattern":
        return f"格式不正确（应匹配 {val}）", f"wrong format (must match {val})", parts
    if v == "uniqueItems":
        return "列表中有重复项", "the list has duplicates", parts
    if v in ("minimum", "minProperties", "minItems", "minLength"):
        return f"不能小于 {val}", f"must be at least {val}", parts
    if v in ("oneOf", "anyOf"):
        return "不符合任何允许的形式", "does not match any allowed form", parts
    return err.message, err.message, parts


def check_structure(data: Any, source: str = "") -> str:
    """Validate against the meta-schema; returns ``"definition"`` or ``"overlay"``."""
    if not isinstance(data, dict):
        raise DefinitionError("定义必须是 JSON 对象", "a definition must be a JSON object", source=source)
    err = best_match(meta_validator().iter_errors(data))
    if err is not None:
        zh, en, parts = _meta_error(err)
        raise DefinitionError(zh, en, path=jpath(parts), source=source)
    return "overlay" if data.get("overlay") is True else "definition"


# --- step 2: the data schema -------------------------------------------------------------

def resolve_pointer(root: Mapping[str, Any], ref: str) -> Any:
    """Target of a local ``$ref`` (``#/$defs/x``); KeyError when it does not exist."""
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        raise KeyError(ref)
    node: Any = root
    for raw in ref[2:].split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(key)]
        elif isinstance(node, Mapping):
            node = node[key]
        else:
            raise KeyError(ref)
    return node


_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
_SCHEMA_ONE = ("additionalProperties", "propertyNames", "if", "then", "else", "items")


def _walk_keywords(node: Any, parts: list[Any], root: Mapping[str, Any], source: str,
                   refs: list[tuple[list[Any], str]]) -> None:
    """Refuse unsupported keywords anywhere in a schema; collect ``$ref`` sites."""
    if isinstance(node, bool) and parts and parts[-1] in ("additionalProperties", "items", "then", "else", "if"):
        return
    if not isinstance(node, dict):
        raise DefinitionError("此处必须是一个 schema 对象", "a schema object is required here",
                              path=jpath(parts), source=source)
    for key, value in node.items():
        here = parts + [key]
        if key.startswith("x-ccms-") or key in EXTENSION_KEYWORDS:
            continue
        if key in ROOT_ONLY_KEYWORDS:
            if len(parts) > 1:
                raise DefinitionError(f"关键字 {key} 只能用在 schema 的根上", f"keyword {key} is allowed at the root only",
                                      path=jpath(here), source=source)
            if key == "$schema" and (not isinstance(value, str) or value.rstrip("#") not in DIALECTS):
                raise DefinitionError(f"不支持的 JSON Schema 版本（支持 draft-04/06/07、2019-09、2020-12，按 {DRAFT_2020_12} 校验）",
                                      f"unsupported JSON Schema dialect (draft-04/06/07, 2019-09 and 2020-12 are read, "
                                      f"validated as {DRAFT_2020_12})", path=jpath(here), source=source)
            if key == "$id" and isinstance(value, str) and value.rstrip("#") in DIALECTS:
                raise DefinitionError("$id 不能是 JSON Schema 元模式的地址（这是元模式本身，不是表单）",
                                      "$id must not be a JSON Schema meta-schema URI (this is a meta-schema, not a form)",
                                      path=jpath(here), source=source)
            continue
        if key not in SUPPORTED_KEYWORDS:
            raise DefinitionError(f"表单引擎不支持 JSON Schema 关键字 {key}",
                                  f"the form engine does not support the JSON Schema keyword {key}",
                                  path=jpath(here), source=source)
        if key in _SCHEMA_MAPS:
            for name, sub in value.items():
                _walk_keywords(sub, here + [name], root, source, refs)
        elif key == "dependencies":
            for name, sub in value.items():
                if not isinstance(sub, list):  # a list is dependentRequired; a schema is dependentSchemas
                    _walk_keywords(sub, here + [name], root, source, refs)
        elif key == "items" and isinstance(value, list):
            raise DefinitionError("不支持元组形式的 items（数组）；请用一个 schema 描述每一项",
                                  "tuple-form items (an array of schemas) is not supported: give one schema for every item",
                                  path=jpath(here), source=source)
        elif key == "additionalItems" and isinstance(node.get("items"), list):
            raise DefinitionError("additionalItems 只能用在没有元组形式 items 的地方（此时它不起作用）",
                                  "additionalItems is accepted only where items is not a tuple (where it has no effect)",
                                  path=jpath(here), source=source)
        elif key in _SCHEMA_ONE:
            _walk_keywords(value, here, root, source, refs)
        elif key == "format" and value not in SUPPORTED_FORMATS:
            shown = ", ".join(sorted(SUPPORTED_FORMATS))
            raise DefinitionError(f"不支持的格式 {value}（支持：{shown}）", f"unsupported format {value} (supported: {shown})",
                                  path=jpath(here), source=source)
        elif key in ("oneOf", "anyOf", "allOf"):
            for i, branch in enumerate(value):
                _walk_keywords(branch, here + [i], root, source, refs)
        elif key == "$ref":
            if not isinstance(value, str) or not value.startswith("#"):
                raise DefinitionError("只支持本地引用（以 # 开头）", "only local references (starting with #) are supported",
                                      path=jpath(here), source=source)
            try:
                resolve_pointer(root, value)
            except (KeyError, IndexError, ValueError):
                raise DefinitionError(f"引用的目标 {value} 不存在", f"reference target {value} does not exist",
                                      path=jpath(here), source=source) from None
            refs.append((here, value))


def _check_root(schema: Mapping[str, Any], prefix: list[Any], source: str) -> None:
    """A form edits an object: the root says ``type: object``, or has properties, or is a
    oneOf/anyOf/allOf of object schemas (a variant chooser / merged fields)."""
    t = schema.get("type")
    if t is not None and t != "object":
        raise DefinitionError("表单的数据结构必须是对象（type 为 object）",
                              f"a form's schema must describe an object (type object), not {json.dumps(t)}",
                              path=jpath(prefix + ["type"]), source=source)
    if t is None and not any(k in schema for k in ("properties", "oneOf", "anyOf", "allOf", "$ref")):
        raise DefinitionError("表单的数据结构必须是对象：需要 type: object 或 properties",
                              "a form's schema must describe an object: give type object or properties",
                              path=jpath(prefix), source=source)


def _ref_cycle(refs: list[tuple[list[Any], str]], schema_parts: list[Any], source: str) -> None:
    """Refuse a ``$ref`` cycle: following references must always end.

    A reference at path P points at T; it "enters" T, and from T every
    reference inside T's subtree can be followed. A cycle is a chain that
    comes back to a target already on the way.
    """
    def pointer_of(parts: list[Any]) -> str:
        rel = parts[len(schema_parts):-1]  # path of the $ref's owner, inside the schema
        return "#" + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in rel)

    sites = [(parts, target, pointer_of(parts)) for parts, target in refs]

    def inside(target: str) -> list[tuple[list[Any], str]]:
        prefix = target.rstrip("/")
        return [(p, t) for p, t, owner in sites if owner == prefix or owner.startswith(prefix + "/") or prefix == "#"]

    state: dict[str, int] = {}  # 1 = on the current chain, 2 = finished

    def visit(target: str, chain: list[str]) -> None:
        state[target] = 1
        for parts, nxt in inside(target):
            if state.get(nxt) == 1:
                loop = " → ".join(chain[chain.index(nxt):] + [nxt])
                raise DefinitionError(f"$ref 引用形成了环：{loop}", f"$ref cycle: {loop.replace('→', '->')}",
                                      path=jpath(parts), source=source)
            if state.get(nxt) is None:
                visit(nxt, chain + [nxt])
        state[target] = 2

    for _parts, target, _owner in sites:
        if state.get(target) is None:
            visit(target, [target])


def check_data_schema(schema: dict[str, Any], source: str = "", prefix: tuple[str, ...] = ("schema",)) -> None:
    """Steps 2: a valid 2020-12 schema, supported keywords only, no ``$ref`` cycle."""
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as err:
        raise DefinitionError(f"不是有效的 JSON Schema：{err.message}", f"not a valid JSON Schema: {err.message}",
                              path=jpath(list(prefix) + list(err.absolute_path)), source=source) from None
    refs: list[tuple[list[Any], str]] = []
    _check_root(schema, list(prefix), source)
    _walk_keywords(schema, list(prefix), schema, source, refs)
    _ref_cycle(refs, list(prefix), source)


def _deref(node: Any, root: Mapping[str, Any]) -> Any:
    seen = 0
    while isinstance(node, Mapping) and "$ref" in node and seen < 64:
        target = resolve_pointer(root, node["$ref"])
        extra = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **extra} if extra else target
        seen += 1
    return node


def collect_fields(schema: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every field by dotted name (``address.city``), ``$ref`` resolved, in schema order.

    Fields inside repeating groups (arrays of objects) are named through the
    array: ``members.name``.
    """
    out: dict[str, dict[str, Any]] = {}


    def walk(node: Mapping[str, Any], prefix: str, depth: int) -> None:
        if depth > 16:
            return
        node = _deref(node, schema)
        for part in object_parts(node, schema):  # properties, allOf, conditional and variant fields
            full = f"{prefix}{part.name}"
            sub = _deref(part.prop, schema)
            if not isinstance(sub, Mapping) or full in out:
                continue
            out[full] = sub
            walk(sub, full + ".", depth + 1)
            items = sub.get("items")
            if isinstance(items, Mapping):
                walk(items, full + ".", depth + 1)

    walk(schema, "", 0)
    return out


def _is_group(sub: Mapping[str, Any], root: Mapping[str, Any]) -> bool:
    items = _deref(sub.get("items"), root)
    return "array" in field_types(sub) and isinstance(items, Mapping) and bool(items.get("properties"))


def check_expressions(schema: Mapping[str, Any], source: str = "", *, allow_empty: bool = False) -> None:
    """Every computed field's ``x-ccms-expr`` compiles (ccms.forms.expr: syntax,
    allowed constructs, known names and functions) over the names it can see:
    its siblings (a repeating group by its column names) and, inside a group's
    rows, the record's top-level fields. Checked whenever a definition is
    loaded, so a broken expression is refused at save, import and publish with
    its JSON path, instead of failing every record later. Computed fields
    may sit at the top level or in a repeating group's rows only.
    ``allow_empty``: the designer's working copy may hold a computed field
    whose expression is not written yet (saving it as a version may not)."""

    def props(node: Any) -> dict[str, Any]:
        node = _deref(node, schema)
        p = node.get("properties") if isinstance(node, Mapping) else None
        return {k: _deref(v, schema) for k, v in p.items()} if isinstance(p, Mapping) else {}

    top = props(schema)

    def visible_names(siblings: Mapping[str, Any], me: str, in_row: bool) -> dict[str, Any]:
        names: dict[str, Any] = {}
        for n, sub in siblings.items():
            if n != me and isinstance(sub, Mapping):
                names[n] = list(props(sub.get("items"))) if _is_group(sub, schema) else None
        if in_row:
            for n in top:
                names.setdefault(n, None)
        return names

    def walk(node: Any, parts: list[Any], placement: str) -> None:
        siblings = props(node)
        for name, sub in siblings.items():
            if not isinstance(sub, Mapping):
                continue
            here = [*parts, "properties", name]
            if "x-ccms-expr" in sub or sub.get("x-ccms-type") == "computed":
                if placement == "nested":
                    raise DefinitionError("计算字段只能位于表单顶层或重复表格的行内",
                                          "a computed field must be top-level or in a repeating group's rows",
                                          path=jpath(here), source=source)
                text = sub.get("x-ccms-expr")
                if allow_empty and (text is None or (isinstance(text, str) and not text.strip())):
                    continue
                try:
                    compile_expr(text, visible_names(siblings, name, placement == "row"))
                except ExprError as exc:
                    raise DefinitionError(exc.zh, exc.en, path=jpath([*here, "x-ccms-expr"]),
                                          source=source) from None
            if _is_group(sub, schema):
                walk(sub.get("items"), [*here, "items"], "row" if placement == "top" else "nested")
            elif props(sub):
                walk(sub, here, "nested")

    walk(schema, ["schema"], "top")


def field_types(sub: Mapping[str, Any]) -> set[str]:
    t = sub.get("type")
    if t is None:
        if "enum" in sub or "const" in sub or "oneOf" in sub or "anyOf" in sub:
            return {"string"}
        return set()
    return {t} if isinstance(t, str) else set(t)


# --- step 3: cross references ---------------------------------------------------------------

def _layout_names(items: list[Any], parts: list[Any]) -> Iterator[tuple[str, list[Any]]]:
    for i, item in enumerate(items):
        if isinstance(item, str):
            yield item, parts + [i]
        else:
            yield from _layout_names(item.get("items", []), parts + [i, "items"])


def check_references(data: Mapping[str, Any], fields: Mapping[str, Any], source: str = "") -> None:
    """Every name used outside the schema must be a field of it."""
    def need(name: str, parts: list[Any], *, meta: bool = False) -> None:
        if name in fields or (meta and name in META_COLUMNS):
            return
        raise DefinitionError(f"字段 {name} 不存在", f"field {name} does not exist", path=jpath(parts), source=source)

    ui = data.get("ui") or {}
    seen: dict[str, str] = {}
    for name, parts in _layout_names(ui.get("layout", []), ["ui", "layout"]):
        need(name, parts)
        if name in seen:
            raise DefinitionError(f"字段 {name} 在布局中出现了两次（第一次在 {seen[name]}）",
                                  f"field {name} appears twice in the layout (first at {seen[name]})",
                                  path=jpath(parts), source=source)
        seen[name] = jpath(parts)
    for name, conf in (ui.get("fields") or {}).items():
        need(name, ["ui", "fields", name])
        for i, rule in enumerate(conf.get("rules", [])):
            need(rule["when"]["field"], ["ui", "fields", name, "rules", i, "when", "field"])
    listing = data.get("list") or {}
    for key in ("columns", "filters"):
        for i, name in enumerate(listing.get(key, [])):
            need(name, ["list", key, i], meta=True)
    if "sort" in listing:
        need(listing["sort"].lstrip("-"), ["list", "sort"], meta=True)
    for i, name in enumerate(data.get("indexed", [])):
        need(name, ["indexed", i])
        if not field_types(fields[name]) & SCALAR_TYPES or field_types(fields[name]) & {"object", "array"}:
            raise DefinitionError(f"只有单值字段（文本、数字、日期、布尔、枚举）可以建索引：{name}",
                                  f"only scalar fields (text, number, date, boolean, enum) can be indexed: {name}",
                                  path=jpath(["indexed", i]), source=source)
    for name in ((data.get("permissions") or {}).get("fields") or {}):
        need(name, ["permissions", "fields", name])
    for old, new in (data.get("renames") or {}).items():
        need(new, ["renames", old])
        if old in fields:
            raise DefinitionError(f"改名前的字段 {old} 仍然存在", f"renamed-away field {old} still exists",
                                  path=jpath(["renames", old]), source=source)


# --- the definition -------------------------------------------------------------------------

@dataclass(frozen=True)
class FormDefinition:
    """A checked definition. ``raw`` is the document as given (never mutated);
    ``fields`` maps dotted field names to their (dereferenced) schemas."""

    id: str
    title: Any
    schema: dict[str, Any]
    ui: dict[str, Any]
    list_settings: dict[str, Any]
    permissions: dict[str, Any]
    renames: dict[str, str]
    indexed: tuple[str, ...]
    version: int | None
    extends: str | None
    source: str
    raw: dict[str, Any] = field(repr=False)
    fields: dict[str, dict[str, Any]] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the document (what is stored and exported)."""
        return copy.deepcopy(self.raw)

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON: equal documents, equal hashes."""
        return content_hash(self.raw)

    @property
    def top_fields(self) -> list[str]:
        """Top-level fields: layout order first, then the rest in schema order."""
        props = list(self.schema.get("properties", {}))
        ordered = [n for n, _ in _layout_names(self.ui.get("layout", []), []) if n in props]
        return ordered + [n for n in props if n not in ordered]

    def label(self, name: str, locale: str = "zh-CN") -> str:
        """The field's label in ``locale``: ``x-ccms-title`` ({"zh-CN", "en"}) when
        present (JSON Schema's ``title`` must be a string), else ``title``, else the name."""
        sub = self.fields.get(name, {})
        return localize(sub.get("x-ccms-title"), locale) or localize(sub.get("title"), locale) or name

    def required(self) -> list[str]:
        return list(self.schema.get("required", []))


def localize(text: Any, locale: str = "zh-CN") -> str:
    if isinstance(text, Mapping):
        return str(text.get(locale) or text.get("zh-CN") or "")
    return "" if text is None else str(text)


def _property_orders(node: Any, out: list[list[str]]) -> list[list[str]]:
    """The key order of every ``properties`` object: field order is content too."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "properties" and isinstance(value, Mapping):
                out.append(list(value))
            _property_orders(value, out)
    elif isinstance(node, list):
        for item in node:
            _property_orders(item, out)
    return out


def content_hash(data: Mapping[str, Any]) -> str:
    """Equal documents, equal hashes; moving a field (sub-fields included) changes it."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    orders = _property_orders(data, [])
    if orders:
        canonical += "\n" + json.dumps(orders, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_definition(data: Any, source: str = "", *, expressions: str = "check") -> FormDefinition:
    """Check a definition document and return it as a :class:`FormDefinition`.

    Raises :class:`DefinitionError` (a 422 ``ValidationFailed``) with the JSON
    path of the first fault. Overlays are refused here: apply them to their
    base with :func:`ccms.forms.overlay.apply_overlay`. ``expressions``:
    ``"check"`` (every computed field's expression compiles), ``"draft"``
    (empty ones allowed: the designer's working copy) or ``"skip"`` (versions
    already stored are read as they are).
    """
    kind = check_structure(data, source)
    if kind == "overlay":
        raise DefinitionError("这是一个覆盖定义（overlay），需要叠加在同 id 的基础定义上",
                              "this is an overlay: it applies to a base definition with the same id",
                              path="$.overlay", source=source)
    raw = copy.deepcopy(data)
    if isinstance(raw.get("schema"), dict):  # format data-url (other form libraries' file uploads) -> attachments
        raw["schema"] = dataurl.normalize(raw["schema"])
    schema = raw["schema"]
    check_data_schema(schema, source)
    fields = collect_fields(schema)
    if expressions != "skip":
        check_expressions(schema, source, allow_empty=expressions == "draft")
    if not raw.get("extends"):  # a child names its base's fields too: checked once merged (overlay.apply_extends)
        check_references(raw, fields, source)
    return FormDefinition(
        id=raw["id"], title=raw["title"], schema=schema, ui=raw.get("ui", {}), list_settings=raw.get("list", {}),
        permissions=raw.get("permissions", {}), renames=raw.get("renames", {}),
        indexed=tuple(raw.get("indexed", [])), version=raw.get("version"), extends=raw.get("extends"),
        source=source, raw=raw, fields=fields)


def load_file(path: Path) -> dict[str, Any]:
    """Read a JSON file; a file that is not JSON is refused with line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"无法读取文件：{exc}", f"cannot read the file: {exc}", source=str(path)) from None
    return parse_json(text, str(path))


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (and PostgreSQL's json type refuses them).
    raise json.JSONDecodeError(f"{name} is not a JSON number", name, 0)


def parse_json(text: str | bytes, source: str = "") -> Any:
    """Parse JSON text with a clear bilingual error (line and column)."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8-sig")
        return json.loads(text, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise DefinitionError("文件不是 UTF-8 编码的 JSON", "the file is not UTF-8 encoded JSON", source=source) from None
    except json.JSONDecodeError as exc:
        raise DefinitionError(f"不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}）",
                              f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                              source=source) from None
