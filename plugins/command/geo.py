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
