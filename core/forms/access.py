"""Who may do what with a form's records, and which fields they may see or change.

Per-form permissions are ids ``form.<form_id>.<action>`` checked with
``ctx.can``/``ctx.require`` within org domains like any other. Published forms
are data, not plugin manifests, so :func:`form_permissions` lists them for the
roles screen. Field permissions come from the definition:
``permissions.fields.<name> = {"hidden_for": [role codes], "readonly_for": [...]}``;
a field hidden for any role the user holds is removed from every output
(screens, API, exports, history). Sensitive field types (phone, ID card) are
masked in lists unless the user holds ``form.<id>.unmask``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

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


def sensitive_fields(ctx: Any, definition: FormDefinition) -> set[str]:
    """Top-level fields of sensitive types (phone, ID card)."""
    return {name for name in definition.schema.get("properties", {})
            if ctx.field_types.resolve(definition.fields.get(name, {})).sensitive}


def mask(ctx: Any, user: Any, definition: FormDefinition, data: Mapping[str, Any],
         org_id: int | None = None) -> dict[str, Any]:
    """Sensitive values masked unless the user may unmask them (in the record's org)."""
    names = sensitive_fields(ctx, definition)
    if not names or ctx.can(user, perm(definition.id, "unmask"), org_id):
        return dict(data)
    out = dict(data)
    for name in names:
        if out.get(name) not in (None, ""):
            out[name] = ctx.field_types.resolve(definition.fields[name]).mask(out[name])
    return out


def published_form_ids(session: Session) -> list[str]:
    return list(session.scalars(select(FormDef.form_id).where(FormDef.status == "published")
                                .order_by(FormDef.form_id)))
