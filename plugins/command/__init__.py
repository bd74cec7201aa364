"""指挥协调 (Command and coordination) — the city's closed case loop on GB/T 30428 data.

Built so far: the base data the loop stands on (issue 5 §1):

* ``standards.py``  — 立案结案标准 per small class (conditions, time limits per
  area class and urgency, responsible department);
* ``grids.py``      — streets, communities and unit grids (GeoJSON import with
  a report per feature), locating a point with an STRtree, the SVG map;
* ``components.py`` — 部件 with 16-digit identifiers, history, census import;
* ``geocode.py``    — roads, door plates, POIs with name history; address search;
* ``matrix.py``     — 责任矩阵 and :func:`matrix.suggest_department` for dispatch.

The classification itself is core's 数据字典 (``gbt30428.component`` /
``gbt30428.event``), read through :mod:`core.api`. The case screens of the
first menu group (intake, cases, dispatch, statistics) are still the
"not built yet" pages.
"""

from __future__ import annotations

from typing import Any

from core.api import hookimpl, placeholder_routes

from . import screens


@hookimpl
def ccms_register_routes(ctx: Any) -> list[Any]:
    ours = list(screens.routes)
    taken = {r.path for r in ours}
    return ours + [r for r in placeholder_routes(ctx, "command") if r.path not in taken]


@hookimpl
def ccms_register_api_docs(ctx: Any) -> list[dict[str, Any]]:
    return list(screens.api_docs)


@hookimpl
def ccms_seed_demo(ctx: Any, session: Any, orgs: dict[str, Any]) -> None:
    """A small city's base data: streets, communities, ~200 grids, standards,
    matrix rules, 10,000 components, roads, door plates and POIs."""
    from .demo import seed_demo
    seed_demo(ctx, session, orgs)
