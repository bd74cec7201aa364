"""Unit grids (单元网格), streets and communities, and locating a point.

Grid code = area code (6) + street (3) + community (3) + serial (2) by
default; the segment lengths are the plugin settings ``grid_*_digits``. A grid
lies inside one community (the code says which) and must not overlap other
grids. Points are located with a shapely 2 STRtree over all grids, built
once per database and rebuilt when the grid table changes.

A point on an edge shared by two grids belongs to the grid with the
smallest code (a fixed rule, so the same point always lands in the same
grid on every machine); a point outside every grid is refused with a message
saying so.
"""

from __future__ import annotations

import json
import random
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, Field
from shapely.strtree import STRtree
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ccms.api import (
    Actor, NotFound, PluginContext, ValidationFailed, audit_record, check_version, person_info, validate,
)

from . import geo
from .common import AREA_CODE_RE, RowError, area_codes, bad, org_info, refused, settings
from .models import AREA_CLASSES, Grid, Region, Serial

LEVELS = ("street", "community")


# --- codes ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CodeSpec:
    """Segment lengths of a grid code."""

    area: int = 6
    street: int = 3
    community: int = 3
    serial: int = 2

    @property
    def total(self) -> int:
        return self.area + self.street + self.community + self.serial

    def street_code(self, code: str) -> str:
        return code[:self.area + self.street]

    def community_code(self, code: str) -> str:
        return code[:self.area + self.street + self.community]

    def region_length(self, level: str) -> int:
        return self.area + self.street + (self.community if level == "community" else 0)


def code_spec(ctx: PluginContext, session: Session | None = None) -> CodeSpec:
    s = settings(ctx, session)
    return CodeSpec(6, int(s.get("grid_street_digits", 3)), int(s.get("grid_community_digits", 3)),
                    int(s.get("grid_serial_digits", 2)))


def grid_code_problem(code: str, spec: CodeSpec, areas: set[str]) -> tuple[str, str] | None:
    """None for a well-formed grid code with a known area code."""
    if not code:
        return "网格编码不能为空", "grid code is empty"
    if not code.isdigit() or len(code) != spec.total:
        return (f"网格编码 {code} 应为 {spec.total} 位数字（区县 {spec.area} + 街道 {spec.street} + 社区 "
                f"{spec.community} + 序号 {spec.serial}）",
                f"grid code {code!r} must be {spec.total} digits (area {spec.area} + street {spec.street} + "
                f"community {spec.community} + serial {spec.serial})")
    if areas and code[:spec.area] not in areas:
        return (f"网格编码 {code} 的区县代码 {code[:spec.area]} 不是本市的行政区划代码",
                f"grid code {code!r}: area code {code[:spec.area]} is not a county of this city")
    if int(code[-spec.serial:]) == 0:
        return f"网格编码 {code} 的序号不能为 0", f"grid code {code!r}: the serial must not be 0"
    return None


# --- regions (streets and communities) ---------------------------------------------------

class RegionIn(BaseModel):
    """A street or community; ``geometry`` (GeoJSON) is the boundary grids must stay inside."""

    model_config = ConfigDict(extra="forbid")
    level: str = Field(pattern="^(street|community)$")
    code: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=100)
    org_id: int | None = None
    geometry: dict[str, Any] | None = None
    version: int | None = None


def _region_problem(level: str, code: str, spec: CodeSpec, areas: set[str]) -> tuple[str, str] | None:
    n = spec.region_length(level)
    what = "街道" if level == "street" else "社区"
    if not code.isdigit() or len(code) != n:
        return f"{what}编码应为 {n} 位数字", f"a {level} code must be {n} digits"
    if areas and code[:spec.area] not in areas:
        return (f"{what}编码 {code} 的区县代码 {code[:spec.area]} 不是本市的行政区划代码",
                f"{level} code {code!r}: area code {code[:spec.area]} is not a county of this city")
    return None


