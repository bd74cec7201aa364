"""Pieces every base-data service shares: class codes, departments, area
codes, serial numbers, row errors, reading CSV/XLSX and writing XLSX.

Class codes come from core's 数据字典 (``gbt30428.component`` and
``gbt30428.event``), read through the facade; nothing is copied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ccms.api import (
    CcmsError, DictEntry, PluginContext, ValidationFailed, dict_entries, field_error, get_settings, org_info,
    org_region_codes,
)
from ccms.api import read_table, tabular_bad_file

from .models import KINDS, Serial

PLUGIN_ID = "command"
DICT_OF_KIND = {"component": "gbt30428.component", "event": "gbt30428.event"}
KIND_ZH = {"component": "部件", "event": "事件"}
AREA_CODE_RE = re.compile(r"^\d{6}$")
MAX_FILE_BYTES = 64 * 1024 * 1024


def settings(ctx: PluginContext, session: Session | None = None) -> dict[str, Any]:
    """The plugin's effective settings (defaults from plugin.json)."""
    return get_settings(ctx, PLUGIN_ID, session)


def bad(field: str, zh: str, en: str) -> ValidationFailed:
    """A validation error tied to one field (forms show it inline)."""
    return ValidationFailed(zh, en, fields=field_error(field, zh, en))


# --- classes ------------------------------------------------------------------------

def split_class(code: str, kind: str | None = None) -> tuple[str, str]:
    """``(kind, 4-digit small class)`` from ``"E0101"``/``"C0101"`` or from
    ``"0101"`` plus an explicit kind."""
    code = (code or "").strip()
    if code[:1].upper() in ("C", "E") and len(code) > 1:
        prefix_kind = "component" if code[0].upper() == "C" else "event"
        if kind and kind != prefix_kind:
            raise bad("class_code", f"分类编码 {code} 的前缀与类型“{KIND_ZH.get(kind, kind)}”不符",
                      f"class code {code!r} does not match kind {kind!r}")
        return prefix_kind, code[1:]
    if kind not in KINDS:
        raise bad("kind", "请指明类型：部件（C）或事件（E）", "say the kind: component (C) or event (E)")
    return kind, code


class Classes:
    """The small and big classes of both dictionaries, loaded once per use."""

    def __init__(self, session: Session) -> None:
        self.by_kind: dict[str, dict[str, DictEntry]] = {k: dict_entries(session, d) for k, d in DICT_OF_KIND.items()}

    def entry(self, kind: str, code: str) -> DictEntry | None:
        return self.by_kind.get(kind, {}).get(code)

    def is_small(self, kind: str, code: str) -> bool:
        e = self.entry(kind, code)
        return e is not None and e.parent_code is not None

    def is_big(self, kind: str, code: str) -> bool:
        e = self.entry(kind, code)
        return e is not None and e.parent_code is None

    def name(self, kind: str, code: str) -> str:
        e = self.entry(kind, code)
        return e.name if e else ""

    def small_classes(self, kind: str) -> list[DictEntry]:
        return sorted((e for e in self.by_kind.get(kind, {}).values() if e.parent_code), key=lambda e: e.code)

    def problem(self, kind: str, code: str, *, allow_big: bool = False) -> tuple[str, str] | None:
        """None when ``code`` is a small class (or big class if allowed) of ``kind``; else a bilingual message."""
        if kind not in KINDS:
            return (f"类型应为 component（部件）或 event（事件），而不是 {kind}",
                    f"kind must be component or event, not {kind!r}")
        if not code:
            return ("分类编码不能为空", "class code is empty")
        ok = self.is_small(kind, code) or (allow_big and self.is_big(kind, code))
        if ok:
            return None
        if not re.fullmatch(r"\d{4}" if not allow_big else r"\d{2}|\d{4}", code):
            return (f"分类编码 {code} 格式不正确（小类为 4 位数字）",
                    f"class code {code!r} is malformed (a small class has 4 digits)")
        return (f"{KIND_ZH[kind]}分类中没有编码为 {code} 的小类（见 应用维护 → 数据字典）",
                f"there is no {kind} small class {code!r} (see the data dictionary)")

    def require(self, kind: str, code: str, field: str = "class_code", *, allow_big: bool = False) -> None:
        p = self.problem(kind, code, allow_big=allow_big)
        if p:
            raise bad(field, *p)


# --- departments and area codes -----------------------------------------------------

def dept_problem(orgs: dict[int, Any], value: Any) -> tuple[str, str] | None:
    """A department reference must be an existing, active org."""
    if value is None or value == "":
        return None
    try:
        oid = int(value)
    except (TypeError, ValueError):
        return (f"部门应为机构编号，而不是 {value}", f"a department must be an org id, not {value!r}")
    o = orgs.get(oid)
    if o is None:
        return (f"部门（机构编号 {oid}）不存在", f"department (org id {oid}) does not exist")
    if not o.active:
        return (f"部门“{o.name}”已停用", f"department {o.name!r} is deactivated")
    return None


