"""应用维护 → 人员配置: people and accounts through screens and the JSON API, both backends."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select

from conftest import ADMIN_PASSWORD, ADMIN_USER, Client, login
from ccms.db import utcnow
from ccms.models import LoginSession, Person
from test_orgs import PASSWORD, audits, count, make_person, tree  # noqa: F401  (tree: fixture)

GOOD = "Quite#Safe-2024x"


def person(ctx: Any, person_id: int) -> Person:
    with ctx.db.session() as s:
        return s.get(Person, person_id)


def by_username(ctx: Any, username: str) -> Person | None:
    with ctx.db.session() as s:
        return s.scalar(select(Person).where(Person.username == username))


@pytest.fixture
def district_admin(ctx: Any, tree: dict[str, int], client_for: Any) -> Client:
    make_person(ctx, "gusu_admin", tree["a"], "org_admin")
    return client_for("gusu_admin", PASSWORD)


# --- create ------------------------------------------------------------------------------------

def test_create_through_screen_shows_generated_password_once_and_forces_change(admin, ctx, tree, client_for):
    form = admin.get(f"/admin/people/new?org_id={tree['a1']}")
    assert form.status_code == 200 and 'data-testid="person-form"' in form.text
    r = admin.form("/admin/people/new", {"username": "wangwu", "display_name": "王五", "org_id": tree["a1"],
                                         "post": "执法队员", "phone": "0512-12345678", "email": "ww@example.cn",
                                         "password": ""}, follow_redirects=False)
    assert r.status_code == 200
    m = re.search(r'data-testid="one-time-password">([^<]+)<', r.text)
    assert m and "只显示这一次" in r.text
    password = m.group(1)
    p = by_username(ctx, "wangwu")
    assert p.must_change_password and p.org_id == tree["a1"] and p.post == "执法队员"
    # the new person logs in with it and must change it first
    c = client_for()
    r = login(c, "wangwu", password)
    assert r.status_code == 303 and r.headers["location"].startswith("/account/password")
    # the password is nowhere in the audit log
    e = audits(ctx, "person_create", p.id)[-1]
    assert password not in str(e.after) and e.after["password"] == "***" and e.after["username"] == "wangwu"
    # and the detail page does not show it again
    assert password not in admin.get(f"/admin/people/{p.id}").text


def test_create_form_errors_inline_and_input_kept(admin, ctx, tree):
    before = count(ctx, Person)
    r = admin.form("/admin/people/new", {"username": "x y", "display_name": "", "org_id": tree["a1"],
                                         "email": "not-an-email", "password": ""})
    assert r.status_code == 422
    for f in ("username", "display_name", "email"):
        assert f'data-testid="error-{f}"' in r.text
    assert 'value="x y"' in r.text and 'value="not-an-email"' in r.text
    r = admin.form("/admin/people/new", {"username": "zhaoliu", "display_name": "赵六", "org_id": tree["a1"],
                                         "password": "short"})
    assert r.status_code == 422 and 'data-testid="error-password"' in r.text and "至少需要" in r.text
    assert count(ctx, Person) == before


def test_api_create_with_given_password(admin, ctx, tree, client_for):
    r = admin.api("POST", "/api/people", json={"username": "sunqi", "display_name": "孙七", "org_id": tree["a"],
                                               "password": GOOD})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["password"] is None and body["person"]["must_change_password"] is True
    assert "password_hash" not in body["person"] and body["person"]["org_name"] == "姑苏区"
    r = login(client_for(), "sunqi", GOOD)
    assert r.headers["location"].startswith("/account/password")


def test_api_create_without_password_returns_it_once(admin, ctx, tree):
    r = admin.api("POST", "/api/people", json={"username": "zhouba", "display_name": "周八", "org_id": tree["a"]})
    assert r.status_code == 201
    pw = r.json()["password"]
    assert pw and len(pw) >= 10
    pid = r.json()["person"]["id"]
    assert "password" not in admin.get(f"/api/people/{pid}").json()


@pytest.mark.parametrize("body, field", [
    ({"username": "root", "display_name": "重名", "org_id": "{a}"}, "username"),
    ({"username": "ROOT", "display_name": "重名", "org_id": "{a}"}, "username"),
    ({"username": "ok_name", "display_name": "弱密码", "org_id": "{a}", "password": "abc"}, "password"),
    ({"username": "ok_name", "display_name": "含用户名", "org_id": "{a}", "password": "ok_name#X1234567"}, "password"),
    ({"username": "ok_name", "display_name": "x", "org_id": 999999}, "org_id"),
    ({"username": "ok_name", "display_name": "x"}, "org_id"),
    ({"username": "ok_name", "display_name": "x", "org_id": "{a}", "phone": "call me"}, "phone"),
    ({"username": "ok_name", "display_name": "x", "org_id": "{a}", "role": "admin"}, "role"),
])
def test_api_create_bad_input_is_422_with_field_and_writes_nothing(admin, ctx, tree, body, field):
    body = {k: (tree["a"] if v == "{a}" else v) for k, v in body.items()}
    before = count(ctx, Person)
    r = admin.api("POST", "/api/people", json=body)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert field in err["fields"] and err["fields"][field]["message"] and err["fields"][field]["message_en"]
    assert count(ctx, Person) == before


def test_cannot_create_in_an_inactive_org(admin, ctx, tree):
    admin.api("POST", f"/api/orgs/{tree['b']}/deactivate")
    r = admin.api("POST", "/api/people", json={"username": "late", "display_name": "迟到", "org_id": tree["b"]})
    assert r.status_code == 422 and "org_id" in r.json()["error"]["fields"]


@pytest.mark.parametrize("method, path", [("POST", "/api/people"), ("PATCH", "/api/people/{p}"),
                                          ("POST", "/api/people/{p}/deactivate")])
def test_malformed_json_is_400_and_writes_nothing(admin, ctx, tree, method, path):
    pid = make_person(ctx, "target", tree["a"])
    before = count(ctx, Person), person(ctx, pid).version
    r = admin.api(method, path.format(p=pid), content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    assert (count(ctx, Person), person(ctx, pid).version) == before and person(ctx, pid).active


# --- list ---------------------------------------------------------------------------------------

@pytest.fixture
def crowd(ctx: Any, tree: dict[str, int]) -> None:
    from ccms.services import people as svc
    from test_orgs import ACTOR
    with ctx.db.session() as s:  # generated passwords: argon2 hashing once per person is slow enough
        for i in range(23):
            org_id = tree["a1u"] if i % 2 else tree["b"]
            svc.create(s, ACTOR, ctx, {"username": f"user{i:02d}", "display_name": f"队员{i:02d}",
                                       "org_id": org_id, "password": GOOD + str(i)})
        svc.create(s, ACTOR, ctx, {"username": "chen_x", "display_name": "陈小明", "org_id": tree["a"],
                                   "password": GOOD})
    with ctx.db.session() as s:
        s.get(Person, by_username(ctx, "user03").id).active = False


def test_api_list_search_filter_and_paging(admin, ctx, tree, crowd):
    r = admin.get("/api/people?page_size=10")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 25 and len(body["items"]) == 10  # 23 + chen_x + root
    assert all("password_hash" not in i for i in body["items"])
    page3 = admin.get("/api/people?page_size=10&page=3").json()
    assert len(page3["items"]) == 5
    assert admin.get("/api/people?q=陈小").json()["items"][0]["username"] == "chen_x"
    assert admin.get("/api/people?q=USER0").json()["total"] == 10
    # subtree filter: district A includes its department's unit
    a = admin.get(f"/api/people?org_id={tree['a']}&page_size=100").json()
    assert a["total"] == 12 and {i["org_id"] for i in a["items"]} == {tree["a"], tree["a1u"]}
    assert admin.get(f"/api/people?org_id={tree['a1u']}&active=false").json()["total"] == 1
    assert admin.get("/api/people?active=true").json()["total"] == 24
    assert admin.get("/api/people?q=%25").json()["total"] == 0  # LIKE wildcards are literal
    assert admin.get("/api/people?page=x").status_code == 422
    assert admin.get("/api/people?org_id=999999").status_code == 404


def test_list_screen_filters_with_htmx_fragment_and_pages(admin, ctx, tree, crowd):
    # Rows per page come from 系统配置 (core.page_size, default 50); 20 here.
    r = admin.api("PUT", "/api/settings/core", json={"values": {"page_size": 20}, "version": 0})
    assert r.status_code == 200, r.text
    page = admin.get("/admin/people")
    assert page.status_code == 200
    assert 'hx-get="/admin/people"' in page.text and 'id="list"' in page.text
    assert "共 25 人" in page.text and "第 1 / 2 页" in page.text
    frag = admin.get(f"/admin/people?q=队员&org_id={tree['a1u']}", headers={"HX-Request": "true"})
    assert frag.status_code == 200
    assert "<html" not in frag.text and 'data-testid="people-filter"' not in frag.text
    assert "共 11 人" in frag.text and "陈小明" not in frag.text
    frag = admin.get("/admin/people?active=0", headers={"HX-Request": "true"})
    assert "共 1 人" in frag.text and "队员03" in frag.text
    page2 = admin.get("/admin/people?page=2", headers={"HX-Request": "true"})
    assert "第 2 / 2 页" in page2.text and 'hx-get="/admin/people?page=1"' in page2.text
    kept = admin.get("/admin/people?q=%E9%98%9F&page=1", headers={"HX-Request": "true"})
    assert 'href="/admin/people?q=%E9%98%9F&amp;page=2"' in kept.text
    assert admin.get("/admin/people?q=nobody", headers={"HX-Request": "true"}).text.count("people-empty") == 1
    # An explicit page size wins and is kept in the paging links.
    small = admin.get("/admin/people?page_size=10", headers={"HX-Request": "true"})
    assert "第 1 / 3 页" in small.text and "page_size=10" in small.text
    assert admin.get("/admin/people?page_size=5000").status_code == 422


# --- edit and conflicts --------------------------------------------------------------------------

def test_edit_through_screen_and_audit_before_after(admin, ctx, tree):
    pid = make_person(ctx, "qian", tree["a1"], display_name="钱一")
    page = admin.get(f"/admin/people/{pid}/edit")
    assert page.status_code == 200 and 'value="钱一"' in page.text
    v = person(ctx, pid).version
    r = admin.form(f"/admin/people/{pid}/edit", {"display_name": "钱一一", "org_id": tree["b"], "post": "科员",
                                                 "phone": "", "email": "", "version": v}, follow_redirects=False)
    assert r.status_code == 303
    p = person(ctx, pid)
    assert (p.display_name, p.org_id, p.post) == ("钱一一", tree["b"], "科员")
    e = audits(ctx, "person_edit", pid)[-1]
    assert e.before == {"display_name": "钱一", "org_id": tree["a1"], "post": ""}
    assert e.after == {"display_name": "钱一一", "org_id": tree["b"], "post": "科员"}


def test_two_admins_editing_on_screen_second_gets_conflict(admin, ctx, tree, client_for):
    pid = make_person(ctx, "qian", tree["a1"], display_name="钱一")
    other = client_for(ADMIN_USER, ADMIN_PASSWORD)
    v = person(ctx, pid).version
    base = {"org_id": tree["a1"], "post": "", "phone": "", "email": "", "version": v}
    assert admin.form(f"/admin/people/{pid}/edit", {**base, "display_name": "甲改的"},
                      follow_redirects=False).status_code == 303
    r = other.form(f"/admin/people/{pid}/edit", {**base, "display_name": "乙改的", "phone": "12345"},
                   follow_redirects=False)
    assert r.status_code == 409
    assert "已被他人修改" in r.text and "nothing was saved" in r.text
    assert 'value="乙改的"' in r.text and 'value="12345"' in r.text
    p = person(ctx, pid)
    assert p.display_name == "甲改的" and p.phone == ""


def test_two_admins_editing_through_api_second_gets_409(admin, ctx, tree):
    pid = make_person(ctx, "qian", tree["a1"], display_name="钱一")
    v = admin.get(f"/api/people/{pid}").json()["version"]
    r1 = admin.api("PATCH", f"/api/people/{pid}", json={"version": v, "phone": "111"})
    assert r1.status_code == 200 and r1.json()["version"] == v + 1
    r2 = admin.api("PATCH", f"/api/people/{pid}", json={"version": v, "phone": "222", "post": "x"})
    assert r2.status_code == 409
    err = r2.json()["error"]
    assert err["code"] == "conflict" and "已被他人修改" in err["message"] and "someone else" in err["message_en"]
    p = person(ctx, pid)
    assert p.phone == "111" and p.post == ""
    assert admin.api("PATCH", f"/api/people/{pid}", json={"phone": "3"}).status_code == 422  # version required



def test_truly_simultaneous_saves_the_later_flush_is_refused(ctx, tree):
    """Both read version v before either saved: the database's version check stops the second."""
    from sqlalchemy.orm.exc import StaleDataError
    from ccms.services import people as svc
    from test_orgs import ACTOR
    pid = make_person(ctx, "race", tree["a1"])
    s1, s2 = ctx.db.Session(), ctx.db.Session()
    try:
        seen = s2.get(Person, pid)  # the second administrator opened the form (keep it loaded)
        v = seen.version
        svc.edit(s1, ACTOR, ctx, pid, {"version": v, "post": "先"})
        s1.commit()
        with pytest.raises(StaleDataError):
            svc.edit(s2, ACTOR, ctx, pid, {"version": v, "post": "后"})
        s2.rollback()
    finally:
        s1.close()
        s2.close()
    assert person(ctx, pid).post == "先" and len(audits(ctx, "person_edit", pid)) == 1

