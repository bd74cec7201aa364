"""立案结案标准: filing and closing standards per small class.

One row = one condition of a class (立案条件 → 结案条件) with its time
limit for an area class (A/B/C, or empty for every class) and urgency
(``normal``/``urgent``), in working hours or working days, and the
department usually responsible. Cities set these themselves, so all of it
is data: edited on screen or imported from CSV/XLSX.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ccms.api import Actor, NotFound, ValidationFailed, audit_record, check_version, validate

from .common import (
    Classes, RowError, bad, dept_lookup, dept_problem, parse_float, read_rows, refused, resolve_dept, split_class,
)
from .models import AREA_CLASSES, KINDS, Standard

URGENCIES = ("normal", "urgent")
UNITS = ("work_hours", "work_days")
UNIT_ALIASES = {"work_hours": "work_hours", "工作时": "work_hours", "小时": "work_hours", "h": "work_hours",
                "work_days": "work_days", "工作日": "work_days", "天": "work_days", "d": "work_days"}
URGENCY_ALIASES = {"normal": "normal", "一般": "normal", "普通": "normal", "": "normal",
                   "urgent": "urgent", "紧急": "urgent"}
KIND_ALIASES = {"component": "component", "部件": "component", "c": "component",
                "event": "event", "事件": "event", "e": "event"}
COLUMNS = ["kind", "class_code", "condition_code", "filing_condition", "closing_condition", "area_class",
           "urgency", "time_limit", "time_unit", "department"]
ALIASES = {c: c for c in COLUMNS} | {
    "类型": "kind", "分类编码": "class_code", "小类编码": "class_code", "条件编号": "condition_code",
    "立案条件": "filing_condition", "结案条件": "closing_condition", "区域类别": "area_class", "紧急程度": "urgency",
    "时限": "time_limit", "处置时限": "time_limit", "时限单位": "time_unit", "责任部门": "department",
    "dept_org_id": "department"}


class StandardIn(BaseModel):
    """A standard row as edited on screen or posted to the API."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(pattern="^(component|event)$")
    class_code: str = Field(min_length=1, max_length=8)
    condition_code: str = Field("01", pattern=r"^[0-9A-Za-z]{1,8}$")
    filing_condition: str = Field(min_length=1, max_length=2000)
    closing_condition: str = Field(min_length=1, max_length=2000)
    area_class: str = Field("", pattern="^[ABC]?$")
    urgency: str = Field("normal", pattern="^(normal|urgent)$")
    time_limit: float = Field(gt=0, le=100000)
    time_unit: str = Field("work_hours", pattern="^(work_hours|work_days)$")
    dept_org_id: int | None = None
    active: bool = True
    version: int | None = None


def _snapshot(s: Standard) -> dict[str, Any]:
    return {k: getattr(s, k) for k in ("kind", "class_code", "condition_code", "filing_condition", "closing_condition",
                                       "area_class", "urgency", "time_limit", "time_unit", "dept_org_id", "active")}


def get_standard(session: Session, standard_id: int) -> Standard:
    s = session.get(Standard, standard_id)
    if s is None:
        raise NotFound(f"立案结案标准 {standard_id} 不存在", f"standard {standard_id} does not exist")
    return s


def _duplicate() -> ValidationFailed:
    return ValidationFailed("同一小类、条件、区域类别和紧急程度的标准已存在",
                            "a standard for this class, condition, area class and urgency already exists",
                            fields={"condition_code": {"message": "该条件已有相同区域类别和紧急程度的标准",
                                                       "message_en": "duplicate rule"}})


