"""应用维护 → 插件: every plugin this installation knows, enabled here or not.

Shows what each plugin declares (tiers, dependencies, permissions, menus,
settings) and where it comes from (built into ccms, or a vendor's
distribution registered through the ``ccms.plugins`` entry point), so an
administrator can see what a profile switches on without reading manifests.
Read-only: the deployment file decides what is enabled.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import ValidationFailed
from ..services import field_error
from .openapi import api_doc
from .pages import wants_fragment
from .render import render
from .routing import requires

VIEW = "core.plugin.view"


class PermissionOut(BaseModel):
    id: str
    name: str


class MenuOut(BaseModel):
    id: str
    title: str
    url: str | None
    permission: str | None


class PluginOut(BaseModel):
    id: str
    name: str
    description: str
    version: str
    planned: bool
    tiers: list[str]
    tier_ok: bool
    enabled: bool
    source: str
    builtin: bool
    depends: list[str]
    permissions: list[PermissionOut]
    menus: list[MenuOut]
    has_settings: bool
    status: str
    error: str | None


class PluginList(BaseModel):
    items: list[PluginOut]
    total: int


def _menus(ctx: Any, items: list[dict[str, Any]], loc: str) -> list[dict[str, Any]]:
    """Menu entries flattened (group › item), in declared order."""
    out: list[dict[str, Any]] = []

    def walk(entries: list[dict[str, Any]], prefix: str) -> None:
        for m in entries:
            title = prefix + ctx.catalog.localize(m["title"], loc)
            out.append({"id": m["id"], "title": title, "url": m.get("url"), "permission": m.get("permission")})
            walk(m.get("children", []), title + " › ")

    walk(items, "")
    return out


def describe(ctx: Any, info: Any) -> dict[str, Any]:
    """The JSON shape of one plugin (``PluginOut``)."""
    loc = ctx.deployment.locale
    return {"id": info.id, "name": info.name(loc),
            "description": ctx.catalog.localize(info.manifest.get("description", ""), loc),
            "version": info.version, "planned": bool(info.manifest.get("planned")), "tiers": info.tiers, "tier_ok": ctx.deployment.tier in info.tiers,
            "enabled": ctx.enabled(info.id), "source": info.source, "builtin": info.source == "built-in",
            "depends": info.depends,
            "permissions": [{"id": p["id"], "name": ctx.catalog.localize(p["name"], loc)} for p in info.permissions],
            "menus": _menus(ctx, info.menus, loc), "has_settings": bool(info.settings_schema),
            **_status(ctx, info)}


def _status(ctx: Any, info: Any) -> dict[str, Any]:
    """``failed`` (with the import error) for a plugin whose module cannot be
    imported, else ``enabled`` / ``disabled``. An enabled plugin was imported at
    start-up; a disabled one is imported here to find out."""
    error = None if info is ctx.core_info or ctx.enabled(info.id) else info.import_error()
    return {"status": "failed" if error else ("enabled" if ctx.enabled(info.id) else "disabled"), "error": error}


def all_plugins(ctx: Any, enabled: bool | None = None) -> list[dict[str, Any]]:
    """Core first, then enabled plugins in load order, then the others by id."""
    order = [ctx.core_info, *ctx.plugins]
    seen = {i.id for i in order}
    order += [ctx.available[k] for k in sorted(ctx.available) if k not in seen]
    rows = [describe(ctx, i) for i in order]
    return [r for r in rows if enabled is None or r["enabled"] == enabled]


def _enabled_param(request: Request) -> bool | None:
    raw = request.query_params.get("enabled", "").strip().lower()
    if raw == "":
        return None
    if raw in ("1", "true"):
        return True
    if raw in ("0", "false"):
        return False
    zh, en = "参数 enabled 应为 1 或 0", "parameter enabled must be 1 or 0"
    raise ValidationFailed(zh, en, fields=field_error("enabled", zh, en))


@requires(VIEW)
async def plugins_page(request: Request) -> Response:
    ctx = request.scope["ccms"]
    enabled = _enabled_param(request)
    rows = all_plugins(ctx, enabled)
    data = {"plugins": rows, "enabled": "" if enabled is None else ("1" if enabled else "0"),
            "tier": ctx.deployment.tier, "profile": ctx.deployment.profile,
            "breadcrumbs": [(ctx.gettext("plugins.title"), None)]}
    if wants_fragment(request, "list"):
        return render(request, "admin/plugins_list.html", data)
    return render(request, "admin/plugins.html", data)


@requires(VIEW)
async def api_plugins(request: Request) -> Response:
    ctx = request.scope["ccms"]
    rows = all_plugins(ctx, _enabled_param(request))
    return JSONResponse({"items": rows, "total": len(rows)})


routes = [
    Route("/admin/plugins", plugins_page, name="admin-plugins"),
    Route("/api/plugins", api_plugins, methods=["GET"], name="api-plugins"),
]

api_docs = [
    api_doc("/api/plugins", "get", "插件清单（含未启用的）/ every known plugin, enabled or not", permission=VIEW,
            response=PluginList, query={"enabled": "1 仅已启用 / 0 仅未启用 · 1 enabled only / 0 disabled only"}),
]
