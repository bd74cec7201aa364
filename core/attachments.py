"""附件: uploaded files of file/image form fields, stored outside the database.

Bytes live under the deployment's ``attachments_dir`` named by their sha256
(content-addressed: the same file uploaded twice is stored once), written to a
temporary file and moved into place with ``os.replace`` so a crash never leaves
a half-written file. The ``core_attachment`` row holds the name, size, type,
checksum and uploader; form records hold refs ``{"id","name","size","sha256",
"content_type"}`` (see :class:`ccms.forms.fields.FileType`).

The type of a file is decided by its extension AND its content (magic bytes):
a file whose content does not match its extension is refused, so a renamed
executable or HTML page never becomes a "picture".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import tempfile
import uuid
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, String, cast, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import audit
from .db import Base, UTCDateTime, utcnow
from .errors import NotFound, ValidationFailed
from .forms.models import FormRecord

# Deployment-wide defaults; a field narrows them with x-ccms-max-size / x-ccms-accept.
DEFAULT_MAX_SIZE = 20 * 1024 * 1024
THUMB_SIZE = (320, 320)
MAX_IMAGE_PIXELS = 40_000_000  # larger images are refused before decoding (decompression bombs)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXTENSIONS: dict[str, str] = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".webp": "image/webp", ".pdf": "application/pdf", ".docx": DOCX, ".xlsx": XLSX,
    ".txt": "text/plain", ".csv": "text/csv",
}
DEFAULT_ACCEPT = sorted(set(EXTENSIONS.values()))
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


class Attachment(Base):
    """One uploaded file; several rows may share the same stored bytes (same sha256)."""

    __tablename__ = "core_attachment"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    org_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Where it was attached ("form_record:12", "command_case:7"): set once, by the first save that
    # references it (see :func:`check_refs` / :func:`claim`); None while only uploaded.
    attached_to: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    attached_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attached_by: Mapped[int | None] = mapped_column(Integer, nullable=True)

    def ref(self) -> dict[str, Any]:
        """The ref a form record stores."""
        return {"id": self.id, "name": self.name, "size": self.size, "sha256": self.sha256,
                "content_type": self.content_type}


@dataclass
class Limits:
    max_size: int = DEFAULT_MAX_SIZE
    accept: list[str] | None = None  # MIME types, "image/*" allowed; None = every known type


def limits_for(prop: Mapping[str, Any] | None, kind: str = "file") -> Limits:
    """The field's limits within the deployment-wide defaults (a field may narrow, never widen)."""
    prop = prop or {}
    size = prop.get("x-ccms-max-size")
    accept = prop.get("x-ccms-accept")
    if not isinstance(accept, list):
        accept = sorted(IMAGE_TYPES) if kind == "image" else None
    max_size = min(size, DEFAULT_MAX_SIZE) if isinstance(size, int) and not isinstance(size, bool) else DEFAULT_MAX_SIZE
    return Limits(max_size=max_size, accept=accept)


def _size(n: int) -> str:
    for unit, k in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= k:
            return f"{n / k:g} {unit}"
    return f"{n} B"


def _accepted(ct: str, accept: list[str] | None) -> bool:
    if accept is None:
        return True
    return any(isinstance(a, str) and (a.lower() == ct or (a.endswith("/*") and ct.startswith(a[:-1].lower())))
               for a in accept)


def sniff(data: bytes) -> str | None:
    """The type the content really is (magic bytes), among the types we allow."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except (zipfile.BadZipFile, ValueError):
            return None
        if any(n.startswith("word/") for n in names):
            return DOCX
        if any(n.startswith("xl/") for n in names):
            return XLSX
        return None
    if b"\x00" in data:
        return None
    for enc in ("utf-8-sig", "gb18030"):
        try:
            data.decode(enc)
            return "text/plain"
        except UnicodeDecodeError:
            continue
    return None


def check(name: str, data: bytes, limits: Limits) -> str:
    """The content type of an upload, or ValidationFailed (bilingual) naming the file."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("请选择要上传的文件", "choose a file to upload")
    if len(data) > limits.max_size:
        raise ValidationFailed(f"附件“{name}”超过大小限制（{_size(limits.max_size)}）",
                               f"attachment '{name}' is larger than {_size(limits.max_size)}")
    if not data:
        raise ValidationFailed(f"附件“{name}”是空文件", f"attachment '{name}' is empty")
    claimed = EXTENSIONS.get(Path(name).suffix.lower())
    if claimed is None or not _accepted(claimed, limits.accept):
        allowed = "、".join(sorted({e for e, t in EXTENSIONS.items() if _accepted(t, limits.accept)}))
        raise ValidationFailed(f"附件“{name}”的类型不允许，可上传：{allowed}",
                               f"attachment '{name}' has a forbidden type; allowed: {allowed}")
    actual = sniff(data)
    if actual != claimed and not (claimed == "text/csv" and actual == "text/plain"):
        raise ValidationFailed(f"附件“{name}”的内容与扩展名不符（扩展名为 {Path(name).suffix}），请上传真实的文件",
                               f"the content of '{name}' does not match its extension {Path(name).suffix}")
    return claimed


