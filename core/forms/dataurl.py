"""``{"type": "string", "format": "data-url"}``: file uploads as other form libraries write them.

react-jsonschema-form's file widget keeps a file in the record as an RFC 2397
data URL (``data:image/png;name=a.png;base64,...``). ccms keeps files as
attachments (core/attachments.py: checked, stored once by checksum, claimed by
one record, downloaded with a permission check), never as base64 text in the
database. So, on loading a definition (:func:`normalize`), such a field becomes
ccms's attachment field: a data-url string a ``file`` field holding at most one
attachment ref, an array of them a ``file`` field of several; both are marked
``x-ccms-data-url`` (``"one"``/``"many"``).

The JSON API still accepts what such a client posts: a data URL in place of
an attachment ref is decoded, checked like an upload (size, extension against
magic bytes, the field's type allow-list, the image pixel cap), stored as an
attachment and replaced by its ref (:func:`decode_posted`). A malformed one
is refused with the field's path.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

from .. import attachments as att
from ..errors import ValidationFailed
from .fields import ATTACHMENT_REF

MARK = "x-ccms-data-url"
#: What a normalised field keeps of the original string schema (annotations; string constraints
#: such as maxLength measured the base64 text, not the file, and do not apply to a ref).
_KEEP = ("title", "description", "$comment", "readOnly")


def _is_data_url(node: Any) -> bool:
    return isinstance(node, Mapping) and node.get("format") == "data-url" and node.get("type") in ("string", None)


def _target(node: Any, root: Mapping[str, Any]) -> Any:
    """A local ``$ref`` followed (one level is what real schemas use: ``items: {$ref: #/definitions/file}``)."""
    ref = node.get("$ref") if isinstance(node, Mapping) else None
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return node
    out: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(out, Mapping) or part not in out:
            return node
        out = out[part]
    return out


def _field(node: Mapping[str, Any], mark: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "array", "x-ccms-type": "file", "items": copy.deepcopy(ATTACHMENT_REF)}
    out.update({k: node[k] for k in _KEEP if k in node})
    out.update({k: v for k, v in node.items() if k.startswith("x-ccms-") and k != "x-ccms-type"})
    out.update(extra)
    out[MARK] = mark
    return out


def _norm(node: Any, root: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_norm(v, root) for v in node]
    if not isinstance(node, Mapping):
        return node
    if _is_data_url(node):
        return _field(node, "one", {"maxItems": 1})
    if node.get("type") == "array" and _is_data_url(_target(node.get("items"), root)):
        extra = {k: node[k] for k in ("minItems", "maxItems") if k in node}
        items = _target(node["items"], root)
        merged = {**{k: items[k] for k in _KEEP if k in items}, **node}
        return _field(merged, "many", extra)
    return {k: _norm(v, root) for k, v in node.items()}


def _has(node: Any) -> bool:
    if isinstance(node, Mapping):
        return node.get("format") == "data-url" or any(_has(v) for v in node.values())
    if isinstance(node, list):
        return any(_has(v) for v in node)
    return False


def normalize(schema: Any) -> Any:
    """A copy of a form's data schema with every data-url string field (top level, nested,
    in repeating groups, behind ``$defs``/``definitions``) and every array of them turned
    into an attachment field; the schema itself when it has none."""
    if not _has(schema):
        return schema
    return _norm(schema, schema)


# --- posted data URLs (JSON API) ------------------------------------------------------------------

_TYPE_EXT = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp",
             "application/pdf": ".pdf", att.DOCX: ".docx", att.XLSX: ".xlsx", "text/plain": ".txt",
             "text/csv": ".csv"}
_MEDIA = re.compile(r"^[a-z0-9.+-]+/[a-z0-9.+-]+$", re.IGNORECASE)


class BadDataUrl(ValueError):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


def parse(text: str, max_size: int) -> tuple[str, str | None, bytes]:
    """(file name, declared media type, bytes) of an RFC 2397 data URL; ``BadDataUrl`` if it is
    malformed or, judged from its length before decoding, larger than ``max_size``."""
    if not text.startswith("data:") or "," not in text:
        raise BadDataUrl("不是有效的 data URL（应为 data:类型;base64,内容）",
                         "not a valid data URL (expected data:<type>;base64,<content>)")
    head, payload = text[5:].split(",", 1)
    params = head.split(";")
    media = params[0].strip().lower() or None
    if media is not None and not _MEDIA.match(media):
        raise BadDataUrl(f"data URL 的类型无效：{params[0][:60]}", f"invalid media type in the data URL: {params[0][:60]}")
    is_b64 = params[-1].strip().lower() == "base64" and len(params) > 1
    name = None
    for p in params[1:]:
        key, _, value = p.partition("=")
        if key.strip().lower() in ("name", "filename") and value:
            name = Path(unquote(value).replace("\\", "/")).name
    estimate = len(payload) * 3 // 4 if is_b64 else len(payload) // 3  # lower bounds of the decoded size
    if estimate > max_size + 3:
        raise BadDataUrl(f"附件超过大小限制（{att._size(max_size)}）", f"the attachment is larger than {att._size(max_size)}")
    try:
        data = base64.b64decode(payload, validate=True) if is_b64 else unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise BadDataUrl("data URL 的 base64 内容无效", "the data URL's base64 content is invalid") from None
    ext = _TYPE_EXT.get(media or "")
    if not name:
        name = f"upload{ext or ''}"
    elif media and ext and att.EXTENSIONS.get(Path(name).suffix.lower()) is None:
        name += ext
    claimed = att.EXTENSIONS.get(Path(name).suffix.lower())
    if media and claimed and media != claimed and not {media, claimed} <= {"text/plain", "text/csv"}:
        raise BadDataUrl(f"data URL 声明的类型 {media} 与文件名“{name}”不符",
                         f"the data URL's type {media} does not match the file name '{name}'")
    return name, media, data


def _data_url_fields(d: Any) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in d.fields.items() if isinstance(v, Mapping) and v.get(MARK)}


