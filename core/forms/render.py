"""A form definition as an htmx form: widgets per field type, layout sections,
inline errors, the user's input kept, show/hide rules evaluated server-side.

:func:`build` turns a definition plus values into a tree of :class:`Node`
(plain data the ``forms/_form.html`` macros render); :func:`render_form`
renders it to HTML. Screens and the designer's live preview call the same
function. Input names follow the data paths the validator reads back
(``address.city``, ``items[0].qty``, ``loc.lng``), so a re-render after a
refused post shows exactly what was typed (``raw``) while rules read the
coerced ``values``.

Repeating groups add a row with a submit button ``_add_row=<group>`` and drop
one with ``_remove_row=<group>[i]``: the screen re-renders without saving (no
script needed). File and image fields (top level, in nested objects and in
group rows alike) are a plain ``<input type=file>`` posted with the record
(multipart) plus a ticked checkbox per kept attachment (untick to remove); see
:mod:`ccms.web.attachments`.

Person and region fields are htmx pickers (``forms/_widgets.html``, endpoints
in :mod:`ccms.web.pickers`): a search box listing people as buttons, and
cascading selects province → city → district → street → community.

Layout (``ui.layout``): ``section`` is a fieldset; ``columns`` holds ``column``
items (or fields) on a CSS grid of 2–3 columns, one on a phone; ``tabs`` holds
``tab`` items shown as CSS-only tabs (radio buttons: keyboard usable, no
script); a tab holding an error is marked and opened when the form is re-shown.
:func:`render_detail` lays a record's values out the same way for detail pages.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlalchemy import select

from ..attachments import EXTENSIONS, limits_for
from ..dictionaries.service import options
from ..errors import NotFound
from ..lookups import org_names
from ..models import Org
from . import compose
from .definition import FormDefinition, localize
from .fields import enum_options, parse_datetime
from .validate import (
    _filled,
    _index_items,
    _leaf_text,
    _parse_key,
    _tree,
    has_kv,
    kv_input,
    kv_schema,
    variant_input,
)
from .widgets import dotted, field_of, person_names
from .widgets_pickers import person_extra, region_extra

_INPUT_TYPES = {"text": "text", "phone": "tel", "idcard": "text", "date": "date", "datetime": "datetime-local",
                "integer": "number", "number": "number", "money": "number", "list": "text"}


@dataclass
class Node:
    """One thing on the form: a widget, a fieldset (nested object), a repeating
    group, or a layout section/tab/column holding further nodes."""

    kind: str  # widget | fieldset | group | section
    name: str = ""  # input name (data path)
    label: str = ""
    widget: str = ""  # text | textarea | number | checkbox | select | checkboxes | geo | unavailable
    field_type: str = ""
    value: Any = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    selected: list[str] = field(default_factory=list)
    required: bool = False
    disabled: bool = False
    help: str = ""
    placeholder: str = ""
    input_type: str = "text"
    attrs: dict[str, Any] = field(default_factory=dict)
    error: dict[str, str] | None = None
    children: list[Node] = field(default_factory=list)
    rows: list[list[Node]] = field(default_factory=list)  # group rows
    layout: str = ""  # section | tabs | tab | columns | column
    extra: dict[str, Any] = field(default_factory=dict)  # widget data that is not an HTML attribute
    has_error: bool = False  # this node or one inside it has an error (tabs are marked)
    checked: bool = False  # the open tab

    @property
    def test_id(self) -> str:
        return self.name.replace("[", "-").replace("]", "").replace(".", "-")


# --- values as form strings ---------------------------------------------------------------------

def _text(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "datetime" and isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is not None:
            return parsed.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _json_text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


# --- rules ----------------------------------------------------------------------------------------

def _value_at(values: Mapping[str, Any], name: str, rows: Mapping[str, Any] | None = None) -> Any:
    """The value a rule reads; ``rows`` maps a group's name to the current row (``items.qty``
    inside a row of ``items`` reads that row's ``qty``)."""
    node: Any = values
    prefix = ""
    for part in name.split("."):
        prefix = f"{prefix}.{part}" if prefix else part
        if rows and prefix in rows:
            node = rows[prefix]
            continue
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _holds(rule: Mapping[str, Any], values: Mapping[str, Any], rows: Mapping[str, Any] | None = None) -> bool:
    when = rule.get("when") or {}
    v = _value_at(values, str(when.get("field", "")), rows)
    op, target = when.get("op"), when.get("value")
    empty = v in (None, "", [], {})
    try:
        return {"eq": lambda: v == target, "ne": lambda: v != target,
                "in": lambda: v in (target or []), "empty": lambda: empty, "not_empty": lambda: not empty,
                "gt": lambda: v is not None and v > target, "lt": lambda: v is not None and v < target}[op]()
    except (KeyError, TypeError):
        return False