def save_region(ctx: PluginContext, session: Session, actor: Actor | None, data: RegionIn | dict[str, Any]) -> Region:
    """Create or (with ``version``) update a street or community by code."""
    r = data if isinstance(data, RegionIn) else validate(RegionIn, dict(data))
    spec = code_spec(ctx, session)
    code = r.code.strip()
    p = _region_problem(r.level, code, spec, area_codes(ctx, session))
    if p:
        raise bad("code", *p)
    parent = spec.street_code(code) if r.level == "community" else None
    if parent and session.scalar(select(Region.id).where(Region.code == parent, Region.level == "street")) is None:
        raise bad("code", f"街道 {parent} 不存在：请先新建街道", f"street {parent} does not exist: create it first")
    if r.org_id is not None and r.org_id not in org_info(session, [r.org_id]):
        raise bad("org_id", "所选机构不存在", "the chosen org does not exist")
    geom = None
    if r.geometry is not None:
        g, problem = geo.parse_polygon(r.geometry)
        if problem:
            raise bad("geometry", *problem)
        geom = geo.as_geojson(g)
    obj = session.scalar(select(Region).where(Region.code == code))
    if obj is None:
        obj = Region(level=r.level, code=code, name=r.name.strip(), parent_code=parent, org_id=r.org_id, geometry=geom)
        session.add(obj)
        session.flush()
        touch_grids(session)  # the index carries street/community names
        audit_record(session, actor, "command_region_create", "command_region", code,
                     after={"level": r.level, "name": obj.name, "org_id": r.org_id}, summary=f"新建{obj.name}")
        return obj
    if r.version is None:
        raise bad("code", f"编码 {code} 已存在", f"code {code} already exists")
    check_version(obj, r.version, "区域", "region")
    before = {"name": obj.name, "org_id": obj.org_id, "has_geometry": obj.geometry is not None}
    obj.name, obj.org_id = r.name.strip(), r.org_id
    if geom is not None:
        obj.geometry = geom
    session.flush()
    touch_grids(session)
    audit_record(session, actor, "command_region_edit", "command_region", code, before=before,
                 after={"name": obj.name, "org_id": obj.org_id, "has_geometry": obj.geometry is not None},
                 summary=f"修改{obj.name}")
    return obj


def region_names(session: Session) -> dict[str, str]:
    return dict(session.execute(select(Region.code, Region.name)).all())


def list_regions(session: Session, level: str | None = None) -> list[Region]:
    stmt = select(Region).order_by(Region.code)
    if level:
        stmt = stmt.where(Region.level == level)
    return list(session.scalars(stmt))


# --- grids: reading ---------------------------------------------------------------------

def get_grid(session: Session, code: str) -> Grid:
    g = session.scalar(select(Grid).where(Grid.code == code))
    if g is None:
        raise NotFound(f"网格 {code} 不存在", f"grid {code} does not exist")
    return g


def list_grids(session: Session, q: str = "", street: str = "", community: str = "", page: int = 1,
               page_size: int = 20) -> tuple[list[Grid], int]:
    where = []
    if q:
        where.append(or_(Grid.code.contains(q, autoescape=True), Grid.name.contains(q, autoescape=True)))
    if street:
        where.append(Grid.street_code == street)
    if community:
        where.append(Grid.community_code == community)
    total = session.scalar(select(func.count()).select_from(Grid).where(*where)) or 0
    rows = session.scalars(select(Grid).where(*where).order_by(Grid.code)
                           .limit(page_size).offset((max(page, 1) - 1) * page_size)).all()
    return list(rows), total


# --- checking features (shared by the form and the GeoJSON import) ------------------------

@dataclass
class Feature:
    """A grid to write, as read from a form or a GeoJSON feature."""

    no: int
    code: str
    name: str
    area_class: str
    geometry: Any          # raw GeoJSON geometry
    street_name: str = ""
    community_name: str = ""
    geom: Any = None       # the parsed shapely geometry
    area: float = 0.0
    assign_supervisor: bool = False  # write supervisor_id (else an existing grid keeps its own)
    supervisor_id: int | None = None
    supervisor_username: str = ""  # GeoJSON import: the supervisor's user name ("" = keep)


