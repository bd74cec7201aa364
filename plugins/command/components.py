"""部件 (components): 16-digit identifiers, records with history, census import.

Identifier (GB/T 30428.2) = county area code (6, GB/T 2260) + big class (2)
+ small class (2) + serial (6), e.g. ``3205080101000001``. The standard
has no check digit; "validated" means: 16 digits, a county of this city,
and a big/small class pair that exists in the component dictionary.
Serials come from :func:`common.take_serials`, so identifiers generated at
the same time by several processes never collide.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from ccms.api import Actor, NotFound, PluginContext, ValidationFailed, audit_record, check_version, utcnow, validate

from . import grids
from .common import (
    Classes, RowError, area_codes, bad, dept_lookup, dept_problem, parse_float, raise_serial_floor, read_rows,
    refused, resolve_dept, settings, take_serials,
)
from .models import Component, ComponentHistory

STATES = ("normal", "damaged", "lost", "removed")
STATE_ALIASES = {"normal": "normal", "完好": "normal", "正常": "normal", "": "normal",
                 "damaged": "damaged", "损坏": "damaged", "破损": "damaged",
                 "lost": "lost", "丢失": "lost", "缺失": "lost",
                 "removed": "removed", "拆除": "removed", "注销": "removed"}
TRACKED = ("class_code", "name", "dept_supervise_id", "dept_owner_id", "dept_maintain_id", "grid_code", "state",
           "x", "y", "address", "initial_date", "source", "remarks")
DEPTS = ("dept_supervise_id", "dept_owner_id", "dept_maintain_id")


def _scope(area: str, class_code: str) -> str:
    return f"component:{area}:{class_code}"


def ident_problem(ident: str, areas: set[str], classes: Classes) -> tuple[str, str] | None:
    """None for a valid identifier; otherwise what is wrong with it, in words."""
    ident = ident or ""
    if len(ident) != 16 or not ident.isdigit():
        return (f"部件标识码 {ident} 应为 16 位数字（区县代码 6 + 大类 2 + 小类 2 + 序号 6），现为 {len(ident)} 位"
                + ("且含非数字字符" if not ident.isdigit() else ""),
                f"component identifier {ident!r} must be 16 digits (area 6 + big class 2 + small class 2 + serial 6)")
    area, big, small, serial = ident[:6], ident[6:8], ident[6:10], ident[10:]
    if areas and area not in areas:
        return (f"部件标识码 {ident} 的区县代码 {area} 不是本市的行政区划代码（GB/T 2260）",
                f"component identifier {ident}: area code {area} is not a county of this city (GB/T 2260)")
    if not classes.is_big("component", big):
        return (f"部件标识码 {ident} 的大类 {big} 不存在", f"component identifier {ident}: big class {big} does not exist")
    if not classes.is_small("component", small) or classes.entry("component", small).parent_code != big:
        return (f"部件标识码 {ident} 的小类 {small} 不存在", f"component identifier {ident}: small class {small} does not exist")
    if int(serial) == 0:
        return f"部件标识码 {ident} 的序号不能为 000000", f"component identifier {ident}: the serial must not be 000000"
    return None


def validate_ident(ctx: PluginContext, session: Session, ident: str) -> str:
    """The identifier if valid; a clear ValidationFailed otherwise."""
    p = ident_problem((ident or "").strip(), area_codes(ctx, session), Classes(session))
    if p:
        raise bad("ident", *p)
    return ident.strip()


def _floor(session: Session, area: str, class_code: str) -> int:
    """Highest serial already stored for an area and class (for a scope's first use)."""
    prefix = area + class_code
    top = session.scalar(select(func.max(Component.ident)).where(Component.ident.startswith(prefix)))
    return int(top[10:]) if top else 0


def new_idents(session: Session, area: str, class_code: str, count: int = 1) -> list[str]:
    """``count`` fresh identifiers for an area and small class (reserved atomically)."""
    first = take_serials(session, _scope(area, class_code), count, floor=_floor(session, area, class_code))
    if first + count - 1 > 999999:
        raise ValidationFailed(f"{area} 区县 {class_code} 小类的部件序号已用尽",
                               f"no serials left for class {class_code} in area {area}")
    return [f"{area}{class_code}{n:06d}" for n in range(first, first + count)]


# --- single components -----------------------------------------------------------------------

class ComponentIn(BaseModel):
    """A component from a form or the API. Without ``ident`` one is generated;
    without ``area_code`` the area of the grid the point lies in is used."""

    model_config = ConfigDict(extra="forbid")
    ident: str | None = Field(None, max_length=16)
    class_code: str = Field(min_length=1, max_length=5)
    name: str = Field("", max_length=100)
    area_code: str | None = Field(None, max_length=6)
    dept_supervise_id: int | None = None
    dept_owner_id: int | None = None
    dept_maintain_id: int | None = None
    state: str = Field("normal", pattern="^(normal|damaged|lost|removed)$")
    x: float
    y: float
    address: str = Field("", max_length=200)
    initial_date: dt.date | None = None
    source: str = Field("", max_length=50)
    remarks: str = Field("", max_length=2000)
    version: int | None = None


def snapshot(c: Component) -> dict[str, Any]:
    out = {k: getattr(c, k) for k in TRACKED}
    if out["initial_date"] is not None:
        out["initial_date"] = out["initial_date"].isoformat()
    return out


def get_component(session: Session, ident: str) -> Component:
    c = session.scalar(select(Component).where(Component.ident == ident))
    if c is None:
        raise NotFound(f"部件 {ident} 不存在", f"component {ident} does not exist")
    return c


def _check_depts(session: Session, d: ComponentIn) -> None:
    orgs = dept_lookup(session)[0]
    for f in DEPTS:
        p = dept_problem(orgs, getattr(d, f))
        if p:
            raise bad(f, *p)


def create_component(ctx: PluginContext, session: Session, actor: Actor | None,
                     data: ComponentIn | dict[str, Any]) -> Component:
    """Register one component: class checked, grid located from x/y, identifier generated or validated."""
    d = data if isinstance(data, ComponentIn) else validate(ComponentIn, dict(data))
    classes = Classes(session)
    code = d.class_code[1:] if d.class_code[:1].upper() == "C" else d.class_code
    classes.require("component", code)
    loc = grids.locate(session, d.x, d.y)
    _check_depts(session, d)
    areas = area_codes(ctx, session)
    if d.ident:
        ident = validate_ident(ctx, session, d.ident)
        if ident[6:10] != code:
            raise bad("ident", f"标识码 {ident} 中的小类 {ident[6:10]} 与所选小类 {code} 不一致",
                      f"identifier {ident} has class {ident[6:10]}, not the chosen {code}")
        if session.scalar(select(Component.id).where(Component.ident == ident)) is not None:
            raise bad("ident", f"部件标识码 {ident} 已存在", f"component identifier {ident} already exists")
        raise_serial_floor(session, _scope(ident[:6], code), int(ident[10:]))
    else:
        area = (d.area_code or loc.grid_code[:6]).strip()
        if areas and area not in areas:
            raise bad("area_code", f"区县代码 {area} 不是本市的行政区划代码", f"area code {area} is not a county of this city")
        ident = new_idents(session, area, code)[0]
    c = Component(ident=ident, class_code=code, name=d.name.strip() or classes.name("component", code),
                  area_code=ident[:6], dept_supervise_id=d.dept_supervise_id, dept_owner_id=d.dept_owner_id,
                  dept_maintain_id=d.dept_maintain_id, grid_code=loc.grid_code, state=d.state, x=d.x, y=d.y,
                  address=d.address, initial_date=d.initial_date, source=d.source, remarks=d.remarks)
    session.add(c)
    session.flush()
    _history(session, c.id, "create", actor, None, snapshot(c))
    audit_record(session, actor, "command_component_create", "command_component", ident, after=snapshot(c),
                 summary=f"新建部件 {ident} {c.name}")
    return c


def update_component(ctx: PluginContext, session: Session, actor: Actor | None, ident: str,
                     data: ComponentIn | dict[str, Any]) -> Component:
    """Change a component (not its identifier); writes a history row of the changed fields."""
    d = data if isinstance(data, ComponentIn) else validate(ComponentIn, dict(data))
    c = get_component(session, ident)
    check_version(c, d.version, "部件", "component")
    code = d.class_code[1:] if d.class_code[:1].upper() == "C" else d.class_code
    if code != c.class_code:
        raise bad("class_code", "部件的小类写在标识码里，不能修改；请注销后按新小类重新登记",
                  "the class is part of the identifier and cannot change: retire it and register a new one")
    loc = grids.locate(session, d.x, d.y)
    _check_depts(session, d)
    before = snapshot(c)
    for k in ("name", "dept_supervise_id", "dept_owner_id", "dept_maintain_id", "state", "x", "y", "address",
              "initial_date", "source", "remarks"):
        setattr(c, k, getattr(d, k))
    c.grid_code = loc.grid_code
    c.name = c.name.strip() or Classes(session).name("component", c.class_code)
    session.flush()
    after = snapshot(c)
    changed = [k for k in TRACKED if before[k] != after[k]]
    if changed:
        _history(session, c.id, "update", actor, {k: before[k] for k in changed}, {k: after[k] for k in changed})
        audit_record(session, actor, "command_component_edit", "command_component", ident,
                     before={k: before[k] for k in changed}, after={k: after[k] for k in changed},
                     summary=f"修改部件 {ident}")
    return c


def _history(session: Session, component_id: int, action: str, actor: Actor | None, before: Any, after: Any) -> None:
    session.execute(insert(ComponentHistory.__table__), [{
        "component_id": component_id, "action": action, "actor": (actor.name if actor else "system")[:64],
        "at": utcnow(), "before": before, "after": after}])


def history_of(session: Session, component_id: int) -> list[ComponentHistory]:
    return list(session.scalars(select(ComponentHistory).where(ComponentHistory.component_id == component_id)
                                .order_by(ComponentHistory.at.desc(), ComponentHistory.id.desc())))


def list_components(session: Session, q: str = "", class_code: str = "", grid_code: str = "", state: str = "",
                    page: int = 1, page_size: int = 20) -> tuple[list[Component], int]:
    where = []
    if q:
        where.append(or_(Component.ident.startswith(q, autoescape=True), Component.name.contains(q, autoescape=True),
                         Component.address.contains(q, autoescape=True)))
    if class_code:
        where.append(Component.class_code == class_code)
    if grid_code:
        where.append(Component.grid_code == grid_code)
    if state in STATES:
        where.append(Component.state == state)
    total = session.scalar(select(func.count()).select_from(Component).where(*where)) or 0
    rows = session.scalars(select(Component).where(*where).order_by(Component.ident)
                           .limit(page_size).offset((max(page, 1) - 1) * page_size)).all()
    return list(rows), total


# --- census import -------------------------------------------------------------------------------

COLUMNS = ["ident", "class_code", "name", "area_code", "x", "y", "supervise_dept", "owner_dept", "maintain_dept",
           "state", "address", "initial_date", "source", "remarks"]
ALIASES = {c: c for c in COLUMNS} | {
    "标识码": "ident", "部件标识码": "ident", "部件编码": "ident", "小类编码": "class_code", "小类代码": "class_code",
    "名称": "name", "部件名称": "name", "区县代码": "area_code", "行政区划代码": "area_code",
    "x": "x", "y": "y", "经度": "x", "纬度": "y", "横坐标": "x", "纵坐标": "y", "主管部门": "supervise_dept",
    "权属单位": "owner_dept", "权属部门": "owner_dept", "养护单位": "maintain_dept", "养护部门": "maintain_dept",
    "状态": "state", "部件状态": "state", "地址": "address", "位置描述": "address", "初始日期": "initial_date",
    "数据来源": "source", "备注": "remarks"}
CHUNK = 5000


@dataclass
class CensusOutcome:
    total: int
    created: int
    updated: int
    skipped: int
    errors: list[RowError]


def import_census(ctx: PluginContext, session: Session, actor: Actor | None, filename: str, content: bytes,
                  skip_bad: bool = False, progress: Callable[[int], None] | None = None) -> CensusOutcome:
    """Import a component census (CSV/XLSX, up to the ``census_max_rows`` setting).

    Each row is checked (identifier, class, area code, coordinates inside a
    grid, departments, state, date); grids are located for all rows in one
    vectorised STRtree query. A row with an identifier already stored updates
    that component (with a history row); a row without one gets a generated
    identifier. All or nothing unless ``skip_bad``. Writes in bulk (Core
    executemany in chunks of 5,000).
    """
    max_rows = int(settings(ctx, session).get("census_max_rows", 200_000))
    classes = Classes(session)
    areas = area_codes(ctx, session)
    orgs, by_name = dept_lookup(session)
    errors: list[RowError] = []
    parsed: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    total = 0
    dept_cache: dict[str, tuple[int | None, Any]] = {}

    def dept(value: str) -> tuple[int | None, Any]:
        if value not in dept_cache:
            dept_cache[value] = resolve_dept(orgs, by_name, value)
        return dept_cache[value]

    for line, v in read_rows(filename, content, ALIASES, max_rows):
        total += 1
        before = len(errors)
        ident = v.get("ident", "")
        code = v.get("class_code", "")
        if code[:1].upper() == "C":
            code = code[1:]
        if ident:
            p = ident_problem(ident, areas, classes)
            if p:
                errors.append(RowError(line, "ident", *p, ref=ident))
            elif code and code != ident[6:10]:
                errors.append(RowError(line, "class_code", f"小类 {code} 与标识码中的小类 {ident[6:10]} 不一致",
                                       f"class {code} differs from the identifier's class {ident[6:10]}", ref=ident))
            elif ident in seen:
                errors.append(RowError(line, "ident", f"标识码 {ident} 与第 {seen[ident]} 行重复",
                                       f"identifier {ident} repeats row {seen[ident]}", ref=ident))
            else:
                seen[ident] = line
                code = ident[6:10]
        else:
            p = classes.problem("component", code)
            if p:
                errors.append(RowError(line, "class_code", *p))
            area = v.get("area_code", "")
            if area and areas and area not in areas:
                errors.append(RowError(line, "area_code", f"区县代码 {area} 不是本市的行政区划代码",
                                       f"area code {area} is not a county of this city"))
        x, y = parse_float(v.get("x", "")), parse_float(v.get("y", ""))
        if x is None or y is None or not (-180 <= x <= 180 and -90 <= y <= 90):
            errors.append(RowError(line, "x", "坐标缺失或不是有效的经纬度", "coordinates missing or not a valid lon/lat",
                                   ref=ident))
        state = STATE_ALIASES.get(v.get("state", "").lower())
        if state is None:
            errors.append(RowError(line, "state", f"状态应为 完好/损坏/丢失/拆除，而不是 {v.get('state')}",
                                   f"state must be normal/damaged/lost/removed, not {v.get('state')!r}", ref=ident))
        depts = {}
        for col, field in (("supervise_dept", "dept_supervise_id"), ("owner_dept", "dept_owner_id"),
                           ("maintain_dept", "dept_maintain_id")):
            oid, p = dept(v.get(col, ""))
            if p:
                errors.append(RowError(line, col, *p, ref=ident))
            depts[field] = oid
        initial = None
        if v.get("initial_date"):
            try:
                initial = dt.date.fromisoformat(v["initial_date"][:10])
            except ValueError:
                errors.append(RowError(line, "initial_date", "初始日期应为 YYYY-MM-DD",
                                       "initial date must be YYYY-MM-DD", ref=ident))
        if len(errors) == before:
            parsed.append({"line": line, "ident": ident, "class_code": code, "area_code": v.get("area_code", ""),
                           "name": v.get("name", "")[:100] or classes.name("component", code), "x": x, "y": y,
                           "state": state, "address": v.get("address", "")[:200], "initial_date": initial,
                           "source": v.get("source", "")[:50] or "census", "remarks": v.get("remarks", "")[:2000],
                           **depts})
    # grids for every row in one query
    codes = grids.locate_codes(session, [(r["x"], r["y"]) for r in parsed])
    index = grids.grid_index(session)
    kept: list[dict[str, Any]] = []
    for r, g in zip(parsed, codes):
        if g is None:
            e = grids.outside_error(index, r["x"], r["y"])
            errors.append(RowError(r["line"], "x", e.zh, e.en, ref=r["ident"]))
            continue
        r["grid_code"] = g
        if not r["ident"] and not r["area_code"]:
            r["area_code"] = g[:6]
        kept.append(r)
    bad_rows = {e.row for e in errors}
    if errors and not skip_bad:
        errors.sort(key=lambda e: (e.row, e.column))
        raise refused(errors, len(bad_rows))
    created, updated = _write_census(session, actor, kept, progress)
    audit_record(session, actor, "command_component_import", "command_component", filename[:64],
                 after={"file": filename[:200], "rows": total, "created": created, "updated": updated,
                        "skipped": len(bad_rows)},
                 summary=f"部件普查导入 {filename[:80]}（新增 {created}，更新 {updated}，跳过 {len(bad_rows)}）")
    errors.sort(key=lambda e: (e.row, e.column))
    return CensusOutcome(total, created, updated, len(bad_rows), errors)


def _write_census(session: Session, actor: Actor | None, rows: list[dict[str, Any]],
                  progress: Callable[[int], None] | None) -> tuple[int, int]:
    given = [r["ident"] for r in rows if r["ident"]]
    existing: dict[str, int] = {}
    for i in range(0, len(given), 900):
        existing.update(dict(session.execute(select(Component.ident, Component.id)
                                             .where(Component.ident.in_(given[i:i + 900]))).all()))
    # generate identifiers per (area, class), one reservation each
    need: dict[tuple[str, str], list[dict[str, Any]]] = {}
    top_given: dict[tuple[str, str], int] = {}
    for r in rows:
        if r["ident"]:
            k = (r["ident"][:6], r["class_code"])
            top_given[k] = max(top_given.get(k, 0), int(r["ident"][10:]))
        else:
            need.setdefault((r["area_code"], r["class_code"]), []).append(r)
    for (area, code), top in top_given.items():
        take_serials(session, _scope(area, code), 0, floor=max(top, _floor(session, area, code)))
        raise_serial_floor(session, _scope(area, code), top)
    for (area, code), group in need.items():
        for r, ident in zip(group, new_idents(session, area, code, len(group))):
            r["ident"] = ident
    now = utcnow()
    t = Component.__table__
    new_rows, upd_rows = [], []
    for r in rows:
        values = {k: r[k] for k in ("ident", "class_code", "name", "x", "y", "state", "address", "initial_date",
                                    "source", "remarks", "grid_code", *DEPTS)}
        values["area_code"] = r["ident"][:6]
        if r["ident"] in existing:
            values["cid"] = existing[r["ident"]]
            upd_rows.append(values)
        else:
            new_rows.append({**values, "created_at": now, "updated_at": now, "version": 1})
    done = 0
    for i in range(0, len(new_rows), CHUNK):
        session.execute(insert(t), new_rows[i:i + CHUNK])
        done += len(new_rows[i:i + CHUNK])
        if progress:
            progress(done)
    if upd_rows:
        _update_existing(session, actor, upd_rows)
        done += len(upd_rows)
        if progress:
            progress(done)
    return len(new_rows), len(upd_rows)


def _update_existing(session: Session, actor: Actor | None, rows: list[dict[str, Any]]) -> None:
    """Census rows for stored components: change them and write history of what changed."""
    from sqlalchemy import bindparam
    ids = [r["cid"] for r in rows]
    current: dict[int, dict[str, Any]] = {}
    for i in range(0, len(ids), 900):
        for c in session.scalars(select(Component).where(Component.id.in_(ids[i:i + 900]))):
            current[c.id] = snapshot(c)
    history = []
    now = utcnow()
    for r in rows:
        before = current[r["cid"]]
        after = {k: (r[k].isoformat() if k == "initial_date" and r[k] else r[k]) for k in TRACKED}
        changed = [k for k in TRACKED if before.get(k) != after.get(k)]
        if changed:
            history.append({"component_id": r["cid"], "action": "census", "actor": (actor.name if actor else "")[:64],
                            "at": now, "before": {k: before[k] for k in changed}, "after": {k: after[k] for k in changed}})
    t = Component.__table__
    cols = [k for k in TRACKED]
    stmt = (update(t).where(t.c.id == bindparam("cid"))
            .values({k: bindparam(f"v_{k}") for k in cols} | {"updated_at": now, "version": t.c.version + 1}))
    session.execute(stmt, [{"cid": r["cid"], **{f"v_{k}": r[k] for k in cols}} for r in rows])
    if history:
        session.execute(insert(ComponentHistory.__table__), history)
    session.expire_all()


def export_rows(session: Session) -> Iterable[list[Any]]:
    orgs = dept_lookup(session)[0]

    def name(oid: int | None) -> str:
        o = orgs.get(oid) if oid else None
        return o.name if o else ""

    stmt = select(Component).order_by(Component.ident).execution_options(yield_per=2000)
    for c in session.scalars(stmt):
        yield [c.ident, c.class_code, c.name, c.area_code, c.x, c.y, name(c.dept_supervise_id),
               name(c.dept_owner_id), name(c.dept_maintain_id), c.state, c.address,
               c.initial_date.isoformat() if c.initial_date else "", c.source, c.remarks]