def rule_state(definition: FormDefinition, name: str, values: Mapping[str, Any],
               rows: Mapping[str, Any] | None = None) -> tuple[bool, bool]:
    """(visible, enabled) of a field under its ui rules and the current values
    (``rows``: the current row of each enclosing repeating group)."""
    rules = ((definition.ui.get("fields") or {}).get(name) or {}).get("rules") or []
    visible, enabled = True, True
    for rule in rules:
        holds = _holds(rule, values, rows)
        effect = rule.get("effect")
        if effect == "show":
            visible = visible and holds
        elif effect == "hide":
            visible = visible and not holds
        elif effect == "enable":
            enabled = enabled and holds
        elif effect == "disable":
            enabled = enabled and not holds
    return visible, enabled


def hidden_by_rules(definition: FormDefinition, values: Mapping[str, Any]) -> set[str]:
    """Fields a rule hides right now (their inputs are not shown nor required). A field in a
    repeating group is named per row (``items[1].reason``), judged by that row's values."""
    out: set[str] = set()
    for name in (definition.ui.get("fields") or {}):
        group = _group_of(definition, name)
        if group is None:
            if not rule_state(definition, name, values)[0]:
                out.add(name)
            continue
        rows = _value_at(values, group)
        for i, row in enumerate(rows if isinstance(rows, list) else []):
            if isinstance(row, Mapping) and not rule_state(definition, name, values, {group: row})[0]:
                out.add(f"{group}[{i}]{name[len(group):]}")
    return out


def drop_hidden_errors(definition: FormDefinition, values: Mapping[str, Any],
                       errors: Mapping[str, Any]) -> dict[str, Any]:
    """``errors`` without those of fields hidden by rules (and of anything inside them)."""
    gone = hidden_by_rules(definition, values)
    return {k: e for k, e in errors.items()
            if not any(k == n or k.startswith((n + ".", n + "[")) for n in gone)}


def _group_of(definition: FormDefinition, name: str) -> str | None:
    """The repeating group (a top-level array of objects) a dotted field sits in, if any."""
    head = name.split(".", 1)[0]
    if "." not in name:
        return None
    prop = definition.fields.get(head) or {}
    items = prop.get("items")
    return head if prop.get("type") == "array" and isinstance(items, Mapping) else None


# --- building -------------------------------------------------------------------------------------