def check_features(ctx: PluginContext, session: Session, features: list[Feature]) -> list[RowError]:
    """Every fault of the features, each on its feature number.

    Per feature: code format and area code, duplicate codes, polygon validity
    (self-intersection), community known (or named in the feature), grid
    inside its community's boundary, and overlap with an earlier feature of
    the file or with a stored grid (a stored grid of the same code is being
    replaced, so it does not count). Shared edges are not overlaps.
    """
    spec, areas = code_spec(ctx, session), area_codes(ctx, session)
    tol = float(settings(ctx, session).get("overlap_tolerance_m2", 1.0))
    errors: list[RowError] = []
    regions = {r.code: r for r in session.scalars(select(Region))}
    seen: dict[str, int] = {}
    good: list[Feature] = []
    named_communities = {spec.community_code(f.code) for f in features if f.community_name}
    named_streets = {spec.street_code(f.code) for f in features if f.street_name}
    for f in features:
        before = len(errors)
        p = grid_code_problem(f.code, spec, areas)
        if p:
            errors.append(RowError(f.no, "code", *p, ref=f.code))
        elif f.code in seen:
            errors.append(RowError(f.no, "code", f"网格编码 {f.code} 与要素 {seen[f.code]} 重复",
                                   f"grid code {f.code} repeats feature {seen[f.code]}", ref=f.code))
        else:
            seen[f.code] = f.no
        if f.area_class not in AREA_CLASSES:
            errors.append(RowError(f.no, "area_class", f"区域类别应为 A、B 或 C，而不是 {f.area_class}",
                                   f"area class must be A, B or C, not {f.area_class!r}", ref=f.code))
        geom, problem = geo.parse_polygon(f.geometry)
        if problem:
            errors.append(RowError(f.no, "geometry", *problem, ref=f.code))
        f.geom = geom
        if len(errors) == before:
            comm_code = spec.community_code(f.code)
            comm = regions.get(comm_code)
            if comm is None and comm_code not in named_communities:
                errors.append(RowError(
                    f.no, "code", f"社区 {comm_code} 不存在：先新建该社区，或在要素属性中给出 community_name",
                    f"community {comm_code} does not exist: create it, or give community_name in the feature",
                    ref=f.code))
            elif comm is None and spec.street_code(f.code) not in regions and spec.street_code(f.code) not in named_streets:
                errors.append(RowError(
                    f.no, "code", f"街道 {spec.street_code(f.code)} 不存在：先新建该街道，或在要素属性中给出 street_name",
                    f"street {spec.street_code(f.code)} does not exist: create it, or give street_name",
                    ref=f.code))
            elif comm is not None and comm.geometry:
                boundary = shapely.geometry.shape(comm.geometry)
                outside = f.geom.difference(boundary)
                if not outside.is_empty and geo.area_m2(outside) > tol:
                    errors.append(RowError(
                        f.no, "geometry",
                        f"网格超出所属社区“{comm.name}”的边界约 {geo.area_m2(outside):.0f} 平方米",
                        f"the grid lies outside its community {comm.name!r} by about {geo.area_m2(outside):.0f} m²",
                        ref=f.code))
        if len(errors) == before:
            f.area = geo.area_m2(f.geom)
            good.append(f)
    errors.extend(_overlaps(session, good, tol))
    errors.sort(key=lambda e: (e.row, e.column))
    return errors


def _overlaps(session: Session, features: list[Feature], tol: float) -> list[RowError]:
    """Overlap of each feature with earlier features and with stored grids of other codes."""
    if not features:
        return []
    codes = {f.code for f in features}
    stored = [(c, shapely.geometry.shape(g)) for c, g in session.execute(select(Grid.code, Grid.geometry))
              if c not in codes]
    geoms = [f.geom for f in features] + [g for _c, g in stored]
    tree = STRtree(geoms)
    n = len(features)
    out: list[RowError] = []
    for i, f in enumerate(features):
        for j in sorted(int(x) for x in tree.query(f.geom, predicate="intersects")):
            if j == i or (j < n and j > i):
                continue  # itself, or a later feature (reported on that one)
            inter = f.geom.intersection(geoms[j])
            if inter.is_empty or inter.area == 0:
                continue
            m2 = geo.area_m2(inter)
            if m2 <= tol:
                continue
            if j < n:
                other = features[j]
                out.append(RowError(f.no, "geometry",
                                    f"与要素 {other.no}（网格 {other.code}）重叠约 {m2:.0f} 平方米",
                                    f"overlaps feature {other.no} (grid {other.code}) by about {m2:.0f} m²",
                                    ref=f.code))
            else:
                code = stored[j - n][0]
                out.append(RowError(f.no, "geometry", f"与已有网格 {code} 重叠约 {m2:.0f} 平方米",
                                    f"overlaps the existing grid {code} by about {m2:.0f} m²", ref=f.code))
    return out


