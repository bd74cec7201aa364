"""One reader and one writer for tabular files: CSV, XLSX (and JSON for reading).

Reading (:func:`read_table`): CSV in UTF-8 (with or without BOM) or
GB18030 (a superset of GBK, what Excel saves on Chinese Windows), XLSX
through openpyxl in read-only mode (first sheet, or one named), JSON as a
list of objects (or ``{"records": [...]}``). Size, row and cell limits are
checked here; every refusal is a ``ValidationFailed`` tied to the ``file``
field, in Chinese and English, naming the row (and column) where it can.
Rows stream, so 100,000 rows stay cheap.

Writing (:func:`write_table`, :func:`iter_csv`, :func:`iter_xlsx`): CSV
with a BOM so Excel shows Chinese, XLSX in write-only mode. Every cell goes
through ONE formula-neutralising rule (:func:`neutralise`): text that
starts with ``= + - @`` TAB or CR gets a leading apostrophe (OWASP, "CSV
injection"); numbers, dates and booleans are left alone, so ``-2`` the
number stays a number while ``"-2"`` the text is neutralised. Importers
that read our own exports back undo it with :func:`restore`.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ValidationFailed
from .validation import parse_json

__all__ = [
    "CSV_TYPE", "FORMULA_START", "JSON_TYPE", "MAX_BYTES", "MAX_CELL_CHARS", "XLSX_TYPE", "Table",
    "bad_file", "cell_text", "iter_csv", "iter_xlsx", "neutralise", "read_table", "restore", "write_table",
]

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JSON_TYPE = "application/json"
MAX_BYTES = 64 * 1024 * 1024
MAX_CELL_CHARS = 32_767  # Excel's own limit for one cell
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ENCODINGS = ("utf-8-sig", "gb18030")
_FORMAT_NAMES = {"csv": "CSV", "xlsx": "XLSX", "json": "JSON"}


def bad_file(zh: str, en: str) -> ValidationFailed:
    """A refusal of an uploaded file, shown next to its ``file`` field."""
    return ValidationFailed(zh, en, code="bad_file", fields={"file": {"message": zh, "message_en": en}})


def column_name(index: int) -> str:
    """Spreadsheet column letters of a 0-based index (0 → A, 26 → AA)."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def cell_text(value: Any) -> str:
    """A cell as text: empty for nothing, ``7`` for the float 7.0 Excel stores,
    ISO dates (without a midnight time), else ``str``; not stripped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    return str(value)


# --- reading ----------------------------------------------------------------------------

@dataclass
class Table:
    """A file's header (its first row; empty when the file has no rows) and its
    remaining rows as ``(line, cells)``; ``line`` counts from 1 = the header
    (for JSON: 1 = the first record, and there is no header row)."""

    format: str
    header: list[Any]
    rows: Iterator[tuple[int, list[Any]]]
    _records: Iterator[tuple[int, Any]] | None = None

    def records(self, aliases: dict[str, str] | None = None) -> Iterator[tuple[int, Any]]:
        """``(line, {column: cell})`` per row. ``aliases`` maps header text (as
        written, or lower-cased) to column names; unmapped columns are dropped.
        JSON records are yielded as they are (aliases rename their keys)."""
        if self._records is not None:
            for n, rec in self._records:
                if aliases is not None and isinstance(rec, dict):
                    rec = {aliases[k]: v for k, v in rec.items() if k in aliases}
                yield n, rec
            return
        if aliases is None:
            names: list[Any] = [cell_text(h).strip() or None for h in self.header]
        else:
            names = [aliases.get(cell_text(h).strip(), aliases.get(cell_text(h).strip().lower()))
                     for h in self.header]
        for line, cells in self.rows:
            yield line, {c: cells[i] if i < len(cells) else None for i, c in enumerate(names) if c}


def read_table(name: str, data: bytes, *, formats: Sequence[str] = ("csv", "xlsx"), max_bytes: int = MAX_BYTES,
               max_rows: int | None = None, sheet: str | None = None, text: bool = True,
               skip_blank: bool = True, objects_only: bool = True) -> Table:
    """Read an uploaded table named ``name`` (its extension picks the format).

    ``text`` turns every CSV/XLSX cell into a string (:func:`cell_text`);
    ``max_rows`` counts data rows (the header or JSON envelope excluded);
    ``skip_blank`` leaves out rows with no text (line numbers still count
    them); ``objects_only`` refuses a JSON record that is not an object."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in (name or "") else ""
    if ext not in formats:
        shown = "、".join(_FORMAT_NAMES.get(f, f) for f in formats)
        shown_en = " or ".join(_FORMAT_NAMES.get(f, f) for f in formats)
        raise bad_file(f"只能导入 {shown} 文件，“{name or '?'}”不是",
                       f"only {shown_en} files can be imported; {name or '?'!r} is neither")
    if not data:
        raise bad_file("文件是空的", "the file is empty")
    if len(data) > max_bytes:
        raise bad_file(f"文件太大（上限 {max_bytes // 1024 // 1024} MB）",
                       f"file too large (limit {max_bytes // 1024 // 1024} MB)")
    if ext == "json":
        return _read_json(data, max_rows, objects_only)
    raw = _xlsx_rows(data, sheet) if ext == "xlsx" else _csv_rows(data)
    first = next(raw, None)
    header = [] if first is None else [cell_text(v) for v in first] if text else list(first)
    return Table(ext, header, _data_rows(raw, max_rows, text, skip_blank))


