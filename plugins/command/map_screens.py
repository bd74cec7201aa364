"""案件地图: the city's open cases by unit grid on a server-drawn SVG map.

* ``/command/casemap`` — every grid polygon filled by its number of open
  cases (choropleth, legend 0 / 1–2 / 3–5 / 6–10 / >10), a red marker with
  the number of overdue cases and a yellow one for cases past 80 % of their
  limit (the deadline colours of the case screens), filters (class, source,
  status group, deadline colour, district, street) through htmx swapping
  ``#casemap``; each grid is a link to its open cases.
* ``/command/casemap/grids/{code}`` — the open cases of one grid (same
  filters), linking to the case detail.
* ``GET /api/command/map`` — the same per-grid counts as JSON.
* ``GET /api/command/map/grids`` · ``/cases`` · ``/base`` — GeoJSON for the Leaflet map
  (``static/map/casemap.js``): grid polygons with counts, open cases as points coloured by deadline,
  the deployment's own base map; all scoped like the counts (:mod:`map_data`).
* ``GET /api/command/map/pick`` — a point picked on the map: its stored coordinates and grid.

With JavaScript the page shows the Leaflet map (pan, zoom, clustered case markers, popups); the
SVG stays below it as the no-script fallback (hidden once the map has started).

Counts are ONE ``SELECT grid_code, COUNT(*), SUM(red), SUM(yellow) ... GROUP
BY grid_code`` over the open cases the user may see (the statistics' scope,
:func:`stats_screens.user_scope`); the polygons come from
:func:`grids.svg_map` (the base-data map's projection; ~10 ms for 216
grids). The base-data grid map keeps ``/command/map``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Table, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from ccms.api import (
    JSONResponse, NotFound, Request, Response, Route, UTCDateTime, ValidationFailed, api_doc, ctx_of, field_error,
    org_names, render, requires, user_of, utcnow,
)
from ccms.api import is_htmx, page_number, wants_fragment

from . import geo, grids, map_data, stats
from .common import Classes
from .models import CASE_SOURCES, OPEN_STATUSES, Grid, Region
from .sqltime import epoch
from .stats_screens import district_names, scope_label, user_scope

VIEW = "command.view"
PAGE_SIZE = 20
TOP = 10
STATUS_GROUPS: dict[str, tuple[str, ...]] = {
    "open": OPEN_STATUSES,
    "to_file": ("reported", "verifying"),
    "to_dispatch": ("filed",),
    "disposing": ("dispatched", "disposing"),
    "checking": ("checking",),
    "suspended": ("suspended",),
}
LEVELS = ("red", "yellow", "green", "none")
# choropleth classes: (lowest count, highest count or None), index = CSS class cm-<i>
BUCKETS: tuple[tuple[int, int | None], ...] = ((0, 0), (1, 2), (3, 5), (6, 10), (11, None))
WARN_SHARE = 0.8  # yellow from 80 % of the disposal limit, as on the case screens


# --- deadline colour in SQL ---------------------------------------------------------------------

def deadline_level(t: Table, now: dt.datetime) -> ColumnElement[str]:
    """'red' | 'yellow' | 'green' | 'none' — the case screens' deadline colour
    (``case_screens._deadline_level``) as one SQL CASE: red once the current disposal
    round's deadline has passed before its disposal (a failed 核查 reopens it), yellow from
    80 % of the round's limit."""
    end = func.coalesce(t.c.disposed_at, literal(now, UTCDateTime))
    began = func.coalesce(t.c.round_started_at, t.c.dispatched_at)
    start, due = epoch(began), epoch(t.c.due_at)
    return case(
        (or_(t.c.due_at.is_(None), began.is_(None)), "none"),
        (end >= t.c.due_at, "red"),
        (and_(due > start, epoch(end) >= start + WARN_SHARE * (due - start)), "yellow"),
        else_="green")