def save_standard(session: Session, actor: Actor | None, data: StandardIn | dict[str, Any],
                  standard_id: int | None = None) -> Standard:
    """Create a standard, or update ``standard_id`` (with the version the editor read)."""
    d = data if isinstance(data, StandardIn) else validate(StandardIn, dict(data))
    Classes(session).require(d.kind, d.class_code.strip())
    orgs = dept_lookup(session)[0]
    p = dept_problem(orgs, d.dept_org_id)
    if p:
        raise bad("dept_org_id", *p)
    values = d.model_dump(exclude={"version"})
    values["class_code"] = d.class_code.strip()
    key = (values["kind"], values["class_code"], values["condition_code"], values["area_class"], values["urgency"])
    clash = session.scalar(select(Standard.id).where(
        Standard.kind == key[0], Standard.class_code == key[1], Standard.condition_code == key[2],
        Standard.area_class == key[3], Standard.urgency == key[4]))
    if clash is not None and clash != standard_id:
        raise _duplicate()
    obj = None if standard_id is None else get_standard(session, standard_id)
    before = None
    if obj is not None:
        check_version(obj, d.version, "立案结案标准", "standard")
        before = _snapshot(obj)
    try:
        with session.begin_nested():  # a concurrent twin still ends as a field error
            if obj is None:
                obj = Standard(**values)
                session.add(obj)
            else:
                for k, v in values.items():
                    setattr(obj, k, v)
            session.flush()
    except IntegrityError:
        raise _duplicate() from None
    audit_record(session, actor, "command_standard_edit" if before else "command_standard_create", "command_standard",
                 obj.id, before=before, after=_snapshot(obj),
                 summary=f"{'修改' if before else '新建'}立案结案标准 {obj.kind} {obj.class_code}/{obj.condition_code}")
    return obj


def delete_standard(session: Session, actor: Actor | None, standard_id: int, version: int | None) -> None:
    obj = get_standard(session, standard_id)
    check_version(obj, version, "立案结案标准", "standard")
    before = _snapshot(obj)
    session.delete(obj)
    session.flush()
    audit_record(session, actor, "command_standard_delete", "command_standard", standard_id, before=before,
                 summary=f"删除立案结案标准 {before['kind']} {before['class_code']}")


def list_standards(session: Session, q: str = "", kind: str = "", page: int = 1,
                   page_size: int = 20) -> tuple[list[Standard], int]:
    """Standards by class; ``q`` matches the class code or name or the condition texts."""
    where = []
    if kind in KINDS:
        where.append(Standard.kind == kind)
    if q:
        classes = Classes(session)
        named = [(k, e.code) for k in KINDS for e in classes.small_classes(k) if q in e.name]
        conds = [Standard.class_code.contains(q, autoescape=True),
                 Standard.filing_condition.contains(q, autoescape=True),
                 Standard.closing_condition.contains(q, autoescape=True)]
        for k, c in named[:200]:
            conds.append((Standard.kind == k) & (Standard.class_code == c))
        where.append(or_(*conds))
    total = session.scalar(select(func.count()).select_from(Standard).where(*where)) or 0
    rows = session.scalars(select(Standard).where(*where)
                           .order_by(Standard.kind, Standard.class_code, Standard.condition_code, Standard.area_class,
                                     Standard.urgency)
                           .limit(page_size).offset((max(page, 1) - 1) * page_size)).all()
    return list(rows), total


def find_standard(session: Session, class_code: str, *, kind: str | None = None, condition_code: str | None = None,
                  area_class: str = "", urgency: str = "normal", classes: Classes | None = None) -> Standard | None:
    """The active standard that applies: the exact area class before the
    any-class row; without ``condition_code`` the class's first condition.
    ``classes``: the dictionaries when the caller has loaded them (a load reads both)."""
    kind, code = split_class(class_code, kind)
    (classes or Classes(session)).require(kind, code)
    stmt = select(Standard).where(Standard.kind == kind, Standard.class_code == code, Standard.active.is_(True),
                                  Standard.urgency == urgency, Standard.area_class.in_([area_class or "", ""]))
    if condition_code:
        stmt = stmt.where(Standard.condition_code == condition_code)
    rows = list(session.scalars(stmt))
    rows.sort(key=lambda s: (s.condition_code, 0 if s.area_class == area_class and area_class else 1))
    return rows[0] if rows else None


# --- import / export -------------------------------------------------------------------------

@dataclass
class StandardsOutcome:
    total: int
    created: int
    updated: int
    skipped: int
    errors: list[RowError]