# --- account actions -----------------------------------------------------------------------------

def test_deactivate_revokes_sessions_and_activate_restores(admin, ctx, tree, client_for):
    pid = make_person(ctx, "zhang", tree["a1"], "org_admin")
    c = client_for("zhang", PASSWORD)
    assert c.get("/api/people").status_code == 200
    r = admin.form(f"/admin/people/{pid}/deactivate", {"version": person(ctx, pid).version},
                   follow_redirects=False)
    assert r.status_code == 303
    assert not person(ctx, pid).active
    with ctx.db.session() as s:
        assert all(ls.revoked for ls in s.scalars(select(LoginSession).where(LoginSession.person_id == pid)))
    assert c.get("/api/people").status_code == 401
    assert login(client_for(), "zhang", PASSWORD).status_code == 401
    e = audits(ctx, "person_deactivate", pid)[-1]
    assert e.before == {"active": True} and e.after == {"active": False}
    r = admin.api("POST", f"/api/people/{pid}/activate", json={"version": person(ctx, pid).version})
    assert r.status_code == 200 and r.json()["active"] is True
    assert login(client_for(), "zhang", PASSWORD).status_code == 303


def test_cannot_deactivate_yourself(admin, ctx):
    me = by_username(ctx, ADMIN_USER)
    r = admin.api("POST", f"/api/people/{me.id}/deactivate")
    assert r.status_code == 409 and person(ctx, me.id).active


