"""The core's own features, registered through the same hooks as any plugin."""

from __future__ import annotations

from typing import Any

from .hookspecs import hookimpl


@hookimpl
def ccms_register_routes(ctx: Any) -> list[Any]:
    from .web import screens_auth
    routes = list(screens_auth.routes)
    for name in ("screens_admin", "api"):
        try:
            mod = __import__(f"core.web.{name}", fromlist=["routes"])
        except ModuleNotFoundError:
            continue
        routes.extend(mod.routes)
    return routes