def _write_features(ctx: PluginContext, session: Session, features: list[Feature]) -> tuple[int, int]:
    """Insert or replace the (checked) features; creates named streets/communities. (created, updated)"""
    spec = code_spec(ctx, session)
    regions = {r.code: r for r in session.scalars(select(Region))}
    existing = {g.code: g for g in session.scalars(select(Grid).where(Grid.code.in_([f.code for f in features])))}
    created = updated = 0
    comm_names = {spec.community_code(f.code): f.community_name for f in features if f.community_name}
    street_names = {spec.street_code(f.code): f.street_name for f in features if f.street_name}
    for f in features:
        street, comm = spec.street_code(f.code), spec.community_code(f.code)
        f.street_name = f.street_name or street_names.get(street, "")
        f.community_name = f.community_name or comm_names.get(comm, "")
        if street not in regions:
            regions[street] = Region(level="street", code=street, name=f.street_name or street, parent_code=None)
            session.add(regions[street])
        if comm not in regions:
            regions[comm] = Region(level="community", code=comm, name=f.community_name or comm, parent_code=street)
            session.add(regions[comm])
        minx, miny, maxx, maxy = f.geom.bounds
        values = dict(name=f.name, street_code=street, community_code=comm, area_class=f.area_class,
                      geometry=geo.as_geojson(f.geom), area_m2=round(f.area, 1), min_x=minx, min_y=miny,
                      max_x=maxx, max_y=maxy)
        if f.assign_supervisor:
            values["supervisor_id"] = f.supervisor_id
        g = existing.get(f.code)
        if g is None:
            session.add(Grid(code=f.code, **values))
            created += 1
        else:
            for k, v in values.items():
                setattr(g, k, v)
            updated += 1
    session.flush()
    touch_grids(session)
    return created, updated


# --- grids: form writes -----------------------------------------------------------------

class GridIn(BaseModel):
    """A grid from a form or the API; ``geometry`` is a GeoJSON geometry (object or JSON text)."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=20)
    name: str = Field("", max_length=100)
    area_class: str = "B"
    geometry: dict[str, Any] | str
    supervisor_id: int | None = None
    version: int | None = None


# --- the responsible supervisor (责任监督员) ------------------------------------------------------

SUPERVISOR_ROLE = "command_supervisor"


def _supervisor_rows(ctx: PluginContext, session: Session) -> list[tuple[int, str, str]]:
    ids = {p for p, _o in ctx.people_with_role(SUPERVISOR_ROLE)}
    people = sorted(person_info(session, ids, active_only=True).values(), key=lambda p: (p.display_name, p.id))
    return [(p.id, p.display_name, p.username) for p in people]


def supervisors(ctx: PluginContext, session: Session) -> dict[int, str]:
    """Active people holding 监督员 (any org domain), id -> display name: the
    grid form's choices and the people a grid may be assigned to."""
    return {i: n for i, n, _u in _supervisor_rows(ctx, session)}


def resolve_supervisors(ctx: PluginContext, session: Session, features: list[Feature]) -> list[RowError]:
    """GeoJSON import: turn each feature's supervisor user name into a person id
    (a feature without one keeps the stored grid's supervisor); an unknown name,
    or someone not an active 监督员, is a fault of that feature."""
    wanted = [f for f in features if f.supervisor_username]
    if not wanted:
        return []
    by_name = {u: i for i, _n, u in _supervisor_rows(ctx, session)}
    errors = []
    for f in wanted:
        pid = by_name.get(f.supervisor_username)
        if pid is None:
            errors.append(RowError(f.no, "supervisor", f"监督员账号 {f.supervisor_username} 不存在、已停用或不是监督员",
                                   f"supervisor user name {f.supervisor_username!r} does not exist, is inactive "
                                   "or is not a supervisor", ref=f.code))
        else:
            f.assign_supervisor, f.supervisor_id = True, pid
    return errors