class _Builder:
    def __init__(self, ctx: Any, definition: FormDefinition, values: Mapping[str, Any],
                 errors: Mapping[str, Any], tree: Mapping[Any, Any], hidden: set[str], readonly: set[str],
                 locale: str, org_choices: list[tuple[int, str, int]] | None, from_values: bool = False) -> None:
        self.ctx, self.d, self.values, self.errors = ctx, definition, values, errors
        self.tree, self.hidden, self.readonly, self.locale = tree, hidden, readonly, locale
        self._orgs = org_choices
        self.from_values = from_values  # the tree was made from ``values`` (rows line up one to one)
        self.ui_fields = definition.ui.get("fields") or {}
        self._people: dict[int, tuple[str, str]] = {}
        self.no_rules = False  # a picker re-rendered alone: the page already decided it is shown

    def org_options(self) -> list[tuple[str, str]]:
        if self._orgs is None:
            with self.ctx.db.session() as s:
                rows = s.execute(select(Org.id, Org.name, Org.path).where(Org.active.is_(True))
                                 .order_by(Org.path)).all()
            self._orgs = [(i, n, max(p.count("/") - 2, 0)) for i, n, p in rows]
        return [(str(i), "　" * depth + n) for i, n, depth in self._orgs]

    def dict_options(self, code: str) -> list[tuple[str, str]]:
        try:
            return [(c, "　" * depth + n) for c, n, depth in options(self.ctx, code)]
        except NotFound:
            return []

    def person_label(self, value: str) -> str:
        """"张伟（市城管局）" for a person id; the id is never shown (an unknown one says so)."""
        if not value.isdigit() or len(value) > 18:
            return ""
        pid = int(value)
        if pid not in self._people:
            with self.ctx.db.session() as s:
                self._people.update(person_names(s, [pid]))
        name = self._people.get(pid)
        if name is None:
            return self.ctx.gettext("forms_widgets.person_unknown")
        return f"{name[0]}（{name[1]}）"

    def field(self, prop: Mapping[str, Any], dotted: str, input_name: str, raw: Any, required: bool,
              in_row: bool = False, rows: Mapping[str, Any] | None = None) -> Node | None:
        """One field's node; ``dotted`` names it in the definition (ui, permissions), ``input_name`` in the post;
        ``rows`` are the current rows (typed values) of the groups it sits in (for rules and computed values)."""
        if dotted in self.hidden:
            return None
        visible, enabled = (True, True) if self.no_rules else rule_state(self.d, dotted, self.values, rows)
        if not visible:
            return None
        ft = self.ctx.field_types.resolve(prop)
        ui = self.ui_fields.get(dotted) or {}
        label = (localize(prop.get("x-ccms-title"), self.locale) or localize(prop.get("title"), self.locale)
                 or dotted.rsplit(".", 1)[-1])
        node = Node("widget", name=input_name, label=label, field_type=ft.name, required=required,
                    disabled=not enabled or dotted in self.readonly or ft.readonly,
                    help=localize(ui.get("help") or prop.get("description"), self.locale),
                    placeholder=localize(ui.get("placeholder"), self.locale),
                    error=self._error(input_name))
        kind = ft.name
        if ft.readonly:  # computed: the value the server computed, never what was posted
            node.widget, node.input_type = "text", "text"
            here = (rows or {}).get(dotted.rsplit(".", 1)[0]) if in_row else self.values
            v = here.get(dotted.rsplit(".", 1)[-1]) if isinstance(here, Mapping) else None
            node.value = ft.display(v, prop, self.locale) if v is not None else ""
            node.extra["computed"] = True
            return node
        if kind == "object":
            node.kind = "fieldset"
            sub_raw = raw if isinstance(raw, Mapping) else {}
            prop = compose.deref(prop, self.d.schema)
            req = set(prop.get("required") or [])
            for sub, sp in (prop.get("properties") or {}).items():
                child = self.field(compose.deref(sp, self.d.schema), f"{dotted}.{sub}", f"{input_name}.{sub}",
                                   sub_raw.get(sub), sub in req, in_row=in_row, rows=rows)
                if child is not None:
                    node.children.append(child)
            typed = (rows or {}).get(dotted.rsplit(".", 1)[0]) if in_row else _value_at(self.values, dotted)
            node.children += self.composed(prop, f"{dotted}.", f"{input_name}.", typed if isinstance(
                typed, Mapping) else {}, sub_raw, set(prop.get("properties") or {}))
            if not node.children and not node.label:
                return None
            return node
        if kind == "group":
            node.kind = "group"
            items = compose.deref(prop.get("items"), self.d.schema) if isinstance(prop.get("items"), Mapping) else {}
            req = set(items.get("required") or [])
            raw_rows = [v for _, v in sorted((k, v) for k, v in raw.items() if isinstance(k, int))] if isinstance(
                raw, Mapping) else []
            typed = _value_at(self.values, dotted) if not in_row else None
            typed = typed if isinstance(typed, list) else []
            ci = 0
            for i, row in enumerate(raw_rows):
                row = row if isinstance(row, Mapping) else {}
                if self.from_values:
                    current = typed[i] if i < len(typed) else {}
                elif _filled(row) and ci < len(typed):  # the validator drops empty rows: line the rest up
                    current, ci = typed[ci], ci + 1
                else:
                    current = {}
                here = {**(rows or {}), dotted: current if isinstance(current, Mapping) else {}}
                cells = []
                for sub, sp in (items.get("properties") or {}).items():
                    child = self.field(compose.deref(sp, self.d.schema), f"{dotted}.{sub}", f"{input_name}[{i}].{sub}", row.get(sub), sub in req,
                                       in_row=True, rows=here)
                    if child is not None:
                        cells.append(child)
                cells += self.composed(items, f"{dotted}.", f"{input_name}[{i}].", here[dotted], row,
                                       set(items.get("properties") or {}))
                node.rows.append(cells)
            return node
        if kind == "geo_point":
            node.widget = "geo"
            pt = raw if isinstance(raw, Mapping) else {}
            node.value = {"lng": _leaf(pt.get("lng")), "lat": _leaf(pt.get("lat"))}
            node.error = node.error or self._error(f"{input_name}.lng") or self._error(f"{input_name}.lat")
            return node
        if kind in ("file", "image"):
            node.widget, node.value = "file", _attachment_refs(raw)
            node.attrs = {**node.attrs, "accept": _accept_attr(prop, kind)}
            node.extra["single"] = prop.get("maxItems") == 1  # e.g. a data-url field: pick one file
            node.required = False  # kept attachments satisfy it; the server checks
            return node
        if kind == "boolean":
            node.widget = "checkbox"
            node.value = _leaf(raw) not in ("", "0", "false", "off", "否", None)
            return node
        if kind == "multiselect":
            node.widget = "checkboxes"
            items = prop.get("items") if isinstance(prop.get("items"), Mapping) else {}
            node.options = [(_json_text(v), t) for v, t in enum_options(items, self.locale)]
            node.selected = [x for x in (raw if isinstance(raw, list) else []) if x != ""]
            return node
        if kind == "person":
            node.widget, node.value = "person", _leaf(raw).strip()
            node.extra = person_extra(self.d.id, dotted, input_name, node.value,
                                      self.person_label(node.value) if node.value else "")
            return node
        if kind == "region":
            node.widget, node.value = "region", _region_code(raw)
            with self.ctx.db.session() as s:
                node.extra = region_extra(s, self.d.id, dotted, input_name, node.value)
            return node
        if kind in ("enum", "dictionary", "org"):
            node.widget = "select"
            if kind == "enum":
                opts = [(_json_text(v), t) for v, t in enum_options(prop, self.locale)]
            elif kind == "dictionary":
                opts = self.dict_options(str(prop.get("x-ccms-dictionary") or ""))
            else:
                opts = self.org_options()
            node.value = _leaf(raw)
            if kind == "org" and node.value and node.value not in {v for v, _ in opts}:
                # a stored org outside the user's choices stays visible
                if node.value.isdigit() and len(node.value) < 18:
                    with self.ctx.db.session() as s:
                        name = org_names(s, [int(node.value)]).get(int(node.value))
                    if name:
                        opts = [(node.value, name)] + opts
            node.options = [("", "—")] + opts
            return node
        node.value = _leaf(raw)
        if kind in ("textarea",) or (ui.get("widget") == "textarea") or prop.get("format") == "textarea":
            node.widget = "textarea"
        else:
            node.widget = "number" if kind in ("integer", "number", "money") else "text"
            node.input_type = _INPUT_TYPES.get(kind, "text")
            if ui.get("widget") == "password" or kind == "password":
                node.input_type = "password"  # never echoed back: the stored value is kept when left empty
                node.value = ""
                node.attrs["autocomplete"] = "new-password"
            elif kind == "time":
                node.input_type = "time"
                node.value = str(node.value)[:5] if node.value else ""
        for key, attr in (("maxLength", "maxlength"), ("minimum", "min"), ("maximum", "max")):
            if key in prop and isinstance(prop[key], (int, float)) and not isinstance(prop[key], bool):
                node.attrs[attr] = prop[key]
        if kind == "integer":
            node.attrs["step"] = 1
        elif kind == "money":
            node.attrs["step"] = "0.01"
        elif kind == "number":
            node.attrs["step"] = "any"
        if kind == "datetime" and node.value and len(str(node.value)) > 16 and "T" in str(node.value):
            parsed = parse_datetime(node.value)
            if parsed is not None:
                node.value = parsed.strftime("%Y-%m-%dT%H:%M")
        return node

    def composed(self, schema: Any, dotted_prefix: str, input_prefix: str, typed: Mapping[str, Any],
                 raw: Mapping[Any, Any], skip: set[str]) -> list[Node]:
        """Nodes for an object's fields beyond ``properties``: ``allOf`` fields inline,
        conditional blocks (``if``/``then``/``else``, ``dependentSchemas``) shown while their
        condition holds, and variant choosers (``oneOf``/``anyOf`` of objects)."""
        root = self.d.schema
        schema = compose.deref(schema, root)
        if not isinstance(schema, Mapping):
            return []
        groups = compose.variant_groups(schema, root)
        path = tuple(_parse_key(input_prefix.rstrip(".")) or ()) if input_prefix else ()
        chosen: dict[int, int] = {}
        for k, (_key, branches) in enumerate(groups):
            picked = _leaf_text(self.tree.get(variant_input(path, k))) if not self.from_values else ""
            chosen[id(branches)] = int(picked) if isinstance(picked, str) and picked.isdigit() and int(
                picked) < len(branches) else compose.chosen_variant(branches, typed, root)
        out: list[Node] = []
        variants: dict[int, Node] = {}
        for k, (_key, branches) in enumerate(groups):
            title = localize(schema.get("x-ccms-title") or schema.get("title"), self.locale) if not dotted_prefix \
                else ""
            v = Node("variants", name=variant_input(path, k), label=title or self.ctx.gettext(
                "forms_schema.variant"), extra={"chosen": chosen[id(branches)], "id": f"v-{len(path)}-{k}-"
                                                + "-".join(path)})
            for i, b in enumerate(branches):
                label = localize(compose.variant_title(b, root, i), self.locale) or \
                    self.ctx.gettext("forms_schema.variant_n").replace("{n}", str(i + 1))
                v.options.append((str(i), label))
                v.children.append(Node("variant", name=f"{v.name}-{i}", label=label,
                                       checked=i == chosen[id(branches)]))
            variants[id(branches)] = v
            out.append(v)
        blocks: dict[tuple[Any, ...], Node] = {}
        for part in compose.object_parts(schema, root):
            if part.name in skip or dotted_prefix + part.name in self.hidden:
                continue
            variant = next((c for c in part.conds if c.kind == "variant" and c.owner in variants), None)
            rest = tuple(c for c in part.conds if c is not variant)
            child = self.field(compose.deref(part.prop, root), dotted_prefix + part.name, input_prefix + part.name,
                               raw.get(part.name), part.required and not rest)
            if child is None:
                continue
            if rest:
                key = (id(variant) if variant else 0,) + tuple((c.kind, id(c.schema), c.then, c.trigger) for c in rest)
                block = blocks.get(key)
                if block is None:
                    active = all(c.holds(typed, root, chosen) for c in rest)
                    block = Node("cond", name=f"{input_prefix}{part.name}", checked=active,
                                 extra={"when": _client_when(rest, input_prefix)})
                    blocks[key] = block
                    target = variants[variant.owner].children[variant.index].children if variant else out
                    target.append(block)
                block.children.append(child)
            elif variant is not None:
                variants[variant.owner].children[variant.index].children.append(child)
            else:
                out.append(child)
        if has_kv(schema):
            out.append(self.kv(schema, path, input_prefix, typed, {p.name for p in compose.object_parts(schema, root)}))
        return out

    def kv(self, schema: Mapping[str, Any], path: tuple[Any, ...], input_prefix: str, typed: Mapping[str, Any],
           known: set[str]) -> Node:
        """The key/value editor of an object's free keys (additionalProperties / patternProperties
        given a schema): one row per key, a value typed by its schema (JSON text for structures)."""
        name = kv_input(path)
        node = Node("group", name=name, label=self.ctx.gettext("forms_schema.kv"), extra={"kv": True})
        if self.from_values:
            pairs = [(k, v) for k, v in typed.items() if k not in known]
            rows = [(k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)) for k, v in pairs]
        else:
            raw = self.tree.get(name)
            rows = [(str(_leaf_text(r.get("k")) or ""), str(_leaf_text(r.get("v")) or "")) for _, r in _index_items(raw)
                    if isinstance(r, Mapping)] if isinstance(raw, Mapping) else []
        for i, (k, v) in enumerate(rows):
            sub = compose.deref(kv_schema(schema, k), self.d.schema) if k else {}
            key = Node("widget", name=f"{name}[{i}].k", label=self.ctx.gettext("forms_schema.kv_key"), widget="text",
                       value=k, error=self._error(f"{name}[{i}].k"))
            val = Node("widget", name=f"{name}[{i}].v", label=self.ctx.gettext("forms_schema.kv_value"),
                       widget="text", value=v, error=self._error(f"{input_prefix}{k}") if k else None,
                       help=localize(sub.get("title") or sub.get("description"), self.locale) if isinstance(
                           sub, Mapping) else "")
            node.rows.append([key, val])
        return node

    def _error(self, name: str) -> dict[str, str] | None:
        e = self.errors.get(name)
        if e is None:
            return None
        if isinstance(e, Mapping):
            return {"message": str(e.get("message", "")), "message_en": str(e.get("message_en", ""))}
        return {"message": str(e), "message_en": ""}

    def top(self, name: str) -> Node | None:
        props = self.d.schema.get("properties") or {}
        if name not in props:
            return None
        prop = self.d.fields.get(name) or props[name]
        return self.field(prop, name, name, self.tree.get(name), name in set(self.d.required()))

    def layout(self, items: Iterable[Any], placed: set[str]) -> list[Node]:
        return layout_nodes(items, placed, self.top, self.locale)


