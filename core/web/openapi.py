"""The OpenAPI 3.1 document at ``/api/openapi.json``, built from declarations.

Each JSON endpoint is declared once with :func:`api_doc` (path, method,
permission, pydantic request/response models); core and plugins return these
from ``ccms_register_api_docs``. Undeclared ``/api/`` routes are listed too,
so the document never silently misses an endpoint.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "message_en"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string", "description": "中文说明"},
        "message_en": {"type": "string"}, "fields": {"type": "object"}}}},
}


def api_doc(path: str, method: str, summary: str, *, permission: str | None = None,
            request: type[BaseModel] | None = None, response: type[BaseModel] | None = None,
            response_list: bool = False, query: dict[str, str] | None = None, tag: str = "core") -> dict[str, Any]:
    return {"path": path, "method": method.lower(), "summary": summary, "permission": permission,
            "request": request, "response": response, "response_list": response_list, "query": query or {},
            "tag": tag}


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build(ctx: Any, routes: list[Any]) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for d in ctx.hook_list("ccms_register_api_docs"):
        op: dict[str, Any] = {"summary": d["summary"], "tags": [d["tag"]], "responses": {
            "401": {"description": "未登录 / not authenticated", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            "403": {"description": "没有权限 / forbidden", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            "422": {"description": "输入有误 / invalid input", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        }}
        if d["permission"]:
            op["x-permission"] = d["permission"]
        params = [{"name": n, "in": "path", "required": True,
                   "schema": {"type": "integer" if n == "id" or n.endswith("_id") else "string"}}
                  for n in _path_params(d["path"])]
        params += [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}, "description": desc}
                   for n, desc in d["query"].items()]
        if params:
            op["parameters"] = params
        if d["request"] is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": _schema_ref(d["request"], components)}}}
        ok: dict[str, Any] = {"description": "成功 / OK"}
        if d["response"] is not None:
            ref = _schema_ref(d["response"], components)
            schema = {"type": "object", "properties": {"items": {"type": "array", "items": ref},
                                                       "total": {"type": "integer"}}} if d["response_list"] else ref
            ok["content"] = {"application/json": {"schema": schema}}
        op["responses"]["200"] = ok
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


def _path_params(path: str) -> list[str]:
    return [m.split(":")[0] for m in re.findall(r"{([^}]+)}", path)]


def _openapi_path(path: str) -> str:
    """Starlette's ``{id:int}`` becomes OpenAPI's ``{id}``."""
    return re.sub(r"{([^}:]+):[^}]+}", r"{\1}", path)


async def openapi(request: Request) -> JSONResponse:
    ctx = request.scope["ccms"]
    return JSONResponse(build(ctx, request.app.routes))


routes = [Route("/api/openapi.json", openapi, name="openapi")]
