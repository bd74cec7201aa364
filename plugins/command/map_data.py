"""The data behind the Leaflet maps (案件地图, 网格地图, the report form's point picker).

* :func:`base_layer` — the tile service configured in the plugin's settings (``map_base_layer``:
  none | tianditu | xyz, ``map_crs``: wgs84 | gcj02) as the browser needs it, plus the tile
  origins that :func:`map_context` adds to that page's CSP ``img-src`` (never a wildcard);
* GeoJSON, each scoped to what the user may see (:class:`stats.Scope`): the grids with their
  open/overdue/warning counts, the open cases as points with their deadline colour, and the
  deployment's own base map (district outlines, streets, roads, water) for when no tile service
  is configured.

Coordinates are stored in CGCS2000/WGS-84; with GCJ-02 tiles every position sent to the browser
is shifted (:func:`geo.wgs84_to_gcj02`) and a picked point is shifted back before it is used.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, false, func, or_, select, true
from sqlalchemy.orm import Session

from ccms.api import Request, allow_images_from, ctx_of

from . import geo, stats
from .common import Classes, settings
from .models import Grid, MapFeature, Region

MAX_CASES = 5000  # markers per answer (worst deadline first); the answer says how many were left out
TIANDITU_ORIGINS = [f"https://t{i}.tianditu.gov.cn" for i in range(8)]
TIANDITU = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
            "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}")
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?(?::[0-9]{1,5})?")
_SAFE_URL = re.compile(r"[A-Za-z0-9._~:/?#@!$&()+,=%{}-]+")  # no quotes, spaces, ';', '*', '\\'

Display = Callable[[float, float], tuple[float, float]]


# --- the configured base layer ------------------------------------------------------------------

def _xyz_origins(url: str, subdomains: str) -> tuple[list[str], tuple[str, str] | None]:
    """The tile origins of an XYZ template, or a bilingual reason it is refused."""
    if not url:
        return [], ("请填写瓦片地址模板", "give the tile URL template")
    if not _SAFE_URL.fullmatch(url):
        return [], ("瓦片地址含有不允许的字符（空格、引号、分号、*）",
                    "the tile URL contains a character that is not allowed (space, quote, semicolon, *)")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        return [], ("瓦片地址应以 https:// 开头", "the tile URL must start with https://")
    if not all(k in url for k in ("{z}", "{x}", "{y}")):
        return [], ("瓦片地址模板应包含 {z}、{x}、{y}", "the tile URL template must contain {z}, {x} and {y}")
    host = parts.netloc.lower()
    if "{s}" in host and not subdomains:
        return [], ("地址含 {s} 时请填写瓦片子域名", "the URL has {s}: give the subdomains")
    hosts = [host.replace("{s}", c) for c in subdomains] if "{s}" in host else [host]
    if not all(_HOST.fullmatch(h) for h in hosts):
        return [], (f"瓦片地址的主机名无效：{parts.netloc}", f"the tile URL's host is not valid: {parts.netloc}")
    return [f"{parts.scheme}://{h}" for h in hosts], None


def settings_errors(values: dict[str, Any]) -> dict[str, dict[str, str]]:
    """What the settings schema cannot say: tianditu needs a key, xyz a usable template."""
    kind = values.get("map_base_layer", "none")
    if kind == "tianditu" and not values.get("map_tianditu_key"):
        return {"map_tianditu_key": {"message": "选择天地图底图时须填写天地图密钥",
                                     "message_en": "the Tianditu base layer needs the Tianditu key"}}
    if kind == "xyz":
        _o, problem = _xyz_origins(str(values.get("map_tile_url") or ""), str(values.get("map_tile_subdomains") or ""))
        if problem:
            return {"map_tile_url": {"message": problem[0], "message_en": problem[1]}}
    return {}


def base_layer(values: dict[str, Any]) -> dict[str, Any]:
    """``{"kind", "crs", "tiles": [{"url", "subdomains", "attribution"}], "origins"}`` for the browser
    (``kind`` none when nothing usable is configured: the map then draws its own GeoJSON base)."""
    kind = values.get("map_base_layer", "none")
    crs = values.get("map_crs", "wgs84")
    attribution = str(values.get("map_attribution") or "")
    if kind == "tianditu" and values.get("map_tianditu_key"):
        key = str(values["map_tianditu_key"])
        tiles = [{"url": TIANDITU.format(s="{s}", layer=layer, z="{z}", x="{x}", y="{y}", key=key),
                  "subdomains": "01234567", "attribution": attribution or "天地图"} for layer in ("vec", "cva")]
        return {"kind": "tianditu", "crs": "wgs84" if crs == "wgs84" else crs, "tiles": tiles,
                "origins": list(TIANDITU_ORIGINS)}
    if kind == "xyz":
        url, sub = str(values.get("map_tile_url") or ""), str(values.get("map_tile_subdomains") or "")
        origins, problem = _xyz_origins(url, sub)
        if not problem:
            return {"kind": "xyz", "crs": crs, "tiles": [{"url": url, "subdomains": sub or "abc",
                                                          "attribution": attribution}], "origins": origins}
    return {"kind": "none", "crs": "wgs84", "tiles": [], "origins": []}


def display_fn(layer: dict[str, Any]) -> Display | None:
    """The shift applied to every position sent to the browser (None: none needed)."""
    return geo.wgs84_to_gcj02 if layer["kind"] != "none" and layer["crs"] == "gcj02" else None


def current_layer(ctx: Any, session: Session) -> dict[str, Any]:
    return base_layer(settings(ctx, session))


def map_context(request: Request, session: Session) -> dict[str, Any]:
    """Template variables of a page with a map: ``map_config`` (JSON for ``data-map-config``);
    lets this page's CSP load images from the configured tile origins only."""
    layer = current_layer(ctx_of(request), session)
    if layer["origins"]:
        allow_images_from(request.scope, layer["origins"])
    cfg = {"base": {k: layer[k] for k in ("kind", "crs", "tiles")}}
    return {"map_config": json.dumps(cfg, ensure_ascii=False, separators=(",", ":"))}


