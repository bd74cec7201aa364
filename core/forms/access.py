"""Who may do what with a form's records, and which fields they may see or change.

Per-form permissions are ids ``form.<form_id>.<action>`` checked with
``ctx.can``/``ctx.require`` within org domains like any other. Published forms
are data, not plugin manifests, so :func:`form_permissions` lists them for the
roles screen. Field permissions come from the definition:
``permissions.fields.<name> = {"hidden_for": [role codes], "readonly_for": [...]}``;
a field hidden for any role the user holds is removed from every output
(screens, API, exports, history). Sensitive field types (phone, ID card) are
masked in lists, detail pages, edit forms, exports and the API unless the user
holds ``form.<id>.unmask`` or ``core.pii.view`` in the record's org; audit
snapshots always hold them masked (:func:`mask_always`).

Writes (see :func:`keep_locked` and :func:`locked_writes`): a field the user
may not write ("locked": hidden or read-only for one of their roles) keeps its
stored value at every depth when a record is updated — a nested object's
field (``address.city``) and a repeating group's field (``items.evidence``)
alike. Rows of a repeating group are matched to the stored rows BY POSITION
(row *i* of the submission is stored row *i*):

* a kept row keeps its stored values of locked fields, whatever was sent;
* a row the user adds (beyond the stored rows) gets no value for a locked field;
* removing rows while a stored row holds a locked value is refused (422 on
  the group): by position, the removal could not tell which row went, so it
  would move locked values onto other rows or lose them; someone who may
  see the whole row removes it (rows without locked values are removed freely);
* an object the user emptied keeps its locked values.

Read-only means "may be filled when the record is created, never changed
afterwards"; hidden means "never seen, never written" (dropped on create).
The JSON API refuses instead of silently keeping: a request that gives a
hidden field a value, or a read-only field a value different from the stored
one, is a 403 naming each path (``items[1].evidence``); leaving them out (or
sending ``null`` for a hidden one) keeps the stored values.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Forbidden
from ..pii import may_unmask
from .definition import FormDefinition, localize
from .models import FormDef

ACTIONS = ("list", "read", "create", "update", "delete", "export", "unmask")
ACTION_NAMES = {"list": ("列表", "list"), "read": ("查看", "read"), "create": ("新建", "create"),
                "update": ("修改", "update"), "delete": ("删除", "delete"), "export": ("导出", "export"),
                "unmask": ("查看完整敏感信息", "see sensitive values unmasked")}


def perm(form_id: str, action: str) -> str:
    """``form.<form_id>.<action>``."""
    return f"form.{form_id}.{action}"


def form_permissions(session: Session, locale: str = "zh-CN") -> dict[str, dict[str, Any]]:
    """Permission ids of the published forms, for the roles screen: id -> {"name", "plugin": "forms"}."""
    out: dict[str, dict[str, Any]] = {}
    rows = session.execute(select(FormDef.form_id, FormDef.definition).where(FormDef.status == "published")
                           .order_by(FormDef.form_id)).all()
    for form_id, raw in rows:
        title = localize((raw or {}).get("title"), locale) or form_id
        for action in ACTIONS:
            zh, en = ACTION_NAMES[action]
            out[perm(form_id, action)] = {"name": {"zh-CN": f"{title}：{zh}", "en": f"{title}: {en}"},
                                          "plugin": "forms"}
    return out


def user_roles(ctx: Any, user: Any) -> set[str]:
    """Role codes the user holds anywhere."""
    if user is None:
        return set()
    return {role for role, _org in ctx.authz.grants_of(user.id)}


def _field_rules(definition: FormDefinition) -> Mapping[str, Any]:
    return (definition.permissions or {}).get("fields") or {}


def hidden_fields(ctx: Any, user: Any, definition: FormDefinition) -> set[str]:
    """Fields hidden for any role the user holds (dotted names as declared)."""
    roles = user_roles(ctx, user)
    return {name for name, rule in _field_rules(definition).items() if roles & set(rule.get("hidden_for") or ())}


def readonly_fields(ctx: Any, user: Any, definition: FormDefinition) -> set[str]:
    """Fields the user may see but not change (hidden ones are read-only too)."""
    roles = user_roles(ctx, user)
    ro = {name for name, rule in _field_rules(definition).items() if roles & set(rule.get("readonly_for") or ())}
    return ro | hidden_fields(ctx, user, definition)


def strip(data: Any, hidden: set[str]) -> Any:
    """A copy of ``data`` without the hidden fields (dotted names reach into objects and group rows)."""
    if not hidden or not isinstance(data, Mapping):
        return dict(data) if isinstance(data, Mapping) else data
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in hidden:
            continue
        inner = {h[len(key) + 1:] for h in hidden if h.startswith(key + ".")}
        if inner and isinstance(value, Mapping):
            value = strip(value, inner)
        elif inner and isinstance(value, list):
            value = [strip(v, inner) for v in value]
        out[key] = value
    return out


def strip_changes(changes: Mapping[str, Any], hidden: set[str]) -> dict[str, Any]:
    """A history entry's before/after without hidden fields."""
    return {k: strip(v, hidden) if isinstance(v, Mapping) else v for k, v in (changes or {}).items()}