class Store:
    """Files by sha256 under one folder: ``ab/abcdef…`` and ``ab/abcdef….thumb.png``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def thumb_path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.thumb.png"

    def _write(self, dest: Path, data: bytes) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put(self, data: bytes, sha256: str) -> None:
        if not self.path(sha256).exists():
            self._write(self.path(sha256), data)

    def put_thumb(self, sha256: str, png: bytes) -> None:
        if not self.thumb_path(sha256).exists():
            self._write(self.thumb_path(sha256), png)


def too_many_pixels(width: int | None = None, height: int | None = None) -> ValidationFailed:
    """The refusal of an image above :data:`MAX_IMAGE_PIXELS` (sizes when known)."""
    size = f"{width}×{height}，" if width and height else ""
    size_en = f"{width}×{height}; " if width and height else ""
    return ValidationFailed(f"图片像素过多（{size}最多 {MAX_IMAGE_PIXELS:,} 像素），请缩小后再上传",
                            f"the image has too many pixels ({size_en}at most {MAX_IMAGE_PIXELS:,}); "
                            "make it smaller and upload it again", code="image_too_large")


def thumbnail(data: bytes) -> bytes:
    """A PNG thumbnail; an image Pillow cannot decode is refused as not an image.

    The pixel cap is enforced before decoding: ``Image.open`` reads only the
    header, the size it declares is checked against :data:`MAX_IMAGE_PIXELS`,
    and only then are the pixels decoded. (Pillow itself only warns between
    its limit and twice it, so its check alone would let 80 M pixels through.)
    """
    # lazy: Pillow only when an image attachment is stored
    from PIL import Image, UnidentifiedImageError
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings(record=True):
            # above the cap Pillow only warns (it refuses above twice the cap): the check below refuses
            warnings.simplefilter("always", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                if width * height > MAX_IMAGE_PIXELS:  # from the header: nothing decoded yet
                    raise too_many_pixels(width, height)
                im.seek(0)
                im = im.convert("RGBA") if im.mode not in ("RGB", "RGBA", "L") else im.copy()
                im.thumbnail(THUMB_SIZE)
                out = io.BytesIO()
                im.save(out, "PNG")
                return out.getvalue()
    except Image.DecompressionBombError:
        raise too_many_pixels() from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ValidationFailed("图片无法识别或已损坏（或像素过多）",
                               "the image cannot be read, is damaged or has too many pixels") from None


def store_for(ctx: Any) -> Store:
    return Store(ctx.deployment.resolve(ctx.deployment.attachments_dir))


def save(ctx: Any, s: Session, actor: audit.Actor | None, name: str, data: bytes, limits: Limits,
         org_id: int | None = None) -> Attachment:
    """Check, store (bytes, thumbnail) and record one upload in the caller's session, audited.
    Nothing is written when the upload is refused."""
    name = Path((name or "").replace("\\", "/")).name[:255]
    ct = check(name, data, limits)
    thumb = thumbnail(data) if ct in IMAGE_TYPES else None
    sha = hashlib.sha256(data).hexdigest()
    st = store_for(ctx)
    st.put(data, sha)
    if thumb is not None:
        st.put_thumb(sha, thumb)
    row = Attachment(id=uuid.uuid4().hex, sha256=sha, name=name, size=len(data), content_type=ct,
                     created_by=actor.id if actor else None, org_id=org_id)
    s.add(row)
    s.flush()
    audit.record(s, actor, "attachment.upload", "attachment", row.id, after=row.ref(),
                 summary=f"上传附件 {name}")
    return row


def get(s: Session, att_id: str) -> Attachment:
    row = s.get(Attachment, att_id) if isinstance(att_id, str) and len(att_id) <= 32 else None
    if row is None:
        raise NotFound(f"附件 {att_id} 不存在", f"attachment {att_id} does not exist")
    return row


def refs_in(value: Any) -> Iterable[Mapping[str, Any]]:
    """Every attachment ref inside a record's data (top level, nested objects, groups)."""
    if isinstance(value, Mapping):
        if isinstance(value.get("id"), str) and isinstance(value.get("sha256"), str):
            yield value
        for v in value.values():
            yield from refs_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from refs_in(v)


