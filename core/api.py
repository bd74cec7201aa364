"""The stable facade for plugins: import from here and nothing deeper.

Everything a plugin needs — the hook marker, the context type, route helpers,
rendering, validation, errors, audit — is re-exported here, so the core can
be refactored behind it without breaking vendors' plugins.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.orm import Session, aliased
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from .app import App as PluginContext
from .audit import Actor, record as audit_record
from .db import UTCDateTime, utcnow
from .errors import CcmsError, Conflict, Forbidden, NotFound, ValidationFailed
from .hookspecs import hookimpl
from .models import Org
from .services.settings import get_settings
from .web.openapi import api_doc
from .web.render import render
from .web.routing import form_data, json_body, requires, validate
from .web.user import CurrentUser

__all__ = [
    "Actor", "CcmsError", "Conflict", "CurrentUser", "Forbidden", "HTMLResponse", "JSONResponse", "Mount",
    "NotFound", "PluginContext", "RedirectResponse", "Request", "Response", "Route", "UTCDateTime",
    "ValidationFailed", "actor_of", "api_doc", "audit_record", "ctx_of", "form_data", "get_settings",
    "hookimpl", "json_body", "load_form_definition", "org_names", "org_scope", "placeholder_routes",
    "record_validator", "render", "requires", "user_of", "utcnow", "validate",
]


def ctx_of(request: Request) -> PluginContext:
    """The deployment serving this request (never keep one in a module global:
    several deployments may run in one process)."""
    return request.scope["ccms"]


def user_of(request: Request) -> CurrentUser | None:
    """The logged-in user of the request (``None`` on public routes)."""
    return request.scope.get("user")


def load_form_definition(data: Any, source: str = "") -> Any:
    """Check a form definition (meta-schema, supported keywords, references);
    raises a ValidationFailed naming the JSON path of the fault."""
    from .forms.definition import load_definition
    return load_definition(data, source)


def record_validator(ctx: PluginContext, definition: Any) -> Any:
    """A compiled validator of a form definition's records with this
    deployment's field types: ``.from_post(form)`` and ``.validate(data)``
    return ``{field path: {"message", "message_en"}}``."""
    from .forms.validate import RecordValidator
    return RecordValidator(definition.schema, ctx.field_types)


def actor_of(request: Request) -> Actor:
    """The audit actor of a request (its user and client address)."""
    user = request.scope.get("user")
    client = request.scope.get("client")
    ip = client[0] if client else ""
    return Actor(user.id, user.username, ip) if user else Actor(None, "anonymous", ip)


def placeholder_routes(ctx: PluginContext, plugin_id: str) -> list[Route]:
    """Routes for the menu entries of a plugin that is declared but not built yet.

    Each answers an honest "not built yet" page behind the plugin's permission.
    """
    info = next(p for p in ctx.plugins if p.id == plugin_id)
    routes = []
    for group in info.menus:
        for item in group.get("children", []):
            perm = item.get("permission") or f"{plugin_id}.view"

            def make(title: Any, perm: str = perm) -> Any:
                @requires(perm)
                async def page(request: Request) -> Response:
                    return render(request, "placeholder.html", {
                        "title": ctx.catalog.localize(title, ctx.deployment.locale),
                        "plugin": info, "plugin_name": info.name(ctx.deployment.locale)})
                return page

            routes.append(Route(item["url"], make(item["title"]), name=item["id"]))
    return routes


def org_scope(ctx: PluginContext, user: CurrentUser | None, permission: str, org_column: Any) -> ColumnElement[bool]:
    """SQL condition "the row's org lies in a subtree where ``user`` holds
    ``permission``", for lists that must show only what the user may see."""
    if user is None or not ctx.can(user, permission):
        return false()
    org_ids = ctx.authz.grant_orgs(user.id, permission)
    if not org_ids:
        return false()
    granted = aliased(Org)
    covered = (select(Org.id).join(granted, Org.path.startswith(granted.path))
               .where(granted.id.in_(org_ids)))
    return org_column.in_(covered)


def org_names(session: Session, org_ids: Any) -> dict[int, str]:
    """Names of the given orgs that exist (missing ids are left out)."""
    ids = {int(i) for i in org_ids if i is not None}
    if not ids:
        return {}
    return {oid: name for oid, name in session.execute(select(Org.id, Org.name).where(Org.id.in_(ids)))}