# --- writes: locked fields at every depth -----------------------------------------------------

_ABSENT: Any = object()
_INDEX = re.compile(r"\[\d+\]")


def _inner(key: str, names: set[str]) -> set[str]:
    return {n[len(key) + 1:] for n in names if n.startswith(key + ".")}


def keep_locked(submitted: Mapping[str, Any], stored: Mapping[str, Any], locked: Iterable[str]) -> dict[str, Any]:
    """``submitted`` with every locked (dotted) field, at any depth, set back to its
    stored value — or left out where nothing is stored (rows matched by position,
    see the module docstring). Neither argument is changed."""
    names = set(locked)
    out = dict(submitted)
    for key in {n.split(".", 1)[0] for n in names}:
        if key in names:
            out.pop(key, None)
            if key in stored:
                out[key] = copy.deepcopy(stored[key])
            continue
        value = _keep_value(out.get(key, _ABSENT), stored.get(key, _ABSENT), _inner(key, names))
        if value is _ABSENT:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def removed_locked_rows(submitted: Mapping[str, Any], stored: Mapping[str, Any], locked: Iterable[str]) -> list[str]:
    """Top-level repeating groups where ``submitted`` has fewer rows than are stored
    while a stored row holds a locked value. Rows are matched by position, so such a
    removal would move locked values onto other rows or drop them: refused instead
    (the user asks someone who may see the whole row)."""
    names = set(locked)
    out: list[str] = []
    for key in {n.split(".", 1)[0] for n in names if "." in n}:
        new, old = submitted.get(key), stored.get(key)
        if not (isinstance(new, list) and isinstance(old, list)) or len(new) >= len(old):
            continue
        inner = _inner(key, names)
        if any(isinstance(r, Mapping) and keep_locked({}, r, inner) for r in old):
            out.append(key)
    return sorted(out)


def _keep_value(new: Any, old: Any, inner: set[str]) -> Any:
    if isinstance(new, list):  # a repeating group: row i is stored row i
        rows = old if isinstance(old, list) else []
        return [keep_locked(r, rows[i] if i < len(rows) and isinstance(rows[i], Mapping) else {}, inner)
                if isinstance(r, Mapping) else r for i, r in enumerate(new)]
    if isinstance(new, Mapping):  # an object left holding nothing but dropped locked values goes
        kept = keep_locked(new, old if isinstance(old, Mapping) else {}, inner)
        return kept if kept or not new else _ABSENT
    if new in (_ABSENT, None) and isinstance(old, Mapping):  # emptied object: its locked values stay
        kept = keep_locked({}, old, inner)
        return kept if kept else new
    return new


def locked_writes(submitted: Mapping[str, Any], stored: Mapping[str, Any], hidden: Iterable[str],
                  readonly: Iterable[str], _prefix: str = "") -> list[str]:
    """Paths (``items[1].evidence``) where ``submitted`` would write what the user may not:
    a hidden field given any value but ``null`` (compared with nothing, so a refusal never
    tells whether a guess was right), a read-only field given a value other than the
    stored one (a new row has none stored). Absent keys write nothing."""
    hid, ro = set(hidden), set(readonly) - set(hidden)
    out: list[str] = []
    for key in {n.split(".", 1)[0] for n in hid | ro}:
        if key not in submitted:
            continue
        path, new, old = _prefix + key, submitted[key], stored.get(key)
        if key in hid:
            if new is not None:
                out.append(path)
            continue
        if key in ro:
            if new != old:
                out.append(path)
            continue
        sub_h, sub_r = _inner(key, hid), _inner(key, ro)
        if isinstance(new, list):
            rows = old if isinstance(old, list) else []
            for i, r in enumerate(new):
                if isinstance(r, Mapping):
                    was = rows[i] if i < len(rows) and isinstance(rows[i], Mapping) else {}
                    out += locked_writes(r, was, sub_h, sub_r, f"{path}[{i}].")
        elif isinstance(new, Mapping):
            out += locked_writes(new, old if isinstance(old, Mapping) else {}, sub_h, sub_r, path + ".")
    return sorted(out)


