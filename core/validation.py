"""Checking input, shared by every layer that accepts it (services, forms, calendar,
dictionaries, the web layer): pydantic validation into bilingual field errors, strict JSON,
the optimistic-lock check and the field-error shape.

It sits below the services and the web layer so that neither has to import the other for it.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import Conflict, ValidationFailed

M = TypeVar("M", bound=BaseModel)

MAX_DB_INT = 2**63 - 1


def pydantic_fields(exc: ValidationError) -> dict[str, dict[str, str]]:
    """pydantic errors -> ``{field: {message, message_en}}`` for forms and JSON."""
    out: dict[str, dict[str, str]] = {}
    for err in exc.errors():
        name = ".".join(str(x) for x in err["loc"]) or "_"
        en = err["msg"]
        zh = _ZH.get(err["type"], "输入无效")
        ctx = err.get("ctx") or {}
        if err["type"] in ("string_too_short", "too_short"):
            zh = f"至少需要{ctx.get('min_length', '')}个字符"
        elif err["type"] in ("string_too_long", "too_long"):
            zh = f"最多允许{ctx.get('max_length', '')}个字符"
        elif err["type"] == "value_error":
            msg = str(ctx.get("error", en))
            zh, _, en2 = msg.partition(" / ")
            en = en2 or en
        out.setdefault(name, {"message": zh, "message_en": en})
    return out


_ZH = {
    "missing": "必填项",
    "int_parsing": "请输入整数",
    "int_type": "请输入整数",
    "float_parsing": "请输入数字",
    "bool_parsing": "请输入是或否",
    "string_type": "请输入文本",
    "string_pattern_mismatch": "格式不正确",
    "literal_error": "不是允许的取值",
    "enum": "不是允许的取值",
    "extra_forbidden": "不允许的字段",
    "greater_than_equal": "数值太小",
    "less_than_equal": "数值太大",
    "json_invalid": "JSON 格式错误",
    "model_type": "格式不正确",
    "dict_type": "格式不正确",
    "list_type": "应为列表",
}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    value = int(text)
    if not -MAX_DB_INT - 1 <= value <= MAX_DB_INT:
        raise _IntOutOfRange(text)
    return value


class _IntOutOfRange(ValueError):
    pass


def parse_json(raw: bytes | str) -> Any:
    """Strict JSON: Python's parser also accepts NaN and Infinity, which are
    not JSON and cannot be answered back; they are bad input like any other.
    Integers beyond ±2^63 are refused here, once for every body, because no
    column holds them and SQL drivers fail on them (OverflowError, 500)."""
    try:
        return json.loads(raw or b"null", parse_constant=_no_constants, parse_int=_bounded_int)
    except _IntOutOfRange as exc:
        raise ValidationFailed(f"整数超出范围（-2^63 至 2^63-1）: {str(exc)[:40]}",
                               f"integer out of range (-2^63 to 2^63-1): {str(exc)[:40]}",
                               code="validation_error", status=422) from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise ValidationFailed(f"请求体不是有效的 JSON: {exc}", f"body is not valid JSON: {exc}",
                               code="malformed_json", status=400) from None


def validate(model: type[M], data: Any) -> M:
    """``model`` (a pydantic model) from ``data``, or a ValidationFailed naming each bad field (zh/en)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = pydantic_fields(exc)
        zh = "；".join(f"{k}: {v['message']}" for k, v in fields.items())
        en = "; ".join(f"{k}: {v['message_en']}" for k, v in fields.items())
        raise ValidationFailed(f"输入有误: {zh}", f"invalid input: {en}", fields=fields) from None


def coerce(model: type[M], data: M | Mapping[str, Any]) -> M:
    """Accept a model instance or a plain mapping (forms, CLI, seeds) and validate it."""
    if isinstance(data, model):
        return data
    return validate(model, dict(data))


def check_version(obj: Any, version: int | None, what_zh: str, what_en: str) -> None:
    """Optimistic lock: refuse when the caller edited an older version than the stored one.

    ``version=None`` means the caller did not say (an action button without a
    form); the database's version check still guards concurrent flushes.
    """
    if version is not None and version != obj.version:
        raise Conflict(f"该{what_zh}已被他人修改（您编辑的是第 {version} 版，当前为第 {obj.version} 版），"
                       "您的修改未保存，请刷新后重试",
                       f"this {what_en} was changed by someone else (you edited version {version}, "
                       f"it is now version {obj.version}); nothing was saved: reload and try again",
                       code="conflict")


def field_error(name: str, zh: str, en: str) -> dict[str, dict[str, str]]:
    """One entry of ``ValidationFailed.fields`` in the shape forms and JSON share."""
    return {name: {"message": zh, "message_en": en}}


def stripped_name(v: str | None) -> str | None:
    """pydantic validator for names: surrounding spaces dropped, blank refused."""
    if v is None:
        return None
    v = v.strip()
    if not v:
        raise ValueError("名称不能为空 / name must not be empty")
    return v
