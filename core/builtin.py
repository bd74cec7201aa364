"""The core's own features, registered through the same hooks as any plugin."""

from __future__ import annotations

import importlib
from typing import Any

from .hookspecs import hookimpl

# One module per screen family; each exports ``routes`` and optionally ``api_docs``.
SCREEN_MODULES = [
    "core.web.screens_auth",
    "core.web.openapi",
    "core.web.admin_orgs",
    "core.web.admin_people",
    "core.web.admin_roles",
    "core.web.admin_settings",
    "core.web.admin_audit",
    "core.web.admin_plugins",
    "core.web.admin_dicts",
]


def _modules() -> list[Any]:
    return [importlib.import_module(name) for name in SCREEN_MODULES]


@hookimpl
def ccms_register_routes(ctx: Any) -> list[Any]:
    routes: list[Any] = []
    for mod in _modules():
        routes.extend(mod.routes)
    return routes


@hookimpl
def ccms_register_api_docs(ctx: Any) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for mod in _modules():
        docs.extend(getattr(mod, "api_docs", []))
    return docs
