"""工作台: the home page of every signed-in person.

The page is made of panels from the ``ccms_register_dashboard_panels`` hook (core's
own through :mod:`ccms.builtin`, plugins' alongside), each of a kind the home
template knows how to draw (``counts``, ``figures``, ``tasks``, ``notices``;
see the hook's contract in :mod:`ccms.hookspecs`). Core gives everyone their
task counts (待办, 即将超期, 超期, 今日新增), their next tasks and their notices;
plugins add what their roles need (the command plugin: the day's key figures
for leaders).

Every count is one aggregate query and links to the list it counts, filtered
the same way, so the number and the list always agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from ..flows import clock, inbox
from .flows_inbox import task_links

KINDS = ("counts", "figures", "tasks", "notices")
NEXT_TASKS = 5


def day_start(ctx: Any, now: dt.datetime | None = None) -> dt.datetime:
    """Local midnight of today in the deployment's time zone (aware)."""
    tz = ZoneInfo(ctx.deployment.timezone)
    local = (now or clock.now()).astimezone(tz)
    return dt.datetime.combine(local.date(), dt.time(), tz)


def _tasks_url(**params: str) -> str:
    return "/tasks?" + urlencode({"group": "todo", **params})


def my_work_panels(ctx: Any, user: Any) -> list[dict[str, Any]]:
    """Core's panels: my counts, my next tasks, and the notices about them."""
    if user is None:
        return []
    g = ctx.gettext
    since = day_start(ctx)
    with ctx.db.session() as s:
        n = inbox.todo_summary(s, ctx, user, since)
        nxt = inbox.todo(s, ctx, user, {"page_size": NEXT_TASKS}).items if n["todo"] else []
        urls = task_links(ctx, s, nxt)  # where the inbox opens them (a case task: its case page)
    counts = [
        {"key": "todo", "label": g("workbench.count.todo"), "value": n["todo"], "url": _tasks_url()},
        {"key": "warning", "label": g("workbench.count.warning"), "value": n["warning"],
         "url": _tasks_url(level="yellow"), "tone": "warn" if n["warning"] else ""},
        {"key": "overdue", "label": g("workbench.count.overdue"), "value": n["overdue"],
         "url": _tasks_url(level="red"), "tone": "bad" if n["overdue"] else ""},
        {"key": "new", "label": g("workbench.count.new"), "value": n["new"],
         "url": _tasks_url(created_from=since.isoformat())},
    ]
    tasks = [{"id": i["id"], "title": i["instance_title"] or i["title"], "step": i["title"], "url": urls[i["id"]],
              "due_at": i["due_at"], "level": i["level"], "level_text": inbox.label(ctx, "level", i["level"]),
              "urged": i["urge_count"]} for i in nxt]
    notices = []
    if n["urged"]:
        notices.append({"text": g("workbench.notice.urged", n=n["urged"]), "url": _tasks_url(), "level": "warn"})
    if n["overdue"]:
        notices.append({"text": g("workbench.notice.overdue", n=n["overdue"]), "url": _tasks_url(level="red"),
                        "level": "bad"})
    return [
        {"id": "core.my_counts", "kind": "counts", "order": 10, "title": g("workbench.my_counts"),
         "data": {"items": counts}},
        {"id": "core.my_tasks", "kind": "tasks", "order": 20, "title": g("workbench.next_tasks"),
         "data": {"items": tasks, "more_url": _tasks_url(), "empty": g("workbench.no_tasks")}},
        {"id": "core.notices", "kind": "notices", "order": 30, "title": g("workbench.notices"),
         "data": {"items": notices, "empty": g("workbench.no_notices")}},
    ]


def normalise(panels: list[Any]) -> list[dict[str, Any]]:
    """Panels in display order; a panel without a known ``kind`` is drawn by its ``template``
    (the contract's first form) and placed with the notices."""
    out = []
    for i, p in enumerate(panels):
        if not isinstance(p, dict):
            continue
        kind = p.get("kind") if p.get("kind") in KINDS else "notices"
        out.append({**p, "kind": kind, "order": int(p.get("order", 100)), "_seq": i})
    out.sort(key=lambda p: (p["order"], p["_seq"]))
    return out


def home_context(ctx: Any, user: Any) -> dict[str, Any]:
    """The home page's panels, grouped: the wide rows (counts, figures) and the two columns."""
    panels = normalise(ctx.hook_list("ccms_register_dashboard_panels", user=user))
    return {"panels": panels,
            "wide": [p for p in panels if p["kind"] in ("counts", "figures")],
            "tasks": [p for p in panels if p["kind"] == "tasks"],
            "notices": [p for p in panels if p["kind"] == "notices"]}
