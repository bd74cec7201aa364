"""The import screen's file handling (导入): read an XLSX, CSV or JSON upload,
check it is what its extension says, preview it, keep it until the user
confirms, then import it all-or-nothing with :func:`ccms.forms.bulk.import_records`
in a background job (:mod:`core.jobs`) with progress.

The upload waits in ``core_import_upload`` (the database, so any app process
can run the confirmed import) and is removed when the import ends; uploads
left unconfirmed are pruned after a day.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, LargeBinary, String, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from .. import tabular
from ..attachments import XLSX, sniff
from ..db import Base, UTCDateTime, utcnow
from ..errors import ValidationFailed
from ..jobs import JobError
from . import access, bulk, records
from .definition import FormDefinition

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
PREVIEW_ROWS = 20
CHECK_IN_PREVIEW = 5_000  # larger files are checked row by row by the import job itself
KEEP_FOR = dt.timedelta(days=1)
EXTENSIONS = (".xlsx", ".csv", ".json")
#: header cells of our own exports that are not fields (ignored on import)
EXPORT_EXTRA_COLUMNS = frozenset({"ID", "id", "所属机构", "创建时间", "修改时间", "Org", "Created", "Updated",
                                  "Created at", "Updated at"})


class ImportUpload(Base):
    """An uploaded file waiting for the user's confirmation."""

    __tablename__ = "core_import_upload"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[int | None] = mapped_column(Integer, index=True)
    form_id: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[int | None] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


def bad_file(zh: str, en: str) -> ValidationFailed:
    return ValidationFailed(zh, en, fields={"file": {"message": zh, "message_en": en}})


@dataclass
class Parsed:
    """Rows of an upload: ``strings`` (CSV/XLSX cells as text, coerced like a
    form post) or JSON values; ``columns`` the fields the file fills."""

    rows: list[Any]
    strings: bool
    columns: list[str] = field(default_factory=list)


def _extension(filename: str) -> str:
    lower = (filename or "").lower().strip()
    for ext in EXTENSIONS:
        if lower.endswith(ext):
            return ext
    raise bad_file("只能导入 .xlsx、.csv 或 .json 文件", "only .xlsx, .csv or .json files can be imported")


def _looks_binary(content: bytes) -> bool:
    return content.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"%PDF")) or b"\x00" in content[:4096]


def _check_header(definition: FormDefinition, header: list[Any]) -> None:
    """Every header cell must name a field (by name or label) or be a column of our own export."""
    known: set[str] = set()
    for name in definition.fields:
        known.update({name, definition.label(name, "zh-CN"), definition.label(name, "en")})
    cells = [str(h).strip() for h in header if h is not None and str(h).strip()]
    unknown = [c for c in cells if c not in known and c not in EXPORT_EXTRA_COLUMNS]
    if unknown:
        shown = "、".join(unknown[:10])
        raise bad_file(f"表头中的列不是此表单的字段：{shown}（请使用字段名称或标签作表头）",
                       f"header columns that are not fields of this form: {', '.join(unknown[:10])} "
                       "(use field names or labels as the header)")


def _header(content: bytes, filename: str) -> list[Any]:
    try:
        return tabular.read_table(filename, content, max_bytes=MAX_BYTES).header
    except ValidationFailed as exc:
        raise bad_file(exc.zh, exc.en) from None


