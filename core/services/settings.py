"""Settings of core and of each enabled plugin, one ``core_setting`` row per plugin id.

A plugin declares the JSON Schema of its settings in its manifest
(``settings``); core's is in ``core/core.json``. The *effective* settings are
the schema's defaults overlaid with what an administrator saved, so a plugin
works before anyone opens its settings screen, and a new setting in an
upgraded plugin takes its default. Saving validates against the schema
(Draft 2020-12) and the plugin's own rules (``ccms_check_settings``), is optimistic-locked on the row's ``version`` (0 = never
saved), audited, and announced to plugins through ``ccms_settings_changed``
once the transaction has committed.

Plugins read their settings with :func:`get_settings`.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import audit, jsonform
from ..errors import Conflict, NotFound, ValidationFailed
from ..models import Setting

log = logging.getLogger("ccms.settings")


def schema_of(ctx: Any, plugin_id: str) -> dict[str, Any]:
    """The settings schema of an enabled plugin (or core); NotFound otherwise."""
    for info in ctx.all_infos:
        if info.id == plugin_id:
            schema = info.settings_schema
            if not schema:
                raise NotFound(f"插件 {plugin_id} 没有可配置项", f"plugin {plugin_id} has no settings")
            return schema
    raise NotFound(f"插件 {plugin_id} 不存在或未启用", f"plugin {plugin_id} does not exist or is not enabled")


def configurable(ctx: Any) -> list[Any]:
    """Core and the enabled plugins that declare settings, in load order."""
    return [info for info in ctx.all_infos if info.settings_schema]


def effective(schema: Mapping[str, Any], stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with stored values; stored keys the schema no longer knows are dropped
    when it forbids extra properties (so an upgraded plugin's settings stay valid)."""
    out = jsonform.defaults(schema)
    props = jsonform.properties(schema)
    closed = schema.get("additionalProperties") is False
    for k, v in (stored or {}).items():
        if not closed or k in props:
            out[k] = v
    return out


def load(ctx: Any, session: Session, plugin_id: str) -> tuple[dict[str, Any], int, Setting | None]:
    """(effective values, version, row) of a plugin's settings; version 0 = never saved."""
    schema = schema_of(ctx, plugin_id)
    row = session.get(Setting, plugin_id)
    return effective(schema, row.values if row else None), (row.version if row else 0), row


def get_settings(ctx: Any, plugin_id: str, session: Session | None = None) -> dict[str, Any]:
    """The effective settings of ``plugin_id`` (schema defaults merged with saved values).

    The public helper for plugins: ``get_settings(ctx, "my_plugin")["page_size"]``.
    A plugin without a settings schema gets ``{}``; an unknown or disabled
    plugin id raises :class:`NotFound`.
    """
    if not ctx.enabled(plugin_id):
        raise NotFound(f"插件 {plugin_id} 不存在或未启用", f"plugin {plugin_id} does not exist or is not enabled")
    info = next(i for i in ctx.all_infos if i.id == plugin_id)
    if not info.settings_schema:
        return {}
    if session is not None:
        return load(ctx, session, plugin_id)[0]
    with ctx.db.Session() as s:
        return load(ctx, s, plugin_id)[0]


def _secret_keys(schema: Mapping[str, Any]) -> set[str]:
    return {k for k, p in jsonform.properties(schema).items()
            if p.get("writeOnly") or p.get("format") == "password"}


def _masked(values: dict[str, Any], secrets: set[str]) -> dict[str, Any]:
    return {k: ("***" if k in secrets else v) for k, v in values.items()}


def check(ctx: Any, plugin_id: str, values: Any) -> dict[str, Any]:
    """Validate a complete settings object (missing keys take their defaults); returns it merged."""
    schema = schema_of(ctx, plugin_id)
    if not isinstance(values, Mapping):
        zh, en = "配置必须是一个对象", "settings must be an object"
        raise ValidationFailed(zh, en, fields={"values": {"message": zh, "message_en": en}})
    merged = {**jsonform.defaults(schema), **values}
    _refuse(ctx, schema, jsonform.validate(schema, merged))
    _refuse(ctx, schema, _plugin_rules(ctx, plugin_id, merged))
    return merged


