"""通知公告 (Notices) — the worked example for plugin authors.

Read this folder top to bottom to see the whole plugin contract:

* ``plugin.json``  — id, names, tiers, permissions, menu, settings schema,
  proposed role and the migrations folder (validated by core at start-up);
* ``migrations/``  — its own Alembic history (version table
  ``example_notice_alembic_version``), applied only when the plugin is enabled;
* ``models.py`` / ``service.py`` — its table and audited writes;
* ``screens.py``   — htmx screens and the JSON API behind permissions;
* ``templates/``, ``locales/`` — its templates and zh-CN/en texts;
* this file        — the hook implementations, and nothing else.

A plugin imports :mod:`ccms.api` only. Enable it on any tier with
``[plugins] enable = ["example_notice"]`` in the deployment file.
"""

from __future__ import annotations

from typing import Any

from ccms.api import Actor, get_settings, hookimpl

from . import screens
from .service import create_notice, list_notices

PLUGIN_ID = "example_notice"


@hookimpl
def ccms_register_routes(ctx: Any) -> list[Any]:
    return list(screens.routes)


@hookimpl
def ccms_register_api_docs(ctx: Any) -> list[dict[str, Any]]:
    return list(screens.api_docs)


@hookimpl
def ccms_register_dashboard_panels(ctx: Any, user: Any) -> list[dict[str, Any]]:
    """The latest notices on the home page, for users who may read them."""
    if not ctx.can_anywhere(user, "example_notice.view"):
        return []
    with ctx.session() as s:
        settings = get_settings(ctx, PLUGIN_ID, s)
        items, _total = list_notices(ctx, s, user, page_size=int(settings["max_items"]))
    return [{"title": ctx.gettext("notice.panel_title"), "template": "example_notice/panel.html",
             "data": {"items": items, "banner": settings["banner"]}}]


@hookimpl
def ccms_seed_demo(ctx: Any, session: Any, orgs: dict[str, Any]) -> None:
    """Demo notices (``ccms demo`` only): one for the whole platform, one
    published by the city management bureau (visible in its subtree)."""
    if not orgs:
        return
    root = orgs.get("root") or next(iter(orgs.values()))
    bureau = orgs.get("dept.cgj", root)
    for org_id, title, body in (
            (root, "平台系统维护公告", "本周六 22:00 至 24:00 系统维护，期间暂停服务。"),
            (bureau, "关于开展市容环境集中整治的通知", "各单位：请于本月底前完成辖区内占道经营、乱堆物料的集中整治。")):
        create_notice(ctx, session, Actor(None, "demo"), None, {"title": title, "body": body, "org_id": org_id})
