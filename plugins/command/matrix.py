"""责任矩阵 (responsibility matrix): which department handles a class where.

A rule maps a class (small class ``0101``, big class ``01`` or every class
``""``) and a scope (a grid, a street, an area class A/B/C, or anywhere) to
a department. :func:`suggest_department` picks the most specific rule for a
class at a point or grid — scope first (grid > street > area class >
anywhere), then class (small > big > any) — and falls back to the
department named in the class's filing standard. Dispatch (a later part of
this plugin) shows the suggestion; the dispatcher still decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ccms.api import Actor, NotFound, ValidationFailed, audit_record, check_version, validate

from . import grids
from .common import (
    KIND_ZH, Classes, RowError, bad, dept_lookup, dept_problem, read_rows, refused, resolve_dept, split_class,
)
from .models import AREA_CLASSES, KINDS, Grid, MatrixRule, Region, Standard

SCOPES = ("grid", "street", "area_class", "any")
SCOPE_RANK = {s: i for i, s in enumerate(SCOPES)}


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(pattern="^(component|event)$")
    class_code: str = Field("", max_length=8)
    scope_type: str = Field("any", pattern="^(grid|street|area_class|any)$")
    scope_value: str = Field("", max_length=20)
    dept_org_id: int
    note: str = Field("", max_length=200)
    version: int | None = None


def _scope_problem(session: Session, scope_type: str, value: str) -> tuple[str, str] | None:
    if scope_type == "any":
        return None if not value else ("“全部区域”不需要填写范围值", "scope 'any' takes no value")
    if scope_type == "area_class":
        return None if value in AREA_CLASSES else ("区域类别应为 A、B 或 C", "area class must be A, B or C")
    if scope_type == "street":
        ok = session.scalar(select(Region.id).where(Region.code == value, Region.level == "street"))
        return None if ok else (f"街道 {value} 不存在", f"street {value} does not exist")
    ok = session.scalar(select(Grid.id).where(Grid.code == value))
    return None if ok else (f"网格 {value} 不存在", f"grid {value} does not exist")


def _snap(r: MatrixRule) -> dict[str, Any]:
    return {"kind": r.kind, "class_code": r.class_code, "scope_type": r.scope_type, "scope_value": r.scope_value,
            "dept_org_id": r.dept_org_id, "note": r.note}


def get_rule(session: Session, rule_id: int) -> MatrixRule:
    r = session.get(MatrixRule, rule_id)
    if r is None:
        raise NotFound(f"责任矩阵规则 {rule_id} 不存在", f"matrix rule {rule_id} does not exist")
    return r


def _duplicate() -> ValidationFailed:
    return ValidationFailed("同一分类和范围的规则已存在", "a rule for this class and scope already exists",
                            fields={"scope_value": {"message": "同一分类和范围的规则已存在",
                                                    "message_en": "duplicate rule"}})


def save_rule(session: Session, actor: Actor | None, data: RuleIn | dict[str, Any], rule_id: int | None = None) -> MatrixRule:
    d = data if isinstance(data, RuleIn) else validate(RuleIn, dict(data))
    code = d.class_code.strip()
    if code:
        Classes(session).require(d.kind, code, allow_big=True)
    value = d.scope_value.strip().upper() if d.scope_type == "area_class" else d.scope_value.strip()
    p = _scope_problem(session, d.scope_type, value)
    if p:
        raise bad("scope_value", *p)
    p = dept_problem(dept_lookup(session)[0], d.dept_org_id)
    if p:
        raise bad("dept_org_id", *p)
    values = {"kind": d.kind, "class_code": code, "scope_type": d.scope_type, "scope_value": value,
              "dept_org_id": d.dept_org_id, "note": d.note.strip()}
    clash = session.scalar(select(MatrixRule.id).where(
        MatrixRule.kind == values["kind"], MatrixRule.class_code == values["class_code"],
        MatrixRule.scope_type == values["scope_type"], MatrixRule.scope_value == values["scope_value"]))
    if clash is not None and clash != rule_id:
        raise _duplicate()
    obj = None if rule_id is None else get_rule(session, rule_id)
    before = None
    if obj is not None:
        check_version(obj, d.version, "责任矩阵规则", "matrix rule")
        before = _snap(obj)
    try:
        with session.begin_nested():
            if obj is None:
                obj = MatrixRule(**values)
                session.add(obj)
            else:
                for k, v in values.items():
                    setattr(obj, k, v)
            session.flush()
    except IntegrityError:
        raise _duplicate() from None
    audit_record(session, actor, "command_matrix_edit" if before else "command_matrix_create", "command_matrix",
                 obj.id, before=before, after=_snap(obj), summary="修改责任矩阵" if before else "新建责任矩阵规则")
    return obj


def delete_rule(session: Session, actor: Actor | None, rule_id: int, version: int | None) -> None:
    obj = get_rule(session, rule_id)
    check_version(obj, version, "责任矩阵规则", "matrix rule")
    before = _snap(obj)
    session.delete(obj)
    session.flush()
    audit_record(session, actor, "command_matrix_delete", "command_matrix", rule_id, before=before,
                 summary="删除责任矩阵规则")


def list_rules(session: Session, q: str = "", kind: str = "", page: int = 1,
               page_size: int = 20) -> tuple[list[MatrixRule], int]:
    where = []
    if kind in KINDS:
        where.append(MatrixRule.kind == kind)
    if q:
        where.append(or_(MatrixRule.class_code.startswith(q, autoescape=True),
                         MatrixRule.scope_value.contains(q, autoescape=True),
                         MatrixRule.note.contains(q, autoescape=True)))
    total = session.scalar(select(func.count()).select_from(MatrixRule).where(*where)) or 0
    rows = session.scalars(select(MatrixRule).where(*where)
                           .order_by(MatrixRule.kind, MatrixRule.class_code, MatrixRule.scope_type,
                                     MatrixRule.scope_value)
                           .limit(page_size).offset((max(page, 1) - 1) * page_size)).all()
    return list(rows), total


# --- the suggestion -------------------------------------------------------------------------

@dataclass(frozen=True)
class Suggestion:
    """A suggested department and why (the rule or standard it came from)."""

    dept_org_id: int
    dept_name: str
    source: str            # "matrix" or "standard"
    rule_id: int | None
    scope_type: str
    class_code: str
    grid_code: str
    reason: str
    reason_en: str


def suggest_department(session: Session, class_code: str, point_or_grid: Any, *,
                       kind: str | None = None) -> Suggestion | None:
    """The department to dispatch a ``class_code`` problem at ``point_or_grid`` to.

    ``class_code`` is ``"E0101"``/``"C0101"`` (or ``"0101"`` with ``kind``);
    ``point_or_grid`` is a grid code or a ``(longitude, latitude)`` pair. An
    unknown class or a point outside every grid raises ValidationFailed;
    None means no rule or standard names a department (the dispatcher
    chooses). Inactive departments are never suggested.
    """
    kind, code = split_class(class_code, kind)
    classes = Classes(session)
    classes.require(kind, code)
    if isinstance(point_or_grid, str):
        grid = session.scalar(select(Grid).where(Grid.code == point_or_grid))
        if grid is None:
            raise bad("grid_code", f"网格 {point_or_grid} 不存在", f"grid {point_or_grid} does not exist")
        grid_code, street, area_class = grid.code, grid.street_code, grid.area_class
    else:
        try:
            x, y = point_or_grid
        except (TypeError, ValueError):
            raise bad("x", "位置应为网格编码或（经度, 纬度）", "location must be a grid code or (longitude, latitude)") from None
        loc = grids.locate(session, x, y)
        grid_code, street, area_class = loc.grid_code, loc.street_code, loc.area_class
    orgs = dept_lookup(session)[0]
    scope_match = {"grid": grid_code, "street": street, "area_class": area_class, "any": ""}
    rules = session.scalars(select(MatrixRule).where(
        MatrixRule.kind == kind, MatrixRule.class_code.in_([code, code[:2], ""]),
        or_(*[(MatrixRule.scope_type == t) & (MatrixRule.scope_value == v) for t, v in scope_match.items()])))
    ranked = sorted(rules, key=lambda r: (SCOPE_RANK[r.scope_type], -len(r.class_code), r.id))
    for r in ranked:
        o = orgs.get(r.dept_org_id)
        if o is None or not o.active:
            continue
        street_zh = session.scalar(select(Region.name).where(Region.code == street)) if r.scope_type == "street" else None
        scope_zh = {"grid": f"网格 {grid_code}", "street": f"街道 {street_zh or street}",
                    "area_class": f"{area_class} 类区域", "any": "全部区域"}[r.scope_type]
        class_zh = f"{r.class_code} {classes.name(kind, r.class_code)}".strip() if r.class_code else "全部分类"
        return Suggestion(o.id, o.name, "matrix", r.id, r.scope_type, code, grid_code,
                          f"责任矩阵：{KIND_ZH[kind]} {class_zh} × {scope_zh} → {o.name}",
                          f"matrix: {kind} {r.class_code or 'any class'} x {r.scope_type} → {o.name}")
    std = session.scalars(select(Standard).where(
        Standard.kind == kind, Standard.class_code == code, Standard.active.is_(True),
        Standard.dept_org_id.is_not(None), Standard.area_class.in_([area_class, ""]))
        .order_by(Standard.condition_code)).all()
    std = sorted(std, key=lambda s: (0 if s.area_class == area_class else 1, s.condition_code))
    for s in std:
        o = orgs.get(s.dept_org_id)
        if o is not None and o.active:
            return Suggestion(o.id, o.name, "standard", None, "standard", code, grid_code,
                              f"立案结案标准中的责任部门：{o.name}", f"department of the filing standard: {o.name}")
    return None


# --- import / export -------------------------------------------------------------------------

COLUMNS = ["kind", "class_code", "scope_type", "scope_value", "department", "note"]
ALIASES = {c: c for c in COLUMNS} | {"类型": "kind", "分类编码": "class_code", "范围类型": "scope_type",
                                     "范围": "scope_value", "责任部门": "department", "备注": "note"}
KIND_ALIASES = {"component": "component", "部件": "component", "event": "event", "事件": "event"}
SCOPE_ALIASES = {"grid": "grid", "网格": "grid", "street": "street", "街道": "street", "area_class": "area_class",
                 "区域类别": "area_class", "any": "any", "全部": "any", "": "any"}


@dataclass
class MatrixOutcome:
    total: int
    created: int
    updated: int
    skipped: int
    errors: list[RowError]


def import_rules(session: Session, actor: Actor | None, filename: str, content: bytes, skip_bad: bool = False,
                 progress: Callable[[int], None] | None = None) -> MatrixOutcome:
    classes = Classes(session)
    orgs, by_name = dept_lookup(session)
    errors: list[RowError] = []
    rows = []
    total = 0
    for line, v in read_rows(filename, content, ALIASES, 100_000):
        total += 1
        before = len(errors)
        kind = KIND_ALIASES.get(v.get("kind", "").lower())
        if kind is None:
            errors.append(RowError(line, "kind", "类型应为 部件/事件", "kind must be component or event"))
        code = v.get("class_code", "")
        if kind and code:
            p = classes.problem(kind, code, allow_big=True)
            if p:
                errors.append(RowError(line, "class_code", *p))
        scope = SCOPE_ALIASES.get(v.get("scope_type", "").lower())
        value = v.get("scope_value", "")
        if scope is None:
            errors.append(RowError(line, "scope_type", "范围类型应为 网格/街道/区域类别/全部",
                                   "scope type must be grid, street, area_class or any"))
        else:
            value = value.upper() if scope == "area_class" else value
            p = _scope_problem(session, scope, value)
            if p:
                errors.append(RowError(line, "scope_value", *p))
        dept, p = resolve_dept(orgs, by_name, v.get("department", ""))
        if p or dept is None:
            errors.append(RowError(line, "department", *(p or ("责任部门不能为空", "department is empty"))))
        if len(errors) == before:
            rows.append({"kind": kind, "class_code": code, "scope_type": scope, "scope_value": value,
                         "dept_org_id": dept, "note": v.get("note", "")[:200]})
    bad_rows = {e.row for e in errors}
    if errors and not skip_bad:
        raise refused(errors, len(bad_rows))
    existing = {(r.kind, r.class_code, r.scope_type, r.scope_value): r for r in session.scalars(select(MatrixRule))}
    created = updated = 0
    for r in rows:
        key = (r["kind"], r["class_code"], r["scope_type"], r["scope_value"])
        if key in existing:
            existing[key].dept_org_id, existing[key].note = r["dept_org_id"], r["note"]
            updated += 1
        else:
            existing[key] = MatrixRule(**r)
            session.add(existing[key])
            created += 1
    session.flush()
    if progress:
        progress(total)
    audit_record(session, actor, "command_matrix_import", "command_matrix", filename[:64],
                 after={"file": filename[:200], "created": created, "updated": updated, "skipped": len(bad_rows)},
                 summary=f"导入责任矩阵 {filename[:80]}（新增 {created}，更新 {updated}）")
    return MatrixOutcome(total, created, updated, len(bad_rows), errors)


def export_rows(session: Session) -> Iterable[list[Any]]:
    orgs = dept_lookup(session)[0]
    for r in session.scalars(select(MatrixRule).order_by(MatrixRule.kind, MatrixRule.class_code,
                                                         MatrixRule.scope_type, MatrixRule.scope_value)):
        o = orgs.get(r.dept_org_id)
        yield [r.kind, r.class_code, r.scope_type, r.scope_value, o.name if o else r.dept_org_id, r.note]
