"""Screens (/command/...) and JSON API (/api/command/...) of the base data.

Base data is city-wide reference data (like core's dictionaries), so the
permissions ``command.base.view`` / ``command.base.edit`` held in any org
domain suffice. Every kind of record (standards, regions, grids,
components, places, matrix rules) is described once as a :class:`Resource`;
the list (htmx ``#list`` fragment, search, paging), the edit form (inline
errors, input kept, version for optimistic locking), the import and the
XLSX export are generated from it.

Imports run as background jobs (``ccms.api.start_job``): the file is kept in
``command_import``; the import page follows the job and then shows the
report per row/feature, with "skip the bad rows and import the rest".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.exc import StaleDataError
from starlette.datastructures import UploadFile

from ccms.api import (
    CcmsError, Conflict, JSONResponse, NotFound, RedirectResponse, Request, Response, Route, ValidationFailed,
    actor_of, api_doc, ctx_of, form_data, org_info, person_names, render, requires, start_job, user_of,
)

from . import components, geocode, grids, map_data, matrix, standards
from ccms.api import XLSX_TYPE, is_htmx, page_number, redirect, wants_fragment, write_table

from .common import KIND_ZH, Classes, ImportRefused, bad
from .models import AREA_CLASSES, Component, Grid, ImportJob, MatrixRule, Place, Region, Standard

VIEW, EDIT = "command.base.view", "command.base.edit"
PAGE_SIZE = 20
STALE = Conflict("该记录已被他人修改，您的修改未保存，请刷新后重试",
                 "the record was changed by someone else; nothing was saved: reload and try again")


# --- small helpers -------------------------------------------------------------------------

def _q(request: Request, name: str = "q") -> str:
    return request.query_params.get(name, "").strip()[:100]


def _opt_int(v: Any) -> int | None:
    v = str(v or "").strip()
    if not v:
        return None
    if not v.lstrip("-").isdigit():
        return v  # type: ignore[return-value]  (pydantic reports it on the field)
    return int(v)


def _dept_options(session: Session, gettext: Callable[..., str]) -> list[tuple[str, str]]:
    orgs = sorted((o for o in org_info(session).values() if o.active), key=lambda o: (o.kind != "department", o.name))
    return [("", gettext("command.none"))] + [(str(o.id), o.name) for o in orgs]


def _class_options(session: Session, kind: str | None = None, allow_any: bool = False) -> list[tuple[str, str]]:
    classes = Classes(session)
    out = [("", "—")] if allow_any else []
    for k in ([kind] if kind else ["component", "event"]):
        for e in sorted(classes.by_kind.get(k, {}).values(), key=lambda e: e.code):
            if e.parent_code is None and not allow_any:
                continue
            indent = "" if e.parent_code is None else "\u3000"
            out.append((e.code, f"{indent}{e.code} {e.name}{'' if kind else ' · ' + KIND_ZH[k]}"))
    return out


@dataclass
class F:
    """One form field: name, label key, widget type, options, required, help key."""

    name: str
    label: str
    type: str = "text"
    options: list[tuple[str, str]] | None = None
    required: bool = False
    help: str = ""
    attrs: str = ""
    readonly: bool = False


@dataclass
class Resource:
    key: str
    title: str
    singular: str
    headers: list[str]
    list_fn: Callable[..., tuple[list[Any], int]]
    cells: Callable[[Any, Session, list[Any]], list[dict[str, Any]]]
    fields: Callable[[Any, Session, str], list[F]]
    values_of: Callable[[Any], dict[str, str]]
    load: Callable[[Session, str], Any]
    save: Callable[[Any, Session, Any, dict[str, Any], str | None], Any]
    payload: Callable[[dict[str, Any]], dict[str, Any]]
    ident_of: Callable[[Any], str]
    delete: Callable[[Session, Any, str, int | None], None] | None = None
    import_fn: Callable[..., Any] | None = None
    accept: str = ".csv,.xlsx"
    import_help: str = ""
    export_header: list[str] = field(default_factory=list)
    export_rows: Callable[[Session], Any] | None = None
    kinds: list[tuple[str, str]] | None = None
    detail: Callable[[Any, Session, Any], dict[str, Any]] | None = None

    @property
    def url(self) -> str:
        return f"/command/{self.key}"


# --- resources: standards --------------------------------------------------------------------

def _kind_options(ctx: Any) -> list[tuple[str, str]]:
    return [("component", ctx.gettext("command.kind.component")), ("event", ctx.gettext("command.kind.event"))]


def _standard_cells(ctx: Any, s: Session, rows: list[Standard]) -> list[dict[str, Any]]:
    classes, orgs = Classes(s), org_info(s, [r.dept_org_id for r in rows])
    out = []
    for r in rows:
        dept = orgs.get(r.dept_org_id)
        out.append({"id": r.id, "cells": [
            (f"{'C' if r.kind == 'component' else 'E'}{r.class_code} {classes.name(r.kind, r.class_code)}",
             f"/command/standards/{r.id}/edit"),
            (r.condition_code, None), (r.filing_condition, None), (r.closing_condition, None),
            (r.area_class or ctx.gettext("command.area_any"), None),
            (ctx.gettext(f"command.urgency.{r.urgency}"), None),
            (f"{r.time_limit:g} {ctx.gettext('command.unit.' + r.time_unit)}", None),
            (dept.name if dept else "", None)]})
    return out


def _standard_fields(ctx: Any, s: Session, mode: str) -> list[F]:
    g = ctx.gettext
    return [
        F("kind", "command.field.kind", options=_kind_options(ctx), required=True),
        F("class_code", "command.field.class_code", options=_class_options(s), required=True,
          help="command.help.class_code"),
        F("condition_code", "command.field.condition_code", required=True, attrs='maxlength="8"'),
        F("filing_condition", "command.field.filing_condition", type="textarea", required=True, attrs='rows="3"'),
        F("closing_condition", "command.field.closing_condition", type="textarea", required=True, attrs='rows="3"'),
        F("area_class", "command.field.area_class",
          options=[("", g("command.area_any"))] + [(a, a) for a in AREA_CLASSES]),
        F("urgency", "command.field.urgency", options=[(u, g(f"command.urgency.{u}")) for u in standards.URGENCIES]),
        F("time_limit", "command.field.time_limit", type="number", required=True, attrs='min="0" step="any"'),
        F("time_unit", "command.field.time_unit", options=[(u, g(f"command.unit.{u}")) for u in standards.UNITS]),
        F("dept_org_id", "command.field.dept", options=_dept_options(s, g)),
        F("active", "command.field.active", type="checkbox"),
    ]


def _standard_values(r: Standard) -> dict[str, Any]:
    return {"kind": r.kind, "class_code": r.class_code, "condition_code": r.condition_code,
            "filing_condition": r.filing_condition, "closing_condition": r.closing_condition,
            "area_class": r.area_class, "urgency": r.urgency, "time_limit": f"{r.time_limit:g}",
            "time_unit": r.time_unit, "dept_org_id": str(r.dept_org_id or ""), "active": r.active,
            "version": str(r.version)}


def _standard_payload(v: dict[str, Any]) -> dict[str, Any]:
    out = {k: v.get(k, "") for k in ("kind", "class_code", "condition_code", "filing_condition", "closing_condition",
                                     "area_class", "urgency", "time_limit", "time_unit")}
    out["dept_org_id"] = _opt_int(v.get("dept_org_id"))
    out["active"] = bool(v.get("active"))
    out["time_limit"] = out["time_limit"] or None
    out["condition_code"] = out["condition_code"] or "01"
    out["urgency"] = out["urgency"] or "normal"
    out["time_unit"] = out["time_unit"] or "work_hours"
    if v.get("version"):
        out["version"] = _opt_int(v["version"])
    return out


def _int_key(key: str) -> int:
    if not key.isdigit():
        raise NotFound("记录不存在", "no such record")
    return int(key)


STANDARDS = Resource(
    key="standards", title="command.standards.title", singular="command.standards.one",
    headers=["command.field.class_code", "command.field.condition_code", "command.field.filing_condition",
             "command.field.closing_condition", "command.field.area_class", "command.field.urgency",
             "command.field.time_limit", "command.field.dept"],
    list_fn=lambda s, q, kind, page: standards.list_standards(s, q, kind, page, PAGE_SIZE),
    cells=_standard_cells, fields=_standard_fields, values_of=_standard_values,
    load=lambda s, key: standards.get_standard(s, _int_key(key)),
    save=lambda ctx, s, actor, data, key: standards.save_standard(s, actor, data, _int_key(key) if key else None),
    payload=_standard_payload, ident_of=lambda r: str(r.id),
    delete=lambda s, actor, key, version: standards.delete_standard(s, actor, _int_key(key), version),
    import_fn=lambda ctx, s, actor, fn, content, skip, progress: standards.import_standards(s, actor, fn, content,
                                                                                           skip, progress),
    import_help="command.standards.import_help",
    export_header=standards.COLUMNS, export_rows=standards.export_rows, kinds=[("component", ""), ("event", "")])


# --- resources: regions ---------------------------------------------------------------------

def _region_cells(ctx: Any, s: Session, rows: list[Region]) -> list[dict[str, Any]]:
    orgs = org_info(s, [r.org_id for r in rows])
    return [{"id": r.id, "cells": [(r.code, f"/command/regions/{r.code}/edit"), (r.name, None),
                                   (ctx.gettext(f"command.level.{r.level}"), None), (r.parent_code or "", None),
                                   (orgs[r.org_id].name if r.org_id in orgs else "", None),
                                   (ctx.gettext("command.yes") if r.geometry else ctx.gettext("command.no"), None)]}
            for r in rows]


def _region_list(s: Session, q: str, kind: str, page: int) -> tuple[list[Region], int]:
    rows = [r for r in grids.list_regions(s, kind if kind in grids.LEVELS else None) if not q or q in r.code or q in r.name]
    return rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], len(rows)


def _region_fields(ctx: Any, s: Session, mode: str) -> list[F]:
    g = ctx.gettext
    return [F("level", "command.field.level", options=[(lv, g(f"command.level.{lv}")) for lv in grids.LEVELS],
              required=True),
            F("code", "command.field.code", required=True, readonly=mode == "edit", help="command.help.region_code"),
            F("name", "command.field.name", required=True),
            F("org_id", "command.field.org", options=_dept_options(s, g)),
            F("geometry", "command.field.geometry", type="textarea", attrs='rows="6"', help="command.help.geometry")]


def _region_values(r: Region) -> dict[str, Any]:
    return {"level": r.level, "code": r.code, "name": r.name, "org_id": str(r.org_id or ""),
            "geometry": json.dumps(r.geometry, ensure_ascii=False) if r.geometry else "", "version": str(r.version)}


def _region_payload(v: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"level": v.get("level", ""), "code": v.get("code", ""), "name": v.get("name", ""),
                           "org_id": _opt_int(v.get("org_id"))}
    if str(v.get("geometry", "")).strip():
        try:
            out["geometry"] = json.loads(v["geometry"])
        except ValueError:
            raise bad("geometry", "边界应为 GeoJSON 几何", "the boundary must be a GeoJSON geometry") from None
    if v.get("version"):
        out["version"] = _opt_int(v["version"])
    return out


def _region_save(ctx: Any, s: Session, actor: Any, data: dict[str, Any], key: str | None) -> Region:
    if key:
        data = {**data, "code": key}
        data.setdefault("version", s.scalar(select(Region.version).where(Region.code == key)))
    return grids.save_region(ctx, s, actor, data)


def _load_region(s: Session, key: str) -> Region:
    r = s.scalar(select(Region).where(Region.code == key))
    if r is None:
        raise NotFound(f"区域 {key} 不存在", f"region {key} does not exist")
    return r


def _import_regions(ctx: Any, s: Session, actor: Any, filename: str, content: bytes, skip: bool, progress: Any) -> Any:
    """Street/community boundaries from GeoJSON (properties: level, code, name)."""
    data = json.loads(content.decode("utf-8-sig")) if content else {}
    feats = data.get("features", []) if isinstance(data, dict) else []
    from .common import RowError
    errors, done = [], 0
    for n, f in enumerate(sorted(feats, key=lambda f: len(str((f.get("properties") or {}).get("code", "")))), 1):
        p = f.get("properties") or {}
        try:
            with s.begin_nested():
                existing = s.scalar(select(Region.version).where(Region.code == str(p.get("code", ""))))
                grids.save_region(ctx, s, actor, {"level": p.get("level", "community"), "code": str(p.get("code", "")),
                                                  "name": str(p.get("name", "")) or str(p.get("code", "")),
                                                  "geometry": f.get("geometry"), "version": existing})
                done += 1
        except CcmsError as exc:
            errors.append(RowError(n, next(iter(exc.fields or {"": 0})), exc.zh, exc.en, ref=str(p.get("code", ""))))
    if errors and not skip:
        from .common import refused
        raise refused(errors, len({e.row for e in errors}))
    return grids.ImportOutcome(len(feats), done, 0, len({e.row for e in errors}), errors)


REGIONS = Resource(
    key="regions", title="command.regions.title", singular="command.regions.one",
    headers=["command.field.code", "command.field.name", "command.field.level", "command.field.parent",
             "command.field.org", "command.field.has_boundary"],
    list_fn=_region_list, cells=_region_cells, fields=_region_fields, values_of=_region_values, load=_load_region,
    save=_region_save, payload=_region_payload, ident_of=lambda r: r.code, import_fn=_import_regions,
    accept=".geojson,.json", import_help="command.regions.import_help",
    kinds=[("street", ""), ("community", "")])


# --- resources: grids ---------------------------------------------------------------------------

def _supervisor_names(s: Session, ids: set[int]) -> dict[int, str]:
    """Names of grid supervisors (whether or not still active: the list shows who is assigned)."""
    return person_names(s, ids)


def _grid_cells(ctx: Any, s: Session, rows: list[Grid]) -> list[dict[str, Any]]:
    names = grids.region_names(s)
    people = _supervisor_names(s, {r.supervisor_id for r in rows if r.supervisor_id is not None})
    return [{"id": r.id, "cells": [(r.code, f"/command/grids/{r.code}"), (r.name, None),
                                   (names.get(r.street_code, r.street_code), None),
                                   (names.get(r.community_code, r.community_code), None), (r.area_class, None),
                                   (f"{r.area_m2:,.0f}", None),
                                   (people.get(r.supervisor_id, "") if r.supervisor_id is not None else "—", None)]}
            for r in rows]


def _grid_fields(ctx: Any, s: Session, mode: str) -> list[F]:
    choices = [("", ctx.gettext("command.none"))] + [(str(i), n) for i, n in grids.supervisors(ctx, s).items()]
    return [F("code", "command.field.grid_code", required=True, readonly=mode == "edit", help="command.help.grid_code"),
            F("name", "command.field.name"),
            F("area_class", "command.field.area_class", options=[(a, a) for a in AREA_CLASSES]),
            F("supervisor_id", "command.field.grid_supervisor", options=choices, help="command.help.grid_supervisor"),
            F("geometry", "command.field.geometry", type="textarea", required=True, attrs='rows="8"',
              help="command.help.geometry")]


def _grid_values(g: Grid) -> dict[str, Any]:
    return {"code": g.code, "name": g.name, "area_class": g.area_class,
            "supervisor_id": "" if g.supervisor_id is None else str(g.supervisor_id),
            "geometry": json.dumps(g.geometry, ensure_ascii=False), "version": str(g.version)}


def _grid_payload(v: dict[str, Any]) -> dict[str, Any]:
    out = {k: v.get(k, "") for k in ("code", "name", "area_class", "geometry")}
    out["area_class"] = out["area_class"] or "B"
    out["supervisor_id"] = _opt_int(v.get("supervisor_id"))
    if v.get("version"):
        out["version"] = _opt_int(v["version"])
    return out


def _grid_detail(ctx: Any, s: Session, g: Grid) -> dict[str, Any]:
    names = grids.region_names(s)
    n_comp = s.scalar(select(__import__("sqlalchemy").func.count()).select_from(Component)
                      .where(Component.grid_code == g.code)) or 0
    return {"pairs": [(ctx.gettext("command.field.grid_code"), g.code), (ctx.gettext("command.field.name"), g.name),
                      (ctx.gettext("command.level.street"), f"{names.get(g.street_code, '')} {g.street_code}"),
                      (ctx.gettext("command.level.community"), f"{names.get(g.community_code, '')} {g.community_code}"),
                      (ctx.gettext("command.field.area_class"), g.area_class),
                      (ctx.gettext("command.field.area_m2"), f"{g.area_m2:,.1f}"),
                      (ctx.gettext("command.field.grid_supervisor"),
                       _supervisor_names(s, {g.supervisor_id}).get(g.supervisor_id, "")
                       if g.supervisor_id is not None else "—"),
                      (ctx.gettext("command.components.title"), str(n_comp))],
            "map": grids.svg_map(s, community=g.community_code, highlight=g.code),
            "links": [(f"/command/components?grid={g.code}", ctx.gettext("command.components.title"))]}


GRIDS = Resource(
    key="grids", title="command.grids.title", singular="command.grids.one",
    headers=["command.field.grid_code", "command.field.name", "command.level.street", "command.level.community",
             "command.field.area_class", "command.field.area_m2", "command.field.grid_supervisor"],
    list_fn=lambda s, q, kind, page: grids.list_grids(s, q, page=page, page_size=PAGE_SIZE),
    cells=_grid_cells, fields=_grid_fields, values_of=_grid_values, load=grids.get_grid,
    save=lambda ctx, s, actor, data, key: grids.save_grid(ctx, s, actor, data, key), payload=_grid_payload,
    ident_of=lambda g: g.code, delete=lambda s, actor, key, version: grids.delete_grid(s, actor, key, version),
    import_fn=lambda ctx, s, actor, fn, content, skip, progress: grids.import_geojson(ctx, s, actor, content, fn,
                                                                                     skip, progress),
    accept=".geojson,.json", import_help="command.grids.import_help",
    export_header=["code", "name", "street_code", "community_code", "area_class", "area_m2", "supervisor_id"],
    export_rows=lambda s: ([g.code, g.name, g.street_code, g.community_code, g.area_class, g.area_m2, g.supervisor_id]
                           for g in s.scalars(select(Grid).order_by(Grid.code))),
    detail=_grid_detail)


# --- resources: components ---------------------------------------------------------------------

def _component_cells(ctx: Any, s: Session, rows: list[Component]) -> list[dict[str, Any]]:
    orgs = org_info(s, [r.dept_maintain_id for r in rows])
    return [{"id": r.id, "cells": [(r.ident, f"/command/components/{r.ident}"), (r.name, None),
                                   (r.grid_code or "", f"/command/grids/{r.grid_code}" if r.grid_code else None),
                                   (ctx.gettext(f"command.state.{r.state}"), None),
                                   (orgs[r.dept_maintain_id].name if r.dept_maintain_id in orgs else "", None),
                                   (f"{r.x:.6f}, {r.y:.6f}", None)]} for r in rows]


def _component_fields(ctx: Any, s: Session, mode: str) -> list[F]:
    g = ctx.gettext
    depts = _dept_options(s, g)
    return [F("ident", "command.field.ident", readonly=mode == "edit", help="" if mode == "edit" else "command.help.ident",
              attrs='maxlength="16" inputmode="numeric"'),
            F("class_code", "command.field.class_code", options=_class_options(s, "component"), required=True,
              readonly=mode == "edit"),
            F("name", "command.field.name"),
            F("x", "command.field.x", required=True, attrs='inputmode="decimal"'),
            F("y", "command.field.y", required=True, attrs='inputmode="decimal"'),
            F("dept_supervise_id", "command.field.dept_supervise", options=depts),
            F("dept_owner_id", "command.field.dept_owner", options=depts),
            F("dept_maintain_id", "command.field.dept_maintain", options=depts),
            F("state", "command.field.state", options=[(st, g(f"command.state.{st}")) for st in components.STATES]),
            F("address", "command.field.address"),
            F("initial_date", "command.field.initial_date", type="date"),
            F("source", "command.field.source"),
            F("remarks", "command.field.remarks", type="textarea", attrs='rows="2"')]


def _component_values(c: Component) -> dict[str, Any]:
    return {"ident": c.ident, "class_code": c.class_code, "name": c.name, "x": str(c.x), "y": str(c.y),
            "dept_supervise_id": str(c.dept_supervise_id or ""), "dept_owner_id": str(c.dept_owner_id or ""),
            "dept_maintain_id": str(c.dept_maintain_id or ""), "state": c.state, "address": c.address,
            "initial_date": c.initial_date.isoformat() if c.initial_date else "", "source": c.source,
            "remarks": c.remarks, "version": str(c.version)}


def _component_payload(v: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: v.get(k, "") for k in ("class_code", "name", "address", "source", "remarks")}
    out["state"] = v.get("state") or "normal"
    for k in ("x", "y"):
        out[k] = str(v.get(k, "")).strip() or None
    for k in components.DEPTS:
        out[k] = _opt_int(v.get(k))
    out["initial_date"] = v.get("initial_date") or None
    if str(v.get("ident", "")).strip():
        out["ident"] = str(v["ident"]).strip()
    if v.get("version"):
        out["version"] = _opt_int(v["version"])
    return out


def _component_save(ctx: Any, s: Session, actor: Any, data: dict[str, Any], key: str | None) -> Component:
    if data.get("x") is None or data.get("y") is None:
        raise bad("x", "请填写部件位置（经度 x、纬度 y）", "give the component's location (longitude x, latitude y)")
    if key:
        data.pop("ident", None)
        return components.update_component(ctx, s, actor, key, data)
    return components.create_component(ctx, s, actor, data)


def _component_detail(ctx: Any, s: Session, c: Component) -> dict[str, Any]:
    g = ctx.gettext
    orgs = org_info(s, [c.dept_supervise_id, c.dept_owner_id, c.dept_maintain_id])

    def dept(oid: int | None) -> str:
        return orgs[oid].name if oid in orgs else ""

    hist = components.history_of(s, c.id)
    return {"pairs": [(g("command.field.ident"), c.ident),
                      (g("command.field.class_code"), f"{c.class_code} {Classes(s).name('component', c.class_code)}"),
                      (g("command.field.name"), c.name), (g("command.field.grid_code"), c.grid_code or ""),
                      (g("command.field.state"), g(f"command.state.{c.state}")),
                      (g("command.field.x"), f"{c.x:.7f}"), (g("command.field.y"), f"{c.y:.7f}"),
                      (g("command.field.dept_supervise"), dept(c.dept_supervise_id)),
                      (g("command.field.dept_owner"), dept(c.dept_owner_id)),
                      (g("command.field.dept_maintain"), dept(c.dept_maintain_id)),
                      (g("command.field.address"), c.address),
                      (g("command.field.initial_date"), c.initial_date.isoformat() if c.initial_date else ""),
                      (g("command.field.source"), c.source), (g("command.field.remarks"), c.remarks)],
            "history": [{"at": h.at, "actor": h.actor, "action": g(f"command.action.{h.action}"),
                         "changes": ", ".join(f"{k}: {(h.before or {}).get(k, '')} → {v}"
                                              for k, v in (h.after or {}).items()) if h.before else ""}
                        for h in hist],
            "map": grids.svg_map(s, community=c.grid_code[:12] if c.grid_code else "", highlight=c.grid_code or "",
                                 limit=200) if c.grid_code else None}


COMPONENTS = Resource(
    key="components", title="command.components.title", singular="command.components.one",
    headers=["command.field.ident", "command.field.name", "command.field.grid_code", "command.field.state",
             "command.field.dept_maintain", "command.field.xy"],
    list_fn=lambda s, q, kind, page, grid="": components.list_components(s, q, grid_code=grid, state=kind, page=page,
                                                                         page_size=PAGE_SIZE),
    cells=_component_cells, fields=_component_fields, values_of=_component_values, load=components.get_component,
    save=_component_save, payload=_component_payload, ident_of=lambda c: c.ident,
    import_fn=lambda ctx, s, actor, fn, content, skip, progress: components.import_census(ctx, s, actor, fn, content,
                                                                                         skip, progress),
    import_help="command.components.import_help",
    export_header=components.COLUMNS, export_rows=components.export_rows, detail=_component_detail,
    kinds=[(st, "") for st in components.STATES])


# --- resources: places ---------------------------------------------------------------------------

def _place_cells(ctx: Any, s: Session, rows: list[Place]) -> list[dict[str, Any]]:
    return [{"id": r.id, "cells": [(r.ident, f"/command/places/{r.ident}"), (r.name, None),
                                   (ctx.gettext(f"command.place.{r.kind}"), None), (r.address, None),
                                   (r.grid_code or "", f"/command/grids/{r.grid_code}" if r.grid_code else None),
                                   (f"{r.x:.6f}, {r.y:.6f}", None)]} for r in rows]


def _place_fields(ctx: Any, s: Session, mode: str) -> list[F]:
    g = ctx.gettext
    return [F("kind", "command.field.place_kind", options=[(k, g(f"command.place.{k}")) for k in geocode.KINDS],
              required=True),
            F("name", "command.field.name", required=True, help="command.help.place_name"),
            F("address", "command.field.address"),
            F("x", "command.field.x", required=True, attrs='inputmode="decimal"'),
            F("y", "command.field.y", required=True, attrs='inputmode="decimal"'),
            F("active", "command.field.active", type="checkbox")]


def _place_values(p: Place) -> dict[str, Any]:
    return {"kind": p.kind, "name": p.name, "address": p.address, "x": str(p.x), "y": str(p.y), "active": p.active,
            "version": str(p.version)}


def _place_payload(v: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: v.get(k, "") for k in ("kind", "name", "address")}
    for k in ("x", "y"):
        out[k] = str(v.get(k, "")).strip() or None
    out["active"] = bool(v.get("active"))
    if v.get("version"):
        out["version"] = _opt_int(v["version"])
    return out


def _place_save(ctx: Any, s: Session, actor: Any, data: dict[str, Any], key: str | None) -> Place:
    if data.get("x") is None or data.get("y") is None:
        raise bad("x", "请填写位置（经度 x、纬度 y）", "give the location (longitude x, latitude y)")
    return geocode.save_place(ctx, s, actor, data, key)


def _place_detail(ctx: Any, s: Session, p: Place) -> dict[str, Any]:
    g = ctx.gettext
    return {"pairs": [(g("command.field.place_ident"), p.ident), (g("command.field.name"), p.name),
                      (g("command.field.place_kind"), g(f"command.place.{p.kind}")),
                      (g("command.field.address"), p.address), (g("command.field.grid_code"), p.grid_code or ""),
                      (g("command.field.xy"), f"{p.x:.7f}, {p.y:.7f}"),
                      (g("command.field.active"), g("command.yes") if p.active else g("command.no"))],
            "history": [{"at": n.valid_from, "actor": "", "action": n.name,
                         "changes": g("command.name_until", at=n.valid_to.strftime("%Y-%m-%d %H:%M")) if n.valid_to
                         else g("command.name_current")} for n in geocode.names_of(s, p.id)],
            "history_title": "command.name_history"}


PLACES = Resource(
    key="places", title="command.places.title", singular="command.places.one",
    headers=["command.field.place_ident", "command.field.name", "command.field.place_kind", "command.field.address",
             "command.field.grid_code", "command.field.xy"],
    list_fn=lambda s, q, kind, page: geocode.list_places(s, q, kind, page, PAGE_SIZE),
    cells=_place_cells, fields=_place_fields, values_of=_place_values, load=geocode.get_place, save=_place_save,
    payload=_place_payload, ident_of=lambda p: p.ident,
    import_fn=lambda ctx, s, actor, fn, content, skip, progress: geocode.import_places(ctx, s, actor, fn, content,
                                                                                      skip, progress),
    import_help="command.places.import_help",
    export_header=geocode.COLUMNS + ["grid_code"], export_rows=geocode.export_rows, detail=_place_detail,
    kinds=[(k, "") for k in geocode.KINDS])


# --- resources: matrix ---------------------------------------------------------------------------

def _matrix_cells(ctx: Any, s: Session, rows: list[MatrixRule]) -> list[dict[str, Any]]:
    classes, orgs = Classes(s), org_info(s, [r.dept_org_id for r in rows])
    names = grids.region_names(s)
    out = []
    for r in rows:
        cls = f"{r.class_code} {classes.name(r.kind, r.class_code)}" if r.class_code else ctx.gettext("command.class_any")
        scope = ctx.gettext(f"command.scope.{r.scope_type}")
        if r.scope_value:
            scope += f" {names.get(r.scope_value, '')} {r.scope_value}"
        out.append({"id": r.id, "cells": [(ctx.gettext(f"command.kind.{r.kind}"), None),
                                          (cls, f"/command/matrix/{r.id}/edit"), (scope, None),
                                          (orgs[r.dept_org_id].name if r.dept_org_id in orgs else "?", None),
                                          (r.note, None)]})
    return out


def _matrix_fields(ctx: Any, s: Session, mode: str) -> list[F]:
    g = ctx.gettext
    return [F("kind", "command.field.kind", options=_kind_options(ctx), required=True),
            F("class_code", "command.field.class_code", options=_class_options(s, allow_any=True),
              help="command.help.matrix_class"),
            F("scope_type", "command.field.scope_type", options=[(t, g(f"command.scope.{t}")) for t in matrix.SCOPES]),
            F("scope_value", "command.field.scope_value", help="command.help.scope_value"),
            F("dept_org_id", "command.field.dept", options=_dept_options(s, g)[1:], required=True),
            F("note", "command.field.note")]


def _matrix_values(r: MatrixRule) -> dict[str, Any]:
    return {"kind": r.kind, "class_code": r.class_code, "scope_type": r.scope_type, "scope_value": r.scope_value,
            "dept_org_id": str(r.dept_org_id), "note": r.note, "version": str(r.version)}


def _matrix_payload(v: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: v.get(k, "") for k in ("kind", "class_code", "scope_type", "scope_value", "note")}
    out["scope_type"] = out["scope_type"] or "any"
    out["dept_org_id"] = _opt_int(v.get("dept_org_id"))
    if v.get("version"):
        out["version"] = _opt_int(v["version"])
    return out


MATRIX = Resource(
    key="matrix", title="command.matrix.title", singular="command.matrix.one",
    headers=["command.field.kind", "command.field.class_code", "command.field.scope", "command.field.dept",
             "command.field.note"],
    list_fn=lambda s, q, kind, page: matrix.list_rules(s, q, kind, page, PAGE_SIZE),
    cells=_matrix_cells, fields=_matrix_fields, values_of=_matrix_values,
    load=lambda s, key: matrix.get_rule(s, _int_key(key)),
    save=lambda ctx, s, actor, data, key: matrix.save_rule(s, actor, data, _int_key(key) if key else None),
    payload=_matrix_payload, ident_of=lambda r: str(r.id),
    delete=lambda s, actor, key, version: matrix.delete_rule(s, actor, _int_key(key), version),
    import_fn=lambda ctx, s, actor, fn, content, skip, progress: matrix.import_rules(s, actor, fn, content, skip,
                                                                                    progress),
    import_help="command.matrix.import_help",
    export_header=matrix.COLUMNS, export_rows=matrix.export_rows, kinds=[("component", ""), ("event", "")])

RESOURCES = {r.key: r for r in (STANDARDS, REGIONS, GRIDS, COMPONENTS, PLACES, MATRIX)}


# --- generic endpoints ---------------------------------------------------------------------------

def _res(request: Request) -> Resource:
    res = RESOURCES.get(request.url.path.split("/")[2])
    if res is None:
        raise NotFound("页面不存在", "not found")
    return res


def _crumbs(ctx: Any, res: Resource, *more: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [(ctx.gettext(res.title), res.url if more else None), *more]


def _kind_labels(ctx: Any, res: Resource) -> list[tuple[str, str]]:
    prefix = {"standards": "command.kind.", "matrix": "command.kind.", "regions": "command.level.",
              "components": "command.state.", "places": "command.place."}.get(res.key, "")
    return [(k, ctx.gettext(prefix + k)) for k, _ in (res.kinds or [])]


@requires(VIEW)
async def list_page(request: Request) -> Response:
    ctx, res = ctx_of(request), _res(request)
    q, kind, page = _q(request), _q(request, "kind"), page_number(request)
    grid = _q(request, "grid") if res.key == "components" else ""
    with ctx.session() as s:
        rows, total = res.list_fn(s, q, kind, page, grid) if grid else res.list_fn(s, q, kind, page)
        data = {"res": res, "rows": res.cells(ctx, s, rows), "total": total, "q": q, "kind": kind, "page": page,
                "grid": grid, "pages": max(math.ceil(total / PAGE_SIZE), 1), "kinds": _kind_labels(ctx, res),
                "headers": [ctx.gettext(h) for h in res.headers], "breadcrumbs": _crumbs(ctx, res)}
        if res.key == "places":
            data["search"] = geocode.search(s, _q(request, "address")) if _q(request, "address") else None
            data["address"] = _q(request, "address")
    if wants_fragment(request, "list"):
        return render(request, "command/_list.html", data)
    return render(request, "command/list.html", data)


def _form_context(request: Request, res: Resource, mode: str, values: dict[str, Any], key: str | None,
                  exc: CcmsError | None = None) -> dict[str, Any]:
    ctx = ctx_of(request)
    with ctx.session() as s:
        fields = res.fields(ctx, s, mode)
    title = ctx.gettext("command.new", what=ctx.gettext(res.singular)) if mode == "create" else \
        ctx.gettext("command.edit", what=ctx.gettext(res.singular))
    return {"res": res, "mode": mode, "values": values, "key": key, "fields": fields,
            "errors": dict(exc.fields or {}) if exc else {}, "error": exc,
            "action": f"{res.url}/new" if mode == "create" else f"{res.url}/{key}/edit",
            "title": title, "breadcrumbs": _crumbs(ctx, res, (title, None))}


@requires(EDIT)
async def new_page(request: Request) -> Response:
    ctx, res = ctx_of(request), _res(request)
    if request.method == "GET":
        defaults = {"active": True, "condition_code": "01", "urgency": "normal", "time_unit": "work_hours",
                    "state": "normal", "area_class": "B" if res.key == "grids" else "", "scope_type": "any"}
        defaults.update({k: v for k, v in request.query_params.items() if k in ("x", "y", "kind", "class_code")})
        return render(request, "command/form.html", _form_context(request, res, "create", defaults, None))
    values = await form_data(request)
    try:
        with ctx.session() as s:
            obj = res.save(ctx, s, actor_of(request), res.payload(values), None)
            key = res.ident_of(obj)
    except (ValidationFailed, Conflict) as exc:
        return render(request, "command/form.html", _form_context(request, res, "create", values, None, exc),
                      status_code=exc.status)
    target = f"{res.url}/{key}" if res.detail else res.url
    return redirect(request, target, flash="command_saved")


@requires(EDIT)
async def edit_page(request: Request) -> Response:
    ctx, res = ctx_of(request), _res(request)
    key = request.path_params["key"]
    if request.method == "GET":
        with ctx.session() as s:
            values = res.values_of(res.load(s, key))
        return render(request, "command/form.html", _form_context(request, res, "edit", values, key))
    values = await form_data(request)
    try:
        with ctx.session() as s:
            res.save(ctx, s, actor_of(request), res.payload(values), key)
    except (ValidationFailed, Conflict) as exc:
        return render(request, "command/form.html", _form_context(request, res, "edit", values, key, exc),
                      status_code=exc.status)
    except StaleDataError:
        return render(request, "command/form.html", _form_context(request, res, "edit", values, key, STALE),
                      status_code=409)
    target = f"{res.url}/{key}" if res.detail else res.url
    return redirect(request, target, flash="command_saved")


@requires(EDIT)
async def delete_action(request: Request) -> Response:
    ctx, res = ctx_of(request), _res(request)
    key = request.path_params["key"]
    if res.delete is None:
        raise NotFound("页面不存在", "not found")
    values = await form_data(request)
    try:
        with ctx.session() as s:
            res.delete(s, actor_of(request), key, _opt_int(values.get("version")))
    except (ValidationFailed, Conflict) as exc:
        with ctx.session() as s:
            vals = res.values_of(res.load(s, key))
        return render(request, "command/form.html", _form_context(request, res, "edit", vals, key, exc),
                      status_code=exc.status)
    except StaleDataError:
        with ctx.session() as s:
            vals = res.values_of(res.load(s, key))
        return render(request, "command/form.html", _form_context(request, res, "edit", vals, key, STALE),
                      status_code=409)
    return redirect(request, res.url, flash="command_deleted")


@requires(VIEW)
async def detail_page(request: Request) -> Response:
    ctx, res = ctx_of(request), _res(request)
    key = request.path_params["key"]
    if res.detail is None:
        raise NotFound("页面不存在", "not found")
    with ctx.session() as s:
        obj = res.load(s, key)
        data = res.detail(ctx, s, obj)
    data.update({"res": res, "key": key, "title": f"{ctx.gettext(res.singular)} {key}",
                 "breadcrumbs": _crumbs(ctx, res, (key, None))})
    return render(request, "command/detail.html", data)


@requires(VIEW)
async def export_xlsx(request: Request) -> Response:
    ctx, res = ctx_of(request), _res(request)
    if res.export_rows is None:
        raise NotFound("页面不存在", "not found")
    with ctx.session() as s:
        content, _ = write_table(res.export_rows(s), "xlsx", res.key, header=res.export_header)
    return Response(content, media_type=XLSX_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="command-{res.key}.xlsx"'})


@requires(VIEW)
async def export_geojson(request: Request) -> Response:
    ctx = ctx_of(request)
    with ctx.session() as s:
        data = grids.export_geojson(s)
    return Response(json.dumps(data, ensure_ascii=False), media_type="application/geo+json",
                    headers={"Content-Disposition": 'attachment; filename="command-grids.geojson"'})


# --- imports (background jobs) ---------------------------------------------------------------------

def _run_import(ctx: Any, import_id: int, skip_bad: bool, user_name: str, user_id: int | None) -> Callable[..., Any]:
    from ccms.api import Actor

    def work(progress: Callable[..., None]) -> dict[str, Any]:
        actor = Actor(user_id, user_name)
        with ctx.session() as s:
            job = s.get(ImportJob, import_id)
            content, filename, target = job.content, job.filename, job.target
        res = RESOURCES[target]
        try:
            with ctx.session() as s:
                outcome = res.import_fn(ctx, s, actor, filename, content, skip_bad,
                                        lambda n: progress(n, message=f"已处理 {n} 行", message_en=f"{n} rows done"))
                job = s.get(ImportJob, import_id)
                job.status, job.total, job.bad = "done", outcome.total, outcome.skipped
                job.imported = outcome.created + outcome.updated
                job.report = [e.as_dict() for e in outcome.errors[:2000]]
        except ImportRefused as exc:
            with ctx.session() as s:
                job = s.get(ImportJob, import_id)
                job.status, job.bad = "checked", len({e.row for e in exc.rows})
                job.report = [e.as_dict() for e in exc.rows[:2000]]
            return {"message": exc.zh, "message_en": exc.en, "url": f"/command/imports/{import_id}"}
        except CcmsError as exc:
            with ctx.session() as s:
                job = s.get(ImportJob, import_id)
                job.status = "failed"
                job.report = [{"row": 0, "column": next(iter(exc.fields or {"file": 0})), "message": exc.zh,
                               "message_en": exc.en, "ref": ""}]
            raise
        return {"message": f"导入完成：新增 {outcome.created}，更新 {outcome.updated}，跳过 {outcome.skipped}",
                "message_en": f"imported: {outcome.created} created, {outcome.updated} updated, "
                              f"{outcome.skipped} skipped", "url": f"/command/imports/{import_id}"}
    return work


def _start(request: Request, import_id: int, skip_bad: bool) -> str:
    ctx, user = ctx_of(request), user_of(request)
    with ctx.session() as s:
        job = s.get(ImportJob, import_id)
        job.status = "running"
    return start_job(ctx, user.id if user else None, f"command_import_{RESOURCES[job.target].key}",
                     _run_import(ctx, import_id, skip_bad, user.username if user else "", user.id if user else None))


@requires(EDIT)
async def import_page(request: Request) -> Response:
    ctx, res = ctx_of(request), _res(request)
    crumbs = _crumbs(ctx, res, (ctx.gettext("command.import"), None))
    data = {"res": res, "breadcrumbs": crumbs, "errors": {}}
    if request.method == "GET":
        return render(request, "command/import.html", data)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        exc = bad("file", "请选择要导入的文件", "choose a file to import")
        return render(request, "command/import.html", {**data, "error": exc, "errors": exc.fields}, status_code=422)
    content = await upload.read()
    if not content:
        exc = bad("file", "文件是空的", "the file is empty")
        return render(request, "command/import.html", {**data, "error": exc, "errors": exc.fields}, status_code=422)
    user = user_of(request)
    with ctx.session() as s:
        job = ImportJob(target=res.key, filename=upload.filename[:200], content=content, status="checked",
                        created_by=user.username if user else "")
        s.add(job)
        s.flush()
        import_id = job.id
    job_id = _start(request, import_id, str(form.get("skip_bad", "")) == "1")
    return RedirectResponse(f"/command/imports/{import_id}?job={job_id}", status_code=303)


def _load_import(request: Request) -> ImportJob:
    ctx, user = ctx_of(request), user_of(request)
    key = request.path_params["id"]
    with ctx.session() as s:
        job = s.get(ImportJob, _int_key(str(key)), options=[defer(ImportJob.content)])
        if job is None or (job.created_by != user.username and not ctx.can(user, "core.jobs.view_all", None)):
            raise NotFound("导入记录不存在", "no such import")
        s.expunge(job)
        return job


@requires(EDIT)
async def import_status(request: Request) -> Response:
    ctx = ctx_of(request)
    job = _load_import(request)
    res = RESOURCES[job.target]
    data = {"res": res, "job": job, "core_job": _q(request, "job"), "report": job.report or [],
            "breadcrumbs": _crumbs(ctx, res, (ctx.gettext("command.import"), f"{res.url}/import"),
                                   (job.filename, None))}
    if is_htmx(request):
        return render(request, "command/_import_status.html", data)
    return render(request, "command/import_status.html", data)


@requires(EDIT)
async def import_skip(request: Request) -> Response:
    """Run a checked import again, skipping the rows/features with faults."""
    job = _load_import(request)
    if job.status != "checked":
        raise Conflict("该导入已执行或正在执行", "this import has already run or is running")
    await form_data(request)
    job_id = _start(request, job.id, True)
    return RedirectResponse(f"/command/imports/{job.id}?job={job_id}", status_code=303)


# --- map and locate -------------------------------------------------------------------------------

@requires(VIEW)
async def map_page(request: Request) -> Response:
    ctx = ctx_of(request)
    street, community = _q(request, "street"), _q(request, "community")
    x, y = _q(request, "x"), _q(request, "y")
    located, error = None, None
    with ctx.session() as s:
        if x or y:
            try:
                located = grids.locate(s, x, y)
            except ValidationFailed as exc:
                error = exc
        svg = grids.svg_map(s, street, community, highlight=located.grid_code if located else "")
        regions = grids.list_regions(s)
        map_ctx = map_data.map_context(request, s)  # the Leaflet map's tile service (and its CSP origins)
    data = {"svg": svg, "street": street, "community": community, "x": x, "y": y, "located": located, "error": error,
            "streets": [(r.code, r.name) for r in regions if r.level == "street"],
            "communities": [(r.code, r.name) for r in regions if r.level == "community"
                            and (not street or r.parent_code == street)],
            "breadcrumbs": [(ctx.gettext("command.map.title"), None)], **map_ctx}
    return render(request, "command/map.html", data)


# --- JSON API --------------------------------------------------------------------------------------

class LocationOut(BaseModel):
    x: float
    y: float
    grid_code: str
    grid_name: str
    area_class: str
    community_code: str
    community_name: str
    street_code: str
    street_name: str


class GridOut(BaseModel):
    code: str
    name: str
    street_code: str
    community_code: str
    area_class: str
    area_m2: float
    supervisor_id: int | None
    version: int


@requires(VIEW)
async def api_grid(request: Request) -> Response:
    """One grid with its 责任监督员 (``supervisor_id``: a person id, or null)."""
    ctx = ctx_of(request)
    with ctx.session() as s:
        g = grids.get_grid(s, request.path_params["code"])
        return JSONResponse(GridOut(code=g.code, name=g.name, street_code=g.street_code,
                                    community_code=g.community_code, area_class=g.area_class, area_m2=g.area_m2,
                                    supervisor_id=g.supervisor_id, version=g.version).model_dump())


class SuggestionOut(BaseModel):
    dept_org_id: int | None
    dept_name: str
    source: str
    reason: str
    reason_en: str
    grid_code: str


class ComponentOut(BaseModel):
    ident: str
    class_code: str
    name: str
    grid_code: str | None
    state: str
    x: float
    y: float
    dept_supervise_id: int | None
    dept_owner_id: int | None
    dept_maintain_id: int | None
    version: int


def _component_out(c: Component) -> dict[str, Any]:
    return ComponentOut(ident=c.ident, class_code=c.class_code, name=c.name, grid_code=c.grid_code, state=c.state,
                        x=c.x, y=c.y, dept_supervise_id=c.dept_supervise_id, dept_owner_id=c.dept_owner_id,
                        dept_maintain_id=c.dept_maintain_id, version=c.version).model_dump()


@requires(VIEW)
async def api_locate(request: Request) -> Response:
    ctx = ctx_of(request)
    with ctx.session() as s:
        loc = grids.locate(s, request.query_params.get("x"), request.query_params.get("y"))
    return JSONResponse(loc.as_dict())


@requires(VIEW)
async def api_geocode(request: Request) -> Response:
    ctx = ctx_of(request)
    with ctx.session() as s:
        return JSONResponse({"items": geocode.search(s, _q(request))})


@requires(VIEW)
async def api_suggest(request: Request) -> Response:
    ctx = ctx_of(request)
    qp = request.query_params
    where: Any = qp.get("grid") or (qp.get("x"), qp.get("y"))
    if not qp.get("grid") and (qp.get("x") is None or qp.get("y") is None):
        raise bad("x", "请给出网格编码 grid，或经度 x 和纬度 y", "give a grid code, or longitude x and latitude y")
    with ctx.session() as s:
        sug = matrix.suggest_department(s, qp.get("class_code", ""), where, kind=qp.get("kind") or None)
        if sug is None:
            loc_grid = qp.get("grid") or grids.locate(s, qp.get("x"), qp.get("y")).grid_code
            return JSONResponse({"dept_org_id": None, "dept_name": "", "source": "none", "grid_code": loc_grid,
                                 "reason": "没有适用的责任矩阵规则或立案标准，请派遣员选择",
                                 "reason_en": "no matrix rule or standard applies: the dispatcher chooses"})
    return JSONResponse({"dept_org_id": sug.dept_org_id, "dept_name": sug.dept_name, "source": sug.source,
                         "reason": sug.reason, "reason_en": sug.reason_en, "grid_code": sug.grid_code})


@requires(VIEW)
async def api_component(request: Request) -> Response:
    ctx = ctx_of(request)
    with ctx.session() as s:
        return JSONResponse(_component_out(components.get_component(s, request.path_params["ident"])))


@requires(VIEW)
async def api_validate_ident(request: Request) -> Response:
    ctx = ctx_of(request)
    with ctx.session() as s:
        ident = components.validate_ident(ctx, s, request.query_params.get("ident", ""))
    return JSONResponse({"ident": ident, "valid": True})


@requires(EDIT)
async def api_component_create(request: Request) -> Response:
    from ccms.api import json_body
    ctx = ctx_of(request)
    body = await json_body(request, components.ComponentIn)
    with ctx.session() as s:
        c = components.create_component(ctx, s, actor_of(request), body)
        return JSONResponse(_component_out(c), status_code=201)


def _routes() -> list[Route]:
    out = []
    for res in RESOURCES.values():
        u = res.url
        out += [Route(u, list_page, name=f"command-{res.key}"),
                Route(f"{u}/new", new_page, methods=["GET", "POST"], name=f"command-{res.key}-new"),
                Route(f"{u}/import", import_page, methods=["GET", "POST"], name=f"command-{res.key}-import"),
                Route(f"{u}/export.xlsx", export_xlsx, name=f"command-{res.key}-export")]
        if res.key == "grids":
            out.append(Route(f"{u}/export.geojson", export_geojson, name="command-grids-geojson"))
        out += [Route(f"{u}/{{key}}/edit", edit_page, methods=["GET", "POST"], name=f"command-{res.key}-edit"),
                Route(f"{u}/{{key}}/delete", delete_action, methods=["POST"], name=f"command-{res.key}-delete"),
                Route(f"{u}/{{key}}", detail_page, name=f"command-{res.key}-detail")]
    out += [Route("/command/imports/{id}", import_status, name="command-import"),
            Route("/command/imports/{id}/skip", import_skip, methods=["POST"], name="command-import-skip"),
            Route("/command/map", map_page, name="command-map"),
            Route("/api/command/locate", api_locate, name="api-command-locate"),
            Route("/api/command/geocode", api_geocode, name="api-command-geocode"),
            Route("/api/command/suggest", api_suggest, name="api-command-suggest"),
            Route("/api/command/components", api_component_create, methods=["POST"], name="api-command-component-new"),
            Route("/api/command/components/validate", api_validate_ident, name="api-command-ident"),
            Route("/api/command/components/{ident}", api_component, name="api-command-component"),
            Route("/api/command/grids/{code}", api_grid, name="api-command-grid")]
    return out


routes = _routes()

api_docs = [
    api_doc("/api/command/locate", "get", "点位定位到网格、社区、街道 / locate a point to its grid, community and street",
            permission=VIEW, response=LocationOut, query={"x": "经度 / longitude", "y": "纬度 / latitude"},
            tag="command"),
    api_doc("/api/command/geocode", "get", "地址查询（含曾用名）/ address search (also former names)", permission=VIEW,
            query={"q": "名称或地址 / name or address"}, tag="command"),
    api_doc("/api/command/suggest", "get", "建议责任部门 / suggest the responsible department", permission=VIEW,
            response=SuggestionOut, query={"class_code": "E0101 / C0101", "grid": "网格编码 / grid code",
                                           "x": "经度 / longitude", "y": "纬度 / latitude"}, tag="command"),
    api_doc("/api/command/components", "post", "登记部件（标识码自动生成）/ register a component", permission=EDIT,
            request=components.ComponentIn, response=ComponentOut, tag="command", status=201),
    api_doc("/api/command/components/validate", "get", "校验部件标识码 / validate a component identifier",
            permission=VIEW, query={"ident": "16 位标识码 / 16-digit identifier"}, tag="command"),
    api_doc("/api/command/components/{ident}", "get", "部件详情 / a component", permission=VIEW,
            response=ComponentOut, tag="command"),
    api_doc("/api/command/grids/{code}", "get", "单元网格（含责任监督员）/ a unit grid with its responsible supervisor",
            permission=VIEW, response=GridOut, tag="command"),
]