# --- filters ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MapFilters:
    """What the user narrowed the map to (empty = no filter)."""

    cls: str = ""  # big class E01 / small class E0101
    source: str = ""
    group: str = "open"
    level: str = ""
    district: str = ""
    street: str = ""

    def query(self) -> dict[str, str]:
        """Query parameters that select these filters again (links between map and lists)."""
        q = {"class": self.cls, "source": self.source, "group": "" if self.group == "open" else self.group,
             "level": self.level, "district": self.district, "street": self.street}
        return {k: v for k, v in q.items() if v}

    def conditions(self, t: Table, level: ColumnElement[str]) -> list[ColumnElement[bool]]:
        out = [t.c.status.in_(STATUS_GROUPS[self.group])]
        if self.cls:
            out.append((t.c.class_code if len(self.cls) == 5 else t.c.big_class) == self.cls)
        if self.source:
            out.append(t.c.source == self.source)
        if self.level:
            out.append(level == self.level)
        if self.district:
            out.append(t.c.district_code == self.district)
        if self.street:
            out.append(t.c.street_code == self.street)
        return out


@dataclass
class Choices:
    """The values the filters accept, and their labels for the form."""

    districts: dict[str, str]  # code -> name
    streets: dict[str, str]  # code -> name
    classes: list[tuple[str, str, bool]]  # (code, label, is big class)


def choices(ctx: Any, session: Session) -> Choices:
    """Districts (from the streets and grids), streets, and both class lists."""
    streets = {r.code: r.name for r in grids.list_regions(session, "street")}
    names = district_names(ctx, session)
    codes = {c[:6] for c in streets} | {c[:6] for c in session.scalars(select(Grid.street_code).distinct()) if c}
    districts = {c: names.get(c, c) for c in sorted(codes)}
    cls = Classes(session)
    opts: list[tuple[str, str, bool]] = []
    for kind, letter in (("event", "E"), ("component", "C")):
        entries = sorted(cls.by_kind.get(kind, {}).values(), key=lambda e: e.code)
        for big in (e for e in entries if e.parent_code is None):
            opts.append((f"{letter}{big.code}", f"{letter}{big.code} {big.name}", True))
            opts += [(f"{letter}{e.code}", f"{letter}{e.code} {e.name}", False) for e in entries
                     if e.parent_code == big.code]
    return Choices(districts, streets, opts)


def _err(name: str, zh: str, en: str) -> dict[str, dict[str, str]]:
    return field_error(name, zh, en)


def parse_filters(params: dict[str, str], ch: Choices, default_district: str = ""
                  ) -> tuple[MapFilters, dict[str, dict[str, str]]]:
    """Filters from query parameters. A bad value is reset (the map stays
    usable) and reported with a bilingual message per field."""
    errors: dict[str, dict[str, str]] = {}
    p = {k: (v or "").strip()[:40] for k, v in params.items()}
    cls = p.get("class", "").upper()
    if cls and (not re.fullmatch(r"[CE]\d{2}(\d{2})?", cls) or cls not in {c for c, _l, _b in ch.classes}):
        errors |= _err("class", f"案件类别“{cls}”不存在：应为大类（如 E01）或小类（如 E0101）",
                       f"unknown class {cls!r}: use a big class (E01) or a small class (E0101)")
        cls = ""
    source = p.get("source", "")
    if source and source not in CASE_SOURCES:
        errors |= _err("source", f"案件来源“{source}”无效", f"unknown source {source!r}")
        source = ""
    group = p.get("group", "") or "open"
    if group not in STATUS_GROUPS:
        errors |= _err("group", f"案件状态“{group}”无效", f"unknown status group {group!r}")
        group = "open"
    level = p.get("level", "")
    if level and level not in LEVELS:
        errors |= _err("level", f"时限颜色“{level}”无效，可选 红、黄、绿、无时限",
                       f"unknown deadline colour {level!r}: use red, yellow, green or none")
        level = ""
    district = p["district"] if "district" in p else default_district
    if district and district not in ch.districts:
        errors |= _err("district", f"区“{district}”不存在", f"unknown district {district!r}")
        district = ""
    street = p.get("street", "")
    if street and street not in ch.streets:
        errors |= _err("street", f"街道“{street}”不存在", f"unknown street {street!r}")
        street = ""
    elif street and district and not street.startswith(district):
        errors |= _err("street", f"街道 {ch.streets[street]} 不属于所选的区",
                       f"street {street} does not lie in the chosen district")
        street = ""
    return MapFilters(cls, source, group, level, district, street), errors


