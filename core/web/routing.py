"""Route helpers: permission checks, JSON bodies validated by pydantic, form data.

Every endpoint declares exactly one guard, checked at start-up
(:mod:`ccms.route_guards`): a permission (:func:`requires`, or
:func:`checks_permission` when the endpoint checks it with the org itself),
:func:`authenticated` (any signed-in user) or :func:`public` (no session).
The permission is also published in the OpenAPI document.
"""

from __future__ import annotations

import functools
import inspect
import json
from typing import Any, Callable, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request

from ..errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)

MAX_DB_INT = 2**63 - 1
"""The largest id (and integer) a database column holds (BIGINT)."""


def _at_most(bound: str) -> str:
    """A regex matching decimal strings from 0 to ``bound`` (leading zeros
    allowed up to ``bound``'s length), built digit by digit."""
    n = len(bound)
    alts = [f"[0-9]{{1,{n - 1}}}"]
    for i, d in enumerate(bound):
        if d != "0":
            rest = n - i - 1
            alts.append(bound[:i] + (f"[0-{int(d) - 1}]" if d != "1" else "0") + (f"[0-9]{{{rest}}}" if rest else ""))
    alts.append(bound)
    return "(?:" + "|".join(alts) + ")"


class BoundedIntConvertor(Convertor[int]):
    """``{name:int}`` in every ccms route: 0 … 2^63-1. A larger number does not
    match the route, so it is a 404 like any unknown id, instead of an
    OverflowError (500) when it reaches SQL. Registered for ``int`` (and
    ``id``) when this module is imported, before any route is built."""

    regex = _at_most(str(MAX_DB_INT))

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        value = int(value)
        if not 0 <= value <= MAX_DB_INT:
            raise ValueError(f"id out of range: {value}")
        return str(value)


register_url_convertor("int", BoundedIntConvertor())
register_url_convertor("id", BoundedIntConvertor())


def requires(permission: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Refuse the request (403 page or JSON) unless the user holds ``permission``
    in some org domain; endpoints check the exact org with ``ctx.require``."""

    def deco(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(endpoint):
            @functools.wraps(endpoint)
            async def async_wrapper(request: Request) -> Any:
                request.scope["ccms"].require_anywhere(request.scope.get("user"), permission)
                return await endpoint(request)
            async_wrapper.permission = permission  # type: ignore[attr-defined]
            return async_wrapper

        @functools.wraps(endpoint)
        def wrapper(request: Request) -> Any:
            request.scope["ccms"].require_anywhere(request.scope.get("user"), permission)
            return endpoint(request)
        wrapper.permission = permission  # type: ignore[attr-defined]
        return wrapper

    return deco


def _mark(endpoint: Callable[..., Any], **attrs: Any) -> Callable[..., Any]:
    for k, v in attrs.items():
        setattr(endpoint, k, v)
    return endpoint


def authenticated(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Any signed-in user may call this endpoint (the middleware already
    refuses anonymous requests); the endpoint itself decides about the object
    (a task's assignee, a job's owner, an attachment's uploader...). The
    explicit marker lets tests tell such routes from ones that forgot
    :func:`requires` (tests/test_authz_matrix.py)."""
    return _mark(endpoint, access="authenticated")


def public(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Anyone may call this endpoint, signed in or not: the authentication
    middleware lets requests to its path through without a session (the user
    is still resolved when a cookie or token is presented).

    CSRF: the middleware checks the CSRF token on every unsafe request
    (POST/PUT/PATCH/DELETE) that is not made with a bearer token, public or
    not, so a public form (the login page) must render ``csrf_token``. A
    public GET must change nothing. A public POST meant for machines must not
    rely on cookies: it authenticates the caller itself (a token or a
    signature, issue 14) and the caller sends ``Authorization: Bearer``.
    """
    return _mark(endpoint, access="public")


def checks_permission(spec: str | list[str] | dict[str, str | list[str]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the permission an endpoint checks in its own code because it
    depends on the path, e.g. ``"form.{form}.list"`` (path parameters in
    braces); per HTTP method as a dict; a list means any one of them. Only a
    declaration (the endpoint enforces it, with the org); tests read it as
    ``endpoint.permission_template``."""
    return lambda endpoint: _mark(endpoint, permission_template=spec)


def declared_access(endpoint: Any, path: str, method: str, path_params: dict[str, Any] | None = None,
                    is_public: Callable[[str], bool] | None = None) -> tuple[str, list[str]]:
    """What a route declares for ``method``: ``("public", [])``,
    ``("authenticated", [])``, ``("permission", [perm, ...])`` (any one of
    them suffices), or ``("undeclared", [])``."""
    if getattr(endpoint, "access", None) == "public" or (is_public is not None and is_public(path)):
        return "public", []
    spec = getattr(endpoint, "permission_template", None)
    if isinstance(spec, dict):
        spec = spec.get(method) or (spec.get("GET") if method == "HEAD" else None)
    perm = getattr(endpoint, "permission", None)
    if perm and not spec:  # a method-specific declaration is the more precise one
        return "permission", [perm]
    if spec:
        perms = [spec] if isinstance(spec, str) else list(spec)
        return "permission", [p.format(**(path_params or {})) if path_params is not None else p for p in perms]
    if getattr(endpoint, "access", None) == "authenticated":
        return "authenticated", []
    return "undeclared", []


def allowed_methods(routes: list[Any], scope: dict[str, Any]) -> list[str]:
    """Every method some route serves at this path, for a 405's ``Allow``
    header (starlette names only the first route's when several routes share
    a path, one per method)."""
    from starlette.routing import Match, Route
    methods: set[str] = set()
    for r in routes:
        if isinstance(r, Route) and r.matches({**scope, "type": "http"})[0] != Match.NONE:
            methods |= set(r.methods or {"GET", "HEAD"})
    return sorted(methods)


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


def query_int(request: Request, name: str) -> int | None:
    """An optional integer query parameter (an id): absent or empty -> None;
    not a number or beyond 2^63-1 -> 422 naming the parameter."""
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        return _bounded_int(raw)
    except ValueError:
        raise ValidationFailed(f"参数 {name} 应为整数（-2^63 至 2^63-1）",
                               f"parameter {name} must be an integer (-2^63 to 2^63-1)",
                               fields={name: {"message": "请输入整数", "message_en": "must be an integer"}}) from None


async def request_json(request: Request) -> Any:
    return parse_json(await request.body())


async def json_body(request: Request, model: type[M]) -> M:
    """Parse and validate a JSON body; malformed input is a 400/422 with fields."""
    return validate(model, await request_json(request))


def validate(model: type[M], data: Any) -> M:
    """``model`` (a pydantic model) from ``data``, or a ValidationFailed naming each bad field (zh/en)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = pydantic_fields(exc)
        zh = "；".join(f"{k}: {v['message']}" for k, v in fields.items())
        en = "; ".join(f"{k}: {v['message_en']}" for k, v in fields.items())
        raise ValidationFailed(f"输入有误: {zh}", f"invalid input: {en}", fields=fields) from None


async def form_data(request: Request) -> dict[str, Any]:
    """Form fields as a dict of strings (lists for repeated names), CSRF token dropped."""
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form.keys():
        if key == "csrf_token":
            continue
        values = form.getlist(key)
        out[key] = values if len(values) > 1 else values[0]
    return out