def check_supervisor(ctx: PluginContext, session: Session, person_id: int | None) -> None:
    """Refuse (bilingual, on ``supervisor_id``) anyone but an active 监督员."""
    if person_id is None:
        return
    if person_id not in supervisors(ctx, session):
        raise bad("supervisor_id", f"人员 {person_id} 不存在、已停用或不是监督员",
                  f"person {person_id} does not exist, is inactive or is not a supervisor")


def _geometry_value(v: dict[str, Any] | str) -> Any:
    if isinstance(v, dict):
        return v.get("geometry", v) if v.get("type") == "Feature" else v
    try:
        data = json.loads(v)
    except ValueError:
        raise bad("geometry", "几何应为 GeoJSON（如 {\"type\": \"Polygon\", \"coordinates\": …}）",
                  "geometry must be GeoJSON (e.g. {\"type\": \"Polygon\", \"coordinates\": ...})") from None
    return data.get("geometry", data) if isinstance(data, dict) and data.get("type") == "Feature" else data


def save_grid(ctx: PluginContext, session: Session, actor: Actor | None, data: GridIn | dict[str, Any],
              code: str | None = None) -> Grid:
    """Create a grid, or update grid ``code`` (its code cannot change)."""
    g_in = data if isinstance(data, GridIn) else validate(GridIn, dict(data))
    f = Feature(1, (code or g_in.code).strip(), g_in.name.strip(), g_in.area_class.strip().upper(),
                _geometry_value(g_in.geometry), assign_supervisor="supervisor_id" in g_in.model_fields_set,
                supervisor_id=g_in.supervisor_id)
    existing = session.scalar(select(Grid).where(Grid.code == f.code))
    if code is None and existing is not None:
        raise bad("code", f"网格编码 {f.code} 已存在", f"grid code {f.code} already exists")
    if code is not None:
        if existing is None:
            raise NotFound(f"网格 {code} 不存在", f"grid {code} does not exist")
        check_version(existing, g_in.version, "网格", "grid")
    check_supervisor(ctx, session, g_in.supervisor_id)
    errors = check_features(ctx, session, [f])
    if errors:
        fields: dict[str, Any] = {}
        for e in errors:
            fields.setdefault(e.column, {"message": e.message, "message_en": e.message_en})
        first = errors[0]
        raise ValidationFailed(first.message, first.message_en, fields=fields)
    before = {"name": existing.name, "area_class": existing.area_class, "area_m2": existing.area_m2,
              "supervisor_id": existing.supervisor_id} if existing else None
    _write_features(ctx, session, [f])
    grid = session.scalar(select(Grid).where(Grid.code == f.code))
    audit_record(session, actor, "command_grid_edit" if existing else "command_grid_create", "command_grid", f.code,
                 before=before, after={"name": grid.name, "area_class": grid.area_class, "area_m2": grid.area_m2,
                                       "supervisor_id": grid.supervisor_id},
                 summary=f"{'修改' if existing else '新建'}网格 {f.code}")
    return grid


def delete_grid(session: Session, actor: Actor | None, code: str, version: int | None) -> None:
    g = get_grid(session, code)
    check_version(g, version, "网格", "grid")
    session.delete(g)
    session.flush()
    touch_grids(session)
    audit_record(session, actor, "command_grid_delete", "command_grid", code,
                 before={"name": g.name, "area_m2": g.area_m2}, summary=f"删除网格 {code}")


# --- GeoJSON import ------------------------------------------------------------------------

PROP_ALIASES = {"code": "code", "grid_code": "code", "网格编码": "code", "编码": "code",
                "name": "name", "网格名称": "name", "名称": "name",
                "area_class": "area_class", "区域类别": "area_class",
                "street_name": "street_name", "街道": "street_name", "街道名称": "street_name",
                "community_name": "community_name", "社区": "community_name", "社区名称": "community_name",
                "supervisor": "supervisor", "监督员": "supervisor", "责任监督员": "supervisor"}


