"""Helpers behind the pickers and the display of references on every screen.

* :func:`field_of` — the schema of a field from an input name (``items[0].who``)
  or a dotted definition name (``items.who``), and whether it is required;
* :func:`reference_labels` — the names of the people, orgs and regions a set of
  records points at, anywhere inside them (nested objects, group rows), one
  query per kind: lists, detail, export and history show names, never ids;
* :func:`display` — a value as text, objects and group rows spelled out with
  their sub-fields' labels (so history and export say what changed);
* :func:`search_people` / :func:`person_scope` — whom a person picker offers:
  active people in the org subtrees where the user may create or update
  records of the form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..authz import domain_paths, subtree_filter
from ..models import Org, Person
from . import widgets_region as regions
from .access import perm
from .definition import FormDefinition, localize

Labels = dict[str, dict[Any, str]]
MAX_RESULTS = 20
_INDEX = re.compile(r"\[\d{1,6}\]")


def dotted(input_name: str) -> str:
    """``items[0].who`` -> ``items.who`` (the name rules, permissions and ``d.fields`` use)."""
    return _INDEX.sub("", input_name or "")


def field_of(d: FormDefinition, name: str) -> tuple[dict[str, Any], bool] | None:
    """The field's (dereferenced) schema and whether its parent requires it; None when unknown."""
    key = dotted(name)
    prop = d.fields.get(key)
    if not isinstance(prop, dict):
        return None
    if "." not in key:
        return prop, key in set(d.schema.get("required") or [])
    parent = d.fields.get(key.rsplit(".", 1)[0]) or {}
    holder = parent.get("items") if isinstance(parent.get("items"), Mapping) else parent
    return prop, key.rsplit(".", 1)[1] in set((holder or {}).get("required") or [])


def attachment_field(ctx: Any, d: FormDefinition, name: str) -> tuple[dict[str, Any], str] | None:
    """(schema, "file"|"image") when ``name`` is an attachment field at any depth, else None."""
    found = field_of(d, name)
    if found is None:
        return None
    kind = ctx.field_types.resolve(found[0]).name
    return (found[0], kind) if kind in ("file", "image") else None


def label_of(d: FormDefinition, key: str, locale: str) -> str:
    prop = d.fields.get(key) or {}
    return (localize(prop.get("x-ccms-title"), locale) or localize(prop.get("title"), locale)
            or key.rsplit(".", 1)[-1])


# --- references -----------------------------------------------------------------------------------