def parse(definition: FormDefinition, content: bytes, filename: str) -> Parsed:
    """Read an upload; anything that is not what its extension says, not JSON,
    or with columns the form does not have is refused with a clear message."""
    ext = _extension(filename)
    if not content:
        raise bad_file("文件是空的", "the file is empty")
    if len(content) > MAX_BYTES:
        raise bad_file(f"文件超过 {MAX_BYTES // 1024 // 1024} MB", f"the file is larger than {MAX_BYTES // 1024 // 1024} MB")
    if ext == ".xlsx":
        if sniff(content) != XLSX:
            raise bad_file("文件内容不是 Excel（.xlsx）工作簿，与扩展名不符",
                           "the content is not an Excel (.xlsx) workbook: it does not match the extension")
    elif _looks_binary(content):
        kind = "CSV" if ext == ".csv" else "JSON"
        raise bad_file(f"文件内容不是文本，与扩展名 {ext} 不符（不是 {kind} 文件）",
                       f"the content is not text: it does not match the extension {ext} (not a {kind} file)")
    if ext == ".json":
        return _parse_json(definition, content)
    _check_header(definition, _header(content, filename))
    try:
        rows = bulk.read_table(definition, content, filename)
    except ValidationFailed as exc:
        raise bad_file(exc.zh, exc.en) from None
    if not rows:
        raise bad_file("文件中没有数据行", "the file has no data rows")
    if len(rows) > MAX_ROWS:
        raise bad_file(f"一次最多导入 {MAX_ROWS} 行", f"at most {MAX_ROWS} rows per import")
    cols = list(dict.fromkeys(k for r in rows for k in r))
    return Parsed(rows, True, [c for c in definition.top_fields if c in cols])


def _parse_json(definition: FormDefinition, content: bytes) -> Parsed:
    try:  # non-object records are reported per row by check_rows, as the API would
        data = [rec for _n, rec in tabular.read_table("upload.json", content, formats=("json",), max_bytes=MAX_BYTES,
                                                      objects_only=False).records()]
    except ValidationFailed as exc:
        raise bad_file(exc.zh, exc.en) from None
    if not data:
        raise bad_file("文件中没有记录", "the file has no records")
    if len(data) > MAX_ROWS:
        raise bad_file(f"一次最多导入 {MAX_ROWS} 条", f"at most {MAX_ROWS} records per import")
    # a record may be {"data": {...}} as the JSON API answers it
    rows = [r["data"] if isinstance(r, dict) and isinstance(r.get("data"), dict) and "id" in r else r for r in data]
    keys = list(dict.fromkeys(k for r in rows if isinstance(r, dict) for k in r))
    props = definition.schema.get("properties", {})
    if keys and not any(k in props for k in keys):
        raise bad_file("JSON 记录的键没有一个是此表单的字段", "no key of the JSON records names a field of this form")
    return Parsed(rows, False, [c for c in definition.top_fields if c in keys])


@dataclass
class RowError:
    row: int
    field: str
    label: str
    message: str
    message_en: str


def check_rows(ctx: Any, session: Session, definition: FormDefinition, parsed: Parsed,
               limit: int = bulk.MAX_REPORTED) -> tuple[list[RowError], int]:
    """Validate every row like the import will (references included), writing
    nothing; returns the first ``limit`` errors and how many rows failed."""
    v = records.bound_validator(ctx, session, definition)
    out: list[RowError] = []
    failed = 0
    for n, raw in enumerate(parsed.rows, start=1):
        if not isinstance(raw, dict):
            errors: dict[str, Any] = {"_": {"message": "数据应为 JSON 对象", "message_en": "data must be a JSON object"}}
        else:
            _values, errors = v.from_post(raw) if parsed.strings else v.clean(raw)
        if errors:
            failed += 1
            out.extend(row_errors(definition, n, errors, ctx.deployment.locale)[: max(0, limit - len(out))])
    return out, failed


def locked_cells(parsed: Parsed, hidden: set[str], readonly: set[str],
                 limit: int = bulk.MAX_REPORTED) -> list[RowError]:
    """Cells that would write a field hidden or read-only for the importing user
    inside a nested object or repeating group (``items[0].evidence``): a new
    record has nothing stored, so any value there is refused, as on the
    create screen. Text cells of nested columns are read as the JSON they hold."""
    nested = {n.split(".", 1)[0] for n in hidden | readonly if "." in n}
    out: list[RowError] = []
    for n, raw in enumerate(parsed.rows, start=1):
        if not isinstance(raw, dict):
            continue
        cells = {k: _json_cell(raw[k]) for k in nested if k in raw}
        for path in access.locked_writes(cells, {}, hidden, readonly):
            out.append(RowError(n, path, path, "您无权填写此字段", "you may not fill this field"))
            if len(out) >= limit:
                return out
    return out


