"""Defect 5 (issue 10): ids at or above 2^63 never cause a server error.

Every registered route with an integer path parameter is requested, with
each of its methods, as the administrator with 2^63 and 2^64 in place of the
ids; screens and the API must answer 404 (or another 4xx), never 500. Also
integers in JSON bodies and query strings that reach SQL.
"""

from __future__ import annotations

import pytest
import re
from typing import Any

from starlette.routing import Route
from test_form_records import COMPLAINT, publish

from ccms.web.routing import MAX_DB_INT

HUGE = [2**63, 2**64, 10**30]
OTHER_PARAMS = {"form": COMPLAINT["id"], "op": "delay", "att": "1", "size": "thumb", "flow": "case_loop"}


def _int_routes(app: Any) -> list[tuple[str, str]]:
    out = []
    for r in app.routes:
        if isinstance(r, Route) and ":int}" in r.path:
            for m in sorted((r.methods or {"GET"}) - {"HEAD"}):
                out.append((r.path, m))
    return out


def _fill(path: str, value: int) -> str:
    def one(m: re.Match[str]) -> str:
        name, _, conv = m.group(1).partition(":")
        return str(value) if conv == "int" else OTHER_PARAMS.get(name, "x")
    return re.sub(r"{([^}]+)}", one, path)


@pytest.mark.needs_plugins("command")
def test_bounded_int_convertor_is_used_by_every_route(app: Any) -> None:
    routes = _int_routes(app)
    assert len(routes) > 40, "expected the core and command plugin routes with ids"
    for r in app.routes:
        if isinstance(r, Route) and ":int}" in r.path:
            assert r.path_regex.match(_fill(r.path, MAX_DB_INT)), r.path
            assert not r.path_regex.match(_fill(r.path, MAX_DB_INT + 1)), r.path


def test_huge_ids_in_every_route_answer_404_not_500(ctx: Any, admin: Any) -> None:
    publish(ctx, COMPLAINT)
    bad = []
    for path, method in _int_routes(admin.app):
        for value in HUGE:
            url = _fill(path, value)
            if path.startswith("/api/"):
                r = admin.api(method, url, json={} if method != "GET" else None)
            elif method == "GET":
                r = admin.get(url)
            else:
                r = admin.form(url, {})
            if r.status_code != 404:
                bad.append(f"{method} {url} -> {r.status_code}")
            elif path.startswith("/api/"):
                assert r.json()["error"]["code"] == "not_found"
    assert not bad, "\n".join(bad)


def test_the_largest_database_id_is_looked_up_not_refused(admin: Any) -> None:
    r = admin.get(f"/api/orgs/{MAX_DB_INT}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


@pytest.mark.needs_plugins("command")
def test_huge_integers_in_json_bodies_and_queries_are_refused_cleanly(admin: Any) -> None:
    r = admin.api("POST", "/api/orgs", json={"name": "超大", "kind": "department", "parent_id": 2**64})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "validation_error" and "2^63" in err["message_en"]
    r = admin.get(f"/api/people?org_id={2**64}")
    assert r.status_code in (200, 404, 422), r.text
    for url in (f"/api/audit?person_id={2**64}", f"/command/cases?page={10**30}", f"/admin/people?org_id={2**64}",
                f"/pickers/person?_id={2**64}"):
        r = admin.get(url)
        assert r.status_code in (200, 404, 422), f"{url}: {r.status_code}"


def test_digits_that_are_not_decimal_are_refused_not_crashed(ctx: Any, admin: Any) -> None:
    """Found by schemathesis: ``"²".isdigit()`` is true but ``int("²")`` fails, so a
    version ``²`` in the path was a 500."""
    publish(ctx, COMPLAINT)
    for url in ("/api/flows/simple_approval/versions/²", f"/api/form-defs/{COMPLAINT['id']}/versions/²",
                "/admin/flows/simple_approval?version=²", f"/forms/{COMPLAINT['id']}?saved=²"):
        r = admin.get(url)
        assert r.status_code in (200, 404, 422), f"{url}: {r.status_code}"
    assert admin.get("/api/flows/simple_approval/versions/١").status_code == 200  # Arabic-Indic 1 is a number
