"""应用维护 → 机构配置: org tree screens and JSON API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from conftest import Client
from ccms import audit
from ccms.models import AuditLog, Org
from ccms.services import orgs as org_svc
from ccms.services import people as people_svc

ACTOR = audit.Actor(None, "test")
PASSWORD = "Pass#word-12345"


# --- helpers (also imported by test_people / test_tokens) ---------------------------------

def root_id(ctx: Any) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(Org.id).where(Org.parent_id.is_(None)))


def make_org(ctx: Any, parent_id: int, name: str, kind: str = "department", region_code: str | None = None) -> int:
    with ctx.db.session() as s:
        return org_svc.create(s, ACTOR, ctx, {"parent_id": parent_id, "name": name, "kind": kind,
                                              "region_code": region_code}).id


def make_person(ctx: Any, username: str, org_id: int, role: str | None = None, grant_org: int | None = None,
                display_name: str | None = None) -> int:
    """A person who can log in at once with PASSWORD (and optionally a role granted at an org)."""
    with ctx.db.session() as s:
        p = people_svc.create(s, ACTOR, ctx, {"username": username, "display_name": display_name or username,
                                              "org_id": org_id, "password": PASSWORD}).person
        p.must_change_password = False
        if role:
            ctx.authz.grant(s, p.id, role, grant_org or org_id)
        return p.id


def districts(ctx: Any) -> dict[str, int]:
    """root → district A (320505) → dept A1 → unit A1u; root → district B (320506)."""
    r = root_id(ctx)
    a = make_org(ctx, r, "姑苏区", "region", "320508")
    b = make_org(ctx, r, "吴中区", "region", "320506")
    a1 = make_org(ctx, a, "姑苏区城管局")
    a1u = make_org(ctx, a1, "执法一中队", "unit")
    return {"root": r, "a": a, "b": b, "a1": a1, "a1u": a1u}


def count(ctx: Any, model: Any, *where: Any) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def audits(ctx: Any, action: str, object_id: int | None = None) -> list[AuditLog]:
    with ctx.db.session() as s:
        stmt = select(AuditLog).where(AuditLog.action == action)
        if object_id is not None:
            stmt = stmt.where(AuditLog.object_id == str(object_id))
        return list(s.scalars(stmt.order_by(AuditLog.id)))


def org(ctx: Any, org_id: int) -> Org | None:
    with ctx.db.session() as s:
        return s.get(Org, org_id)


@pytest.fixture
def tree(ctx: Any) -> dict[str, int]:
    return districts(ctx)


@pytest.fixture
def district_admin(ctx: Any, tree: dict[str, int], client_for: Any) -> Client:
    """An org/people administrator granted at district A only."""
    make_person(ctx, "gusu_admin", tree["a"], "org_admin")
    return client_for("gusu_admin", PASSWORD)


# --- screens ------------------------------------------------------------------------------

def test_tree_shows_orgs_indented_with_inactive_greyed_and_badged(admin, ctx, tree):
    with ctx.db.session() as s:
        org_svc.deactivate(s, ACTOR, ctx, tree["b"])
    page = admin.get("/admin/orgs")
    assert page.status_code == 200
    html = page.text
    assert "姑苏区" in html and "姑苏区城管局" in html and "执法一中队" in html
    # nesting: the unit's <li> sits inside the department's <ul>, itself inside district A's
    a = html.index(f'data-testid="org-node-{tree["a"]}"')
    a1 = html.index(f'data-testid="org-node-{tree["a1"]}"')
    a1u = html.index(f'data-testid="org-node-{tree["a1u"]}"')
    assert a < a1 < a1u and html.count("<ul>", a, a1u) == 2
    assert f'data-testid="org-node-{tree["b"]}" class="inactive"' in html
    assert f'data-testid="org-inactive-{tree["b"]}"' in html
    assert f'data-testid="org-inactive-{tree["a"]}"' not in html


def test_create_org_through_screen_is_audited(admin, ctx, tree):
    r = admin.form("/admin/orgs/new", {"parent_id": tree["a"], "name": "双塔街道", "kind": "region",
                                       "region_code": "320508", "sort": "3"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    new_id = int(r.headers["location"].split("/")[3].split("?")[0])
    o = org(ctx, new_id)
    assert o.name == "双塔街道" and o.path == f"{org(ctx, tree['a']).path}{new_id}/" and o.sort == 3
    entry = audits(ctx, "org_create", new_id)[-1]
    assert entry.object_type == "org" and entry.after["name"] == "双塔街道" and entry.actor_name == "root"
    page = admin.get(r.headers["location"])
    assert "双塔街道" in page.text and "机构已创建" in page.text
    assert 'data-testid="history-org_create"' in page.text


def test_create_form_wrong_region_code_keeps_input_and_writes_nothing(admin, ctx, tree):
    before = count(ctx, Org)
    r = admin.form("/admin/orgs/new", {"parent_id": tree["a"], "name": "新街道", "kind": "region",
                                       "region_code": "32AB", "sort": "0"})
    assert r.status_code == 422
    assert 'data-testid="error-region_code"' in r.text
    assert "行政区划代码必须是6位数字" in r.text and "six digits" in r.text
    assert 'value="新街道"' in r.text and 'value="32AB"' in r.text
    assert count(ctx, Org) == before


def test_edit_screen_renames_and_records_before_after(admin, ctx, tree):
    form = admin.get(f"/admin/orgs/{tree['a1']}/edit")
    assert form.status_code == 200
    v = org(ctx, tree["a1"]).version
    r = admin.form(f"/admin/orgs/{tree['a1']}/edit", {"name": "姑苏区城市管理局", "kind": "department",
                                                      "region_code": "", "sort": "0", "version": v},
                   follow_redirects=False)
    assert r.status_code == 303
    assert org(ctx, tree["a1"]).name == "姑苏区城市管理局"
    e = audits(ctx, "org_edit", tree["a1"])[-1]
    assert e.before == {"name": "姑苏区城管局"} and e.after == {"name": "姑苏区城市管理局"}


def test_concurrent_edit_on_screen_second_gets_conflict_and_nothing_overwritten(admin, ctx, tree, client_for):
    other = client_for("root", "Str0ng#Passw0rd")
    v = org(ctx, tree["a1"]).version  # both administrators opened the form at this version
    base = {"kind": "department", "region_code": "", "sort": "0", "version": v}
    r1 = admin.form(f"/admin/orgs/{tree['a1']}/edit", {**base, "name": "第一个名字"}, follow_redirects=False)
    assert r1.status_code == 303
    r2 = other.form(f"/admin/orgs/{tree['a1']}/edit", {**base, "name": "第二个名字"}, follow_redirects=False)
    assert r2.status_code == 409
    assert "已被他人修改" in r2.text and "changed by someone else" in r2.text
    assert 'value="第二个名字"' in r2.text  # the user's input is kept
    assert org(ctx, tree["a1"]).name == "第一个名字"


def test_move_screen_offers_no_parent_inside_own_subtree(admin, ctx, tree):
    page = admin.get(f"/admin/orgs/{tree['a']}/move")
    assert page.status_code == 200
    assert f'<option value="{tree["b"]}"' in page.text
    assert f'<option value="{tree["a1"]}"' not in page.text and f'<option value="{tree["a"]}"' not in page.text
    r = admin.form(f"/admin/orgs/{tree['a1']}/move", {"parent_id": tree["b"], "version": org(ctx, tree["a1"]).version},
                   follow_redirects=False)
    assert r.status_code == 303
    assert org(ctx, tree["a1u"]).path.startswith(org(ctx, tree["b"]).path)


def test_deactivate_and_reactivate_through_screen(admin, ctx, tree):
    r = admin.form(f"/admin/orgs/{tree['b']}/deactivate", {"version": org(ctx, tree["b"]).version},
                   follow_redirects=False)
    assert r.status_code == 303 and org(ctx, tree["b"]).active is False
    e = audits(ctx, "org_deactivate", tree["b"])[-1]
    assert e.before == {"active": True} and e.after == {"active": False}
    r = admin.form(f"/admin/orgs/{tree['b']}/reactivate", {"version": org(ctx, tree["b"]).version},
                   follow_redirects=False)
    assert r.status_code == 303 and org(ctx, tree["b"]).active is True
    assert audits(ctx, "org_reactivate", tree["b"])[-1].after == {"active": True}


def test_deactivate_refused_while_active_people_or_children(admin, ctx, tree):
    make_person(ctx, "zhang", tree["a1u"])
    r = admin.form(f"/admin/orgs/{tree['a1u']}/deactivate", {})
    assert r.status_code == 409
    assert "1 名启用的人员" in r.text and "1 active people" in r.text
    r = admin.api("POST", f"/api/orgs/{tree['a']}/deactivate")
    assert r.status_code == 409 and r.json()["error"]["code"] == "org_in_use"
    assert "下级机构" in r.json()["error"]["message"]
    assert org(ctx, tree["a1u"]).active and org(ctx, tree["a"]).active


def test_delete_org_with_people_is_refused_naming_how_many(admin, ctx, tree):
    make_person(ctx, "p1", tree["a1u"])
    make_person(ctx, "p2", tree["a1u"])
    page = admin.get(f"/admin/orgs/{tree['a1u']}/delete")
    assert 'data-testid="delete-blocked"' in page.text and "2 名人员" in page.text
    assert 'data-testid="org-delete-confirm"' not in page.text
    r = admin.form(f"/admin/orgs/{tree['a1u']}/delete", {})
    assert r.status_code == 409 and "2 名人员" in r.text
    r = admin.api("DELETE", f"/api/orgs/{tree['a1u']}")
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "org_in_use" and "2 名人员" in err["message"] and "2 people" in err["message_en"]
    assert org(ctx, tree["a1u"]) is not None
    assert audits(ctx, "org_delete") == []


def test_delete_refused_with_children_or_grants_then_allowed_when_unused(admin, ctx, tree):
    r = admin.api("DELETE", f"/api/orgs/{tree['a1']}")
    assert r.status_code == 409 and "1 个下级机构" in r.json()["error"]["message"]
    pid = make_person(ctx, "elsewhere", tree["root"])
    with ctx.db.session() as s:
        ctx.authz.grant(s, pid, "auditor", tree["b"])
    r = admin.api("DELETE", f"/api/orgs/{tree['b']}")
    assert r.status_code == 409 and "1 条角色授权" in r.json()["error"]["message"]
    # an unused org goes, through the confirmation screen, and the audit keeps what it was
    assert admin.get(f"/admin/orgs/{tree['a1u']}/delete").status_code == 200
    r = admin.form(f"/admin/orgs/{tree['a1u']}/delete", {"version": org(ctx, tree["a1u"]).version},
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/orgs?flash=org_deleted"
    assert org(ctx, tree["a1u"]) is None
    assert audits(ctx, "org_delete", tree["a1u"])[-1].before["name"] == "执法一中队"


def test_detail_shows_people_and_history(admin, ctx, tree):
    make_person(ctx, "li", tree["a1"], display_name="李四")
    admin.api("PATCH", f"/api/orgs/{tree['a1']}", json={"version": org(ctx, tree["a1"]).version, "sort": 5})
    page = admin.get(f"/admin/orgs/{tree['a1']}")
    assert page.status_code == 200
    assert "李四" in page.text and 'data-testid="history-org_edit"' in page.text
    assert 'data-testid="history-org_create"' in page.text


# --- JSON API -------------------------------------------------------------------------------

def test_api_crud_round_trip(admin, ctx, tree):
    r = admin.api("POST", "/api/orgs", json={"parent_id": tree["b"], "name": "木渎镇", "kind": "region",
                                             "region_code": "320506"})
    assert r.status_code == 201, r.text
    o = r.json()
    assert o["parent_id"] == tree["b"] and o["depth"] == 2 and o["path"].endswith(f"/{o['id']}/")
    assert admin.get(f"/api/orgs/{o['id']}").json()["name"] == "木渎镇"
    r = admin.api("PATCH", f"/api/orgs/{o['id']}", json={"version": o["version"], "name": "木渎镇人民政府"})
    assert r.status_code == 200 and r.json()["name"] == "木渎镇人民政府" and r.json()["version"] == o["version"] + 1
    listing = admin.get(f"/api/orgs?parent_id={tree['b']}").json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == o["id"]
    assert {i["id"] for i in admin.get("/api/orgs?q=姑苏").json()["items"]} == {tree["a"], tree["a1"]}
    r = admin.api("POST", f"/api/orgs/{o['id']}/deactivate", json={"version": r.json()["version"]})
    assert r.status_code == 200 and r.json()["active"] is False
    assert admin.get("/api/orgs?active=false").json()["total"] == 1
    r = admin.api("POST", f"/api/orgs/{o['id']}/reactivate")
    assert r.status_code == 200 and r.json()["active"] is True
    r = admin.api("DELETE", f"/api/orgs/{o['id']}")
    assert r.status_code == 200 and r.json() == {"id": o["id"], "deleted": True}
    assert admin.get(f"/api/orgs/{o['id']}").status_code == 404
    actions = [e.action for e in audits(ctx, "org_create", o["id"]) + audits(ctx, "org_edit", o["id"])
               + audits(ctx, "org_deactivate", o["id"]) + audits(ctx, "org_reactivate", o["id"])
               + audits(ctx, "org_delete", o["id"])]
    assert actions == ["org_create", "org_edit", "org_deactivate", "org_reactivate", "org_delete"]


@pytest.mark.parametrize("code", ["32050", "3205081", "32050a", "990101", " "])
def test_api_region_code_of_wrong_shape_is_422_field_error_and_writes_nothing(admin, ctx, tree, code):
    before = count(ctx, Org)
    r = admin.api("POST", "/api/orgs", json={"parent_id": tree["a"], "name": "某街道", "kind": "region",
                                             "region_code": code})
    assert r.status_code == 422
    err = r.json()["error"]
    assert "region_code" in err["fields"]
    f = err["fields"]["region_code"]
    assert f["message"] and f["message_en"] and ("行政区划" in f["message"] or "region" in f["message_en"])
    assert count(ctx, Org) == before


def test_api_edit_with_bad_region_code_changes_nothing(admin, ctx, tree):
    v = org(ctx, tree["a"]).version
    r = admin.api("PATCH", f"/api/orgs/{tree['a']}", json={"version": v, "region_code": "12"})
    assert r.status_code == 422 and "region_code" in r.json()["error"]["fields"]
    assert org(ctx, tree["a"]).region_code == "320508" and org(ctx, tree["a"]).version == v


def test_region_org_needs_a_region_code(admin, ctx, tree):
    r = admin.api("POST", "/api/orgs", json={"parent_id": tree["a"], "name": "无代码区", "kind": "region"})
    assert r.status_code == 422
    assert r.json()["error"]["fields"]["region_code"]["message"] == "区域机构必须填写行政区划代码"


@pytest.mark.parametrize("body, field", [
    ({"name": "x", "kind": "unit"}, "parent_id"),
    ({"parent_id": 999999, "name": "x", "kind": "unit"}, "parent_id"),
    ({"parent_id": 1, "name": "  ", "kind": "unit"}, "name"),
    ({"parent_id": 1, "name": "x", "kind": "planet"}, "kind"),
    ({"parent_id": 1, "name": "x", "kind": "unit", "colour": "red"}, "colour"),
    ({"parent_id": "abc", "name": "x", "kind": "unit"}, "parent_id"),
])
def test_api_create_bad_input_is_422_naming_the_field(admin, ctx, tree, body, field):
    before = count(ctx, Org)
    r = admin.api("POST", "/api/orgs", json=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["error"]["fields"]
    assert count(ctx, Org) == before


def test_duplicate_sibling_name_refused(admin, ctx, tree):
    r = admin.api("POST", "/api/orgs", json={"parent_id": tree["a"], "name": "姑苏区城管局", "kind": "unit"})
    assert r.status_code == 422 and "name" in r.json()["error"]["fields"]
    make_org(ctx, tree["b"], "姑苏区城管局")
    r = admin.form(f"/admin/orgs/{tree['a1']}/move", {"parent_id": tree["b"]})
    assert r.status_code == 422 and 'data-testid="error-parent_id"' in r.text and "已有名为" in r.text
    assert org(ctx, tree["a1"]).parent_id == tree["a"]


@pytest.mark.parametrize("method, path", [("POST", "/api/orgs"), ("PATCH", "/api/orgs/{a}"),
                                          ("POST", "/api/orgs/{a}/move")])
def test_malformed_json_is_400_and_writes_nothing(admin, ctx, tree, method, path):
    before = count(ctx, AuditLog)
    r = admin.api(method, path.format(a=tree["a1"]), content=b'{"name": "x",', headers={
        "Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "malformed_json"
    assert count(ctx, AuditLog) == before and org(ctx, tree["a1"]).name == "姑苏区城管局"


def test_api_stale_version_is_409_and_nothing_overwritten(admin, ctx, tree):
    v = org(ctx, tree["a"]).version
    assert admin.api("PATCH", f"/api/orgs/{tree['a']}", json={"version": v, "name": "甲"}).status_code == 200
    r = admin.api("PATCH", f"/api/orgs/{tree['a']}", json={"version": v, "name": "乙"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    assert org(ctx, tree["a"]).name == "甲"
    v1 = org(ctx, tree["a1"]).version
    assert admin.api("PATCH", f"/api/orgs/{tree['a1']}", json={"version": v1, "sort": 1}).status_code == 200
    r = admin.api("POST", f"/api/orgs/{tree['a1']}/move", json={"parent_id": tree["b"], "version": v1})
    assert r.status_code == 409 and org(ctx, tree["a1"]).parent_id == tree["a"]


def test_move_rewrites_subtree_paths_and_permission_coverage(admin, ctx, tree, district_admin, client_for):
    make_person(ctx, "wuzhong_admin", tree["b"], "org_admin")
    wz = client_for("wuzhong_admin", PASSWORD)
    assert wz.get(f"/api/orgs/{tree['a1u']}").status_code == 403
    assert district_admin.get(f"/api/orgs/{tree['a1u']}").status_code == 200
    old_path = org(ctx, tree["a1"]).path
    r = admin.api("POST", f"/api/orgs/{tree['a1']}/move", json={"parent_id": tree["b"]})
    assert r.status_code == 200
    b_path = org(ctx, tree["b"]).path
    assert org(ctx, tree["a1"]).path == f"{b_path}{tree['a1']}/"
    assert org(ctx, tree["a1u"]).path == f"{b_path}{tree['a1']}/{tree['a1u']}/"
    assert org(ctx, tree["a1u"]).parent_id == tree["a1"]  # only the moved org changes parent
    # coverage follows the tree, at once
    assert wz.get(f"/api/orgs/{tree['a1u']}").status_code == 200
    assert district_admin.get(f"/api/orgs/{tree['a1u']}").status_code == 403
    e = audits(ctx, "org_move", tree["a1"])[-1]
    assert e.before["path"] == old_path and e.after["path"] == f"{b_path}{tree['a1']}/"
    assert e.before["parent_id"] == tree["a"] and e.after["parent_id"] == tree["b"]


@pytest.mark.parametrize("target", ["a", "a1", "a1u"])
def test_move_into_own_subtree_is_refused(admin, ctx, tree, target):
    before = org(ctx, tree["a"]).path
    r = admin.api("POST", f"/api/orgs/{tree['a']}/move", json={"parent_id": tree[target]})
    assert r.status_code == 422 and "parent_id" in r.json()["error"]["fields"]
    assert org(ctx, tree["a"]).path == before and audits(ctx, "org_move") == []


def test_root_cannot_be_moved_deactivated_or_deleted(admin, ctx, tree):
    assert admin.api("POST", f"/api/orgs/{tree['root']}/move", json={"parent_id": tree["a"]}).status_code == 409
    assert admin.api("POST", f"/api/orgs/{tree['root']}/deactivate").status_code == 409
    assert admin.api("DELETE", f"/api/orgs/{tree['root']}").status_code == 409


def test_no_children_under_an_inactive_parent(admin, ctx, tree):
    admin.api("POST", f"/api/orgs/{tree['b']}/deactivate")
    r = admin.api("POST", "/api/orgs", json={"parent_id": tree["b"], "name": "x", "kind": "unit"})
    assert r.status_code == 422 and "parent_id" in r.json()["error"]["fields"]


@pytest.mark.parametrize("query", ["page=abc", "page=0", "parent_id=x", "active=maybe", "page_size=100000"])
def test_bad_query_parameters_are_422_not_500(admin, tree, query):
    r = admin.get(f"/api/orgs?{query}")
    assert r.status_code == 422 and r.json()["error"]["fields"]


# --- org domains ------------------------------------------------------------------------------

def test_district_admin_sees_and_edits_only_their_subtree(ctx, tree, district_admin):
    page = district_admin.get("/admin/orgs")
    assert page.status_code == 200
    assert "姑苏区" in page.text and "执法一中队" in page.text and "吴中区" not in page.text
    ids = {o["id"] for o in district_admin.get("/api/orgs").json()["items"]}
    assert ids == {tree["a"], tree["a1"], tree["a1u"]}
    # another district: 403 on screens and API, nothing written
    before = count(ctx, AuditLog)
    assert district_admin.get(f"/admin/orgs/{tree['b']}").status_code == 403
    assert district_admin.get(f"/admin/orgs/{tree['b']}/edit").status_code == 403
    r = district_admin.get(f"/api/orgs/{tree['b']}")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    v = org(ctx, tree["b"]).version
    assert district_admin.api("PATCH", f"/api/orgs/{tree['b']}", json={"version": v, "name": "x"}).status_code == 403
    assert district_admin.form(f"/admin/orgs/{tree['b']}/edit", {"name": "x", "kind": "region",
                                                                  "region_code": "320506", "version": v}
                               ).status_code == 403
    assert district_admin.api("POST", "/api/orgs", json={"parent_id": tree["b"], "name": "x",
                                                         "kind": "unit"}).status_code == 403
    assert district_admin.api("POST", f"/api/orgs/{tree['b']}/deactivate").status_code == 403
    assert district_admin.api("DELETE", f"/api/orgs/{tree['b']}").status_code == 403
    # nor move their own org out of reach, nor the root
    assert district_admin.api("POST", f"/api/orgs/{tree['a1']}/move",
                              json={"parent_id": tree["b"]}).status_code == 403
    assert district_admin.get(f"/api/orgs/{tree['root']}").status_code == 403
    # nothing written but the refusals' own audit entries (aggregated per permission and minute)
    assert count(ctx, AuditLog, AuditLog.action != "access_denied") == before
    assert count(ctx, AuditLog, AuditLog.action == "access_denied") >= 1
    assert org(ctx, tree["b"]).name == "吴中区"
    # within the district everything works, including orgs created after the grant
    r = district_admin.api("POST", "/api/orgs", json={"parent_id": tree["a1"], "name": "执法二中队", "kind": "unit"})
    assert r.status_code == 201
    new = r.json()["id"]
    assert district_admin.get(f"/admin/orgs/{new}").status_code == 200
    assert district_admin.api("PATCH", f"/api/orgs/{new}", json={"version": r.json()["version"],
                                                                 "sort": 2}).status_code == 200


def test_viewer_without_edit_sees_no_edit_actions(ctx, tree, client_for):
    make_person(ctx, "auditor1", tree["a"], "auditor")
    c = client_for("auditor1", PASSWORD)
    page = c.get(f"/admin/orgs/{tree['a']}")
    assert page.status_code == 200 and 'data-testid="org-actions"' not in page.text
    assert c.get("/admin/orgs/new").status_code == 403
    assert c.api("POST", "/api/orgs", json={"parent_id": tree["a"], "name": "x", "kind": "unit"}).status_code == 403


def test_openapi_documents_the_org_endpoints(admin):
    doc = admin.get("/api/openapi.json").json()
    assert doc["paths"]["/api/orgs"]["post"]["x-permission"] == "core.org.edit"
    assert "OrgCreate" in doc["components"]["schemas"]
    for p in ("/api/orgs/{org_id}", "/api/orgs/{org_id}/move", "/api/orgs/{org_id}/deactivate",
              "/api/orgs/{org_id}/reactivate"):
        assert p in doc["paths"]
    assert "delete" in doc["paths"]["/api/orgs/{org_id}"]