def decode_posted(ctx: Any, s: Any, actor: Any, d: Any, data: Any, org_id: int | None) -> Any:
    """``data`` (a record as posted to the JSON API) with every data URL posted in a data-url
    field stored as an attachment and replaced by its ref; a single string for a ``"one"``
    field is read as a list of one. Refused (422, the field's path, nothing stored in the
    caller's session) when one is malformed, too large, of a forbidden type or too many pixels."""
    fields = _data_url_fields(d)
    if not fields or not isinstance(data, Mapping):
        return data
    errors: dict[str, dict[str, str]] = {}

    def one(text: str, prop: Mapping[str, Any], path: str) -> Any:
        kind = ctx.field_types.resolve(prop).name
        limits = att.limits_for(prop, kind)
        try:
            name, _declared, raw = parse(text, limits.max_size)
            return att.save(ctx, s, actor, name, raw, limits, org_id).ref()
        except BadDataUrl as exc:
            errors[path] = {"message": exc.zh, "message_en": exc.en}
        except ValidationFailed as exc:
            errors[path] = {"message": exc.zh, "message_en": exc.en}
        return text

    def walk(node: Any, prefix: str, path: str) -> Any:
        if not isinstance(node, Mapping):
            return node
        out = dict(node)
        for k, v in node.items():
            name, here = f"{prefix}{k}", f"{path}.{k}" if path else str(k)
            prop = fields.get(name)
            if prop is not None:
                items = [v] if isinstance(v, str) else v
                if isinstance(items, list):
                    out[k] = [one(x, prop, f"{here}[{i}]" if prop.get(MARK) == "many" else here)
                              if isinstance(x, str) and x.startswith("data:") else x for i, x in enumerate(items)]
                    if isinstance(v, str) and not v.startswith("data:"):
                        out[k] = v  # a plain string: the schema reports it
                continue
            if isinstance(v, Mapping):
                out[k] = walk(v, name + ".", here)
            elif isinstance(v, list) and any(n.startswith(name + ".") for n in fields):
                out[k] = [walk(row, name + ".", f"{here}[{i}]") for i, row in enumerate(v)]
        return out

    result = walk(data, "", "")
    if errors:
        raise ValidationFailed("提交的数据有误，请按提示修改", "the submitted data is invalid", fields=errors)
    return result
