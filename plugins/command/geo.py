"""Geometry helpers: GeoJSON in and out, validity with reasons, areas in m².

Coordinates are CGCS2000/WGS84 longitude/latitude. Areas are computed in a
local projection around each geometry's centre: east and north distances
from the WGS84 ellipsoid's radii of curvature at that latitude
(x = N·cosφ₀·Δλ, y = M·Δφ). For grid-sized polygons (hundreds of metres)
the error against a full geodesic area is far below 0.1 %.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.validation import explain_validity

A = 6378137.0                      # WGS84 / CGCS2000 semi-major axis (m)
E2 = 0.00669438002290              # first eccentricity squared


def scales(lat: float) -> tuple[float, float]:
    """Metres per degree east and north at latitude ``lat``."""
    phi = math.radians(lat)
    w = 1 - E2 * math.sin(phi) ** 2
    n = A / math.sqrt(w)
    m = A * (1 - E2) / w ** 1.5
    return n * math.cos(phi) * math.pi / 180, m * math.pi / 180


def to_local(geom: Any, lon0: float, lat0: float) -> Any:
    """The geometry in metres east/north of (lon0, lat0)."""
    kx, ky = scales(lat0)
    return shapely.transform(geom, lambda c: np.column_stack(((c[:, 0] - lon0) * kx, (c[:, 1] - lat0) * ky)))


def area_m2(geom: Any) -> float:
    """Area in square metres (local projection at the geometry's centre)."""
    if geom.is_empty:
        return 0.0
    c = geom.centroid
    return float(to_local(geom, c.x, c.y).area)


def m2_per_deg2(lat: float) -> float:
    kx, ky = scales(lat)
    return kx * ky


def parse_polygon(data: Any) -> tuple[Any | None, tuple[str, str] | None]:
    """A (Multi)Polygon from a GeoJSON geometry dict, or a bilingual reason why not.

    Refuses other types, coordinates outside lon/lat ranges, empty or
    degenerate shapes and invalid ones (self-intersection, bad rings), naming
    the place of the fault.
    """
    if not isinstance(data, dict) or data.get("type") not in ("Polygon", "MultiPolygon"):
        t = data.get("type") if isinstance(data, dict) else type(data).__name__
        return None, (f"几何应为 Polygon 或 MultiPolygon，而不是 {t}", f"geometry must be a Polygon or MultiPolygon, not {t}")
    try:
        geom = shape(data)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, shapely.errors.GEOSException) as exc:
        return None, (f"几何坐标格式错误：{exc}", f"malformed geometry coordinates: {exc}")
    if geom.is_empty:
        return None, ("几何为空", "the geometry is empty")
    minx, miny, maxx, maxy = geom.bounds
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)) or minx < -180 or maxx > 180 \
            or miny < -90 or maxy > 90:
        return None, ("坐标超出经纬度范围（应为 CGCS2000 经度、纬度，单位度）",
                      "coordinates are outside longitude/latitude ranges (CGCS2000 degrees expected)")
    if not geom.is_valid:
        reason = explain_validity(geom)
        where = ""
        if "[" in reason:
            where = reason[reason.index("["):]
        if reason.startswith("Self-intersection") or reason.startswith("Ring Self-intersection"):
            return None, (f"多边形自相交，位置 {where}", f"the polygon intersects itself at {where}")
        if reason.startswith("Too few points"):
            return None, ("多边形的顶点太少", "the polygon has too few points")
        return None, (f"多边形无效：{reason}", f"invalid polygon: {reason}")
    if area_m2(geom) <= 0:
        return None, ("多边形面积为零", "the polygon has no area")
    return geom, None


def as_geojson(geom: Any) -> dict[str, Any]:
    """GeoJSON geometry dict with plain lists (JSON-column friendly)."""
    def lists(v: Any) -> Any:
        return [lists(x) for x in v] if isinstance(v, (list, tuple)) else v
    g = mapping(geom)
    return {"type": g["type"], "coordinates": lists(g["coordinates"])}


def polygons_of(geom: Any) -> list[Polygon]:
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    return [geom]


# --- display on GCJ-02 tiles ------------------------------------------------------------------------
# Tile services licensed in China (高德, 腾讯, most city tile servers) draw in GCJ-02, a published
# obfuscation of WGS-84 that shifts points by a few hundred metres. Data stays CGCS2000/WGS-84;
# only what the map draws is shifted (and a clicked point is shifted back). The formulas are the
# well-known public ones (Krasovsky ellipsoid constants); the inverse iterates to < 1e-7°.

_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323


def _out_of_china(lon: float, lat: float) -> bool:
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _delta(lon: float, lat: float) -> tuple[float, float]:
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
            + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
            + (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
            + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
            + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - _GCJ_EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1 - _GCJ_EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrt_magic * math.cos(rad) * math.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """WGS-84 → GCJ-02 (unchanged outside China)."""
    if _out_of_china(lon, lat):
        return lon, lat
    dlon, dlat = _delta(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 → WGS-84 by fixed-point iteration (the forward shift varies slowly)."""
    if _out_of_china(lon, lat):
        return lon, lat
    x, y = lon, lat
    for _ in range(30):
        gx, gy = wgs84_to_gcj02(x, y)
        dx, dy = gx - lon, gy - lat
        x, y = x - dx, y - dy
        if abs(dx) < 1e-9 and abs(dy) < 1e-9:
            break
    return x, y


def map_coordinates(geometry: dict[str, Any], fn: Any) -> dict[str, Any]:
    """A GeoJSON geometry with ``fn(lon, lat) -> (lon, lat)`` applied to every position."""
    def walk(v: Any) -> Any:
        if v and isinstance(v[0], (int, float)):
            x, y = fn(float(v[0]), float(v[1]))
            return [round(x, 7), round(y, 7)]
        return [walk(p) for p in v]
    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}
