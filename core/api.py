"""The stable facade for plugins: import from here and nothing deeper.

Everything a plugin needs — the hook marker, the context type, route helpers,
rendering, validation, errors, audit — is re-exported here, so the core can
be refactored behind it without breaking vendors' plugins.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from .app import App as PluginContext
from .audit import Actor, record as audit_record
from .errors import CcmsError, Conflict, Forbidden, NotFound, ValidationFailed
from .hookspecs import hookimpl
from .web.render import render
from .web.routing import form_data, json_body, requires, validate
from .web.user import CurrentUser

__all__ = [
    "Actor", "CcmsError", "Conflict", "CurrentUser", "Forbidden", "HTMLResponse", "JSONResponse", "Mount",
    "NotFound", "PluginContext", "RedirectResponse", "Request", "Response", "Route", "ValidationFailed",
    "actor_of", "audit_record", "form_data", "hookimpl", "json_body", "placeholder_routes", "render",
    "requires", "validate",
]


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
