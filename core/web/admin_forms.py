"""应用维护 → 表单配置: the form designer (htmx screens) and the form-definition JSON API.

Every change in the designer is applied to the newest version of the form by
a pure function of :mod:`ccms.forms.designer` (checked by ``load_definition``,
so a fault is refused with its JSON path, shown here as the field's name) and
stored as a new draft through :mod:`ccms.forms.store`, which audits it.
Optimistic lock: each editor form carries ``base``, the version it showed;
when someone saved a newer version meanwhile the change is refused (409).
Definitions are deployment-wide, so ``core.form.view`` / ``core.form.edit``
held in any org domain suffice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..audit import actor_of
from ..dictionaries.models import Dict
from ..errors import CcmsError, Conflict, NotFound, ValidationFailed
from ..forms import designer, store
from ..forms.definition import META_COLUMNS, DefinitionError, content_hash, localize
from ..forms.models import FormDef
from ..models import Role
from . import definition_admin as shared
from .definition_admin import DefinitionKind
from .definition_admin import bad as _bad
from .openapi import api_doc
from .routing import form_data, json_body, requires

VIEW, EDIT = "core.form.view", "core.form.edit"
BASE = "/admin/forms"


# --- reading --------------------------------------------------------------------------------

def latest_row(s: Any, form_id: str) -> FormDef:
    row = s.scalar(select(FormDef).where(FormDef.form_id == form_id).order_by(FormDef.version.desc()).limit(1))
    if row is None:
        raise NotFound(f"表单 {form_id} 不存在", f"form {form_id} does not exist")
    return row


def _sub_of(d: Mapping[str, Any], name: str) -> dict[str, Any]:
    try:
        return designer._need_field(d, name)
    except DefinitionError:
        return {}


def _label_of(d: Mapping[str, Any], name: str) -> str:
    sub = _sub_of(d, name)
    return localize(sub.get("x-ccms-title")) or localize(sub.get("title")) or name


def explain(exc: CcmsError, d: Mapping[str, Any] | None) -> CcmsError:
    """A definition error with its JSON path told as the field's label and name."""
    if not isinstance(exc, DefinitionError):
        return exc
    name = designer.field_name_of(exc.path)
    if name is None or d is None:
        return exc
    label = _label_of(d, name)
    return DefinitionError(f"字段「{label}」（{name}）：{exc.reason_zh}", f"field {name}: {exc.reason_en}", path=exc.path)


#: Last JSON-path token -> the designer input that holds it (inline errors).
_INPUT_OF = {"title": "label", "maxLength": "maxLength", "minLength": "minLength", "minimum": "minimum",
             "maximum": "maximum", "pattern": "pattern", "oneOf": "enum", "x-ccms-dictionary": "dictionary",
             "effect": "effect", "field": "when_field", "op": "op", "value": "value", "help": "help",
             "placeholder": "placeholder", "widget": "widget", "columns": "columns", "filters": "filters",
             "sort": "sort", "minItems": "minItems", "maxItems": "maxItems", "x-ccms-max-size": "max_size",
             "x-bulk-edit": "bulk_edit", "indexed": "indexed", "renames": "new_name",
             "hidden_for": "hidden_for", "readonly_for": "readonly_for", "layout": "kind", "items": "kind",
             "x-ccms-expr": "_"}


def inline_errors(exc: CcmsError | None) -> dict[str, Any]:
    if exc is None:
        return {}
    if isinstance(exc, DefinitionError):
        token = exc.path.rstrip("]").split(".")[-1].split("[")[0]
        return {_INPUT_OF.get(token, "_"): {"message": exc.zh, "message_en": exc.en}}
    return dict(exc.fields or {})


_PANEL_INPUTS = {"_add": {"enum": "options", "_": "name"}, "_title": {"label": "title"},
                 "_layout": {"label": "title"}}


def _panel_errors(errors: dict[str, Any], panel: str | None, form: str = "") -> dict[str, Any]:
    """Inline errors renamed to the inputs of the panel that was posted."""
    names = dict(_PANEL_INPUTS.get(panel or "", {}))
    if form == "rename":
        names["_"] = "new_name"
    return {names.get(k, k): v for k, v in errors.items()}


