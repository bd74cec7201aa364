"""API tokens: created in the person screen or the API, shown once, scoped, revocable."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select

from conftest import ADMIN_USER, Client
from ccms.db import utcnow
from ccms.models import ApiToken, Person
from test_orgs import PASSWORD, audits, count, make_person, tree  # noqa: F401  (tree: fixture)


def admin_id(ctx: Any) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(Person.id).where(Person.username == ADMIN_USER))


def bearer(client_for: Any, secret: str) -> Client:
    """A client with no cookies at all: only the token authenticates it."""
    c = client_for()
    c.headers["Authorization"] = f"Bearer {secret}"
    return c


def new_token(admin: Client, person_id: int, scopes: list[str], **extra: Any) -> dict[str, Any]:
    r = admin.api("POST", f"/api/people/{person_id}/tokens", json={"name": "集成", "scopes": scopes, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def test_token_authenticates_api_calls_without_csrf(admin, ctx, tree, client_for):
    made = new_token(admin, admin_id(ctx), ["*"])
    assert made["secret"].startswith("ccms_") and made["token"]["prefix"] == made["secret"][:12]
    assert "token_hash" not in made["token"] and "secret" not in made["token"]
    c = bearer(client_for, made["secret"])
    assert c.get("/api/orgs").status_code == 200
    r = c.post("/api/orgs", json={"parent_id": tree["a"], "name": "令牌建的", "kind": "unit"})  # no CSRF header
    assert r.status_code == 201, r.text
    with ctx.db.session() as s:
        assert s.get(ApiToken, made["token"]["id"]).last_used_at is not None
    # the secret is not stored and never listed again
    listing = admin.get(f"/api/people/{admin_id(ctx)}/tokens").json()["items"]
    assert made["secret"] not in str(listing) and listing[0]["status"] == "active"


def test_revoked_token_gets_json_401(admin, ctx, tree, client_for):
    made = new_token(admin, admin_id(ctx), ["*"])
    c = bearer(client_for, made["secret"])
    assert c.get("/api/orgs").status_code == 200
    r = admin.api("POST", f"/api/tokens/{made['token']['id']}/revoke")
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    r = c.get("/api/orgs")
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_invalid"
    assert audits(ctx, "token_revoke", admin_id(ctx))[-1].after["token_id"] == made["token"]["id"]


def test_expired_token_gets_json_401(admin, ctx, tree, client_for):
    made = new_token(admin, admin_id(ctx), ["*"], expires_at="2099-01-01T00:00:00")
    assert made["token"]["expires_at"].startswith("2098-12-31T16:00:00")  # Asia/Shanghai → UTC
    with ctx.db.session() as s:
        s.get(ApiToken, made["token"]["id"]).expires_at = utcnow() - dt.timedelta(seconds=1)
    r = bearer(client_for, made["secret"]).get("/api/orgs")
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_invalid"
    assert "过期" in r.json()["error"]["message"]


def test_unknown_token_gets_json_401(client_for):
    r = bearer(client_for, "ccms_not-a-real-token").get("/api/people")
    assert r.status_code == 401 and r.json()["error"]["message_en"]


def test_token_scoped_to_org_view_cannot_create_people_though_owner_could(admin, ctx, tree, client_for):
    made = new_token(admin, admin_id(ctx), ["core.org.view"])
    c = bearer(client_for, made["secret"])
    assert c.get("/api/orgs").status_code == 200
    before = count(ctx, Person)
    r = c.post("/api/people", json={"username": "via_token", "display_name": "x", "org_id": tree["a"]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert c.get("/api/people").status_code == 403
    assert c.post("/api/orgs", json={"parent_id": tree["a"], "name": "x", "kind": "unit"}).status_code == 403
    # nor may it mint itself a broader token
    r = c.post(f"/api/people/{admin_id(ctx)}/tokens", json={"name": "wider", "scopes": ["*"]})
    assert r.status_code == 403
    assert count(ctx, Person) == before
    # the same owner with a session still can
    assert admin.api("POST", "/api/people", json={"username": "via_session", "display_name": "x",
                                                  "org_id": tree["a"]}).status_code == 201


def test_family_scope_allows_the_family_only(admin, ctx, tree, client_for):
    c = bearer(client_for, new_token(admin, admin_id(ctx), ["core.org.*"])["secret"])
    assert c.post("/api/orgs", json={"parent_id": tree["a"], "name": "族", "kind": "unit"}).status_code == 201
    assert c.get("/api/people").status_code == 403


def test_token_never_exceeds_its_owner(admin, ctx, tree, client_for):
    pid = make_person(ctx, "viewer", tree["a"], "auditor")
    c = bearer(client_for, new_token(admin, pid, ["*"])["secret"])
    assert c.get("/api/orgs").status_code == 200
    assert c.post("/api/orgs", json={"parent_id": tree["a"], "name": "x", "kind": "unit"}).status_code == 403
    ids = {o["id"] for o in c.get("/api/orgs").json()["items"]}
    assert tree["b"] not in ids and tree["a1u"] in ids


@pytest.mark.parametrize("body, field", [
    ({"name": "x", "scopes": ["core.nothing"]}, "scopes"),
    ({"name": "x", "scopes": []}, "scopes"),
    ({"name": "", "scopes": ["*"]}, "name"),
    ({"name": "x", "scopes": ["*"], "expires_at": "2001-01-01T00:00:00"}, "expires_at"),
    ({"name": "x", "scopes": ["*"], "expires_at": "next week"}, "expires_at"),
    ({"name": "x", "scopes": "*"}, "scopes"),
])
def test_bad_token_requests_are_422_and_write_nothing(admin, ctx, body, field):
    r = admin.api("POST", f"/api/people/{admin_id(ctx)}/tokens", json=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["error"]["fields"]
    assert count(ctx, ApiToken) == 0


def test_malformed_json_for_token_is_400(admin, ctx):
    r = admin.api("POST", f"/api/people/{admin_id(ctx)}/tokens", content=b"[[", headers={
        "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    assert count(ctx, ApiToken) == 0


def test_person_manages_own_tokens_on_their_page(ctx, tree, client_for):
    pid = make_person(ctx, "self_service", tree["a1"])  # no roles at all
    c = client_for("self_service", PASSWORD)
    page = c.get(f"/admin/people/{pid}")
    assert page.status_code == 200 and 'data-testid="token-form"' in page.text
    assert 'data-testid="person-actions"' not in page.text
    r = c.form(f"/admin/people/{pid}/tokens", {"name": "我的脚本", "scopes": ["core.org.view", "core.person.*"],
                                               "expires_on": "2099-12-31"})
    assert r.status_code == 200
    secret = re.search(r'data-testid="token-secret">([^<]+)<', r.text).group(1)
    assert "只显示这一次" in r.text
    with ctx.db.session() as s:
        tok = s.scalar(select(ApiToken).where(ApiToken.person_id == pid))
        assert tok.scopes == ["core.org.view", "core.person.*"] and tok.expires_at.year == 2099
    page = c.get(f"/admin/people/{pid}").text
    assert secret not in page and f"{tok.prefix}…" in page and f'data-testid="token-status-{tok.id}"' in page
    assert 'data-testid="history-token_create"' in page
    r = c.form(f"/admin/tokens/{tok.id}/revoke", {}, follow_redirects=False)
    assert r.status_code == 303
    page = c.get(f"/admin/people/{pid}").text
    assert "已吊销" in page and f'data-testid="token-revoke-{tok.id}"' not in page
    assert bearer(client_for, secret).get("/api/orgs").status_code == 401


def test_token_form_errors_keep_input(ctx, tree, client_for):
    pid = make_person(ctx, "self2", tree["a1"])
    c = client_for("self2", PASSWORD)
    r = c.form(f"/admin/people/{pid}/tokens", {"name": "保留我", "expires_on": "2001-02-03"})
    assert r.status_code == 422
    assert 'data-testid="error-scopes"' in r.text and 'value="保留我"' in r.text
    r = c.form(f"/admin/people/{pid}/tokens", {"name": "保留我", "scopes": "*", "expires_on": "2001-02-03"})
    assert r.status_code == 422 and 'data-testid="error-expires_on"' in r.text
    r = c.form(f"/admin/people/{pid}/tokens", {"name": "保留我", "scopes": "*", "expires_on": "31/12/2099"})
    assert r.status_code == 422 and 'data-testid="error-expires_on"' in r.text
    assert count(ctx, ApiToken) == 0


def test_others_cannot_manage_someones_tokens(admin, ctx, tree, client_for):
    owner = make_person(ctx, "owner", tree["a1"])
    made = new_token(admin, owner, ["*"])
    assert admin.get(f"/api/people/{owner}/tokens").json()["total"] == 1
    nosy = make_person(ctx, "nosy", tree["a1"], "auditor", grant_org=tree["a"])  # may view, not edit
    c = client_for("nosy", PASSWORD)
    assert c.get(f"/api/people/{owner}/tokens").status_code == 200
    assert c.api("POST", f"/api/people/{owner}/tokens", json={"name": "x", "scopes": ["*"]}).status_code == 403
    assert c.api("POST", f"/api/tokens/{made['token']['id']}/revoke").status_code == 403
    assert c.form(f"/admin/tokens/{made['token']['id']}/revoke", {}).status_code == 403
    assert 'data-testid="token-form"' not in c.get(f"/admin/people/{owner}").text
    stranger = client_for("owner", PASSWORD)  # the owner may not see someone else's
    assert stranger.get(f"/api/people/{nosy}/tokens").status_code == 403
    with ctx.db.session() as s:
        assert s.get(ApiToken, made["token"]["id"]).revoked_at is None


def test_deactivated_owner_token_stops_working(admin, ctx, tree, client_for):
    pid = make_person(ctx, "leaver", tree["a1"], "auditor")
    c = bearer(client_for, new_token(admin, pid, ["*"])["secret"])
    assert c.get("/api/orgs").status_code == 200
    admin.api("POST", f"/api/people/{pid}/deactivate")
    assert c.get("/api/orgs").status_code == 401
    r = admin.api("POST", f"/api/people/{pid}/tokens", json={"name": "x", "scopes": ["*"]})
    assert r.status_code == 422


def test_token_creation_is_audited_without_the_secret(admin, ctx):
    made = new_token(admin, admin_id(ctx), ["core.org.view"])
    e = audits(ctx, "token_create", admin_id(ctx))[-1]
    assert e.object_type == "person" and e.after["scopes"] == ["core.org.view"]
    assert made["secret"] not in str(e.after) and e.after["prefix"] == made["token"]["prefix"]

