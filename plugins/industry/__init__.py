"""行业应用 (Industry applications) — placeholder plugin.

Declares its manifest, permission and menu; each menu entry shows a page that
says the module is not built yet. A later issue fills it in.
"""

from core.api import hookimpl, placeholder_routes


@hookimpl
def ccms_register_routes(ctx):
    return placeholder_routes(ctx, "industry")
