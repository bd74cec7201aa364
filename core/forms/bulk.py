"""Bulk import of form records (批量导入): all or nothing.

Every row is checked with the form's PUBLISHED definition first (the same
validator a single save uses, references included); when any row fails,
nothing is written and the report lists the errors by row number (1 = first
data row). Otherwise the records go in with executemany, in batches, each
with one ``import`` history row (its full data as ``after``), and ONE audit
entry records the import with its count — not one entry per record.

:func:`read_table` turns a CSV or XLSX upload into rows of strings keyed by
field name (the header may use field names or their zh-CN/en labels); pass
``strings=True`` to :func:`import_records` so they are coerced like a form
post (numbers, dates, booleans, choices).
"""

from __future__ import annotations

import csv
import gc
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..db import utcnow
from ..errors import ValidationFailed
from . import records
from .definition import FormDefinition
from .models import FormRecord, FormRecordHistory

MAX_REPORTED = 200  # errors listed in the report; the count covers all of them
PROGRESS_EVERY = 500  # rows between progress calls while checking


@dataclass
class ImportReport:
    """What an import did: ``imported`` records written (0 when any row failed),
    ``rows`` read, ``errors`` row number -> field errors (the first MAX_REPORTED
    failing rows), ``failed`` how many rows failed in all."""

    rows: int = 0
    imported: int = 0
    failed: int = 0
    errors: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failed == 0


def _check_rows(v: Any, rows: Iterable[Any], strings: bool, report: ImportReport,
                progress: Callable[[int, str], None] | None = None) -> list[dict[str, Any]]:
    clean: list[dict[str, Any]] = []
    for n, raw in enumerate(rows, start=1):
        report.rows = n
        if progress is not None and n % PROGRESS_EVERY == 0:
            progress(n, "check")
        if not isinstance(raw, Mapping):
            errors: dict[str, Any] = {"_": {"message": "数据应为 JSON 对象", "message_en": "data must be a JSON object"}}
            values: dict[str, Any] = {}
        elif strings:
            values, errors = v.from_post(raw)
        else:
            values, errors = v.clean(raw)
        if errors:
            report.failed += 1
            if len(report.errors) < MAX_REPORTED:
                report.errors[n] = dict(errors)
            continue
        if not report.failed:  # once a row failed nothing is written: stop collecting
            clean.append(values)
    return clean


def import_records(session: Session, actor: Actor | None, ctx: Any, form_id: str, rows: Iterable[Any],
                   org_id: int, *, batch: int = 1000, strings: bool = False,
                   progress: Callable[[int, str], None] | None = None) -> ImportReport:
    """Validate every row, then insert them all (or, when any row fails, none).

    ``rows``: JSON objects (``strings=True``: form-post strings, e.g. from
    :func:`read_table`). All records belong to ``org_id``. ``progress(done, phase)``
    (optional) hears how far the checking (``"check"``) and the writing
    (``"write"``) got, e.g. for a job's progress bar. Returns the report;
    check ``report.ok`` — a failed import raises nothing and writes nothing.
    """
    with _gc_paused():
        return _import(session, actor, ctx, form_id, rows, org_id, batch, strings, progress)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while an import holds its rows: they are plain dicts
    and lists (freed by reference counting), but every collection would walk all of them
    again — a quarter of a 100,000-row import's time. Process-wide for those seconds; the
    previous state is restored, and cycles made meanwhile are collected afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _import(session: Session, actor: Actor | None, ctx: Any, form_id: str, rows: Iterable[Any], org_id: int,
            batch: int, strings: bool, progress: Callable[[int, str], None] | None) -> ImportReport:
    definition = records.published(session, form_id)
    version = records.published_version(session, form_id)
    org = records._org(session, org_id)
    v = records.bound_validator(ctx, session, definition)
    report = ImportReport()
    clean = _check_rows(v, rows, strings, report, progress)
    if progress is not None:
        progress(report.rows, "check")
    if report.failed:
        return report
    who = actor.id if actor else None
    name = (actor.name if actor else "system")[:100]
    now = utcnow()
    size = max(1, int(batch))
    record_table, history_table = FormRecord.__table__, FormRecordHistory.__table__
    sqlite = session.get_bind().dialect.name == "sqlite"
    for start in range(0, len(clean), size):
        chunk = clean[start:start + size]
        params = [{"form_id": form_id, "def_version": version, "org_id": org, "data": values, "created_at": now,
                   "created_by": who, "updated_at": now, "updated_by": who, "version": 1} for values in chunk]
        if sqlite:
            ids = _insert_sqlite(session, record_table, params)
        else:
            ids = session.execute(insert(record_table).returning(record_table.c.id, sort_by_parameter_order=True),
                                  params).scalars().all()
        session.execute(insert(history_table), [
            {"record_id": rid, "at": now, "actor_id": who, "actor_name": name, "action": "import",
             "def_version": version, "changes": {"before": {}, "after": values}}
            for rid, values in zip(ids, chunk, strict=True)])
        report.imported += len(chunk)
        if progress is not None:
            progress(report.imported, "write")
    audit.record(session, actor, "form_record.import", f"form:{form_id}", "",
                 after={"count": report.imported, "org_id": org},
                 summary=f"批量导入表单 {form_id} 记录 {report.imported} 条")
    return report