def from_form(ctx: Any, plugin_id: str, form: Mapping[str, Any]) -> dict[str, Any]:
    """Submitted form strings to a checked settings object; every field's error is reported at once."""
    schema = schema_of(ctx, plugin_id)
    typed, errors = jsonform.coerce_form(schema, form)
    merged = {**jsonform.defaults(schema), **typed}
    schema_errors = jsonform.validate(schema, merged)
    _refuse(ctx, schema, {**schema_errors, **errors})
    _refuse(ctx, schema, _plugin_rules(ctx, plugin_id, merged))
    return typed


def _plugin_rules(ctx: Any, plugin_id: str, values: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Field errors from the plugins' ``ccms_check_settings`` (rules beyond the schema)."""
    out: dict[str, dict[str, str]] = {}
    for answer in ctx.pm.hook.ccms_check_settings(ctx=ctx, plugin_id=plugin_id, values=dict(values)):
        out.update(answer or {})
    return out


def _refuse(ctx: Any, schema: Mapping[str, Any], errors: dict[str, dict[str, str]]) -> None:
    if errors:
        labels = {k: ctx.catalog.localize(p.get("title") or k, ctx.deployment.locale)
                  for k, p in jsonform.properties(schema).items()}
        zh, en = jsonform.summary(errors, labels)
        raise ValidationFailed(zh, en, fields=errors)


def save(session: Session, actor: audit.Actor | None, ctx: Any, plugin_id: str, values: Any,
         version: int | None) -> dict[str, Any]:
    """Validate and store a plugin's settings; returns the effective values.

    ``version`` is what the editor read (0 when never saved); a different
    stored version is a conflict and nothing is written.
    """
    schema = schema_of(ctx, plugin_id)
    merged = check(ctx, plugin_id, values)
    row = session.get(Setting, plugin_id)
    current = row.version if row else 0
    if version is not None and version != current:
        raise Conflict(f"配置已被他人修改（您编辑的是第 {version} 版，当前为第 {current} 版），您的修改未保存，请刷新后重试",
                       f"the settings were changed by someone else (you edited version {version}, it is now "
                       f"version {current}); nothing was saved: reload and try again", code="conflict")
    before = effective(schema, row.values if row else None)
    if before == merged and row is not None:
        return merged
    if row is None:
        row = Setting(plugin_id=plugin_id, values=merged, updated_by=actor.id if actor else None)
        session.add(row)
    else:
        row.values = merged
        row.updated_by = actor.id if actor else None
    try:
        session.flush()
    except IntegrityError:  # someone saved the first version at the same moment
        raise Conflict("配置已被他人同时保存，您的修改未保存，请刷新后重试",
                       "the settings were saved by someone else at the same time: reload and try again",
                       code="conflict") from None
    secrets = _secret_keys(schema)
    b, a = audit.changes(before, merged)
    audit.record(session, actor, "settings_change", "settings", plugin_id, before=_masked(b, secrets),
                 after=_masked(a, secrets), summary=f"修改配置：{plugin_id}")
    _announce_after_commit(session, ctx, plugin_id, before, merged)
    return merged


def _announce_after_commit(session: Session, ctx: Any, plugin_id: str, before: dict[str, Any],
                           after: dict[str, Any]) -> None:
    """Call ``ccms_settings_changed`` once the save is committed (never for a rolled-back one)."""

    def announce(_sess: Session) -> None:
        try:
            ctx.pm.hook.ccms_settings_changed(ctx=ctx, plugin_id=plugin_id, before=dict(before), after=dict(after))
        except Exception:  # the save is committed; a failing listener must not turn it into an error
            log.exception("ccms_settings_changed listener failed for %s", plugin_id)

    event.listen(session, "after_commit", announce, once=True)


def info_rows(ctx: Any, session: Session) -> list[dict[str, Any]]:
    """For the settings list: each configurable plugin with its last change."""
    loc = ctx.deployment.locale
    rows = {r.plugin_id: r for r in session.scalars(select(Setting))}
    out = []
    for info in configurable(ctx):
        row = rows.get(info.id)
        out.append({"plugin_id": info.id, "name": info.name(loc), "version": row.version if row else 0,
                    "updated_at": row.updated_at if row else None, "updated_by": row.updated_by if row else None,
                    "fields": len(jsonform.properties(info.settings_schema))})
    return out