def read_geojson(content: bytes) -> list[Feature]:
    """The features of a GeoJSON FeatureCollection (UTF-8)."""
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad("file", f"文件不是有效的 GeoJSON：{exc}", f"the file is not valid GeoJSON: {exc}") from None
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = {"type": "FeatureCollection", "features": [data]}
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(data.get("features"), list):
        raise bad("file", "GeoJSON 应为 FeatureCollection", "the GeoJSON must be a FeatureCollection")
    out = []
    for n, feat in enumerate(data["features"], start=1):
        props = feat.get("properties") if isinstance(feat, dict) else None
        props = props if isinstance(props, dict) else {}
        v = {PROP_ALIASES[k]: str(val).strip() for k, val in props.items() if k in PROP_ALIASES and val is not None}
        out.append(Feature(n, v.get("code", ""), v.get("name", ""), (v.get("area_class") or "B").upper(),
                           feat.get("geometry") if isinstance(feat, dict) else None,
                           v.get("street_name", ""), v.get("community_name", ""),
                           supervisor_username=v.get("supervisor", "")))
    if not out:
        raise bad("file", "GeoJSON 中没有要素", "the GeoJSON has no features")
    return out


@dataclass
class ImportOutcome:
    total: int
    created: int
    updated: int
    skipped: int
    errors: list[RowError]

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "created": self.created, "updated": self.updated, "skipped": self.skipped,
                "errors": [e.as_dict() for e in self.errors]}


def import_geojson(ctx: PluginContext, session: Session, actor: Actor | None, content: bytes, filename: str = "",
                   skip_bad: bool = False, progress: Any = None) -> ImportOutcome:
    """Import grids from a GeoJSON FeatureCollection.

    Every feature is checked first; with any fault nothing is written and
    :class:`ImportRefused` lists the faults per feature — unless
    ``skip_bad``, which writes the good features and reports the rest.
    A grid whose code already exists is replaced (geometry, name, class).
    """
    features = read_geojson(content)
    errors = check_features(ctx, session, features) + resolve_supervisors(ctx, session, features)
    errors.sort(key=lambda e: (e.row, e.column))
    bad_nos = {e.row for e in errors}
    if errors and not skip_bad:
        raise refused(errors, len(bad_nos))
    good = [f for f in features if f.no not in bad_nos]  # leaving features out cannot create a new fault
    created, updated = _write_features(ctx, session, good) if good else (0, 0)
    if progress:
        progress(len(features))
    audit_record(session, actor, "command_grid_import", "command_grid", filename[:64],
                 after={"file": filename[:200], "created": created, "updated": updated, "skipped": len(bad_nos)},
                 summary=f"导入网格 {filename[:80]}（新增 {created}，更新 {updated}，跳过 {len(bad_nos)}）")
    return ImportOutcome(len(features), created, updated, len(bad_nos), errors)


def export_geojson(session: Session) -> dict[str, Any]:
    names = region_names(session)
    feats = []
    for g in session.scalars(select(Grid).order_by(Grid.code)):
        feats.append({"type": "Feature", "geometry": g.geometry,
                      "properties": {"code": g.code, "name": g.name, "area_class": g.area_class,
                                     "area_m2": g.area_m2, "street_name": names.get(g.street_code, ""),
                                     "community_name": names.get(g.community_code, ""),
                                     "supervisor_id": g.supervisor_id}})
    return {"type": "FeatureCollection", "features": feats}


# --- locating points -------------------------------------------------------------------------

