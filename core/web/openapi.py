"""The OpenAPI 3.1 document at ``/api/openapi.json``, built from declarations.

Each JSON endpoint is declared once with :func:`api_doc` (path, method,
permission, pydantic request/response models); core and plugins return these
from ``ccms_register_api_docs``. Undeclared ``/api/`` routes are listed too,
so the document never silently misses an endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .routing import public
from .routing import MAX_DB_INT, BoundedIntConvertor

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "message_en"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string", "description": "中文说明"},
        "message_en": {"type": "string"}, "fields": {"type": "object"}}}},
}


def api_doc(path: str, method: str, summary: str, *, permission: str | None = None,
            request: type[BaseModel] | None = None, response: type[BaseModel] | None = None,
            response_list: bool = False, query: dict[str, str] | None = None, tag: str = "core",
            status: int | Sequence[int] = 200, body: dict[str, Any] | None = None,
            public: bool = False) -> dict[str, Any]:
    """One JSON operation. ``status`` is what success answers (201 for a
    create, 204 for no content, several when it depends); ``body`` is a JSON
    Schema for a request body the endpoint checks itself (no pydantic model);
    ``public`` documents an operation that needs no login."""
    statuses = (status,) if isinstance(status, int) else tuple(status)
    return {"path": path, "method": method.lower(), "summary": summary, "permission": permission,
            "request": request, "response": response, "response_list": response_list, "query": query or {},
            "tag": tag, "status": statuses, "body": body, "public": public}


# Request bodies that endpoints check themselves (no pydantic model), so the
# document still says what to send and fuzzers send the right shape.
RECORD_BODY: dict[str, Any] = {
    "type": "object", "required": ["data"], "properties": {
        "org_id": {"type": "integer", "minimum": 1, "description": "记录所属机构（缺省为本人可建记录的机构）/ the record's org"},
        "data": {"type": "object", "description": "字段值，见 GET /api/forms/{form}/definition / field values, "
                                                  "as the published definition says"}}}
SAVED_FILTER_BODY: dict[str, Any] = {
    "type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "query": {"type": "object", "properties": {
            "q": {"type": "string"}, "filters": {"type": "object", "additionalProperties": {"type": "string"}},
            "sort": {"type": "string"}}},
        "shared": {"type": "boolean", "description": "共享需 core.forms.share_filters / needs core.forms.share_filters"}}}
DEFINITION_BODY: dict[str, Any] = {
    "type": "object", "required": ["id"], "properties": {"id": {"type": "string"}},
    "description": "完整定义（flow_defs/meta-schema.json），全部检查后存为草稿 / the whole definition "
                   "(flow_defs/meta-schema.json), checked in full, stored as a draft"}


ERRORS = {
    "400": "请求格式错误 / malformed request",
    "401": "未登录 / not authenticated",
    "403": "没有权限 / forbidden",
    "404": "不存在 / not found",
    "409": "冲突（版本过期或状态不允许）/ conflict (stale version or state)",
    "413": "请求过大 / request too large",
    "422": "输入有误 / invalid input",
}
"""Every operation may answer these, always with the Error body."""


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build(ctx: Any, routes: list[Any]) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    convertors = _route_convertors(routes)
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for d in ctx.hook_list("ccms_register_api_docs"):
        op: dict[str, Any] = {"summary": d["summary"], "tags": [d["tag"]], "responses": {
            code: {"description": text, "content": error} for code, text in ERRORS.items()}}
        if d["permission"]:
            op["x-permission"] = d["permission"]
        if d.get("public"):
            op["security"] = []
        kinds = convertors.get((_openapi_path(d["path"]), d["method"].upper()), {})
        params = [{"name": n, "in": "path", "required": True, "schema": _param_schema(kinds.get(n))}
                  for n in _path_params(d["path"])]
        params += [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}, "description": desc}
                   for n, desc in d["query"].items()]
        if params:
            op["parameters"] = params
        if d["request"] is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": _schema_ref(d["request"], components)}}}
        elif d.get("body") is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": d["body"]}}}
        for status in d.get("status", (200,)):
            ok: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "成功 / OK")}
            if d["response"] is not None and status != 204:
                ref = _schema_ref(d["response"], components)
                schema = {"type": "object", "required": ["items", "total"], "properties": {
                    "items": {"type": "array", "items": ref}, "total": {"type": "integer"}}} \
                    if d["response_list"] else ref
                ok["content"] = {"application/json": {"schema": schema}}
            op["responses"][str(status)] = ok
        paths.setdefault(_openapi_path(d["path"]), {})[d["method"]] = op
    for r in routes:  # anything under /api/ that nobody declared
        path = getattr(r, "path", "")
        if path.startswith("/api/") and path != "/api/openapi.json":
            for m in sorted((getattr(r, "methods", None) or {"GET"}) - {"HEAD"}):
                if m.lower() in paths.get(_openapi_path(path), {}):
                    continue
                paths.setdefault(_openapi_path(path), {})[m.lower()] = {
                    "summary": getattr(r, "name", path), "x-undocumented": True,
                    "responses": {"200": {"description": "OK"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"ccms API · {ctx.deployment.name}", "version": "0.1.0",
                 "description": "会话 Cookie（需 X-CSRF-Token）或 `Authorization: Bearer <API 令牌>`。"
                                " Session cookie (with X-CSRF-Token) or a bearer API token."},
        "components": {"schemas": components, "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "ccms_session"}}},
        "security": [{"token": []}, {"session": []}],
        "paths": dict(sorted(paths.items())),
    }


_STATUS_TEXT = {200: "成功 / OK", 201: "已创建 / created", 202: "已受理 / accepted", 204: "成功，无内容 / done, no content"}


def _route_convertors(routes: list[Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(OpenAPI path, method) -> {parameter: starlette convertor} of the route serving it."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in routes:
        if isinstance(r, Route):
            for m in r.methods or {"GET"}:
                out.setdefault((_openapi_path(r.path), m), dict(r.param_convertors))
    return out


def _param_schema(convertor: Any) -> dict[str, Any]:
    """What the route really accepts: ``{x:int}`` is an id from 0 to 2^63-1
    (larger numbers are a 404), anything else a path segment."""
    if isinstance(convertor, BoundedIntConvertor):
        return {"type": "integer", "minimum": 0, "maximum": MAX_DB_INT}
    return {"type": "string", "pattern": "^[^/]+$"}


def _path_params(path: str) -> list[str]:
    return [m.split(":")[0] for m in re.findall(r"{([^}]+)}", path)]


def _openapi_path(path: str) -> str:
    """Starlette's ``{id:int}`` becomes OpenAPI's ``{id}``."""
    return re.sub(r"{([^}:]+):[^}]+}", r"{\1}", path)


@public
async def openapi(request: Request) -> JSONResponse:
    ctx = request.scope["ccms"]
    return JSONResponse(build(ctx, request.app.routes))


routes = [Route("/api/openapi.json", openapi, name="openapi")]