def _insert_sqlite(session: Session, table: Any, params: list[dict[str, Any]]) -> list[int]:
    """Insert the rows with one executemany and return their ids in order.

    ``RETURNING`` with ``sort_by_parameter_order`` makes SQLAlchemy send SQLite one INSERT per
    row (a third of an import's time). After the executemany this transaction holds SQLite's
    write lock until commit, so nobody else can insert, and SQLite gives each new row
    max(id) + 1: the rows just written are the ``len(params)`` highest ids, in order."""
    session.execute(insert(table), params)
    id_col = table.c.id
    ids = list(session.scalars(select(id_col).order_by(id_col.desc()).limit(len(params))))
    ids.reverse()
    return ids


# --- files ------------------------------------------------------------------------------------------

def _bad_file(zh: str, en: str) -> ValidationFailed:
    return ValidationFailed(zh, en, fields={"file": {"message": zh, "message_en": en}})


def _header_map(definition: FormDefinition, header: list[Any]) -> list[str | None]:
    """Header cells to field names: a name, or its zh-CN or en label; unknown columns are ignored."""
    known: dict[str, str] = {}
    for name in definition.fields:
        for key in (name, definition.label(name, "zh-CN"), definition.label(name, "en")):
            known.setdefault(str(key).strip(), name)
    return [known.get(str(h).strip()) if h is not None else None for h in header]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_table(definition: FormDefinition, content: bytes, filename: str) -> list[dict[str, str]]:
    """Rows of a CSV (UTF-8, BOM allowed, or GB18030) or XLSX file, first sheet,
    first row the header. Empty rows are skipped, so an import report's row
    numbers count the rows returned here (1 = first non-empty data row)."""
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        # lazy: openpyxl only for spreadsheet import/export
        from openpyxl import load_workbook
        try:
            sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).worksheets[0]
            table = [list(r) for r in sheet.iter_rows(values_only=True)]
        except Exception:  # noqa: BLE001 - any unreadable workbook is the user's file, not our bug
            raise _bad_file("无法读取该 Excel 文件", "the Excel file cannot be read") from None
    elif lower.endswith(".csv"):
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = content.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise _bad_file("CSV 文件编码无法识别（请用 UTF-8）", "unknown CSV encoding (use UTF-8)")
        table = [list(r) for r in csv.reader(io.StringIO(text))]
    else:
        raise _bad_file("只能导入 .csv 或 .xlsx 文件", "only .csv or .xlsx files can be imported")
    if not table:
        raise _bad_file("文件是空的", "the file is empty")
    names = _header_map(definition, table[0])
    if not any(names):
        raise _bad_file("表头没有可识别的字段", "no header cell names a field of the form")
    out = []
    for row in table[1:]:
        cells = {n: _cell(v) for n, v in zip(names, row) if n is not None}
        if any(cells.values()):
            out.append({k: c for k, c in cells.items() if c != ""})
    return out
