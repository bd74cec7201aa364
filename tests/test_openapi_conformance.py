"""Defect 9 (issue 10): the OpenAPI document says what the API does.

Creates answer 201 and the document says 201; lists have the shape their
schema gives; bodies the endpoints check themselves are described; integer
path parameters carry the bounds the routes accept; a 405 names every
allowed method. (tests/test_fuzz_openapi.py checks all of it by fuzzing.)
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from test_form_records import COMPLAINT, publish

from ccms.web.routing import MAX_DB_INT


def spec(client: Any) -> dict[str, Any]:
    return client.get("/api/openapi.json").json()


def schema_of(doc: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    s = doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    return {**s, "components": doc["components"]}


def test_creates_answer_201_as_documented(admin: Any, ctx: Any) -> None:
    doc = spec(admin)
    r = admin.api("POST", "/api/orgs", json={"name": "新机构", "kind": "department", "parent_id": 1})
    assert r.status_code == 201
    ops = doc["paths"]["/api/orgs"]["post"]["responses"]
    assert "201" in ops and "200" not in ops
    jsonschema.validate(r.json(), schema_of(doc, "/api/orgs", "post", "201"))
    r = admin.api("POST", "/api/roles", json={"code": "clerk", "name": "科员"})
    assert r.status_code == 201 and "201" in doc["paths"]["/api/roles"]["post"]["responses"]
    publish(ctx, COMPLAINT)
    r = admin.api("POST", f"/api/forms/{COMPLAINT['id']}/records", json={"data": {"subject": "路灯不亮"}})
    assert r.status_code == 201 and "201" in doc["paths"]["/api/forms/{form}/records"]["post"]["responses"]
    r = admin.api("DELETE", "/api/roles/clerk")
    assert r.status_code == 204 and "204" in doc["paths"]["/api/roles/{code}"]["delete"]["responses"]
    # every documented create names 201, never a bare 200 (the probe found 200 throughout)
    for path, ops in doc["paths"].items():
        post = ops.get("post")
        if post and ("create" in post["summary"] or "新建" in post["summary"]):
            assert "201" in post["responses"], path


def test_flow_list_matches_its_schema(admin: Any) -> None:
    doc = spec(admin)
    r = admin.api("GET", "/api/flows")
    assert r.status_code == 200
    body = r.json()
    jsonschema.validate(body, schema_of(doc, "/api/flows", "get", "200"))
    assert body["total"] == len(body["items"]) and any(f["flow_id"] == "simple_approval" for f in body["items"])


@pytest.mark.parametrize("path,required", [
    ("/api/forms/{form}/records", ["data"]),
    pytest.param("/api/command/cases/report", ["class_code"], marks=pytest.mark.needs_plugins("command")),
    ("/api/flows/import", ["id"]),
    ("/api/forms/{form}/filters", ["name"]),
])
def test_self_checked_bodies_are_described(anon: Any, path: str, required: list[str]) -> None:
    body = spec(anon)["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["type"] == "object" and body["required"] == required and body["properties"]


def test_integer_path_parameters_carry_the_route_bounds(anon: Any) -> None:
    doc = spec(anon)
    param = doc["paths"]["/api/orgs/{org_id}"]["get"]["parameters"][0]
    assert param["schema"] == {"type": "integer", "minimum": 0, "maximum": MAX_DB_INT}
    code = doc["paths"]["/api/roles/{code}"]["get"]["parameters"][0]
    assert code["schema"]["type"] == "string"


def test_every_operation_documents_its_error_answers(anon: Any) -> None:
    for path, ops in spec(anon)["paths"].items():
        for method, op in ops.items():
            for status in ("400", "401", "403", "404", "409", "422"):
                assert status in op["responses"], f"{method} {path} {status}"


def test_405_names_every_allowed_method(admin: Any) -> None:
    r = admin.api("PUT", "/api/orgs/1", json={})
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    allowed = {m.strip() for m in r.headers["Allow"].split(",")}
    assert {"GET", "PATCH", "DELETE"} <= allowed and "PUT" not in allowed
    r = admin.api("DELETE", "/admin/roles")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"