def _failure(errors: dict[str, dict[str, str]]) -> ValidationFailed:
    zh = "；".join(e["message"] for e in errors.values())
    en = "; ".join(e["message_en"] for e in errors.values())
    return ValidationFailed(zh, en, fields=errors)


# --- counts and the drawing ---------------------------------------------------------------------

@dataclass
class GridCount:
    open: int = 0
    overdue: int = 0
    warning: int = 0


def grid_counts(session: Session, filters: MapFilters, scope: stats.Scope, now: dt.datetime
                ) -> dict[str, GridCount]:
    """Open cases, overdue (red) and warning (yellow) per grid code: one GROUP BY."""
    t = stats.case_table()
    lvl = deadline_level(t, now)
    stmt = (select(t.c.grid_code, func.count(),
                   func.coalesce(func.sum(case((lvl == "red", 1), else_=0)), 0),
                   func.coalesce(func.sum(case((lvl == "yellow", 1), else_=0)), 0))
            .where(*filters.conditions(t, lvl), scope.condition(t))
            .group_by(t.c.grid_code))
    return {code or "": GridCount(int(n), int(r), int(y)) for code, n, r, y in session.execute(stmt)}


def bucket(n: int) -> int:
    for i, (lo, hi) in enumerate(BUCKETS):
        if n >= lo and (hi is None or n <= hi):
            return i
    return len(BUCKETS) - 1