def layout_nodes(items: Iterable[Any], placed: set[str], top: Callable[[str], Node | None],
                 locale: str) -> list[Node]:
    """A form's ``ui.layout`` (field names, and sections, columns or tabs holding more) as
    nodes, each field built by ``top``; ``placed`` collects the names laid out, so the
    caller can append the fields the layout does not name. The edit form and the detail
    page share it."""
    out: list[Node] = []
    for item in items:
        if isinstance(item, str):
            placed.add(item)
            n = top(item)
            if n is not None:
                out.append(n)
        elif isinstance(item, Mapping):
            children = layout_nodes(item.get("items") or [], placed, top, locale)
            if children:
                out.append(Node("section", label=localize(item.get("title"), locale),
                                layout=str(item.get("kind", "section")), children=children,
                                name=str(item.get("id") or "")))
    return out


def arrange(nodes: list[Node], prefix: str = "t") -> list[Node]:
    """Give layout nodes their final shape: errors marked upwards, tabs' children made tabs
    (the first with an error open, else the first), column counts, unique ids for tab groups."""
    counter = [0]

    def mark(n: Node) -> bool:
        inner = [mark(c) for c in n.children] + [mark(c) for row in n.rows for c in row]
        n.has_error = bool(n.error) or any(inner)
        return n.has_error

    def shape(n: Node) -> None:
        for c in n.children:
            shape(c)
        if n.kind != "section":
            return
        if n.layout == "tabs":
            counter[0] += 1
            tabs = [c if c.kind == "section" and c.layout == "tab" else
                    Node("section", label=c.label, layout="tab", children=[c], has_error=c.has_error, name=c.name)
                    for c in n.children]
            for i, t in enumerate(tabs):
                t.layout = "tab"
                t.extra = {**t.extra, "radio": f"{prefix}{counter[0]}-{i}", "group": f"_{prefix}ab{counter[0]}"}
                t.checked = False
            (next((t for t in tabs if t.has_error), None) or tabs[0]).checked = True
            n.children = tabs
        elif n.layout == "columns":
            cols = sum(1 for c in n.children if c.kind == "section" and c.layout == "column")
            n.extra = {**n.extra, "cols": min(max(cols, 2), 3)}

    for n in nodes:
        mark(n)
        shape(n)
    return nodes