def _json_cell(v: Any) -> Any:
    if isinstance(v, str) and v.strip()[:1] in ("{", "["):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def row_errors(definition: FormDefinition, row: int, errors: dict[str, Any], locale: str = "zh-CN") -> list[RowError]:
    out = []
    for path, e in errors.items():
        top = path.split(".")[0].split("[")[0]
        label = definition.label(top, locale) if top in definition.fields else ("" if path == "_" else path)
        e = e if isinstance(e, dict) else {"message": str(e), "message_en": str(e)}
        out.append(RowError(row, path, label, str(e.get("message", "")), str(e.get("message_en", ""))))
    return out


# --- staging --------------------------------------------------------------------------------------

def stage(session: Session, owner: int | None, form_id: str, org_id: int, filename: str, content: bytes) -> str:
    """Keep an upload until it is confirmed; prunes old ones."""
    session.execute(delete(ImportUpload).where(ImportUpload.created_at < utcnow() - KEEP_FOR))
    uid = uuid.uuid4().hex
    session.add(ImportUpload(id=uid, owner=owner, form_id=form_id, org_id=org_id, filename=filename[:255],
                             content=content))
    return uid


def staged(session: Session, uid: str, owner: int | None, form_id: str) -> ImportUpload:
    row = session.get(ImportUpload, str(uid)[:32])
    if row is None or row.owner != owner or row.form_id != form_id:
        raise ValidationFailed("上传的文件已失效，请重新上传", "the upload has expired: upload the file again",
                               code="upload_expired", status=404)
    return row


def unstage(session: Session, uid: str) -> None:
    session.execute(delete(ImportUpload).where(ImportUpload.id == uid))


def run_import(ctx: Any, actor: Any, form_id: str, uid: str, progress: Any) -> dict[str, Any]:
    """The import job: parse the staged file, validate every row, insert all
    in ONE transaction (or nothing), report per-row errors as a JobError."""
    with ctx.db.session() as s:
        up = s.get(ImportUpload, uid)
        if up is None:
            raise JobError("上传的文件已失效，请重新上传", "the upload has expired: upload the file again")
        content, filename, org_id = up.content, up.filename, up.org_id
    with ctx.db.session() as s:
        definition = records.published(s, form_id)
        parsed = parse(definition, content, filename)
        n = len(parsed.rows)
        progress(0, 2 * n, "正在校验", "checking")

        def step(done: int, phase: str) -> None:
            if phase == "check":
                progress(done, 2 * n, f"正在校验：{done} / {n}", f"checking: {done} / {n}")
            else:
                progress(n + done, 2 * n, f"正在写入：{done} / {n}", f"writing: {done} / {n}")

        report = bulk.import_records(s, actor, ctx, form_id, parsed.rows, org_id, strings=parsed.strings,
                                     progress=step)
        if not report.ok:
            s.rollback()
            errors = [e.__dict__ for row, errs in sorted(report.errors.items())
                      for e in row_errors(definition, row, errs, ctx.deployment.locale)]
            raise JobError(f"共 {report.failed} 行有误，没有导入任何记录；请下载错误报告修改后重新导入",
                           f"{report.failed} rows are invalid; nothing was imported — download the error report, "
                           "fix the file and import again", errors=errors)
        s.execute(delete(ImportUpload).where(ImportUpload.id == uid))
    return {"imported": report.imported, "url": f"/forms/{form_id}",
            "message": f"已导入 {report.imported} 条记录", "message_en": f"{report.imported} records imported"}


def preview_rows(ctx: Any, definition: FormDefinition, parsed: Parsed) -> list[list[str]]:
    """The first rows as text for the preview table (values as in the file)."""
    out = []
    for raw in parsed.rows[:PREVIEW_ROWS]:
        raw = raw if isinstance(raw, dict) else {}
        out.append(["" if raw.get(c) is None else (json.dumps(raw[c], ensure_ascii=False)
                                                   if isinstance(raw[c], (dict, list)) else str(raw[c]))
                    for c in parsed.columns])
    return out
