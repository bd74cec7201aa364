"""附件 routes: upload (JSON ref back), download and thumbnail; and the helper that stores
the files a record form posts (``<input type=file>``, no script needed).

Upload: a user who may create (or update) records of the form, with that field's limits.
Download: the uploader, or a user who may read a record referencing the attachment
(within the record's org domain, and the field not hidden from them).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from .. import attachments as att
from ..audit import actor_of
from ..errors import CcmsError, Forbidden, NotFound, ValidationFailed
from ..forms import access, records
from ..forms.definition import FormDefinition
from ..forms.widgets import attachment_field
from .openapi import api_doc
from .routing import authenticated

FILE_KINDS = ("file", "image")


def _field_kind(ctx: Any, d: FormDefinition, name: str) -> str | None:
    """'file' or 'image' for an attachment field of the definition at any depth
    (``photos``, ``site.photos``, ``items[2].photos`` or ``items.photos``), else None."""
    found = attachment_field(ctx, d, name)
    return found[1] if found else None


def _limits(ctx: Any, d: FormDefinition, name: str) -> att.Limits:
    found = attachment_field(ctx, d, name)
    return att.limits_for(found[0] if found else None, found[1] if found else "file")


async def _read(upload: UploadFile, limit: int) -> bytes:
    """At most limit+1 bytes: enough to tell "too large" without holding a huge file."""
    return await upload.read(limit + 1)


async def store_posted_files(request: Request, form_id: str, pairs: list[tuple[str, Any]],
                             org_id: int | None) -> tuple[list[tuple[str, Any]], dict[str, dict[str, str]]]:
    """Store the files a record form posted and put their refs (JSON) in their place; refs posted
    back (kept attachments) are replaced by what the database holds. Returns the new pairs and
    per-field errors (a refused file stores nothing)."""
    ctx = request.scope["ccms"]
    out: list[tuple[str, Any]] = []
    errors: dict[str, dict[str, str]] = {}
    with ctx.db.session() as s:
        d = records.published(s, form_id)
        for name, value in pairs:
            kind = _field_kind(ctx, d, name)
            if isinstance(value, UploadFile):
                if kind is None or not value.filename or name in errors:
                    continue  # no file chosen, or not an attachment field: ignored
                limits = _limits(ctx, d, name)
                try:
                    data = await _read(value, limits.max_size)
                    row = att.save(ctx, s, actor_of(request), value.filename, data, limits, org_id)
                    out.append((name, json.dumps(row.ref(), ensure_ascii=False)))
                except ValidationFailed as exc:
                    errors[name] = {"message": exc.zh, "message_en": exc.en}
                continue
            if kind is not None and isinstance(value, str) and value.strip():
                try:
                    ref = json.loads(value)
                    out.append((name, json.dumps(att.trusted_refs(s, [ref])[0], ensure_ascii=False)))
                except (json.JSONDecodeError, TypeError):
                    out.append((name, value))  # the field type reports it
                except ValidationFailed as exc:
                    errors[name] = {"message": exc.zh, "message_en": exc.en}
                continue
            out.append((name, value))
    return out, errors


def _json_error(exc: CcmsError) -> JSONResponse:
    return JSONResponse(exc.to_json(), status_code=exc.status)


@authenticated
async def upload(request: Request) -> Response:
    """POST /attachments (multipart: file, form, field) → the ref as JSON (201)."""
    ctx, user = request.scope["ccms"], request.scope.get("user")
    try:
        form = await request.form()
        form_id, field = str(form.get("form") or ""), str(form.get("field") or "")
        if user is None:
            raise Forbidden("请先登录", "log in first")
        if not (ctx.can_anywhere(user, access.perm(form_id, "create")) or ctx.can_anywhere(user, access.perm(form_id, "update"))):
            raise Forbidden("没有权限上传此表单的附件", f"permission denied: {access.perm(form_id, 'create')}")
        upload_file = form.get("file")
        if not isinstance(upload_file, UploadFile) or not upload_file.filename:
            raise ValidationFailed("请选择要上传的文件", "choose a file to upload", fields={"file": {
                "message": "请选择要上传的文件", "message_en": "choose a file to upload"}})
        with ctx.db.session() as s:
            d = records.published(s, form_id)
            kind = _field_kind(ctx, d, field)
            if kind is None:
                raise ValidationFailed(f"表单没有附件字段“{field}”", f"the form has no attachment field '{field}'")
            limits = _limits(ctx, d, field)
            data = await _read(upload_file, limits.max_size)
            row = att.save(ctx, s, actor_of(request), upload_file.filename, data, limits)
            ref = row.ref()
    except CcmsError as exc:
        return _json_error(exc)
    return JSONResponse(ref, status_code=201)


def _may_download(ctx: Any, user: Any, s: Any, row: att.Attachment) -> bool:
    if user is None:
        return False
    if row.created_by is not None and row.created_by == user.id:
        return True
    for rec in att.referencing_records(s, row.id):
        if not ctx.can(user, access.perm(rec.form_id, "read"), rec.org_id):
            continue
        try:
            d = records.published(s, rec.form_id)
        except CcmsError:
            continue
        hidden = access.hidden_fields(ctx, user, d)  # dotted names reach into objects and group rows
        if any(r.get("id") == row.id for r in att.refs_in(access.strip(rec.data or {}, hidden))):
            return True
    return False


def _allowed_row(request: Request) -> att.Attachment:
    ctx, user = request.scope["ccms"], request.scope.get("user")
    with ctx.db.session() as s:
        row = att.get(s, request.path_params["id"])
        if not _may_download(ctx, user, s, row):
            # as if it did not exist: no probing of ids
            raise NotFound(f"附件 {row.id} 不存在", f"attachment {row.id} does not exist")
        s.expunge(row)
        return row


@authenticated
async def download(request: Request) -> Response:
    ctx = request.scope["ccms"]
    row = _allowed_row(request)
    path = att.store_for(ctx).path(row.sha256)
    if not path.exists():
        raise NotFound("附件文件已丢失，请联系管理员", "the attachment's file is missing; contact an administrator")
    disposition = f"attachment; filename=\"{quote(row.name)}\"; filename*=UTF-8''{quote(row.name)}"
    return FileResponse(path, media_type=row.content_type, headers={"Content-Disposition": disposition})


@authenticated
async def thumb(request: Request) -> Response:
    ctx = request.scope["ccms"]
    row = _allowed_row(request)
    path = att.store_for(ctx).thumb_path(row.sha256)
    if row.content_type not in att.IMAGE_TYPES or not path.exists():
        raise NotFound("此附件没有缩略图", "this attachment has no thumbnail")
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})


routes = [
    Route("/attachments", upload, methods=["POST"]),
    Route("/attachments/{id}", download, methods=["GET"]),
    Route("/attachments/{id}/thumb", thumb, methods=["GET"]),
]

api_docs = [
    api_doc("/attachments", "post", "上传附件 / upload an attachment (multipart: file, form, field) → ref JSON",
            permission="form.{form}.create", tag="forms", status=201),
    api_doc("/attachments/{id}", "get", "下载附件 / download an attachment (uploader or record readers)",
            tag="forms"),
    api_doc("/attachments/{id}/thumb", "get", "图片缩略图 / thumbnail of an image attachment", tag="forms"),
]