def _leaf(v: Any) -> str:
    if isinstance(v, list):
        return str(v[-1]) if v else ""
    return "" if v is None else str(v)


def to_tree(ctx: Any, definition: FormDefinition, values: Mapping[str, Any]) -> dict[Any, Any]:
    """JSON values as the form-string tree a post would give (``{"items": {0: {...}}}``)."""
    def conv(prop: Mapping[str, Any], v: Any) -> Any:
        ft = ctx.field_types.resolve(prop)
        if ft.name in ("object", "geo_point") and isinstance(v, Mapping):
            props = prop.get("properties") or {}
            return {k: conv(props.get(k, {}), x) for k, x in v.items()}
        if ft.name == "group" and isinstance(v, list):
            items = prop.get("items") if isinstance(prop.get("items"), Mapping) else {}
            props = items.get("properties") or {}
            return {i: {k: conv(props.get(k, {}), x) for k, x in (row or {}).items()} if isinstance(row, Mapping)
                    else {} for i, row in enumerate(v)}
        if ft.name == "multiselect" and isinstance(v, list):
            return [_json_text(x) for x in v]
        if ft.name in ("file", "image") and isinstance(v, list):
            return [json.dumps(x, ensure_ascii=False) for x in v]
        if ft.name == "region":
            return _region_code(v)
        if ft.name == "enum":
            return _json_text(v) if v is not None else ""
        return _text(v, ft.name)
    props = definition.schema.get("properties") or {}
    return {k: conv(definition.fields.get(k) or props.get(k, {}), v) for k, v in (values or {}).items() if k in props}