def test_unlock_clears_the_lockout(admin, ctx, tree):
    pid = make_person(ctx, "locked1", tree["a1"])
    with ctx.db.session() as s:
        p = s.get(Person, pid)
        p.locked_until = utcnow() + dt.timedelta(minutes=10)
        p.failed_logins = 3
    page = admin.get(f"/admin/people/{pid}")
    assert 'data-testid="person-locked"' in page.text and 'data-testid="person-unlock"' in page.text
    r = admin.api("POST", f"/api/people/{pid}/unlock")
    assert r.status_code == 200 and r.json()["locked"] is False
    p = person(ctx, pid)
    assert p.locked_until is None and p.failed_logins == 0
    assert audits(ctx, "person_unlock", pid)[-1].after == {"locked_until": None}


def test_reset_password_screen_and_api(admin, ctx, tree, client_for):
    pid = make_person(ctx, "reset_me", tree["a1"])
    c = client_for("reset_me", PASSWORD)
    r = admin.form(f"/admin/people/{pid}/reset-password", {"version": person(ctx, pid).version})
    assert r.status_code == 200
    new_pw = re.search(r'data-testid="one-time-password">([^<]+)<', r.text).group(1)
    assert c.get("/").status_code == 200 and "/login" in str(c.get("/", follow_redirects=True).url)
    assert login(client_for(), "reset_me", PASSWORD).status_code == 401
    r = login(client_for(), "reset_me", new_pw)
    assert r.status_code == 303 and r.headers["location"].startswith("/account/password")
    r = admin.api("POST", f"/api/people/{pid}/reset-password")
    assert r.status_code == 200 and r.json()["password"] and r.json()["password"] != new_pw
    assert r.json()["person"]["must_change_password"] is True
    e = audits(ctx, "person_reset_password", pid)
    assert len(e) == 2 and all(x.after["password"] == "***" for x in e)