@dataclass(frozen=True)
class Location:
    """Where a point lies: its grid, community and street (codes and names)."""

    x: float
    y: float
    grid_code: str
    grid_name: str
    area_class: str
    community_code: str
    community_name: str
    street_code: str
    street_name: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class GridIndex:
    """An STRtree over every grid, in code order (so a lower index = a smaller code)."""

    def __init__(self, rows: list[tuple[Any, ...]], names: dict[str, str]) -> None:
        rows = sorted(rows, key=lambda r: r[0])
        self.codes = [r[0] for r in rows]
        self.rows = rows
        self.names = names
        self.geoms = np.array([shapely.geometry.shape(r[5]) for r in rows], dtype=object)
        self.tree = STRtree(self.geoms) if rows else None
        self.bounds = shapely.total_bounds(self.geoms) if rows else None

    def __len__(self) -> int:
        return len(self.codes)

    def locate_many(self, xs: Any, ys: Any) -> np.ndarray:
        """Index of the grid of each point (-1 outside every grid), vectorised."""
        xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        out = np.full(len(xs), -1, dtype=np.int64)
        if self.tree is None or not len(xs):
            return out
        pts = shapely.points(xs, ys)
        pairs = self.tree.query(pts, predicate="intersects")
        if pairs.shape[1]:
            best = np.full(len(xs), np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(best, pairs[0], pairs[1])
            hit = best != np.iinfo(np.int64).max
            out[hit] = best[hit]
        return out

    def location(self, i: int, x: float, y: float) -> Location:
        code, name, area_class, street, comm, _geom = self.rows[i]
        return Location(x, y, code, name, area_class, comm, self.names.get(comm, ""), street,
                        self.names.get(street, ""))


_CACHE: "weakref.WeakKeyDictionary[Any, tuple[Any, GridIndex]]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


REV_SCOPE = "grids:rev"


def touch_grids(session: Session) -> None:
    """Mark the grid table changed (in the caller's transaction): every grid
    write calls it, so each process's cached index notices on its next use.

    The mark is a random number, not a counter, so an index built inside a
    transaction that later rolled back can never match a committed mark.
    """
    t = Serial.__table__
    token = random.randrange(1, 2**31 - 1)
    if session.execute(update(t).where(t.c.scope == REV_SCOPE).values(next_value=token)).rowcount:
        return
    try:
        with session.begin_nested():
            session.execute(insert(t).values(scope=REV_SCOPE, next_value=token))
    except IntegrityError:
        session.execute(update(t).where(t.c.scope == REV_SCOPE).values(next_value=token))


def _stamp(session: Session) -> tuple[Any, ...]:
    """One primary-key read per lookup; the table aggregate only when no write was ever marked."""
    token = session.scalar(select(Serial.next_value).where(Serial.scope == REV_SCOPE))
    if token is not None:
        return ("rev", token)
    return tuple(session.execute(select(func.count(Grid.id), func.max(Grid.updated_at), func.max(Grid.id),
                                        func.sum(Grid.version))).one())


def grid_index(session: Session) -> GridIndex:
    """The grid index of this session's database, rebuilt when the grids changed."""
    engine = session.get_bind()
    stamp = _stamp(session)
    cached = _CACHE.get(engine)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    rows = [tuple(r) for r in session.execute(select(Grid.code, Grid.name, Grid.area_class, Grid.street_code,
                                                     Grid.community_code, Grid.geometry))]
    index = GridIndex(rows, region_names(session))
    with _LOCK:
        _CACHE[engine] = (stamp, index)
    return index


def check_point(x: Any, y: Any) -> tuple[float, float]:
    """Longitude/latitude as floats, or a clear refusal."""
    try:
        fx, fy = float(x), float(y)
    except (TypeError, ValueError):
        raise bad("x", "位置不完整：请给出经度 x 和纬度 y", "no location: give longitude x and latitude y") from None
    if not (np.isfinite(fx) and np.isfinite(fy)) or not (-180 <= fx <= 180 and -90 <= fy <= 90):
        swapped = np.isfinite(fx) and np.isfinite(fy) and -90 <= fx <= 90 and -180 <= fy <= 180
        raise bad("x", f"坐标 ({x}, {y}) 不是有效的经纬度" + ("（经纬度是否填反了？应先经度 x、后纬度 y）" if swapped else ""),
                  f"({x}, {y}) is not a valid longitude/latitude" +
                  (" (swapped? longitude x comes first)" if swapped else ""))
    return fx, fy


def outside_error(index: GridIndex, x: float, y: float) -> ValidationFailed:
    """The message for a point outside every grid, with a hint when lon/lat look swapped."""
    zh = f"位置（经度 {x:.6f}，纬度 {y:.6f}）不在本市任何单元网格内"
    en = f"the location (longitude {x:.6f}, latitude {y:.6f}) is outside every unit grid of the city"
    if not len(index):
        zh, en = "尚未建立单元网格，无法定位", "no unit grids exist yet: cannot locate the point"
    elif index.locate_many([y], [x])[0] >= 0:
        zh += "（经纬度是否填反了？）"
        en += " (are longitude and latitude swapped?)"
    elif index.bounds is not None:
        b = index.bounds
        zh += f"；网格范围：经度 {b[0]:.4f}–{b[2]:.4f}，纬度 {b[1]:.4f}–{b[3]:.4f}"
        en += f"; grids cover longitude {b[0]:.4f}–{b[2]:.4f}, latitude {b[1]:.4f}–{b[3]:.4f}"
    return ValidationFailed(zh, en, code="outside_city", fields={"x": {"message": zh, "message_en": en}})


def locate(session: Session, x: Any, y: Any) -> Location:
    """The grid, community and street of a point; refuses a point outside every grid."""
    fx, fy = check_point(x, y)
    index = grid_index(session)
    i = int(index.locate_many([fx], [fy])[0])
    if i < 0:
        raise outside_error(index, fx, fy)
    return index.location(i, fx, fy)


def locate_codes(session: Session, points: Iterable[tuple[float, float]]) -> list[str | None]:
    """Grid codes of many points (None outside), one vectorised query."""
    pts = list(points)
    if not pts:
        return []
    index = grid_index(session)
    idx = index.locate_many([p[0] for p in pts], [p[1] for p in pts])
    return [index.codes[i] if i >= 0 else None for i in idx]


# --- the map -------------------------------------------------------------------------------

def svg_map(session: Session, street: str = "", community: str = "", highlight: str = "",
            limit: int = 4000, district: str = "") -> dict[str, Any]:
    """Paths of the grids (local metres, y up → SVG y down) for a server-drawn map
    (``district``: grid codes starting with that area code)."""
    stmt = select(Grid.code, Grid.name, Grid.area_class, Grid.geometry).order_by(Grid.code).limit(limit)
    if district:
        stmt = stmt.where(Grid.code.startswith(district, autoescape=True))
    if street:
        stmt = stmt.where(Grid.street_code == street)
    if community:
        stmt = stmt.where(Grid.community_code == community)
    rows = session.execute(stmt).all()
    if not rows:
        return {"paths": [], "viewbox": "0 0 100 100", "count": 0}
    geoms = [shapely.geometry.shape(r[3]) for r in rows]
    minx, miny, maxx, maxy = shapely.total_bounds(np.array(geoms, dtype=object))
    kx, ky = geo.scales((miny + maxy) / 2)
    w, h = max((maxx - minx) * kx, 1.0), max((maxy - miny) * ky, 1.0)
    paths = []
    for (code, name, area_class, _g), geom in zip(rows, geoms):
        d = []
        for poly in geo.polygons_of(geom):
            for ring in [poly.exterior, *poly.interiors]:
                pts = [f"{(px - minx) * kx:.1f},{(maxy - py) * ky:.1f}" for px, py in ring.coords[:-1]]
                d.append("M" + " L".join(pts) + " Z")
        c = geom.representative_point()
        paths.append({"code": code, "name": name, "area_class": area_class, "d": " ".join(d),
                      "lx": f"{(c.x - minx) * kx:.1f}", "ly": f"{(maxy - c.y) * ky:.1f}",
                      "highlight": code == highlight})
    pad = max(w, h) * 0.02
    return {"paths": paths, "viewbox": f"{-pad:.1f} {-pad:.1f} {w + 2 * pad:.1f} {h + 2 * pad:.1f}",
            "count": len(paths), "font": f"{max(w, h) / 80:.1f}", "stroke": f"{max(w, h) / 800:.2f}"}


def clear_grids(session: Session) -> None:
    """Test/bench helper: drop every grid (not exposed on screens)."""
    session.execute(delete(Grid))
    touch_grids(session)


__all__ = ["AREA_CODE_RE", "CodeSpec", "GridIndex", "Location", "check_features", "code_spec", "grid_index",
           "import_geojson", "locate", "locate_codes", "save_grid", "save_region"]