def build(ctx: Any, definition: FormDefinition, values: Mapping[str, Any] | None = None,
          errors: Mapping[str, Any] | None = None, *, raw: Any = None, hidden: Iterable[str] = (),
          readonly: Iterable[str] = (), locale: str | None = None,
          org_choices: list[tuple[int, str, int]] | None = None) -> list[Node]:
    """The form's nodes: layout first (sections kept), then the remaining fields in schema order."""
    values = dict(values or {})
    tree = _tree(raw) if raw is not None else to_tree(ctx, definition, values)
    b = _Builder(ctx, definition, values, dict(errors or {}), tree, set(hidden), set(readonly),
                 locale or ctx.deployment.locale, org_choices, from_values=raw is None)
    placed: set[str] = set()
    nodes = b.layout(definition.ui.get("layout") or [], placed)
    for name in definition.top_fields:
        if name not in placed:
            n = b.top(name)
            if n is not None:
                nodes.append(n)
    nodes += b.composed(definition.schema, "", "", values, tree,
                        placed | set(definition.schema.get("properties") or {}))
    return arrange(nodes)


def _client_when(conds: Iterable[Any], input_prefix: str) -> str:
    """The condition as data for ccms-schema-form.js, when it is simple enough to judge in the
    page (a field equal to a const / in an enum, a field filled); "" leaves it to the server."""
    clauses = []
    for c in conds:
        if c.kind == "dep":
            clauses.append({"field": input_prefix + c.trigger, "filled": True})
            continue
        if c.kind != "if" or not isinstance(c.schema, Mapping) or set(c.schema) - {"properties", "required"}:
            return ""
        props = c.schema.get("properties") or {}
        if len(props) != 1:
            return ""
        (name, sub), = props.items()
        if not isinstance(sub, Mapping) or set(sub) - {"const", "enum", "type"} or not (
                "const" in sub or "enum" in sub):
            return ""
        allowed = [sub["const"]] if "const" in sub else list(sub["enum"])
        clauses.append({"field": input_prefix + name, "in": [_json_text(v) for v in allowed], "not": not c.then,
                        "required": name in (c.schema.get("required") or [])})
    return json.dumps(clauses, ensure_ascii=False)