def refuse_locked(paths: list[str]) -> Forbidden:
    """The field-level 403 for :func:`locked_writes` paths."""
    return Forbidden(f"无权修改字段：{', '.join(paths)}", f"fields not writable: {', '.join(paths)}",
                     fields={p: {"message": "无权修改此字段", "message_en": "you may not change this field"}
                             for p in paths})


def under(key: str, names: Iterable[str]) -> bool:
    """An error or input key (``items[0].evidence.name``) lies in one of the dotted fields."""
    plain = _INDEX.sub("", key)
    return any(plain == n or plain.startswith(n + ".") or key == n or key.startswith((n + ".", n + "["))
               for n in names)


def sensitive_fields(ctx: Any, definition: FormDefinition) -> set[str]:
    """Fields of sensitive types (phone, ID card) by dotted name, at any depth
    (``phone``, ``address.phone``, ``contacts.idcard`` inside a repeating group)."""
    return {name for name, prop in definition.fields.items() if ctx.field_types.resolve(prop).sensitive}


def _masked_at(node: Any, parts: list[str], fn: Any) -> Any:
    """``node`` with ``fn`` applied to the text at the dotted path; lists are walked row by row."""
    if isinstance(node, list):
        return [_masked_at(x, parts, fn) for x in node]
    if not isinstance(node, Mapping) or parts[0] not in node:
        return node
    out = dict(node)
    value = node[parts[0]]
    if len(parts) > 1:
        out[parts[0]] = _masked_at(value, parts[1:], fn)
    elif value not in (None, "") and not isinstance(value, (dict, list)):
        out[parts[0]] = fn(value)
    return out


def _mask_all(ctx: Any, definition: FormDefinition, data: Mapping[str, Any], names: set[str]) -> dict[str, Any]:
    out: Any = dict(data)
    for name in sorted(names):
        out = _masked_at(out, name.split("."), ctx.field_types.resolve(definition.fields[name]).mask)
    return out


def may_see_sensitive(ctx: Any, user: Any, definition: FormDefinition, org_id: int | None) -> bool:
    """``form.<id>.unmask`` or ``core.pii.view`` in the record's org."""
    return ctx.can(user, perm(definition.id, "unmask"), org_id) or _pii_full(ctx, user, org_id)


def mask(ctx: Any, user: Any, definition: FormDefinition, data: Mapping[str, Any],
         org_id: int | None = None) -> dict[str, Any]:
    """Sensitive values masked unless the user may unmask them (in the record's org)."""
    names = sensitive_fields(ctx, definition)
    if not names or may_see_sensitive(ctx, user, definition, org_id):
        return dict(data)
    return _mask_all(ctx, definition, data, names)


def mask_always(ctx: Any, definition: FormDefinition, data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Sensitive values masked whoever reads: for audit snapshots, which never hold them in clear."""
    if data is None:
        return None
    return _mask_all(ctx, definition, data, sensitive_fields(ctx, definition))


_KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _stored_at(stored: Any, key: str) -> tuple[str, Any]:
    """(dotted field name, stored value) of a posted input name such as ``contacts[1].phone``."""
    dotted, node = [], stored
    for name, index in _KEY_PART.findall(key):
        if name:
            dotted.append(name)
            node = node.get(name) if isinstance(node, Mapping) else None
        else:
            i = int(index)
            node = node[i] if isinstance(node, list) and i < len(node) else None
    return ".".join(dotted), node


def unmasked_posts(ctx: Any, user: Any, definition: FormDefinition, pairs: list[tuple[str, Any]],
                   stored: Mapping[str, Any], org_id: int | None) -> list[tuple[str, Any]]:
    """An edit form shows masked values to someone who may not see them in full; a masked value
    posted back unchanged means "keep the stored one", never "store the stars" (rows of a
    repeating group matched by position, as for locked fields)."""
    names = sensitive_fields(ctx, definition)
    if not names or may_see_sensitive(ctx, user, definition, org_id):
        return pairs
    out = []
    for key, value in pairs:
        if isinstance(value, str) and "*" in value:
            name, old = _stored_at(stored, key)
            if name in names and old not in (None, "") and not isinstance(old, (dict, list)) \
                    and value.strip() == ctx.field_types.resolve(definition.fields[name]).mask(old):
                value = str(old)
        out.append((key, value))
    return out


def _pii_full(ctx: Any, user: Any, org_id: int | None) -> bool:
    return may_unmask(ctx, user, org_id)


def published_form_ids(session: Session) -> list[str]:
    return list(session.scalars(select(FormDef.form_id).where(FormDef.status == "published")
                                .order_by(FormDef.form_id)))