# --- scope ---------------------------------------------------------------------------------------

def grid_condition(scope: stats.Scope) -> ColumnElement[bool]:
    """Grids the user may see: those of the districts, streets and communities in their scope,
    and (for a department) the grids where its visible cases lie."""
    if scope.everything:
        return true()
    parts: list[ColumnElement[bool]] = []
    if scope.districts:
        parts.append(func.substr(Grid.code, 1, 6).in_(sorted(scope.districts)))
    if scope.streets:
        parts.append(Grid.street_code.in_(sorted(scope.streets)))
    if scope.communities:
        parts.append(Grid.community_code.in_(sorted(scope.communities)))
    if scope.depts:
        t = stats.case_table()
        parts.append(Grid.code.in_(select(t.c.grid_code).where(t.c.dept_id.in_(sorted(scope.depts))).distinct()))
    return or_(*parts) if parts else false()


def _shift(geometry: dict[str, Any], display: Display | None) -> dict[str, Any]:
    return geo.map_coordinates(geometry, display) if display else geometry


def _bounds(features: list[dict[str, Any]]) -> list[float] | None:
    xs: list[float] = []
    ys: list[float] = []

    def walk(v: Any) -> None:
        if v and isinstance(v[0], (int, float)):
            xs.append(v[0])
            ys.append(v[1])
        else:
            for p in v:
                walk(p)
    for f in features:
        walk(f["geometry"]["coordinates"])
    return [min(xs), min(ys), max(xs), max(ys)] if xs else None


def collection(features: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, "bbox": _bounds(features), **extra}


# --- GeoJSON -------------------------------------------------------------------------------------