def trusted_refs(s: Session, refs: list[Any]) -> list[dict[str, Any]]:
    """Posted refs replaced by what the database says (a client cannot forge name, size or type);
    an unknown id or a checksum that does not match is refused."""
    out = []
    for ref in refs:
        if not isinstance(ref, Mapping):
            out.append(ref)  # the schema reports it
            continue
        row = s.get(Attachment, ref.get("id")) if isinstance(ref.get("id"), str) else None
        if row is None or row.sha256 != ref.get("sha256"):
            raise ValidationFailed("附件信息无效，请重新上传", "invalid attachment, upload it again")
        out.append(row.ref())
    return out


# --- claims: an attachment goes into one place, chosen by its uploader --------------------------

def _refused(path: str, code: str, zh: str, en: str) -> ValidationFailed:
    return ValidationFailed(zh, en, code=code, fields={path: {"message": zh, "message_en": en}})


def refs_with_paths(value: Any, path: str = "") -> Iterable[tuple[str, dict[str, Any]]]:
    """``(path, ref)`` of every attachment ref in a record's data (``photos``,
    ``site.photos``, ``items[2].photos``); the refs are the data's own dicts."""
    if isinstance(value, dict):
        if isinstance(value.get("id"), str) and isinstance(value.get("sha256"), str):
            yield path, value
            return
        for k, v in value.items():
            yield from refs_with_paths(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            is_ref = isinstance(v, dict) and isinstance(v.get("id"), str)
            yield from refs_with_paths(v, path if is_ref else f"{path}[{i}]")


def check_one(s: Session, actor: audit.Actor | None, row: Attachment, path: str, place: str | None,
              keep: Iterable[str] = ()) -> bool:
    """May ``actor`` attach ``row`` at ``place`` (None: a place about to be created)? True when it
    must be claimed, False when it is already there (or kept from the object's previous version).

    Refused (422, bilingual, the field named): an attachment already attached elsewhere
    (``attachment_claimed``), and one uploaded by someone else (``attachment_not_yours``).
    The system (``actor`` None: seeds, migrations) may attach any unclaimed file."""
    if row.id in set(keep):
        return row.attached_to is None  # already part of this object (before claims existed: claim it now)
    if row.attached_to is not None:
        if row.attached_to == place:
            return False
        raise _refused(path, "attachment_claimed",
                       f"附件“{row.name}”已附在别处，不能再次引用；请重新上传",
                       f"attachment '{row.name}' is already attached elsewhere; upload it again")
    if actor is not None and actor.id is not None and row.created_by != actor.id:
        raise _refused(path, "attachment_not_yours",
                       f"附件“{row.name}”不是您上传的，不能引用；请自己上传",
                       f"attachment '{row.name}' was uploaded by someone else; upload it yourself")
    return True


def check_refs(s: Session, actor: audit.Actor | None, data: Any, *, place: str | None = None,
               keep: Iterable[str] = ()) -> list[tuple[str, Attachment]]:
    """Check every attachment ref in ``data`` before it is stored: it exists, its checksum
    matches, and ``actor`` may attach it (:func:`check_one`). Each ref is replaced in place by
    what the database holds (name, size, type cannot be forged). ``keep``: ids the object held
    already. Returns what :func:`claim` must then claim."""
    keep = set(keep)
    pending: list[tuple[str, Attachment]] = []
    for path, ref in list(refs_with_paths(data)):
        row = s.get(Attachment, ref["id"]) if len(ref["id"]) <= 32 else None
        if row is None or row.sha256 != ref.get("sha256"):
            raise _refused(path, "attachment_invalid", "附件信息无效，请重新上传", "invalid attachment, upload it again")
        ref.clear()
        ref.update(row.ref())
        if check_one(s, actor, row, path, place, keep):
            pending.append((path, row))
    return pending


def claim(s: Session, actor: audit.Actor | None, pending: Iterable[tuple[str, Attachment]], place: str) -> None:
    """Record ``place`` on each checked attachment, atomically: a conditional UPDATE, so two
    saves racing for one attachment cannot both win (the loser is refused as claimed)."""
    now = utcnow()
    for path, row in pending:
        res = s.execute(update(Attachment).where(
            Attachment.id == row.id, or_(Attachment.attached_to.is_(None), Attachment.attached_to == place))
            .values(attached_to=place, attached_at=now, attached_by=actor.id if actor else None)
            .execution_options(synchronize_session=False))
        if res.rowcount != 1:
            raise _refused(path, "attachment_claimed",
                           f"附件“{row.name}”已附在别处，不能再次引用；请重新上传",
                           f"attachment '{row.name}' is already attached elsewhere; upload it again")
        s.expire(row)


def referencing_records(s: Session, att_id: str) -> list[Any]:
    """Records whose data holds a ref to the attachment (a text search, then checked exactly)."""
    rows = s.scalars(select(FormRecord).where(cast(FormRecord.data, String).contains(att_id),
                                              FormRecord.deleted_at.is_(None)))
    return [r for r in rows if any(ref.get("id") == att_id for ref in refs_in(r.data or {}))]
