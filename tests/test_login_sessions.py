"""Defect 6: sessions and API tokens do not outlive a password change.

Own change: the person's other sessions end, the one changing stays, their
API tokens stay (they made them). Administrator's reset: every session ends
and every API token is revoked.
"""

from __future__ import annotations

import re

from conftest import login
from sqlalchemy import select
from test_orgs import PASSWORD, audits, make_person, tree  # noqa: F401  (tree: fixture)
from test_tokens import admin_id, bearer, new_token

from ccms.models import ApiToken

NEW = "Fresh#Lantern-7319"


def test_own_password_change_ends_other_sessions_and_keeps_this_one(admin, ctx, tree, client_for):
    pid = make_person(ctx, "liming", tree["a1"], "org_admin")
    here = client_for("liming", PASSWORD)
    elsewhere = client_for("liming", PASSWORD)
    token = new_token(admin, pid, ["*"])["secret"]
    assert elsewhere.get("/api/people").status_code == 200

    r = here.form("/account/password", {"current": PASSWORD, "new": NEW, "confirm": NEW}, follow_redirects=False)
    assert r.status_code == 303

    assert here.get("/api/people").status_code == 200  # the session that changed it goes on
    r = elsewhere.get("/api/people")
    assert r.status_code == 401 and r.json()["error"]["code"] == "session_invalid"
    assert bearer(client_for, token).get("/api/orgs").status_code == 200  # own tokens stay
    assert audits(ctx, "password_change", pid)[-1].after == {"sessions_ended": 1}


def test_admin_reset_ends_every_session_and_revokes_api_tokens(admin, ctx, tree, client_for):
    pid = make_person(ctx, "wangfang", tree["a1"], "org_admin")
    c1 = client_for("wangfang", PASSWORD)
    c2 = client_for("wangfang", PASSWORD)
    t1 = new_token(admin, pid, ["*"])
    t2 = new_token(admin, pid, ["core.org.view"])
    mine = new_token(admin, admin_id(ctx), ["*"])  # someone else's token is untouched
    assert bearer(client_for, t1["secret"]).get("/api/orgs").status_code == 200

    r = admin.form(f"/admin/people/{pid}/reset-password", {"version": _version(ctx, pid)})
    assert r.status_code == 200
    one_time = re.search(r'data-testid="one-time-password">([^<]+)<', r.text).group(1)

    for c in (c1, c2):
        assert c.get("/api/people").status_code == 401
    for t in (t1, t2):
        r = bearer(client_for, t["secret"]).get("/api/orgs")
        assert r.status_code == 401 and r.json()["error"]["code"] == "token_invalid"
    assert bearer(client_for, mine["secret"]).get("/api/orgs").status_code == 200
    with ctx.db.session() as s:
        states = {t.id: t.revoked_at for t in s.scalars(select(ApiToken).where(ApiToken.person_id == pid))}
    assert all(states.values()) and len(states) == 2
    e = audits(ctx, "person_reset_password", pid)[-1]
    assert e.after["sessions_ended"] == 2
    assert sorted(e.after["tokens_revoked"]) == sorted([t1["token"]["prefix"], t2["token"]["prefix"]])
    # The owner logs in with the one-time password and makes a new token: it works.
    assert login(client_for(), "wangfang", one_time).status_code == 303


def test_admin_reset_through_the_api_revokes_tokens_too(admin, ctx, tree, client_for):
    pid = make_person(ctx, "zhaolei", tree["a1"], "org_admin")
    t = new_token(admin, pid, ["*"])
    r = admin.api("POST", f"/api/people/{pid}/reset-password", json={"version": _version(ctx, pid)})
    assert r.status_code == 200
    assert bearer(client_for, t["secret"]).get("/api/orgs").status_code == 401


def test_deactivated_persons_token_and_sessions_fail(admin, ctx, tree, client_for):
    pid = make_person(ctx, "sunli", tree["a1"], "org_admin")
    c = client_for("sunli", PASSWORD)
    t = new_token(admin, pid, ["*"])
    api = bearer(client_for, t["secret"])
    assert api.get("/api/orgs").status_code == 200
    assert admin.api("POST", f"/api/people/{pid}/deactivate", json={"version": _version(ctx, pid)}).status_code == 200
    assert api.get("/api/orgs").status_code == 401
    assert c.get("/api/people").status_code == 401


def _version(ctx, pid: int) -> int:
    from ccms.models import Person
    with ctx.db.session() as s:
        return s.get(Person, pid).version