def import_standards(session: Session, actor: Actor | None, filename: str, content: bytes, skip_bad: bool = False,
                     progress: Any = None) -> StandardsOutcome:
    """Create or update standards from CSV/XLSX (key: kind, class, condition, area class, urgency).

    All or nothing unless ``skip_bad``: every row is checked first and the
    faults are listed per row.
    """
    classes = Classes(session)
    orgs, by_name = dept_lookup(session)
    errors: list[RowError] = []
    rows: list[tuple[int, dict[str, Any]]] = []
    seen: dict[tuple[str, ...], int] = {}
    total = 0
    for line, v in read_rows(filename, content, ALIASES, 100_000):
        total += 1
        before = len(errors)
        kind = KIND_ALIASES.get(v.get("kind", "").lower())
        if kind is None:
            errors.append(RowError(line, "kind", "类型应为 部件/事件（component/event）",
                                   "kind must be component or event"))
        code = v.get("class_code", "")
        if kind:
            if code[:1].upper() in ("C", "E") and len(code) == 5:
                code = code[1:]
            p = classes.problem(kind, code)
            if p:
                errors.append(RowError(line, "class_code", *p))
        cond = v.get("condition_code") or "01"
        area = v.get("area_class", "").upper()
        if area not in ("", *AREA_CLASSES):
            errors.append(RowError(line, "area_class", f"区域类别应为 A、B、C 或留空，而不是 {area}",
                                   f"area class must be A, B, C or empty, not {area!r}"))
        urgency = URGENCY_ALIASES.get(v.get("urgency", "").lower())
        if urgency is None:
            errors.append(RowError(line, "urgency", "紧急程度应为 一般/紧急（normal/urgent）",
                                   "urgency must be normal or urgent"))
        limit = parse_float(v.get("time_limit", ""))
        if limit is None or not 0 < limit <= 100000:
            errors.append(RowError(line, "time_limit", "时限应为大于 0 的数字", "time limit must be a number above 0"))
        unit = UNIT_ALIASES.get(v.get("time_unit", "work_hours").lower() or "work_hours")
        if unit is None:
            errors.append(RowError(line, "time_unit", "时限单位应为 工作时/工作日（work_hours/work_days）",
                                   "time unit must be work_hours or work_days"))
        for col in ("filing_condition", "closing_condition"):
            if not v.get(col):
                errors.append(RowError(line, col, "立案条件和结案条件不能为空", "conditions must not be empty"))
        dept, p = resolve_dept(orgs, by_name, v.get("department", ""))
        if p:
            errors.append(RowError(line, "department", *p))
        key = (kind or "", code, cond, area, urgency or "")
        if len(errors) == before and key in seen:
            errors.append(RowError(line, "class_code", f"与第 {seen[key]} 行重复（同一小类、条件、区域类别、紧急程度）",
                                   f"repeats row {seen[key]} (same class, condition, area class, urgency)"))
        if len(errors) == before:
            seen[key] = line
            rows.append((line, {"kind": kind, "class_code": code, "condition_code": cond, "area_class": area,
                                "urgency": urgency, "time_limit": limit, "time_unit": unit, "dept_org_id": dept,
                                "filing_condition": v["filing_condition"][:2000],
                                "closing_condition": v["closing_condition"][:2000], "active": True}))
    bad_rows = {e.row for e in errors}
    if errors and not skip_bad:
        raise refused(errors, len(bad_rows))
    existing = {(s.kind, s.class_code, s.condition_code, s.area_class, s.urgency): s
                for s in session.scalars(select(Standard))}
    created = updated = 0
    for _line, r in rows:
        key = (r["kind"], r["class_code"], r["condition_code"], r["area_class"], r["urgency"])
        obj = existing.get(key)
        if obj is None:
            session.add(Standard(**r))
            created += 1
        else:
            for k, val in r.items():
                setattr(obj, k, val)
            updated += 1
    session.flush()
    if progress:
        progress(total)
    audit_record(session, actor, "command_standard_import", "command_standard", filename[:64],
                 after={"file": filename[:200], "created": created, "updated": updated, "skipped": len(bad_rows)},
                 summary=f"导入立案结案标准 {filename[:80]}（新增 {created}，更新 {updated}）")
    return StandardsOutcome(total, created, updated, len(bad_rows), errors)


def export_rows(session: Session) -> Iterable[list[Any]]:
    orgs = dept_lookup(session)[0]
    for s in session.scalars(select(Standard).order_by(Standard.kind, Standard.class_code, Standard.condition_code,
                                                       Standard.area_class, Standard.urgency)):
        dept = orgs.get(s.dept_org_id)
        yield [s.kind, s.class_code, s.condition_code, s.filing_condition, s.closing_condition, s.area_class,
               s.urgency, s.time_limit, s.time_unit, dept.name if dept else ""]