def _data_rows(raw: Iterator[list[Any]], max_rows: int | None, text: bool,
               skip_blank: bool) -> Iterator[tuple[int, list[Any]]]:
    for line, row in enumerate(raw, start=2):
        if max_rows is not None and line - 1 > max_rows:
            raise bad_file(f"第 {line} 行：行数超过上限 {max_rows}（不含表头）",
                           f"row {line}: more than {max_rows} rows (header not counted)")
        cells = [cell_text(v) for v in row] if text else list(row)
        for i, v in enumerate(cells):
            if isinstance(v, str) and len(v) > MAX_CELL_CHARS:
                raise bad_file(f"第 {line} 行第 {column_name(i)} 列：单元格超过 {MAX_CELL_CHARS} 个字符",
                               f"row {line}, column {column_name(i)}: a cell is longer than {MAX_CELL_CHARS} characters")
        if skip_blank and not any(cell_text(v).strip() for v in cells):
            continue
        yield line, cells


def _decode(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise bad_file("文件扩展名是 .csv，但内容不是文本", "the file is named .csv but is not text")
    for enc in ENCODINGS:
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise bad_file("CSV 文件编码无法识别（请用 UTF-8）", "cannot decode the CSV file (use UTF-8)")


def _csv_rows(data: bytes) -> Iterator[list[Any]]:
    reader = csv.reader(io.StringIO(_decode(data)))
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise bad_file(f"CSV 格式错误（第 {reader.line_num} 行）：{exc}",
                           f"malformed CSV (row {reader.line_num}): {exc}") from None
        yield row


def _xlsx_rows(data: bytes, sheet: str | None) -> Iterator[list[Any]]:
    import openpyxl  # lazy: ~0.2 s to import; only imports and exports need it

    not_xlsx = bad_file("文件扩展名是 .xlsx，但内容不是有效的 Excel 工作簿",
                        "the file is named .xlsx but is not a valid Excel workbook")
    if not data.startswith(b"PK\x03\x04"):
        raise not_xlsx
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - any unreadable workbook is the user's file, not our bug
        raise not_xlsx from None
    if sheet is not None and sheet not in wb.sheetnames:
        wb.close()
        raise bad_file(f"工作簿中没有名为“{sheet}”的工作表（有：{'、'.join(wb.sheetnames)}）",
                       f"the workbook has no sheet named {sheet!r} (it has: {', '.join(wb.sheetnames)})")
    if not wb.sheetnames:
        wb.close()
        raise not_xlsx
    ws = wb[sheet] if sheet is not None else wb.worksheets[0]
    return _xlsx_iter(wb, ws)


def _xlsx_iter(wb: Any, ws: Any) -> Iterator[list[Any]]:
    try:
        yield from (list(r) for r in ws.iter_rows(values_only=True))
    except ValidationFailed:
        raise
    except Exception:  # noqa: BLE001 - a damaged sheet is the user's file
        raise bad_file("无法读取该 Excel 文件", "the Excel file cannot be read") from None
    finally:
        wb.close()


def _read_json(data: bytes, max_rows: int | None, objects_only: bool) -> Table:
    try:  # the API's strict parser: NaN, Infinity and integers beyond ±2^63 are not JSON here either
        doc = parse_json(codecs.decode(data, "utf-8-sig"))
    except (ValidationFailed, UnicodeDecodeError):
        raise bad_file("文件不是有效的 JSON", "the file is not valid JSON") from None
    if isinstance(doc, dict) and isinstance(doc.get("records"), list):
        doc = doc["records"]
    if not isinstance(doc, list):
        raise bad_file("JSON 文件应为记录数组 [{...}, ...]（或 {\"records\": [...]}）",
                       "the JSON file must be an array of records [{...}, ...] (or {\"records\": [...]})")
    if max_rows is not None and len(doc) > max_rows:
        raise bad_file(f"第 {max_rows + 1} 条记录：记录数超过上限 {max_rows}",
                       f"record {max_rows + 1}: more than {max_rows} records")
    if objects_only:
        for n, rec in enumerate(doc, start=1):
            if not isinstance(rec, dict):
                raise bad_file(f"第 {n} 条记录不是 JSON 对象", f"record {n} is not a JSON object")
    header = list(dict.fromkeys(k for r in doc if isinstance(r, dict) for k in r))
    rows = ((n, [r.get(h) for h in header] if isinstance(r, dict) else [r]) for n, r in enumerate(doc, start=1))
    return Table("json", header, rows, _records=iter(list(enumerate(doc, start=1))))


# --- writing ----------------------------------------------------------------------------

def neutralise(value: Any) -> Any:
    """The one formula rule: text a spreadsheet would run as a formula gets a
    leading apostrophe; anything that is not text (numbers included) is kept."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def restore(value: Any) -> Any:
    """Undo :func:`neutralise` on text read back from one of our exports."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def _with_header(rows: Iterable[Sequence[Any]], header: Sequence[Any] | None) -> Iterable[Sequence[Any]]:
    return rows if header is None else itertools.chain([header], rows)


def iter_csv(rows: Iterable[Sequence[Any]], *, header: Sequence[Any] | None = None,
             chunk_rows: int = 500) -> Iterator[bytes]:
    """CSV bytes (UTF-8 with a BOM, so Excel shows Chinese) in chunks, cells neutralised;
    ``header`` (if given) is written first."""
    rows = _with_header(rows, header)
    buf = io.StringIO()
    w = csv.writer(buf)
    buf.write("\ufeff")
    n = 0
    for row in rows:
        w.writerow([neutralise(v) for v in row])
        n += 1
        if n % chunk_rows == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    if buf.tell() or n == 0:
        yield buf.getvalue().encode("utf-8")


def _sheet_title(sheet: str) -> str:
    title = "".join("_" if c in "[]:*?/\\" else c for c in sheet).strip("'")[:31]
    return title or "Sheet1"


def iter_xlsx(rows: Iterable[Sequence[Any]], sheet: str = "Sheet1", *, header: Sequence[Any] | None = None,
              chunk_bytes: int = 64 * 1024) -> Iterator[bytes]:
    """An XLSX workbook of one sheet (write-only mode: 100,000 rows stay cheap),
    ``header`` (if given) first, cells neutralised; control characters XLSX
    cannot hold become U+FFFD."""
    rows = _with_header(rows, header)
    # lazy: openpyxl only for spreadsheet exports
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_sheet_title(sheet))
    for row in rows:
        ws.append([ILLEGAL_CHARACTERS_RE.sub("\ufffd", v) if isinstance(v, str) else v
                   for v in (neutralise(c) for c in row)])
    with tempfile.TemporaryFile() as tmp:
        wb.save(tmp)
        tmp.seek(0)
        while chunk := tmp.read(chunk_bytes):
            yield chunk


def write_table(rows: Iterable[Sequence[Any]], fmt: str, sheet: str = "Sheet1", *,
                header: Sequence[Any] | None = None) -> tuple[bytes, str]:
    """``(content, media type)`` of ``rows`` (``header`` first, if given) as ``csv`` or ``xlsx``."""
    if fmt == "csv":
        return b"".join(iter_csv(rows, header=header)), CSV_TYPE
    if fmt == "xlsx":
        return b"".join(iter_xlsx(rows, sheet, header=header)), XLSX_TYPE
    zh, en = f"导出格式应为 csv 或 xlsx，而不是 {fmt}", f"export format must be csv or xlsx, not {fmt!r}"
    raise ValidationFailed(zh, en, fields={"format": {"message": zh, "message_en": en}})