def map_model(ctx: Any, session: Session, scope: stats.Scope, filters: MapFilters, now: dt.datetime | None = None
              ) -> dict[str, Any]:
    """Everything the map and the JSON twin show, for the cases in ``scope``."""
    now = now or utcnow()
    svg = grids.svg_map(session, street=filters.street, district=filters.district)
    counts = grid_counts(session, filters, scope, now)
    codes = [p["code"] for p in svg["paths"]]
    meta = {code: (community, area) for code, community, area
            in session.execute(select(Grid.code, Grid.community_code, Grid.area_m2))} if codes else {}
    community_of = {code: m[0] for code, m in meta.items()}
    region_name = dict(session.execute(select(Region.code, Region.name)).all())
    g = ctx.gettext
    # marker radius (map units = metres): readable on a phone, yet inside a typical grid
    areas = sorted(meta[c][1] for c in codes if c in meta and meta[c][1])
    side = math.sqrt(areas[len(areas) // 2]) if areas else float("inf")
    r = min(float(svg.get("font", "10")) * 1.5, side * 0.22)
    qs = urlencode(filters.query())
    paths, drawn = [], set()
    for p in svg["paths"]:
        c = counts.get(p["code"], GridCount())
        drawn.add(p["code"])
        community = community_of.get(p["code"], "")
        tip = g("casemap.tooltip", code=p["code"], name=p["name"], community=region_name.get(community, community),
                open=c.open, overdue=c.overdue, warning=c.warning)
        lx = float(p["lx"])
        paths.append({**p, "count": c.open, "overdue": c.overdue, "warning": c.warning, "bucket": bucket(c.open),
                      "community_code": community, "community_name": region_name.get(community, ""), "tip": tip,
                      "href": f"/command/casemap/grids/{p['code']}" + (f"?{qs}" if qs else ""),
                      "red": {"x": f"{lx - r:.1f}", "y": p["ly"]} if c.overdue else None,
                      "yellow": {"x": f"{lx + r:.1f}" if c.overdue else p["lx"], "y": p["ly"]}
                      if c.warning else None})
    total = GridCount(sum(c.open for c in counts.values()), sum(c.overdue for c in counts.values()),
                      sum(c.warning for c in counts.values()))
    off_map = sum(c.open for k, c in counts.items() if k not in drawn)
    top = sorted((p for p in paths if p["count"]), key=lambda p: (-p["count"], p["code"]))[:TOP]
    return {"svg": svg, "paths": paths, "total": total, "off_map": off_map, "top": top, "scope": scope,
            "scope_text": scope_label(ctx, session, scope), "marker_r": f"{r:.1f}",
            "font": f"{r * 1.1:.1f}", "qs": qs}


def _legend() -> list[tuple[int, str]]:
    out = []
    for i, (lo, hi) in enumerate(BUCKETS):
        text = str(lo) if hi == lo else (f"{lo}–{hi}" if hi is not None else f">{lo - 1}")
        out.append((i, text))
    return out


# --- pages ----------------------------------------------------------------------------------------

def _params(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items()}


def _default_district(scope: stats.Scope) -> str:
    """A district user opens the map on their district."""
    if not scope.everything and len(scope.districts) == 1:
        return next(iter(scope.districts))
    return ""


@requires(VIEW)
async def map_page(request: Request) -> Response:
    ctx, user = ctx_of(request), user_of(request)
    with ctx.session() as s:
        ch = choices(ctx, s)
        scope = user_scope(ctx, s, user)
        filters, errors = parse_filters(_params(request), ch, _default_district(scope))
        data = map_model(ctx, s, scope, filters)
        data |= map_data.map_context(request, s)
    data |= {"title": ctx.gettext("casemap.title"), "f": filters, "ch": ch, "errors": errors,
             "error": _failure(errors) if errors else None, "groups": list(STATUS_GROUPS), "levels": LEVELS,
             "sources": CASE_SOURCES, "legend": _legend()}
    status = 422 if errors else 200
    if is_htmx(request):  # htmx swaps 2xx only: the fragment carries the error
        return render(request, "command/map_cases_svg.html", data)
    return render(request, "command/map_cases.html", data, status_code=status)


@requires(VIEW)
async def grid_cases_page(request: Request) -> Response:
    """The open cases of one grid (the map's filters apply), worst deadline first."""
    ctx, user = ctx_of(request), user_of(request)
    code = request.path_params["code"][:40]
    page = page_number(request)
    with ctx.session() as s:
        grid = s.scalar(select(Grid).where(Grid.code == code))
        if grid is None:
            raise NotFound(f"网格 {code} 不存在", f"grid {code} does not exist")
        ch = choices(ctx, s)
        filters, errors = parse_filters(_params(request), ch)
        scope = user_scope(ctx, s, user)
        t = stats.case_table()
        lvl = deadline_level(t, utcnow())
        where = [t.c.grid_code == code, *filters.conditions(t, lvl), scope.condition(t)]
        total = int(s.scalar(select(func.count()).select_from(t).where(*where)) or 0)
        order = case((lvl == "red", 0), (lvl == "yellow", 1), (lvl == "green", 2), else_=3)
        rows = list(s.execute(
            select(t.c.id, t.c.case_no, t.c.class_code, t.c.source, t.c.status, t.c.dept_id, t.c.reported_at,
                   t.c.due_at, t.c.address, lvl.label("level"))
            .where(*where).order_by(order, t.c.due_at.is_(None), t.c.due_at, t.c.id)
            .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).mappings())
        depts = org_names(s, [r["dept_id"] for r in rows])
        classes = Classes(s)  # people read class names, not codes
        class_names = {r["class_code"]: classes.name("event" if r["class_code"][:1] == "E" else "component",
                                                     r["class_code"][1:]) for r in rows if r["class_code"]}
        community = s.scalar(select(Region.name).where(Region.code == grid.community_code)) or ""
        scope_text = scope_label(ctx, s, scope)
    qs = urlencode(filters.query())
    data = {"title": ctx.gettext("casemap.grid.title", code=grid.name or code), "grid": grid, "community": community,
            "class_names": class_names,
            "rows": rows, "total": total, "page": page, "pages": max(1, -(-total // PAGE_SIZE)), "depts": depts,
            "f": filters, "errors": errors, "error": _failure(errors) if errors else None,
            "url": f"/command/casemap/grids/{code}?" + (f"{qs}&" if qs else ""),
            "back": "/command/casemap" + (f"?{qs}" if qs else ""), "scope_text": scope_text}
    status = 422 if errors else 200
    if wants_fragment(request, "list"):
        return render(request, "command/map_cases_list.html", data)
    return render(request, "command/map_cases_grid.html", data, status_code=status)


@requires(VIEW)
async def api_map(request: Request) -> Response:
    """Per-grid counts of open cases; a bad filter is a 422 naming the field."""
    ctx, user = ctx_of(request), user_of(request)
    with ctx.session() as s:
        filters, errors = parse_filters(_params(request), choices(ctx, s))
        if errors:
            raise _failure(errors)
        m = map_model(ctx, s, user_scope(ctx, s, user), filters)
    scope: stats.Scope = m["scope"]
    return JSONResponse({
        "filters": {"class": filters.cls, "source": filters.source, "group": filters.group, "level": filters.level,
                    "district": filters.district, "street": filters.street},
        "scope": {"city": scope.everything, "org_ids": list(scope.org_ids), "label": m["scope_text"]},
        "total": asdict(m["total"]), "off_map": m["off_map"],
        "grids": [{"code": p["code"], "name": p["name"], "community_code": p["community_code"],
                   "community_name": p["community_name"], "open": p["count"], "overdue": p["overdue"],
                   "warning": p["warning"]} for p in m["paths"]],
    })


def _filtered(request: Request, s: Session) -> tuple[MapFilters, str]:
    """The map filters of an API call (422 naming the field when one is bad) and the community."""
    params = _params(request)
    filters, errors = parse_filters(params, choices(ctx_of(request), s))
    community = params.get("community", "").strip()[:40]
    if community and not re.fullmatch(r"[0-9]{6,20}", community):
        errors |= _err("community", f"社区“{community}”无效", f"unknown community {community!r}")
    if errors:
        raise _failure(errors)
    return filters, community


@requires(VIEW)
async def api_map_grids(request: Request) -> Response:
    """The visible grids as GeoJSON polygons with open / overdue / warning counts (the map's filters)."""
    ctx, user = ctx_of(request), user_of(request)
    with ctx.session() as s:
        filters, community = _filtered(request, s)
        scope = user_scope(ctx, s, user)
        counts = grid_counts(s, filters, scope, utcnow())
        display = map_data.display_fn(map_data.current_layer(ctx, s))
        body = map_data.grids_geojson(s, scope, counts, display, district=filters.district, street=filters.street,
                                      community=community, qs=urlencode(filters.query()))
    return JSONResponse(body)


@requires(VIEW)
async def api_map_cases(request: Request) -> Response:
    """The open cases (the map's filters) as GeoJSON points with deadline colour and a link."""
    ctx, user = ctx_of(request), user_of(request)
    with ctx.session() as s:
        filters, community = _filtered(request, s)
        scope = user_scope(ctx, s, user)
        t = stats.case_table()
        lvl = deadline_level(t, utcnow())
        where = filters.conditions(t, lvl) + ([t.c.community_code == community] if community else [])
        display = map_data.display_fn(map_data.current_layer(ctx, s))
        body = map_data.cases_geojson(ctx, s, scope, where, lvl, display)
    return JSONResponse(body)


@requires(VIEW)
async def api_map_base(request: Request) -> Response:
    """The deployment's own base map (districts, streets, roads, water) within the user's scope."""
    ctx, user = ctx_of(request), user_of(request)
    with ctx.session() as s:
        scope = user_scope(ctx, s, user)
        display = map_data.display_fn(map_data.current_layer(ctx, s))
        body = map_data.base_geojson(s, scope, display)
    return JSONResponse(body)


@requires(VIEW)
async def api_map_pick(request: Request) -> Response:
    """A point picked on the map: ``lon``/``lat`` as drawn (GCJ-02 tiles: shifted back), or ``x``/``y``
    as stored; answers the stored ``x``/``y``, the drawn position and the grid (422 outside every grid)."""
    ctx = ctx_of(request)
    qp = request.query_params
    with ctx.session() as s:
        layer = map_data.current_layer(ctx, s)
        display = map_data.display_fn(layer)
        if qp.get("lon") is not None or qp.get("lat") is not None:
            lon, lat = grids.check_point(qp.get("lon"), qp.get("lat"))
            x, y = geo.gcj02_to_wgs84(lon, lat) if display else (lon, lat)
        else:
            x, y = grids.check_point(qp.get("x"), qp.get("y"))
        x, y = round(x, 7), round(y, 7)
        loc = grids.locate(s, x, y)
    shown = display(x, y) if display else (x, y)
    return JSONResponse({"x": x, "y": y, "display": [round(shown[0], 7), round(shown[1], 7)],
                         "location": loc.as_dict()})


routes = [
    Route("/api/command/map/grids", api_map_grids, name="api-command-map-grids"),
    Route("/api/command/map/cases", api_map_cases, name="api-command-map-cases"),
    Route("/api/command/map/base", api_map_base, name="api-command-map-base"),
    Route("/api/command/map/pick", api_map_pick, name="api-command-map-pick"),
    Route("/command/casemap", map_page, name="command-casemap"),
    Route("/command/casemap/grids/{code}", grid_cases_page, name="command-casemap-grid"),
    Route("/api/command/map", api_map, name="api-command-map"),
]

_FILTER_QUERY = {"class": "big class E01 or small class E0101", "source": "|".join(CASE_SOURCES),
                 "group": "|".join(STATUS_GROUPS), "level": "|".join(LEVELS), "district": "area code (6 digits)",
                 "street": "street code", "community": "community code"}

api_docs = [
    api_doc("/api/command/map/grids", "get",
            "地图：可见单元网格（GeoJSON 面）及未结、超期、预警案件数 / visible unit grids as GeoJSON with case counts",
            permission=VIEW, tag="command", query=_FILTER_QUERY),
    api_doc("/api/command/map/cases", "get",
            "地图：未结案件点位（GeoJSON，含时限颜色）/ open cases as GeoJSON points with deadline colour",
            permission=VIEW, tag="command", query=_FILTER_QUERY),
    api_doc("/api/command/map/base", "get",
            "地图：本地底图（区界、街道、道路、水系，GeoJSON）/ the deployment's own base map as GeoJSON",
            permission=VIEW, tag="command"),
    api_doc("/api/command/map/pick", "get",
            "地图选点：换算坐标并定位网格 / a point picked on the map: stored coordinates and its grid",
            permission=VIEW, tag="command",
            query={"lon": "longitude as drawn", "lat": "latitude as drawn", "x": "stored longitude",
                   "y": "stored latitude"}),
    api_doc("/api/command/map", "get",
            "案件地图：各单元网格的未结案件数、超期数、预警数 / open, overdue and warning cases per unit grid",
            permission=VIEW, tag="command",
            query={"class": "big class E01 or small class E0101", "source": "|".join(CASE_SOURCES),
                   "group": "|".join(STATUS_GROUPS), "level": "|".join(LEVELS), "district": "area code (6 digits)",
                   "street": "street code"}),
]
