"""指挥协调 (Command and coordination) — the city's closed case loop on GB/T 30428 data.

* ``standards.py``  — 立案结案标准 per small class (conditions, time limits per
  area class and urgency, responsible department);
* ``grids.py``      — streets, communities and unit grids (GeoJSON import with
  a report per feature), locating a point with an STRtree, the SVG map;
* ``components.py`` — 部件 with 16-digit identifiers, history, census import;
* ``geocode.py``    — roads, door plates, POIs with name history; address search;
* ``matrix.py``     — 责任矩阵 and :func:`matrix.suggest_department` for dispatch;
* ``cases.py``      — the case loop (flow ``flow_defs/case_loop.json``): report,
  file, dispatch, dispose, check, close, special operations, duplicates, and
  the ``ccms_flow_event_occurred`` listener that keeps ``command_case`` in step;
  ``case_screens.py`` its screens and JSON API; ``demo_cases.py`` its demo data;
* ``stats_screens.py`` — statistics (GB/T 30428.4) over ``command_case``.
* ``map_screens.py``   — 案件地图: open cases by unit grid (SVG choropleth) and its JSON twin;
  ``map_data.py`` the Leaflet maps' GeoJSON and the configured tile service.
* ``evaluation.py``    — 绩效考核: scores of departments and regions from the statistics;
  ``evaluation_screens.py`` its page, XLSX export and JSON twin.
* ``workbench.py``     — home-page panels: leaders' 今日要情, the case workbench's counts.
* ``gridnames.py``     — grid names for people instead of 14-digit codes.

The classification itself is core's 数据字典 (``gbt30428.component`` /
``gbt30428.event``), read through :mod:`ccms.api`.
"""

from __future__ import annotations

from typing import Any

from ccms.api import hookimpl, placeholder_routes

from . import (
    case_screens,
    cases,
    evaluation_screens,
    map_screens,
    screens,
    stats_screens,
)


@hookimpl
def ccms_register_routes(ctx: Any) -> list[Any]:
    ours = list(case_screens.routes) + list(screens.routes) + list(stats_screens.routes) + list(map_screens.routes)
    ours += list(evaluation_screens.routes)
    taken = {r.path for r in ours}
    return ours + [r for r in placeholder_routes(ctx, "command") if r.path not in taken]


@hookimpl
def ccms_check_settings(ctx: Any, plugin_id: str, values: dict[str, Any]) -> dict[str, dict[str, str]] | None:
    """Evaluation weights must add up to 100 per group, grade bands fall from A to D; the map's
    tile service must be usable (a key for 天地图, a safe XYZ template)."""
    if plugin_id != "command":
        return None
    from . import evaluation, map_data
    return {**evaluation.settings_errors(values), **map_data.settings_errors(values)} or None


@hookimpl
def ccms_register_api_docs(ctx: Any) -> list[dict[str, Any]]:
    return (list(screens.api_docs) + list(stats_screens.api_docs) + list(case_screens.api_docs)
            + list(map_screens.api_docs) + list(evaluation_screens.api_docs))


@hookimpl
def ccms_flow_event_occurred(ctx: Any, session: Any, event: dict[str, Any]) -> None:
    """Keep ``command_case`` columns in step with the case loop, in the step's transaction."""
    cases.on_flow_event(ctx, session, event)


@hookimpl
def ccms_task_screen(ctx: Any, session: Any, instance: Any, task: Any) -> dict[str, Any] | None:
    """Case-loop tasks link to their case page, where 派遣/处置/合并 are done."""
    return cases.task_screen(session, instance, task)


@hookimpl
def ccms_register_dashboard_panels(ctx: Any, user: Any) -> list[dict[str, Any]]:
    """Leaders' 今日要情 and the case workbench's counts (:mod:`.workbench`)."""
    from .workbench import dashboard_panels
    return dashboard_panels(ctx, user)


@hookimpl
def ccms_seed_demo(ctx: Any, session: Any, orgs: dict[str, Any]) -> Any:
    """A small city's base data (streets, communities, ~200 grids, standards,
    matrix rules, 10,000 components, roads, door plates, POIs), the loop's
    people and ~20,000 cases; returns the demo logins it made."""
    from .demo import seed_demo
    return seed_demo(ctx, session, orgs)


@hookimpl
def ccms_task_links(ctx: Any, session: Any, tasks: list[dict[str, Any]]) -> dict[int, str]:
    """Case-loop tasks in 我的待办 and the other lists open their case page (one query per list page)."""
    return cases.task_links(session, tasks)
