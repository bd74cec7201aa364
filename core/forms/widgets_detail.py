"""A record's values laid out like its form (sections, columns, tabs) for detail pages.

Values are text through :func:`ccms.forms.widgets.display` (names for people,
orgs and regions — never ids), nested objects as fieldsets, repeating groups
as tables, attachments as permission-checked links with thumbnails for images,
at any depth. The caller passes data with hidden fields already removed; names
in ``hidden`` are skipped again here so nothing hidden can reach the page.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from markupsafe import Markup

from .compose import object_parts
from .definition import FormDefinition, localize
from .render import Node, arrange, layout_nodes
from .validate import has_kv
from .widgets import Labels, display


def _empty(v: Any) -> bool:
    return v is None or v == "" or v == [] or v == {}


class _Detail:
    def __init__(self, ctx: Any, d: FormDefinition, data: Mapping[str, Any], labels: Labels,
                 hidden: set[str], locale: str) -> None:
        self.ctx, self.d, self.data, self.labels, self.hidden, self.locale = ctx, d, data, labels, hidden, locale

    def label(self, key: str, prop: Mapping[str, Any]) -> str:
        return (localize(prop.get("x-ccms-title"), self.locale) or localize(prop.get("title"), self.locale)
                or key.rsplit(".", 1)[-1])

    def field(self, key: str, name: str, value: Any, in_row: bool = False) -> Node | None:
        prop = self.d.fields.get(key)
        if key in self.hidden or prop is None or _empty(value):
            return None
        kind = self.ctx.field_types.resolve(prop).name
        node = Node("widget", name=name, label=self.label(key, prop), field_type=kind)
        if kind in ("file", "image"):
            node.widget = "files"
            node.value = [r for r in (value if isinstance(value, list) else []) if isinstance(r, Mapping)
                          and isinstance(r.get("id"), str)]
            return node
        if kind == "object" and isinstance(value, Mapping) and not in_row:
            node.kind = "fieldset"
            for sub in [p.name for p in object_parts(prop, self.d.schema)]:  # variant and conditional fields too
                child = self.field(f"{key}.{sub}", f"{name}.{sub}", value.get(sub))
                if child is not None:
                    node.children.append(child)
            return node if node.children else None
        if kind == "group" and isinstance(value, list) and not in_row:
            node.kind = "group"
            items = prop.get("items") if isinstance(prop.get("items"), Mapping) else {}
            subs = [s for s in (items.get("properties") or {}) if f"{key}.{s}" not in self.hidden]
            node.extra = {"columns": [(s, self.label(f"{key}.{s}", (items.get("properties") or {})[s]))
                                      for s in subs]}
            for i, row in enumerate(value):
                row = row if isinstance(row, Mapping) else {}
                node.rows.append([self.field(f"{key}.{s}", f"{name}[{i}].{s}", row.get(s), in_row=True)
                                  or Node("widget", name=f"{name}[{i}].{s}", widget="value", value="")
                                  for s in subs])
            return node
        node.widget = "value"
        node.value = display(self.ctx, self.d, key, value, self.labels, self.locale)
        return node

    def top(self, name: str) -> Node | None:
        return self.field(name, name, self.data.get(name))

    def layout(self, items: Iterable[Any], placed: set[str]) -> list[Node]:
        return layout_nodes(items, placed, self.top, self.locale)


def build_detail(ctx: Any, d: FormDefinition, data: Mapping[str, Any], labels: Labels,
                 hidden: Iterable[str] = (), locale: str | None = None) -> list[Node]:
    """The detail page's nodes: the form's layout, then the fields it does not place."""
    b = _Detail(ctx, d, data or {}, labels, set(hidden), locale or ctx.deployment.locale)
    placed: set[str] = set()
    nodes = b.layout(d.ui.get("layout") or [], placed)
    own = d.top_fields + [p.name for p in object_parts(d.schema, d.schema)
                          if p.name not in (d.schema.get("properties") or {})]
    for name in own:
        if name not in placed:
            n = b.top(name)
            if n is not None:
                nodes.append(n)
    if has_kv(d.schema):  # free keys of the key/value editor, as "key: value"
        for key, value in (data or {}).items():
            if key not in own and key not in b.hidden and not _empty(value):
                nodes.append(Node("widget", name=f"_kv.{key}", label=key, widget="value",
                                  value=value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))
    return arrange(nodes, prefix="d")


def render_detail(ctx: Any, d: FormDefinition, data: Mapping[str, Any], labels: Labels,
                  hidden: Iterable[str] = (), locale: str | None = None) -> Markup:
    """The record's values as HTML (``forms/_fields_detail.html``)."""
    nodes = build_detail(ctx, d, data, labels, hidden, locale)
    return Markup(ctx.templates.get_template("forms/_fields_detail.html").render(nodes=nodes))