def resolve_dept(orgs: dict[int, Any], by_name: dict[str, int], value: str) -> tuple[int | None, tuple[str, str] | None]:
    """An import cell naming a department by org id or by exact name."""
    value = (value or "").strip()
    if not value:
        return None, None
    if value.isdigit():
        p = dept_problem(orgs, value)
        return (None, p) if p else (int(value), None)
    oid = by_name.get(value)
    if oid is None:
        return None, (f"部门“{value}”不存在（填写机构名称或编号）",
                      f"department {value!r} does not exist (give an org name or id)")
    return oid, dept_problem(orgs, oid)


def dept_lookup(session: Session) -> tuple[dict[int, Any], dict[str, int]]:
    """Every org by id, and the ids of unique org names (for imports)."""
    orgs = org_info(session)
    by_name: dict[str, int] = {}
    dupes: set[str] = set()
    for o in orgs.values():
        if o.name in by_name:
            dupes.add(o.name)
        by_name[o.name] = o.id
    for d in dupes:
        by_name.pop(d, None)
    return orgs, by_name


def area_codes(ctx: PluginContext, session: Session) -> set[str]:
    """County codes (GB/T 2260) valid in identifiers: the settings list, or
    the region codes of the org tree when the list is empty."""
    configured = [c for c in settings(ctx, session).get("area_codes", []) if c]
    if configured:
        return set(configured)
    codes = org_region_codes(session)
    if ctx.region_code:
        codes.add(ctx.region_code)
    return {c for c in codes if AREA_CODE_RE.match(c)}


# --- serials ------------------------------------------------------------------------

def take_serials(session: Session, scope: str, count: int = 1, floor: int = 0) -> int:
    """Reserve ``count`` consecutive serials of ``scope``; returns the first.

    One atomic ``UPDATE ... RETURNING`` (row lock on PostgreSQL, database lock
    on SQLite), so concurrent transactions never share a number. ``floor`` is
    the highest serial already in use when the scope is first seen.
    """
    t = Serial.__table__
    for _ in range(3):
        end = session.execute(update(t).where(t.c.scope == scope).values(next_value=t.c.next_value + count)
                              .returning(t.c.next_value)).scalar()
        if end is not None:
            return int(end) - count
        try:
            with session.begin_nested():
                session.execute(insert(t).values(scope=scope, next_value=floor + 1 + count))
            return floor + 1
        except IntegrityError:  # another transaction created the scope first
            continue
    raise RuntimeError(f"cannot allocate a serial for {scope}")


def raise_serial_floor(session: Session, scope: str, used: int) -> None:
    """After explicit numbers were stored, make sure the next generated one is above them."""
    t = Serial.__table__
    session.execute(update(t).where(t.c.scope == scope, t.c.next_value <= used).values(next_value=used + 1))


# --- import reports and files -------------------------------------------------------

@dataclass
class RowError:
    """One fault of an import file: ``row`` as in the file (header = 1), or
    the feature number of a GeoJSON file."""

    row: int
    column: str
    message: str
    message_en: str
    ref: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message, "message_en": self.message_en,
                "ref": self.ref}


class ImportRefused(ValidationFailed):
    """The file has faults; nothing was written. ``rows`` lists each fault."""

    code = "import_failed"

    def __init__(self, zh: str, en: str, rows: list[RowError], job_id: int | None = None) -> None:
        super().__init__(zh, en)
        self.rows = rows
        self.job_id = job_id

    def to_json(self) -> dict[str, Any]:
        body = super().to_json()
        body["error"]["rows"] = [r.as_dict() for r in self.rows[:1000]]
        body["error"]["error_count"] = len(self.rows)
        if self.job_id is not None:
            body["error"]["import_id"] = self.job_id
        return body


def refused(errors: list[RowError], bad_rows: int, job_id: int | None = None) -> ImportRefused:
    return ImportRefused(f"导入未执行：{bad_rows} 行/要素有错误（共 {len(errors)} 处），未写入任何数据；"
                         "请修正后重新导入，或选择跳过有错误的行",
                         f"nothing imported: {bad_rows} row(s)/feature(s) have errors ({len(errors)} in all); "
                         "fix the file and import again, or choose to skip the bad rows", errors, job_id)


def read_rows(filename: str, content: bytes, aliases: dict[str, str], max_rows: int) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line, {column: text})`` of a CSV (UTF-8 or GB18030) or XLSX file.

    Header cells are mapped through ``aliases`` (Chinese or English names);
    unknown columns are ignored. Streams rows, so 100,000 rows stay cheap.
    """
    table = read_table(filename, content, max_bytes=MAX_FILE_BYTES, max_rows=max_rows)
    if not table.header:
        raise tabular_bad_file("文件中没有数据", "the file has no rows")
    if not any(aliases.get(h.strip().lower(), aliases.get(h.strip())) for h in table.header):
        raise tabular_bad_file("第 1 行应为表头（列名），但没有认出任何列",
                               "row 1 must be the header, but no known column was found")
    for line, rec in table.records(aliases):
        yield line, {c: v.strip() for c, v in rec.items() if v is not None}


def parse_float(v: str) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def message_of(exc: CcmsError) -> tuple[str, str]:
    return exc.zh, exc.en