def _required_in(d: Mapping[str, Any], name: str) -> bool:
    try:
        node, key, _parts = designer._locate(d, name)
    except DefinitionError:
        return False
    return key in (node.get("required") or [])


def _rule_value_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def field_rows(ctx: Any, d: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What the editor and the preview show of each field: top-level ones in
    screen order, each nested object / repeating group followed by its sub-fields."""
    ft = ctx.field_types
    ui_fields = (d.get("ui") or {}).get("fields") or {}
    perms = (d.get("permissions") or {}).get("fields") or {}
    indexed = set(d.get("indexed") or [])
    renamed_from = {}
    for old, new in (d.get("renames") or {}).items():
        renamed_from.setdefault(new, []).append(old)
    layout = (d.get("ui") or {}).get("layout") or []
    order = designer.field_order(d)
    rows = []
    for name, depth, sub in designer.all_fields(d):
        try:
            t = ft.resolve(sub)
        except CcmsError:
            t = ft.get("text")
        conf = ui_fields.get(name, {})
        title = sub.get("x-ccms-title")
        enum_src = sub.get("items") if t.name == "multiselect" and isinstance(sub.get("items"), Mapping) else sub
        options = [(b.get("const"), localize(b.get("title"))) for b in enum_src.get("oneOf", []) or []] or \
            [(v, str(v)) for v in enum_src.get("enum", []) or []]
        rule = (conf.get("rules") or [{}])[0]
        when = rule.get("when", {})
        help_, placeholder = conf.get("help"), conf.get("placeholder")
        perm = perms.get(name) or {}
        container = designer.is_container(sub)
        grouped = designer.in_group(d, name)
        top = "." not in name
        scalar = designer._is_scalar(sub)
        size = sub.get(designer.MAX_SIZE)
        required = _required_in(d, name)
        if "." in name:  # moves happen among these (see designer.move_field)
            siblings = [f"{name.rpartition('.')[0]}.{k}" for k in
                        designer._locate(d, name)[0].get("properties", {})]
        else:
            has_groups = any(isinstance(x, dict) for x in layout)
            siblings = [n for n in (designer._container(layout, name) if has_groups else None) or order
                        if isinstance(n, str)]
        rows.append({
            "name": name, "key": name.rsplit(".", 1)[-1], "depth": depth, "parent": name.rpartition(".")[0],
            "first": siblings[:1] == [name], "last": siblings[-1:] == [name],
            "dom": name.replace(".", "--"), "type": t.name, "type_label": t.label[0], "json_type": t.json_type,
            "required": required, "label": _label_of(d, name), "container": container, "top": top,
            "in_group": grouped, "renamed_from": renamed_from.get(name, []) if top else [],
            "indexed": name in indexed, "bulk_edit": bool(sub.get(designer.BULK_EDIT) or sub.get("x-ccms-bulk-edit")),
            "hidden_for": perm.get("hidden_for", []), "readonly_for": perm.get("readonly_for", []),
            "vals": {
                "label": localize(sub.get("title")) or localize(title),
                "label_en": title.get("en", "") if isinstance(title, Mapping) else "",
                "required": required,
                **{k: "" if sub.get(k) is None else str(sub.get(k)) for k in designer.LIMIT_KEYS},
                "max_size": "" if not isinstance(size, int) else str(max(1, size // 1024)),
                "enum": "\n".join(f"{v}={lab}" if lab != str(v) else str(v) for v, lab in options),
                "dictionary": sub.get("x-ccms-dictionary", ""),
                "help": localize(help_), "help_en": help_.get("en", "") if isinstance(help_, Mapping) else "",
                "placeholder": localize(placeholder),
                "placeholder_en": placeholder.get("en", "") if isinstance(placeholder, Mapping) else "",
                "widget": conf.get("widget", ""),
                "effect": rule.get("effect", ""), "when_field": when.get("field", ""), "op": when.get("op", "eq"),
                "value": _rule_value_text(when.get("value")),
                "indexed": name in indexed,
                "bulk_edit": bool(sub.get(designer.BULK_EDIT) or sub.get("x-ccms-bulk-edit")),
                "hidden_for": perm.get("hidden_for", []), "readonly_for": perm.get("readonly_for", []),
                "new_name": name,
            },
            "options": options, "help": localize(help_), "rule": rule or None,
            "text_limits": t.json_type == "string" and t.name not in ("enum", "dictionary", "date", "datetime"),
            "number_limits": t.json_type in ("number", "integer"),
            "item_limits": t.json_type == "array", "size_limit": t.name in designer.TOP_LEVEL_ONLY,
            "has_enum": t.name in ("enum", "multiselect"), "has_dict": t.name == "dictionary",
            "can_index": top and scalar and not sub.get("readOnly"),
            "can_bulk": top and scalar and not sub.get("readOnly"),
            "can_test": not grouped and not container,
            "can_list": not grouped,
            "can_filter": not grouped and not container and t.name not in designer.TOP_LEVEL_ONLY,
            "can_sort": not grouped and scalar,
        })
    return rows


def _preview(ctx: Any, row: FormDef) -> Any:
    """The record form as the record screens render it, when that renderer exists."""
    try:
        from ..forms import render as form_render  # lazy: optional: the record screens' renderer
    except ImportError:
        return None
    fn = getattr(form_render, "render_form", None)
    if fn is None:
        return None
    try:
        return Markup(fn(ctx, store.definition_of(row), {}, {}))  # the renderer escapes what it shows
    except Exception:  # noqa: BLE001 — a preview must never break the designer
        return None


_GROUP_KIND_KEYS = {"section": "forms.kind.section", "tabs": "forms.kind.tabs", "tab": "forms.kind.tab",
                    "columns": "forms.kind.columns", "column": "forms.kind.column"}


def _layout_context(ctx: Any, d: Mapping[str, Any]) -> dict[str, Any]:
    """The layout groups as the editor lists them, and where each top-level field sits."""
    groups = designer.layout_groups(d)
    by_path = {g["path"]: g for g in groups}
    where: dict[str, str] = {}
    for g in groups:
        parent = by_path.get(g["path"].rpartition(".")[0])
        n = int(g["path"].rpartition(".")[2]) + 1
        title = localize(g["title"])
        if g["kind"] == "column":
            name = ctx.gettext("forms.column_n", n=n)
        else:
            name = title or ctx.gettext(_GROUP_KIND_KEYS.get(g["kind"], "forms.kind.section"))
        g["name"] = f"{localize(parent['title']) or ctx.gettext(_GROUP_KIND_KEYS[parent['kind']])} › {name}" \
            if parent else name
        g["kind_label"] = ctx.gettext(_GROUP_KIND_KEYS.get(g["kind"], "forms.kind.section"))
        g["title_text"] = title
        g["title_en"] = g["title"].get("en", "") if isinstance(g["title"], Mapping) else ""
        g["dom"] = g["path"].replace(".", "-")
        for f in g["fields"]:
            where[f] = g["path"]
    return {"groups": groups, "field_group": where,
            "place_options": [("", ctx.gettext("forms.place_top"))]
            + [(g["path"], f"{g['kind_label']}：{g['name']}") for g in groups if g["holds_fields"]],
            "group_kind_options": [(k, ctx.gettext(f"forms.kind.{k}")) for k in designer.GROUP_KINDS]}


def _render_editor(request: Request, form_id: str, exc: CcmsError | None = None, status: int = 200,
                   posted: dict[str, Any] | None = None, notice: str = "",
                   diff_range: tuple[int, int] | None = None) -> Response:
    ctx, user = request.scope["ccms"], request.scope["user"]
    with ctx.db.session() as s:
        row = latest_row(s, form_id)
        d = row.definition
        version_panel = shared.versions_context(KIND, s, form_id, diff_range)
        fields = field_rows(ctx, d)
        exc = explain(exc, d) if exc is not None else None
        meta = [(m, ctx.gettext(f"forms.meta.{m}")) for m in sorted(META_COLUMNS)]
        listing = d.get("list") or {}
        exc = exc or version_panel.pop("diff_error")  # an old version that no longer loads must not lock the editor
        context = {
            "form_id": form_id, "row": row, "d": d, "title": localize(d.get("title")),
            "title_en": d["title"].get("en", "") if isinstance(d.get("title"), Mapping) else "",
            "fields": fields, **version_panel,
            "types": [(t.name, t.label[0]) for t in ctx.field_types],
            "posted_form": (posted or {}).get("form", ""),
            "meta": meta, "listing": listing, "can_edit": ctx.can_anywhere(user, EDIT),
            "error": exc, "errors": _panel_errors(inline_errors(exc), (posted or {}).get("panel"), (posted or {}).get("form", "")),
            "posted": posted or {}, "notice": notice,
            "preview": _preview(ctx, row),
            "effect_options": [("", ctx.gettext("forms.rule_none"))]
            + [(e, ctx.gettext(f"forms.effect.{e}")) for e in designer.RULE_EFFECTS],
            "op_options": [(o, ctx.gettext(f"forms.op.{o}")) for o in designer.RULE_OPS],
            "field_options": [("", ctx.gettext("forms.choose"))] + [(f["name"], f"{f['label']}（{f['name']}）")
                                                                    for f in fields if f["can_test"]],
            "column_options": [(f["name"], f["label"]) for f in fields if f["top"] and f["can_list"]] + meta,
            "filter_options": [(f["name"], f["label"]) for f in fields if f["top"] and f["can_filter"]] + meta,
            "sort_options": [("", ctx.gettext("forms.sort_none"))]
            + [(prefix + n, f"{lab} {ctx.gettext('forms.' + ('desc' if prefix else 'asc'))}")
               for n, lab in [(f["name"], f["label"]) for f in fields if f["top"] and f["can_sort"]] + meta
               for prefix in ("", "-")],
            "type_options": [(t.name, t.label[0]) for t in ctx.field_types],
            "sub_type_options": [(t.name, t.label[0]) for t in ctx.field_types if t.name not in designer.TOP_LEVEL_ONLY],
            "parent_options": [("", ctx.gettext("forms.parent_top"))]
            + [(f["name"], f"{f['label']}（{f['name']}）") for f in fields if f["container"]],
            "roles": [(code, name) for code, name in s.execute(select(Role.code, Role.name).order_by(Role.code))],
            "dict_options": [("", ctx.gettext("forms.choose"))]
            + [(code, f"{name}（{code}）") for code, name in s.execute(select(Dict.code, Dict.name).order_by(Dict.code))],
            **_layout_context(ctx, d),
            "breadcrumbs": [(ctx.gettext("forms.title"), BASE), (localize(d.get("title")) or form_id, None)],
        }
    return shared.editor_response(KIND, request, context, status)


def _int(data: Mapping[str, Any], key: str, *, required: bool = False) -> int | None:
    raw = str(data.get(key, "") or "").strip()
    if not raw:
        if required:
            raise _bad(key, "必须填写", "required")
        return None
    try:
        return int(raw)
    except ValueError:
        raise _bad(key, "请输入整数", "enter a whole number") from None


def _required_int(data: Mapping[str, Any], key: str) -> int:
    return _int(data, key, required=True) or 0


def _number(data: Mapping[str, Any], key: str) -> int | float | None:
    raw = str(data.get(key, "") or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise _bad(key, "请输入数字", "enter a number") from None
    if not math.isfinite(value):
        raise _bad(key, "请输入数字", "enter a number")
    return int(value) if value.is_integer() and "." not in raw and "e" not in raw.lower() else value


def _parse_options(text: str, input_name: str = "enum") -> list[tuple[str, str]]:
    """``值=标签`` per line (a bare value is its own label)."""
    out = []
    for line in str(text or "").replace("\r\n", "\n").split("\n"):
        line = line.strip()
        if not line:
            continue
        value, _, label = line.partition("=")
        value, label = value.strip(), label.strip()
        if not value:
            raise _bad(input_name, f"选项缺少值：{line}", f"option without a value: {line}")
        out.append((value, label or value))
    return out


def _edit(op: Callable[[Any, dict[str, Any], dict[str, Any]], dict[str, Any]], panel: Callable[[Request], str],
          note: str, form: str = "") -> Callable[[Request], Any]:
    """An editor change: ``op(ctx, definition, form data)`` -> new definition, saved as a draft.
    ``panel``/``form`` tell the editor which of its forms to re-show with the input and errors."""

    @requires(EDIT)
    async def endpoint(request: Request) -> Response:
        ctx = request.scope["ccms"]
        form_id = request.path_params["form"]
        data = await form_data(request)
        data["_field"] = request.path_params.get("field", "")
        data["_group"] = request.path_params.get("group", "")
        try:
            base = _int(data, "base")
            with ctx.db.session() as s:
                row = latest_row(s, form_id)
                if base is not None and base != row.version:
                    raise Conflict(f"表单已被他人保存为 v{row.version}，您的修改未保存，请刷新后重试",
                                   f"someone saved v{row.version} meanwhile; nothing was saved: reload and try again")
                new = op(ctx, row.definition, data)
                if content_hash(new) != row.content_hash:
                    store.save_draft(s, actor_of(request), new, note=note)
        except (ValidationFailed, Conflict) as exc:
            return _render_editor(request, form_id, exc, exc.status,
                                  posted={"panel": panel(request), "form": form, "vals": data})
        return shared.after_write(KIND, request, form_id, "saved")

    endpoint.__name__ = "edit_" + (form or note.rsplit("/ ", 1)[-1].replace(" ", "_"))
    return endpoint


def _op_title(ctx: Any, d: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return designer.set_title(d, str(data.get("title", "")), str(data.get("title_en", "")))


def _op_add(ctx: Any, d: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    name, type_name = str(data.get("name", "")).strip(), str(data.get("type", "")).strip()
    if type_name not in ctx.field_types:
        raise _bad("type", "请选择字段类型", "choose a field type")
    if not name:
        raise _bad("name", "请填写字段名", "a field name is required")
    if not str(data.get("label", "")).strip():
        raise _bad("label", "请填写字段标签", "a label is required")
    options = _parse_options(str(data.get("options", "")), "options")
    if type_name in ("enum", "multiselect") and not options:
        raise _bad("options", "单选/多选字段至少需要一个选项", "a choice field needs at least one option")
    return designer.add_field(d, name, type_name, str(data.get("label", "")), bool(data.get("required")), options,
                              field_types=ctx.field_types, label_en=str(data.get("label_en", "")),
                              parent=str(data.get("parent", "")).strip())


def _op_props(ctx: Any, d: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    name = str(data.get("_field", ""))
    props: dict[str, Any] = {"label": str(data.get("label", "")), "label_en": str(data.get("label_en", "")),
                             "required": bool(data.get("required"))}
    for key in ("minLength", "maxLength"):
        if key in data:
            value = _int(data, key)
            if value is not None and value < 0:
                raise _bad(key, "不能小于 0", "must be at least 0")
            props[key] = value
    for key in ("minItems", "maxItems"):
        if key in data:
            value = _int(data, key)
            if value is not None and value < 0:
                raise _bad(key, "不能小于 0", "must be at least 0")
            props[key] = value
    for key in ("minimum", "maximum"):
        if key in data:
            props[key] = _number(data, key)
    if "pattern" in data:
        props["pattern"] = str(data["pattern"]).strip() or None
    if "max_size" in data:
        kb = _int(data, "max_size")
        if kb is not None and kb < 1:
            raise _bad("max_size", "应为正整数", "must be a positive whole number")
        props["max_size"] = kb * 1024 if kb is not None else None
    if "enum" in data:
        props["enum"] = _parse_options(str(data["enum"]))
    if "dictionary" in data:
        code = str(data["dictionary"]).strip()
        if code:
            with ctx.db.session() as s:
                if s.scalar(select(Dict.id).where(Dict.code == code)) is None:
                    raise _bad("dictionary", f"数据字典 {code} 不存在", f"dictionary {code} does not exist")
        props["dictionary"] = code
    for key in ("help", "help_en", "placeholder", "placeholder_en", "widget"):
        if key in data:
            props[key] = str(data[key]).strip()
    if "_flags" in data:  # the checkboxes were on the form: absent means unticked
        for key in str(data["_flags"]).split(","):
            if key in ("indexed", "bulk_edit"):
                props[key] = bool(data.get(key))
    return designer.set_field_props(d, name, **props)


def _op_rename(ctx: Any, d: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    new_name = str(data.get("new_name", "")).strip()
    if not new_name:
        raise _bad("new_name", "请填写新的字段名", "enter the new field name")
    return designer.rename_field(d, str(data.get("_field", "")), new_name)


def _op_permissions(ctx: Any, d: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    with ctx.db.session() as s:
        roles = list(s.scalars(select(Role.code)))
    return designer.set_permissions(d, str(data.get("_field", "")), _as_list(data.get("hidden_for")),
                                    _as_list(data.get("readonly_for")), roles=roles)


def _op_place(ctx: Any, d: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return designer.place_field(d, str(data.get("_field", "")), str(data.get("group", "")).strip())


def _op_group_add(ctx: Any, d: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    inside = str(data.get("inside", "")).strip()
    kind = str(data.get("kind", "")).strip()
    if not inside and kind not in designer.GROUP_KINDS:
        raise _bad("kind", "请选择分组类型", "choose the kind of group")
    parts = _int(data, "parts") or 2
    return designer.add_group(d, kind, str(data.get("title", "")), str(data.get("title_en", "")), parts=parts,
                              inside=inside)


def _group_of(request: Request) -> str:
    return str(request.path_params.get("group", ""))


def _op_group_title(ctx: Any, d: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return designer.set_group_title(d, str(data.get("_group", "")), str(data.get("title", "")),
                                    str(data.get("title_en", "")))


def _op_group_remove(ctx: Any, d: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return designer.remove_group(d, str(data.get("_group", "")))


def _op_group_move(ctx: Any, d: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return designer.move_group(d, str(data.get("_group", "")), str(data.get("where", "")))


def _rule_value(ctx: Any, d: Mapping[str, Any], field: str, op: str, raw: str) -> Any:
    raw = raw.strip()
    if op in ("empty", "not_empty") or raw == "":
        return None
    sub = _sub_of(d, field)
    json_type = ctx.field_types.resolve(sub).json_type if sub else "string"

    kind = ctx.field_types.resolve(sub).name if sub else "text"

    def one(text: str) -> Any:
        text = text.strip()
        if json_type in ("number", "integer") or (op in ("gt", "lt") and kind not in ("date", "datetime")):
            try:
                v = float(text)
            except ValueError:
                raise _bad("value", "条件的值应为数字", "the value must be a number") from None
            return int(v) if v.is_integer() else v
        if json_type == "boolean":
            if text.lower() in ("true", "1", "是", "yes"):
                return True
            if text.lower() in ("false", "0", "否", "no"):
                return False
            raise _bad("value", "条件的值应为 是 或 否", "the value must be true or false")
        return text

    if op == "in":
        return [one(t) for t in raw.replace("，", ",").split(",") if t.strip()]
    return one(raw)


def _op_rule(ctx: Any, d: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    name = str(data.get("_field", ""))
    effect = str(data.get("effect", "")).strip() or None
    if effect is None:
        return designer.set_rule(d, name, None)
    when_field, op = str(data.get("when_field", "")).strip(), str(data.get("op", "eq")).strip()
    if not when_field:
        raise _bad("when_field", "请选择条件字段", "choose the field the rule tests")
    value = _rule_value(ctx, d, when_field, op, str(data.get("value", "")))
    return designer.set_rule(d, name, effect, when_field, op, value, field_types=ctx.field_types)


def _as_list(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _op_list(ctx: Any, d: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return designer.set_list_settings(d, _as_list(data.get("columns")), _as_list(data.get("filters")),
                                      str(data.get("sort", "")))


def _op_move(ctx: Any, d: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    where = str(data.get("where", ""))
    return designer.move_field(d, str(data.get("_field", "")), int(where) if where.isdecimal() else where)


def _op_remove(ctx: Any, d: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return designer.remove_field(d, str(data.get("_field", "")))


def _diff_query(request: Request) -> tuple[int, int]:
    q = request.query_params
    return _required_int(q, "from"), _required_int(q, "to")


# --- JSON API --------------------------------------------------------------------------------

class FormSummaryOut(BaseModel):
    form_id: str
    title: str
    published_version: int | None
    latest_version: int
    status: str


class VersionOut(BaseModel):
    version: int
    status: str
    note: str
    source: str
    created_at: str | None
    created_by: int | None
    published_at: str | None
    content_hash: str
    lock_version: int


class VersionDetailOut(BaseModel):
    form_id: str
    version: int
    status: str
    lock_version: int
    definition: dict[str, Any]


class DefinitionIn(BaseModel):
    """A full form definition (see form_defs/README.md and meta-schema.json)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    id: str
    title: Any
    schema_: dict[str, Any] = Field(alias="schema")


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    lock_version: int | None = None


class UnpublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lock_version: int | None = None


class ChangeOut(BaseModel):
    kind: str
    path: str
    field: str | None
    before: Any
    after: Any
    zh: str
    en: str


class DiffOut(BaseModel):
    form_id: str
    from_version: int
    to_version: int
    changes: list[ChangeOut]


def _iso(v: Any) -> str | None:
    return v.isoformat() if v is not None else None


def _version_out(v: Mapping[str, Any]) -> dict[str, Any]:
    return {**v, "created_at": _iso(v["created_at"]), "published_at": _iso(v["published_at"]),
            "note": v["note"] or "", "source": v["source"] or "", "content_hash": v["content_hash"] or ""}


@requires(VIEW)
async def api_list(request: Request) -> Response:
    ctx = request.scope["ccms"]
    with ctx.db.session() as s:
        items = shared.summaries(KIND, s)
    return JSONResponse({"items": items, "total": len(items)})


@requires(VIEW)
async def api_versions(request: Request) -> Response:
    ctx = request.scope["ccms"]
    form_id = request.path_params["form"]
    with ctx.db.session() as s:
        latest_row(s, form_id)
        items = [_version_out(v) for v in store.list_versions(s, form_id)]
    return JSONResponse({"items": items, "total": len(items)})


def _path_version(request: Request) -> int:
    raw = request.path_params["version"]
    if not str(raw).isdecimal():
        raise _bad("version", "版本号应为整数", "version must be an integer")
    return int(raw)


@requires(VIEW)
async def api_version(request: Request) -> Response:
    ctx = request.scope["ccms"]
    with ctx.db.session() as s:
        row = store.get_version(s, request.path_params["form"], _path_version(request))
        return JSONResponse(shared.detail_out(KIND, row))


@requires(EDIT)
async def api_unpublish(request: Request) -> Response:
    ctx = request.scope["ccms"]
    raw = await request.body()
    data = await json_body(request, UnpublishIn) if raw.strip() else UnpublishIn()
    with ctx.db.session() as s:
        row = store.unpublish(s, actor_of(request), request.path_params["form"], lock_version=data.lock_version)
        s.flush()
        body = shared.detail_out(KIND, row)
    return JSONResponse(body)


@requires(VIEW)
async def api_diff(request: Request) -> Response:
    ctx = request.scope["ccms"]
    form_id = request.path_params["form"]
    a, b = _diff_query(request)
    with ctx.db.session() as s:
        changes = [c.as_dict() for c in store.diff_versions(s, form_id, a, b)]
    return JSONResponse({"form_id": form_id, "from_version": a, "to_version": b, "changes": changes})


KIND = DefinitionKind(
    store=store, model=FormDef, id_field="form_id", path_param="form", base=BASE, view=VIEW, edit=EDIT,
    prefix="forms", zh="表单", en="form", new_document=designer.new_definition,
    render_editor=_render_editor, publish_version=lambda data: _required_int(data, "version"),
    diff_version=_required_int, export_version=lambda q: _int(q, "version"), publish_echo_version=True)

_FIELD = "/admin/forms/{form}/fields/{field}"

routes = [
    Route(BASE, shared.list_page(KIND), name="admin-forms"),
    Route(f"{BASE}/new", shared.create_action(KIND), methods=["POST"], name="admin-form-new"),
    Route(f"{BASE}/import", shared.import_action(KIND), methods=["POST"], name="admin-form-import"),
    Route(BASE + "/{form}", shared.editor_page(KIND), name="admin-form"),
    Route(BASE + "/{form}/title", _edit(_op_title, lambda r: "_title", "标题 / title", "title"), methods=["POST"],
          name="admin-form-title"),
    Route(BASE + "/{form}/fields", _edit(_op_add, lambda r: "_add", "新增字段 / field added", "add"),
          methods=["POST"], name="admin-form-field-add"),
    Route(BASE + "/{form}/list", _edit(_op_list, lambda r: "_list", "列表设置 / list settings", "list"),
          methods=["POST"], name="admin-form-list"),
    Route(BASE + "/{form}/publish", shared.version_action(KIND, shared.publish_step(KIND)), methods=["POST"],
          name="admin-form-publish"),
    Route(BASE + "/{form}/unpublish", shared.version_action(KIND, shared.unpublish_step(KIND)), methods=["POST"],
          name="admin-form-unpublish"),
    Route(BASE + "/{form}/diff", shared.diff_page(KIND), name="admin-form-diff"),
    Route(BASE + "/{form}/export", shared.export(KIND), name="admin-form-export"),
    Route("/api/form-defs", api_list, methods=["GET"], name="api-form-defs"),
    Route("/api/form-defs", shared.api_import(KIND), methods=["POST"], name="api-form-def-import"),
    Route("/api/form-defs/{form}/versions", api_versions, methods=["GET"], name="api-form-def-versions"),
    Route("/api/form-defs/{form}/versions/{version}", api_version, methods=["GET"], name="api-form-def-version"),
    Route("/api/form-defs/{form}/publish", shared.api_publish(KIND, PublishIn), methods=["POST"],
          name="api-form-def-publish"),
    Route("/api/form-defs/{form}/unpublish", api_unpublish, methods=["POST"], name="api-form-def-unpublish"),
    Route("/api/form-defs/{form}/diff", api_diff, methods=["GET"], name="api-form-def-diff"),
]

api_docs = [
    api_doc("/api/form-defs", "get", "表单定义列表 / list form definitions", permission=VIEW,
            response=FormSummaryOut, response_list=True),
    api_doc("/api/form-defs", "post", "导入表单定义为新草稿版本 / import a definition as a new draft version",
            permission=EDIT, request=DefinitionIn, response=VersionDetailOut, status=201),
    api_doc("/api/form-defs/{form}/versions", "get", "表单的各版本（新的在前） / versions, newest first",
            permission=VIEW, response=VersionOut, response_list=True),
    api_doc("/api/form-defs/{form}/versions/{version}", "get", "某一版本的定义 / one version's definition",
            permission=VIEW, response=VersionDetailOut),
    api_doc("/api/form-defs/{form}/publish", "post", "发布某一版本（原发布版本归档） / publish a version",
            permission=EDIT, request=PublishIn, response=VersionDetailOut),
    api_doc("/api/form-defs/{form}/unpublish", "post", "停用已发布的版本 / withdraw the published version",
            permission=EDIT, request=UnpublishIn, response=VersionDetailOut),
    api_doc("/api/form-defs/{form}/diff", "get", "两个版本的差异（中文说明） / differences between two versions",
            permission=VIEW, response=DiffOut,
            query={"from": "旧版本号 / older version", "to": "新版本号 / newer version"}),
]

# Per-field changes: the field name (dotted for sub-fields) comes from the URL (``_field`` in the op's data).
for _suffix, _op, _note, _form in (
        ("", _op_props, "字段设置 / field settings", "props"), ("/rule", _op_rule, "显示规则 / rule", "rule"),
        ("/move", _op_move, "调整顺序 / moved", "move"), ("/remove", _op_remove, "删除字段 / removed", "remove"),
        ("/rename", _op_rename, "字段改名 / renamed", "rename"),
        ("/permissions", _op_permissions, "字段权限 / field permissions", "perm"),
        ("/place", _op_place, "布局位置 / placed in layout", "place")):
    routes.append(Route(_FIELD + _suffix, _edit(_op, lambda r: r.path_params["field"], _note, _form),
                        methods=["POST"], name=f"admin-form-field{_suffix.replace('/', '-') or '-props'}"))

# Layout groups (sections, tabs, columns), named by their place in ui.layout ("2", "2.0").
_GROUP = "/admin/forms/{form}/layout/{group}"
routes += [
    Route(BASE + "/{form}/layout", _edit(_op_group_add, lambda r: "_layout", "布局分组 / layout group added",
                                         "group_add"), methods=["POST"], name="admin-form-layout-add"),
    Route(_GROUP, _edit(_op_group_title, lambda r: "_layout", "分组标题 / group title", "group_title"),
          methods=["POST"], name="admin-form-layout-title"),
    Route(_GROUP + "/remove", _edit(_op_group_remove, lambda r: "_layout", "删除分组 / group removed", "group_remove"),
          methods=["POST"], name="admin-form-layout-remove"),
    Route(_GROUP + "/move", _edit(_op_group_move, lambda r: "_layout", "移动分组 / group moved", "group_move"),
          methods=["POST"], name="admin-form-layout-move"),
]