def grids_geojson(session: Session, scope: stats.Scope, counts: dict[str, Any], display: Display | None, *,
                  district: str = "", street: str = "", community: str = "", qs: str = "") -> dict[str, Any]:
    """The visible grids as polygons with their counts (``counts``: code -> GridCount)."""
    stmt = select(Grid.code, Grid.name, Grid.community_code, Grid.area_class, Grid.geometry).where(
        grid_condition(scope)).order_by(Grid.code)
    if district:
        stmt = stmt.where(func.substr(Grid.code, 1, 6) == district)
    if street:
        stmt = stmt.where(Grid.street_code == street)
    if community:
        stmt = stmt.where(Grid.community_code == community)
    names = dict(session.execute(select(Region.code, Region.name)).all())
    features = []
    for code, name, comm, area_class, geometry in session.execute(stmt):
        c = counts.get(code)
        features.append({"type": "Feature", "geometry": _shift(geometry, display), "properties": {
            "code": code, "name": name, "community": names.get(comm, ""), "area_class": area_class,
            "open": c.open if c else 0, "overdue": c.overdue if c else 0, "warning": c.warning if c else 0,
            "href": f"/command/casemap/grids/{code}" + (f"?{qs}" if qs else "")}})
    return collection(features)


def cases_geojson(ctx: Any, session: Session, scope: stats.Scope, where: list[ColumnElement[bool]],
                  level: ColumnElement[str], display: Display | None) -> dict[str, Any]:
    """Open cases with a position, as points (worst deadline first, at most :data:`MAX_CASES`)."""
    t = stats.case_table()
    cond = [*where, scope.condition(t), t.c.lon.is_not(None), t.c.lat.is_not(None)]
    total = int(session.scalar(select(func.count()).select_from(t).where(*cond)) or 0)
    order = case((level == "red", 0), (level == "yellow", 1), (level == "green", 2), else_=3)
    rows = session.execute(
        select(t.c.id, t.c.case_no, t.c.kind, t.c.class_code, t.c.status, t.c.address, t.c.lon, t.c.lat,
               t.c.due_at, level.label("level"))
        .where(*cond).order_by(order, t.c.id).limit(MAX_CASES)).mappings()
    classes = Classes(session)
    kinds = {"E": "event", "C": "component"}
    tz = ZoneInfo(ctx.timezone)
    features = []
    for r in rows:
        x, y = (display(r["lon"], r["lat"]) if display else (r["lon"], r["lat"]))
        due: dt.datetime | None = r["due_at"]
        if due is not None and due.tzinfo is None:
            due = due.replace(tzinfo=dt.timezone.utc)
        cls = r["class_code"] or ""
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(x, 7), round(y, 7)]},
                         "properties": {
                             "id": r["id"], "case_no": r["case_no"], "class_code": cls,
                             "class_name": classes.name(kinds.get(r["kind"], "event"), cls[1:]) if cls else "",
                             "status": r["status"], "address": r["address"] or "", "level": r["level"],
                             "due": due.astimezone(tz).strftime("%Y-%m-%d %H:%M") if due else "",
                             "href": f"/command/cases/{r['id']}"}})
    return collection(features, total=total, shown=len(features))


def base_geojson(session: Session, scope: stats.Scope, display: Display | None) -> dict[str, Any]:
    """The deployment's own base map inside the user's scope: water, district outlines, streets
    (from the street boundaries), roads (main roads and water are city-wide)."""
    areas: set[str] | None = None
    if not scope.everything:
        areas = {c for (c,) in session.execute(select(func.substr(Grid.code, 1, 6)).where(grid_condition(scope))
                                               .distinct())}
    features = []
    stmt = select(MapFeature.layer, MapFeature.kind, MapFeature.name, MapFeature.area_code, MapFeature.geometry)
    rows = session.execute(stmt.order_by(MapFeature.id)).all()
    order = {"water": 0, "district": 1, "road": 3}
    for layer, kind, name, area, geometry in rows:
        if areas is not None and area and area not in areas:
            continue
        features.append((order.get(layer, 4), {"type": "Feature", "geometry": _shift(geometry, display),
                                               "properties": {"layer": layer, "kind": kind, "name": name}}))
    for r in session.scalars(select(Region).where(Region.level == "street").order_by(Region.code)):
        if r.geometry and (areas is None or r.code[:6] in areas):
            features.append((2, {"type": "Feature", "geometry": _shift(r.geometry, display),
                                 "properties": {"layer": "street", "kind": "", "name": r.name, "code": r.code}}))
    features.sort(key=lambda f: f[0])
    return collection([f for _o, f in features])
