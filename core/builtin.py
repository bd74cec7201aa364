"""The core's own features, registered through the same hooks as any plugin."""

from __future__ import annotations

import importlib
from typing import Any

from .hookspecs import hookimpl
from .plugin_context import kernel_app
from .forms.access import perm, published_form_ids
from .web.admin_calendar import dashboard_panels
from .web.workbench import my_work_panels

# One module per screen family; each exports ``routes`` and optionally ``api_docs``.
SCREEN_MODULES = [
    "ccms.web.screens_auth",
    "ccms.web.openapi",
    "ccms.web.admin_orgs",
    "ccms.web.admin_people",
    "ccms.web.admin_roles",
    "ccms.web.admin_settings",
    "ccms.web.admin_audit",
    "ccms.web.admin_plugins",
    "ccms.web.admin_dicts",
    "ccms.web.admin_calendar",
    "ccms.web.admin_forms",
    "ccms.web.admin_flows",
    "ccms.web.forms_records",
    "ccms.web.forms_list",
    "ccms.web.jobs",
    "ccms.web.attachments",
    "ccms.web.pickers",
    "ccms.web.flows_inbox",
    "ccms.web.flows_reassign",
    "ccms.web.monitor",
    "ccms.web.admin_monitor",
    "ccms.web.admin_logs",
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


@hookimpl
def ccms_register_menu_items(ctx: Any, user: Any) -> list[dict[str, Any]]:
    """表单数据 → /forms, for users who may list at least one published form.

    Form permissions are data (``form.<id>.list``), so no static permission
    in core.json can guard this entry: it is computed per request (one small
    query over the published definitions)."""
    if user is None:
        return []
    with ctx.session() as s:
        ids = published_form_ids(s)
    if not any(ctx.can_anywhere(user, perm(i, "list")) for i in ids):
        return []
    return [{"id": "form_records", "title": {"zh-CN": "表单数据", "en": "Form data"}, "order": 150,
             "children": [{"id": "form_records.all", "title": {"zh-CN": "全部表单", "en": "All forms"},
                           "url": "/forms", "order": 1}]}]


@hookimpl
def ccms_register_dashboard_panels(ctx: Any, user: Any) -> list[dict[str, Any]]:
    """The workbench everyone gets (my counts, next tasks, notices: :mod:`ccms.web.workbench`)
    and working-calendar notices for administrators (a coming year not settled)."""
    app = kernel_app(ctx)  # core's own screens use the App
    return my_work_panels(app, user) + dashboard_panels(app, user)