def test_detail_shows_grants_tokens_and_history(admin, ctx, tree):
    pid = make_person(ctx, "granted", tree["a1"], "auditor", grant_org=tree["a"])
    admin.api("PATCH", f"/api/people/{pid}", json={"version": person(ctx, pid).version, "post": "审计"})
    page = admin.get(f"/admin/people/{pid}")
    assert page.status_code == 200
    assert f'data-testid="grant-auditor-{tree["a"]}"' in page.text and "安全审计员" in page.text
    assert 'data-testid="tokens"' in page.text and 'data-testid="token-form"' in page.text
    assert 'data-testid="history-person_edit"' in page.text and 'data-testid="history-person_create"' in page.text
    assert 'data-testid="person-actions"' in page.text


def test_version_in_action_buttons_is_checked(admin, ctx, tree):
    pid = make_person(ctx, "v1", tree["a1"])
    stale = person(ctx, pid).version
    admin.api("PATCH", f"/api/people/{pid}", json={"version": stale, "post": "x"})
    r = admin.form(f"/admin/people/{pid}/deactivate", {"version": stale})
    assert r.status_code == 409 and "已被他人修改" in r.text and person(ctx, pid).active


# --- org domains ----------------------------------------------------------------------------------

def test_district_admin_sees_and_edits_only_people_of_their_district(ctx, tree, district_admin):
    inside = make_person(ctx, "in_a", tree["a1u"], display_name="区内人")
    outside = make_person(ctx, "in_b", tree["b"], display_name="区外人")
    items = district_admin.get("/api/people?page_size=100").json()["items"]
    assert {i["username"] for i in items} == {"in_a", "gusu_admin"}
    page = district_admin.get("/admin/people")
    assert "区内人" in page.text and "区外人" not in page.text
    assert f'<option value="{tree["b"]}"' not in page.text
    before = person(ctx, outside).version
    assert district_admin.get(f"/api/people/{outside}").status_code == 403
    assert district_admin.get(f"/admin/people/{outside}").status_code == 403
    assert district_admin.get(f"/api/people?org_id={tree['b']}").status_code == 403
    assert district_admin.api("PATCH", f"/api/people/{outside}", json={"version": before,
                                                                       "post": "x"}).status_code == 403
    assert district_admin.form(f"/admin/people/{outside}/edit", {"display_name": "x", "org_id": tree["b"],
                                                                 "version": before}).status_code == 403
    for action in ("deactivate", "unlock", "reset-password"):
        r = district_admin.api("POST", f"/api/people/{outside}/{action}")
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert district_admin.api("POST", "/api/people", json={"username": "sneak", "display_name": "x",
                                                           "org_id": tree["b"]}).status_code == 403
    # moving someone of their own into another district is refused too
    v = person(ctx, inside).version
    assert district_admin.api("PATCH", f"/api/people/{inside}", json={"version": v,
                                                                      "org_id": tree["b"]}).status_code == 403
    assert person(ctx, outside).version == before and person(ctx, inside).org_id == tree["a1u"]
    assert by_username(ctx, "sneak") is None
    # their own district works
    r = district_admin.api("POST", "/api/people", json={"username": "newbie", "display_name": "新人",
                                                        "org_id": tree["a1"]})
    assert r.status_code == 201
    assert district_admin.api("PATCH", f"/api/people/{inside}", json={"version": v, "org_id": tree["a1"]}
                              ).status_code == 200


def test_person_without_view_rights_sees_only_their_own_page(ctx, tree, client_for):
    me = make_person(ctx, "plain", tree["a1"])
    other = make_person(ctx, "other", tree["a1"])
    c = client_for("plain", PASSWORD)
    assert c.get(f"/admin/people/{me}").status_code == 200
    assert c.get(f"/admin/people/{other}").status_code == 403
    assert c.get("/admin/people").status_code == 403
    assert c.get("/api/people").status_code == 403


def test_openapi_documents_people_endpoints(admin):
    paths = admin.get("/api/openapi.json").json()["paths"]
    assert paths["/api/people"]["get"]["x-permission"] == "core.person.view"
    for p in ("/api/people/{person_id}", "/api/people/{person_id}/reset-password", "/api/people/{person_id}/tokens",
              "/api/tokens/{token_id}/revoke"):
        assert p in paths
