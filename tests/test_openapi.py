"""The OpenAPI document describes every JSON endpoint, with its permission."""

from __future__ import annotations

from starlette.routing import Route


def _api_routes(app):
    for r in app.routes:
        if isinstance(r, Route) and r.path.startswith("/api/") and r.path != "/api/openapi.json":
            for m in sorted((r.methods or {"GET"}) - {"HEAD"}):
                yield r.path, m.lower()


def _doc_path(path: str) -> str:
    import re
    return re.sub(r"{([^}:]+)(:[^}]+)?}", r"{\1}", path)


def test_every_api_route_is_documented_with_a_permission(admin, app):
    doc = admin.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    missing, unguarded = [], []
    for path, method in _api_routes(app):
        op = doc["paths"].get(_doc_path(path), {}).get(method)
        if op is None or op.get("x-undocumented"):
            missing.append(f"{method.upper()} {path}")
        elif "x-permission" not in op:
            unguarded.append(f"{method.upper()} {path}")
    assert not missing, f"undocumented: {missing}"
    assert not unguarded, f"no permission declared: {unguarded}"


def test_openapi_is_public_and_lists_schemas(anon):
    doc = anon.get("/api/openapi.json").json()
    assert "Error" in doc["components"]["schemas"]
    assert doc["paths"]["/api/orgs"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]


def test_openapi_document_is_valid(anon):
    from openapi_spec_validator import validate
    validate(anon.get("/api/openapi.json").json())