def _walk(ctx: Any, d: FormDefinition, data: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted field name, value) of every field inside ``data`` (group rows flattened)."""
    if not isinstance(data, Mapping):
        return
    for k, v in data.items():
        key = f"{prefix}{k}"
        prop = d.fields.get(key)
        if prop is None:
            continue
        yield key, v
        kind = ctx.field_types.resolve(prop).name
        if kind == "object" and isinstance(v, Mapping):
            yield from _walk(ctx, d, v, key + ".")
        elif kind == "group" and isinstance(v, list):
            for row in v:
                yield from _walk(ctx, d, row, key + ".")


def reference_labels(ctx: Any, s: Session, d: FormDefinition, datas: Iterable[Any],
                     extra_people: Iterable[Any] = (), extra_orgs: Iterable[Any] = ()) -> Labels:
    """Names of what ``datas`` (record data dicts) refer to: ``{"org": {id: name}, "person": {...},
    "region": {code: "省 / 市 / 区"}}``; ``extra_*`` add ids (creators, owning orgs)."""
    people = {x for x in extra_people if isinstance(x, int)}
    orgs = {x for x in extra_orgs if isinstance(x, int)}
    codes: set[str] = set()
    for data in datas:
        for key, v in _walk(ctx, d, data):
            kind = ctx.field_types.resolve(d.fields[key]).name
            if isinstance(v, int) and not isinstance(v, bool):
                if kind == "person":
                    people.add(v)
                elif kind == "org":
                    orgs.add(v)
            elif kind == "region":
                code = regions.deepest(v)
                if code:
                    codes.add(code)
    out: Labels = {"org": {}, "person": {}, "region": {}}
    if people:
        out["person"] = dict(s.execute(select(Person.id, Person.display_name).where(Person.id.in_(people))).all())
    if orgs:
        out["org"] = dict(s.execute(select(Org.id, Org.name).where(Org.id.in_(orgs))).all())
    if codes:
        out["region"] = regions.path_names(s, codes)
    return out


def display(ctx: Any, d: FormDefinition, key: str, value: Any, labels: Labels | None = None,
            locale: str | None = None) -> str:
    """``value`` of field ``key`` as text: names for references, objects as ``label：value；…``,
    group rows as ``1. …  2. …`` (empty values left out)."""
    locale = locale or ctx.deployment.locale
    prop = d.fields.get(key)
    if prop is None:
        return "" if value is None else str(value)
    ft = ctx.field_types.resolve(prop)
    labels = labels or {}

    def lookup(kind: str, scope: Any, v: Any) -> str | None:
        return labels.get(kind, {}).get(v)

    if ft.name == "object" and isinstance(value, Mapping):
        return "；".join(p for p in (_pair(ctx, d, f"{key}.{k}", v, labels, locale) for k, v in value.items()) if p)
    if ft.name == "group" and isinstance(value, list):
        rows = []
        for i, row in enumerate(value, start=1):
            if isinstance(row, Mapping):
                text = "；".join(p for p in (_pair(ctx, d, f"{key}.{k}", v, labels, locale)
                                            for k, v in row.items()) if p)
                rows.append(f"{i}. {text}")
        return "  ".join(rows)
    if ft.name == "region":
        code = regions.deepest(value)
        if code:
            return labels.get("region", {}).get(code) or code
    return ft.display(value, prop, locale, lookup)


def _pair(ctx: Any, d: FormDefinition, key: str, v: Any, labels: Labels, locale: str) -> str:
    if key not in d.fields or v in (None, "", [], {}):
        return ""
    text = display(ctx, d, key, v, labels, locale)
    return f"{label_of(d, key, locale)}：{text}" if text else ""


# --- the person picker ------------------------------------------------------------------------------

def person_scope(ctx: Any, s: Session, user: Any, form_id: str) -> list[str]:
    """Org subtree paths whose people the user may pick in this form (where they may create or update)."""
    paths: set[str] = set()
    for action in ("create", "update"):
        paths.update(domain_paths(ctx, s, user, perm(form_id, action)))
    return sorted(paths)


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_people(ctx: Any, s: Session, user: Any, form_id: str, q: str,
                  limit: int = MAX_RESULTS) -> list[dict[str, Any]]:
    """Active people within the user's scope whose name or user name contains ``q``."""
    q = (q or "").strip()[:50]
    paths = person_scope(ctx, s, user, form_id)
    if not q or not paths:
        return []
    rows = s.execute(select(Person.id, Person.display_name, Person.username, Org.name)
                     .join(Org, Org.id == Person.org_id)
                     .where(Person.active.is_(True), subtree_filter(paths),
                            or_(Person.display_name.ilike(_like(q), escape="\\"),
                                Person.username.ilike(_like(q), escape="\\")))
                     .order_by(Person.display_name, Person.id).limit(limit)).all()
    return [{"id": i, "name": n, "username": u, "org": o} for i, n, u, o in rows]


def pickable_person(ctx: Any, s: Session, user: Any, form_id: str, person_id: int) -> dict[str, Any] | None:
    """The person if the user may pick them (active, within scope), else None."""
    paths = person_scope(ctx, s, user, form_id)
    if not paths:
        return None
    row = s.execute(select(Person.id, Person.display_name, Person.username, Org.name)
                    .join(Org, Org.id == Person.org_id)
                    .where(Person.id == person_id, Person.active.is_(True), subtree_filter(paths))).first()
    return {"id": row[0], "name": row[1], "username": row[2], "org": row[3]} if row else None


def person_names(s: Session, ids: Iterable[Any]) -> dict[int, tuple[str, str]]:
    """``{id: (display name, org name)}`` for the widgets (any person, active or not)."""
    wanted = {int(i) for i in ids if isinstance(i, int) or (isinstance(i, str) and i.isdigit() and len(i) < 18)}
    if not wanted:
        return {}
    rows = s.execute(select(Person.id, Person.display_name, Org.name).join(Org, Org.id == Person.org_id)
                     .where(Person.id.in_(wanted))).all()
    return {i: (n, o) for i, n, o in rows}
