"""地理编码 (geocoding): roads, door plates and points of interest.

Identifier = street code (area 6 + street 3) + layer code (2) + serial (5);
the layer codes are the plugin setting ``place_layers``. Names keep their
history (地名沿革): renaming closes the old name and opens a new one, and the
address search also finds a place by a former name (saying so). Every place
is located to its grid when saved, so a search answer carries coordinates
and the grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session

from ccms.api import Actor, NotFound, PluginContext, audit_record, check_version, utcnow, validate

from . import grids
from .common import RowError, bad, parse_float, read_rows, refused, settings, take_serials
from .models import Place, PlaceName

KINDS = ("road", "doorplate", "poi")
KIND_ALIASES = {"road": "road", "道路": "road", "街巷": "road", "doorplate": "doorplate", "门牌": "doorplate",
                "门牌号": "doorplate", "poi": "poi", "兴趣点": "poi", "地物": "poi"}


def layer_code(ctx: PluginContext, session: Session, kind: str) -> str:
    layers = settings(ctx, session).get("place_layers") or {}
    return str(layers.get(kind) or {"road": "01", "doorplate": "02", "poi": "03"}[kind])


def _new_ident(ctx: PluginContext, session: Session, street_code: str, kind: str) -> str:
    layer = layer_code(ctx, session, kind)
    prefix = f"{street_code}{layer}"
    top = session.scalar(select(func.max(Place.ident)).where(Place.ident.startswith(prefix)))
    floor = int(top[len(prefix):]) if top and top[len(prefix):].isdigit() else 0
    n = take_serials(session, f"place:{prefix}", 1, floor=floor)
    return f"{prefix}{n:05d}"


class PlaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(pattern="^(road|doorplate|poi)$")
    name: str = Field(min_length=1, max_length=200)
    address: str = Field("", max_length=300)
    x: float
    y: float
    active: bool = True
    version: int | None = None


def get_place(session: Session, ident: str) -> Place:
    p = session.scalar(select(Place).where(Place.ident == ident))
    if p is None:
        raise NotFound(f"地理编码 {ident} 不存在", f"place {ident} does not exist")
    return p


def _snap(p: Place) -> dict[str, Any]:
    return {"kind": p.kind, "name": p.name, "address": p.address, "x": p.x, "y": p.y, "grid_code": p.grid_code,
            "active": p.active}


def save_place(ctx: PluginContext, session: Session, actor: Actor | None, data: PlaceIn | dict[str, Any],
               ident: str | None = None) -> Place:
    """Create a place (identifier generated from its street) or update ``ident``;
    a new name is added to the name history."""
    d = data if isinstance(data, PlaceIn) else validate(PlaceIn, dict(data))
    loc = grids.locate(session, d.x, d.y)
    name = d.name.strip()
    if not name:
        raise bad("name", "名称不能为空", "name must not be empty")
    if ident is None:
        p = Place(ident=_new_ident(ctx, session, loc.street_code, d.kind), kind=d.kind, name=name,
                  address=d.address.strip(), x=d.x, y=d.y, grid_code=loc.grid_code, active=d.active)
        session.add(p)
        session.flush()
        session.add(PlaceName(place_id=p.id, name=name))
        session.flush()
        audit_record(session, actor, "command_place_create", "command_place", p.ident, after=_snap(p),
                     summary=f"新建地理编码 {p.ident} {name}")
        return p
    p = get_place(session, ident)
    check_version(p, d.version, "地理编码", "place")
    before = _snap(p)
    if name != p.name:
        now = utcnow()
        current = session.scalar(select(PlaceName).where(PlaceName.place_id == p.id, PlaceName.valid_to.is_(None)))
        if current is not None:
            current.valid_to = now
        session.add(PlaceName(place_id=p.id, name=name, valid_from=now))
    p.kind, p.name, p.address, p.x, p.y, p.grid_code, p.active = (d.kind, name, d.address.strip(), d.x, d.y,
                                                                   loc.grid_code, d.active)
    session.flush()
    audit_record(session, actor, "command_place_edit", "command_place", p.ident, before=before, after=_snap(p),
                 summary=f"修改地理编码 {p.ident}")
    return p


def names_of(session: Session, place_id: int) -> list[PlaceName]:
    return list(session.scalars(select(PlaceName).where(PlaceName.place_id == place_id)
                                .order_by(PlaceName.valid_from.desc(), PlaceName.id.desc())))


def list_places(session: Session, q: str = "", kind: str = "", page: int = 1,
                page_size: int = 20) -> tuple[list[Place], int]:
    where = []
    if q:
        where.append(or_(Place.ident.startswith(q, autoescape=True), Place.name.contains(q, autoescape=True),
                         Place.address.contains(q, autoescape=True)))
    if kind in KINDS:
        where.append(Place.kind == kind)
    total = session.scalar(select(func.count()).select_from(Place).where(*where)) or 0
    rows = session.scalars(select(Place).where(*where).order_by(Place.ident)
                           .limit(page_size).offset((max(page, 1) - 1) * page_size)).all()
    return list(rows), total


def search(session: Session, q: str, limit: int = 20) -> list[dict[str, Any]]:
    """Address search: places whose current name, address or a former name
    contains ``q`` — each with coordinates, grid, community and street.
    Current names first, then matches by a former name (``former_name``)."""
    q = (q or "").strip()[:100]
    if not q:
        return []
    hits = list(session.scalars(select(Place).where(Place.active.is_(True),
                                                    or_(Place.name.contains(q, autoescape=True),
                                                        Place.address.contains(q, autoescape=True)))
                                .order_by(func.length(Place.name), Place.ident).limit(limit)))
    found = {p.id for p in hits}
    former: dict[int, str] = {}
    if len(hits) < limit:
        for pid, name in session.execute(select(PlaceName.place_id, PlaceName.name)
                                         .where(PlaceName.valid_to.is_not(None), PlaceName.name.contains(q, autoescape=True))
                                         .limit(limit)):
            if pid not in found:
                former.setdefault(pid, name)
        if former:
            hits += list(session.scalars(select(Place).where(Place.id.in_(list(former)), Place.active.is_(True))
                                         .order_by(Place.ident)))[:limit - len(hits)]
    index = grids.grid_index(session)
    by_code = {c: i for i, c in enumerate(index.codes)}
    out = []
    for p in hits:
        i = by_code.get(p.grid_code or "")
        loc = index.location(i, p.x, p.y) if i is not None else None
        out.append({"ident": p.ident, "kind": p.kind, "name": p.name, "address": p.address, "x": p.x, "y": p.y,
                    "grid_code": p.grid_code, "community_name": loc.community_name if loc else "",
                    "street_name": loc.street_name if loc else "", "former_name": former.get(p.id, "")})
    return out


# --- import / export -------------------------------------------------------------------------

COLUMNS = ["ident", "kind", "name", "address", "x", "y"]
ALIASES = {c: c for c in COLUMNS} | {"编码": "ident", "地理编码": "ident", "类型": "kind", "名称": "name",
                                     "地址": "address", "经度": "x", "纬度": "y"}


@dataclass
class PlacesOutcome:
    total: int
    created: int
    updated: int
    skipped: int
    errors: list[RowError]


def import_places(ctx: PluginContext, session: Session, actor: Actor | None, filename: str, content: bytes,
                  skip_bad: bool = False, progress: Callable[[int], None] | None = None) -> PlacesOutcome:
    """Places from CSV/XLSX: rows with an existing identifier update it (a new
    name goes into the history); rows without one are created."""
    errors: list[RowError] = []
    rows: list[dict[str, Any]] = []
    total = 0
    for line, v in read_rows(filename, content, ALIASES, 200_000):
        total += 1
        before = len(errors)
        kind = KIND_ALIASES.get(v.get("kind", "").lower())
        if kind is None:
            errors.append(RowError(line, "kind", "类型应为 道路/门牌/兴趣点（road/doorplate/poi）",
                                   "kind must be road, doorplate or poi"))
        if not v.get("name"):
            errors.append(RowError(line, "name", "名称不能为空", "name is empty"))
        x, y = parse_float(v.get("x", "")), parse_float(v.get("y", ""))
        if x is None or y is None:
            errors.append(RowError(line, "x", "坐标缺失或不是数字", "coordinates missing or not numbers"))
        if len(errors) == before:
            rows.append({"line": line, "ident": v.get("ident", ""), "kind": kind, "name": v["name"][:200],
                         "address": v.get("address", "")[:300], "x": x, "y": y})
    codes = grids.locate_codes(session, [(r["x"], r["y"]) for r in rows])
    index = grids.grid_index(session)
    existing = dict(session.execute(select(Place.ident, Place.id)).all())
    kept = []
    for r, g in zip(rows, codes):
        if g is None:
            e = grids.outside_error(index, r["x"], r["y"])
            errors.append(RowError(r["line"], "x", e.zh, e.en, ref=r["ident"]))
        elif r["ident"] and r["ident"] not in existing:
            errors.append(RowError(r["line"], "ident", f"地理编码 {r['ident']} 不存在（新地点请留空编码，由系统生成）",
                                   f"place {r['ident']} does not exist (leave the identifier empty for new places)"))
        else:
            r["grid_code"] = g
            kept.append(r)
    bad_rows = {e.row for e in errors}
    if errors and not skip_bad:
        errors.sort(key=lambda e: (e.row, e.column))
        raise refused(errors, len(bad_rows))
    spec = grids.code_spec(ctx, session)
    created = updated = 0
    names_new = []
    for r in kept:
        if r["ident"]:
            p = session.scalar(select(Place).where(Place.ident == r["ident"]))
            save_place(ctx, session, None, {"kind": r["kind"], "name": r["name"], "address": r["address"],
                                            "x": r["x"], "y": r["y"], "version": p.version}, r["ident"])
            updated += 1
            continue
        p = Place(ident=_new_ident(ctx, session, spec.street_code(r["grid_code"]), r["kind"]), kind=r["kind"],
                  name=r["name"], address=r["address"], x=r["x"], y=r["y"], grid_code=r["grid_code"])
        session.add(p)
        created += 1
        if created % 500 == 0:
            session.flush()
    session.flush()
    now = utcnow()
    new_ids = session.execute(select(Place.id, Place.name).where(~Place.id.in_(select(PlaceName.place_id)))).all()
    names_new = [{"place_id": pid, "name": name, "valid_from": now, "valid_to": None} for pid, name in new_ids]
    if names_new:
        session.execute(insert(PlaceName.__table__), names_new)
    if progress:
        progress(total)
    audit_record(session, actor, "command_place_import", "command_place", filename[:64],
                 after={"file": filename[:200], "created": created, "updated": updated, "skipped": len(bad_rows)},
                 summary=f"导入地理编码 {filename[:80]}（新增 {created}，更新 {updated}）")
    errors.sort(key=lambda e: (e.row, e.column))
    return PlacesOutcome(total, created, updated, len(bad_rows), errors)


def export_rows(session: Session) -> Iterable[list[Any]]:
    for p in session.scalars(select(Place).order_by(Place.ident)):
        yield [p.ident, p.kind, p.name, p.address, p.x, p.y, p.grid_code or ""]