def picker_node(ctx: Any, definition: FormDefinition, input_name: str, raw: Any, *,
                readonly: bool = False, locale: str | None = None) -> Node:
    """One picker's node on its own (the picker endpoints re-render it after a choice)."""
    key = dotted(input_name)
    found = field_of(definition, key)
    if found is None:
        raise KeyError(input_name)
    b = _Builder(ctx, definition, {}, {}, {}, set(), {key} if readonly else set(),
                 locale or ctx.deployment.locale, None)
    b.no_rules = True
    node = b.field(found[0], key, input_name, raw, found[1], in_row="[" in input_name)
    assert node is not None
    return node


def render_form(ctx: Any, definition: FormDefinition, values: Mapping[str, Any] | None = None,
                errors: Mapping[str, Any] | None = None, **kw: Any) -> Markup:
    """The form's fields as HTML (no <form> element: the caller adds action, csrf and buttons)."""
    nodes = build(ctx, definition, values, errors, **kw)
    general = (errors or {}).get("_")

    def dynamic(ns: Iterable[Node]) -> bool:
        return any(n.kind in ("variants", "cond") or dynamic(n.children) or any(dynamic(r) for r in n.rows)
                   for n in ns)
    return Markup(ctx.templates.get_template("forms/_fields.html").render(
        nodes=nodes, general_error=general, today=dt.date.today().isoformat(), schema_form=dynamic(nodes)))


def apply_row_action(form: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> tuple[list[tuple[str, Any]], bool]:
    """Handle ``_add_row``/``_remove_row`` buttons on a post: returns the pairs to
    re-render from, and whether such a button was pressed (then nothing is saved)."""
    pairs = list(form.items() if isinstance(form, Mapping) else form)
    add = [v for k, v in pairs if k == "_add_row"]
    remove = [v for k, v in pairs if k == "_remove_row"]
    pairs = [(k, v) for k, v in pairs if k not in ("_add_row", "_remove_row")]
    if remove:
        prefix = str(remove[-1])
        pairs = [(k, v) for k, v in pairs if not (k == prefix or k.startswith(prefix + "."))]
    if add:
        group = str(add[-1])
        tree = _tree(pairs)
        node: Any = tree
        for part in group.split("."):
            node = node.get(part, {}) if isinstance(node, Mapping) else {}
        n = max([k for k in node if isinstance(k, int)], default=-1) + 1 if isinstance(node, Mapping) else 0
        pairs.append((f"{group}[{n}]._row", ""))
    return pairs, bool(add or remove)


def _region_code(raw: Any) -> str:
    """The deepest code of a region value: stored ``{"code", "street", "community"}``, a posted
    cascade (one code per level, province first) or a plain code."""
    if isinstance(raw, Mapping):
        for k in ("community", "street", "code"):
            v = _leaf(raw.get(k)) if isinstance(raw.get(k), (list, str)) else ""
            if v:
                return v.strip()
        return ""
    if isinstance(raw, list):
        filled = [str(x).strip() for x in raw if str(x or "").strip()]
        return filled[-1] if filled else ""
    return "" if raw is None else str(raw).strip()


def _attachment_refs(raw: Any) -> list[dict[str, Any]]:
    """Refs to show as kept attachments: stored dicts, or the JSON strings a re-shown post carries."""
    items = raw if isinstance(raw, list) else ([] if raw in (None, "") else [raw])
    out = []
    for item in items:
        if isinstance(item, str):
            try:
                item = json.loads(item)
            except ValueError:
                continue
        if isinstance(item, Mapping) and isinstance(item.get("id"), str):
            out.append({k: item.get(k) for k in ("id", "name", "size", "sha256", "content_type")})
    return out


def _accept_attr(prop: Mapping[str, Any], kind: str) -> str:
    """The file picker's accept list: the extensions the field allows."""
    accept = limits_for(prop, kind).accept
    exts = [e for e, ct in EXTENSIONS.items() if accept is None or any(
        isinstance(a, str) and (a.lower() == ct or (a.endswith("/*") and ct.startswith(a[:-1].lower())))
        for a in accept)]
    return ",".join(exts)
