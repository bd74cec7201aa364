"""应用维护 → 权限配置: roles, permissions, grants, the escalation guard and menus (both backends)."""

from __future__ import annotations

import pytest
from typing import Any

from sqlalchemy import func, select

from conftest import ADMIN_USER
from ccms import auth
from ccms.models import AuditLog, Org, Person, Role

PW = "Gr1d#Worker-2024"


# --- helpers (also imported by test_audit / test_settings) -----------------------------

def root_id(ctx: Any) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(Org.id).where(Org.parent_id.is_(None)).order_by(Org.id))


def make_org(ctx: Any, name: str, parent_id: int | None = None) -> int:
    """An org under ``parent_id`` (default: the root), written directly (orgs have their own tests)."""
    parent_id = parent_id or root_id(ctx)
    with ctx.db.session() as s:
        parent = s.get(Org, parent_id)
        org = Org(parent_id=parent_id, name=name, kind="region", region_code="320506", path="")
        s.add(org)
        s.flush()
        org.path = f"{parent.path}{org.id}/"
        ctx.authz.bump(s)
        return org.id


def make_person(ctx: Any, username: str, org_id: int | None = None, roles: list[tuple[str, int]] = ()) -> int:
    """An active person with password ``PW`` and the given (role, org id) grants."""
    with ctx.db.session() as s:
        p = Person(username=username, display_name=f"{username} 同志", org_id=org_id or root_id(ctx))
        auth.set_password(p, PW)
        s.add(p)
        s.flush()
        for role, oid in roles:
            ctx.authz.grant(s, p.id, role, oid)
        return p.id


def make_role(ctx: Any, code: str, perms: list[str]) -> None:
    with ctx.db.session() as s:
        s.add(Role(code=code, name=code))
        s.flush()
        ctx.authz.set_role_permissions(s, code, perms)


def role_version(ctx: Any, code: str) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(Role.version).where(Role.code == code))


def audit_entries(ctx: Any, action: str | None = None) -> list[AuditLog]:
    with ctx.db.session() as s:
        stmt = select(AuditLog).order_by(AuditLog.id)
        if action:
            stmt = stmt.where(AuditLog.action == action)
        return list(s.scalars(stmt))


def audit_count(ctx: Any) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(AuditLog))


# --- roles: screens -------------------------------------------------------------------------

def test_role_list_shows_counts_and_links(admin):
    page = admin.get("/admin/roles")
    assert page.status_code == 200
    assert 'data-testid="role-row-admin"' in page.text and "系统管理员" in page.text
    assert 'data-testid="role-grants-admin">1<' in page.text  # the deployment's administrator
    frag = admin.get("/admin/roles?q=audit", headers={"HX-Request": "true", "HX-Target": "list"})
    assert "<html" not in frag.text and "role-row-auditor" in frag.text and "role-row-admin" not in frag.text


@pytest.mark.needs_plugins("command")
def test_role_detail_groups_permissions_by_plugin_with_localized_names(admin):
    page = admin.get("/admin/roles/auditor")
    assert page.status_code == 200
    text = page.text
    assert 'data-testid="perm-group-core"' in text and 'data-testid="perm-group-command"' in text
    assert "指挥协调" in text and "使用指挥协调" in text  # plugin name and permission name, zh-CN
    assert 'value="core.audit.view" checked' in text and 'value="core.settings.edit" checked' not in text
    assert admin.get("/admin/roles/no_such_role").status_code == 404


@pytest.mark.needs_plugins("command")
def test_create_role_through_the_form_is_audited(admin, ctx):
    r = admin.form("/admin/roles/new", {"code": "inspector", "name": "巡查员", "description": "网格巡查",
                                        "permissions": ["command.view", "core.org.view"]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/roles/inspector")
    page = admin.get("/admin/roles/inspector?flash=created")
    assert "已创建" in page.text and 'value="command.view" checked' in page.text
    assert ctx.authz.role_permissions("inspector") == {"command.view", "core.org.view"}
    [entry] = audit_entries(ctx, "role_create")[-1:]
    assert entry.object_id == "inspector" and entry.actor_name == ADMIN_USER
    assert entry.after["permissions"] == ["command.view", "core.org.view"]


@pytest.mark.needs_plugins("command")
def test_create_role_form_errors_keep_input_and_write_nothing(admin, ctx):
    before = audit_count(ctx)
    r = admin.form("/admin/roles/new", {"code": "Bad-Code", "name": "坏代码", "permissions": "command.view"})
    assert r.status_code == 422
    assert 'data-testid="error-code"' in r.text and "小写字母开头" in r.text
    assert 'value="Bad-Code"' in r.text and 'value="坏代码"' in r.text and 'value="command.view" checked' in r.text
    r = admin.form("/admin/roles/new", {"code": "dup", "name": "x", "permissions": "no.such.permission"})
    assert r.status_code == 422 and 'data-testid="error-permissions"' in r.text and "no.such.permission" in r.text
    r = admin.form("/admin/roles/new", {"code": "staff", "name": "重复"})
    assert r.status_code == 422 and "已存在" in r.text
    r = admin.form("/admin/roles/new", {"code": "new", "name": "保留字"})
    assert r.status_code == 422 and "保留字" in r.text
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Role).where(Role.code.in_(["dup", "Bad-Code", "new"]))) == 0
    assert audit_count(ctx) == before


def test_edit_role_form_saves_and_audits_before_after(admin, ctx):
    make_role(ctx, "clerk", ["core.org.view"])
    page = admin.get("/admin/roles/clerk")
    assert 'name="version" value="1"' in page.text
    r = admin.form("/admin/roles/clerk", {"version": "1", "name": "文书", "description": "",
                                          "permissions": ["core.org.view", "core.person.view"]},
                   follow_redirects=False)
    assert r.status_code == 303
    assert ctx.authz.role_permissions("clerk") == {"core.org.view", "core.person.view"}
    entry = audit_entries(ctx, "role_edit")[-1]
    assert entry.before == {"name": "clerk", "permissions": ["core.org.view"]}
    assert entry.after == {"name": "文书", "permissions": ["core.org.view", "core.person.view"]}


def test_permissions_of_a_disabled_plugin_survive_an_edit(admin, ctx):
    make_role(ctx, "inspector", ["core.org.view", "supervision.view"])  # supervision is not on a city tier
    page = admin.get("/admin/roles/inspector")
    assert 'data-testid="perm-group-undeclared"' in page.text and 'value="supervision.view" checked' in page.text
    r = admin.form("/admin/roles/inspector", {"version": "1", "name": "巡查", "permissions": ["supervision.view"]},
                   follow_redirects=False)
    assert r.status_code == 303 and ctx.authz.role_permissions("inspector") == {"supervision.view"}
    r = admin.api("PUT", "/api/roles/inspector/permissions", json={"permissions": ["evaluation.view"], "version": 2})
    assert r.status_code == 422 and "permissions" in r.json()["error"]["fields"]  # unknown and not held before


def test_stale_role_form_is_a_conflict_and_nothing_is_saved(admin, ctx):
    make_role(ctx, "clerk", [])
    ok = admin.form("/admin/roles/clerk", {"version": "1", "name": "第一人"}, follow_redirects=False)
    assert ok.status_code == 303
    r = admin.form("/admin/roles/clerk", {"version": "1", "name": "第二人"})
    assert r.status_code == 409 and "已被他人修改" in r.text and "changed by someone else" in r.text
    assert 'value="第二人"' in r.text  # the user's input is kept to copy from
    with ctx.db.session() as s:
        assert s.scalar(select(Role.name).where(Role.code == "clerk")) == "第一人"


def test_read_only_role_view_for_auditor_and_post_refused(ctx, client_for):
    make_person(ctx, "shenji", roles=[("auditor", root_id(ctx))])
    c = client_for("shenji", PW)
    page = c.get("/admin/roles/staff")
    assert page.status_code == 200 and 'data-testid="role-save"' not in page.text
    assert c.form("/admin/roles/staff", {"version": "1", "name": "x"}).status_code == 403
    assert c.get("/admin/roles/new").status_code == 403


# --- roles: JSON API ------------------------------------------------------------------------

@pytest.mark.needs_plugins("command")
def test_api_role_lifecycle(admin, ctx):
    r = admin.api("POST", "/api/roles", json={"code": "inspector", "name": "巡查员", "permissions": ["command.view"]})
    assert r.status_code == 201, r.text
    assert r.json()["permissions"] == ["command.view"] and r.json()["version"] == 1
    assert any(x["code"] == "inspector" for x in admin.api("GET", "/api/roles").json()["items"])
    r = admin.api("PATCH", "/api/roles/inspector", json={"version": 1, "name": "城管巡查员"})
    assert r.status_code == 200 and r.json()["name"] == "城管巡查员" and r.json()["version"] == 2
    r = admin.api("PUT", "/api/roles/inspector/permissions",
                  json={"permissions": ["command.view", "core.org.view"], "version": 2})
    assert r.status_code == 200 and r.json()["permission_count"] == 2 and r.json()["version"] == 3
    assert [e.action for e in audit_entries(ctx) if e.object_id == "inspector"] == [
        "role_create", "role_edit", "role_permissions"]
    assert admin.api("DELETE", "/api/roles/inspector").status_code == 204
    assert admin.api("GET", "/api/roles/inspector").status_code == 404
    assert audit_entries(ctx, "role_delete")[-1].before["name"] == "城管巡查员"


def test_api_role_bad_input(admin, ctx):
    before = audit_count(ctx)
    r = admin.api("POST", "/api/roles", json={"code": "9lives", "name": "x"})
    assert r.status_code == 422 and "code" in r.json()["error"]["fields"]
    r = admin.api("POST", "/api/roles", json={"code": "ok_code", "name": "x", "permissions": ["core.nope"]})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["fields"]["permissions"]["message"].startswith("未知的权限") and "core.nope" in err["message_en"]
    r = admin.api("PUT", "/api/roles/staff/permissions", json={"permissions": ["core.org.view", "bogus.x"], "version": 1})
    assert r.status_code == 422 and "permissions" in r.json()["error"]["fields"]
    r = admin.api("POST", "/api/roles", json={"code": "x", "name": "x", "colour": "red"})
    assert r.status_code == 422 and "colour" in r.json()["error"]["fields"]
    for method, url in (("POST", "/api/roles"), ("PATCH", "/api/roles/staff"),
                        ("PUT", "/api/roles/staff/permissions"), ("POST", "/api/grants"), ("DELETE", "/api/grants")):
        r = admin.api(method, url, content=b'{"code": ', headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json", (method, url)
    assert admin.api("PATCH", "/api/roles/nope", json={"version": 1, "name": "x"}).status_code == 404
    assert ctx.authz.role_permissions("staff") == {"core.flow.start"}  # unchanged: every bad request left it alone
    assert audit_count(ctx) == before


def test_concurrent_api_role_edit_is_a_409(admin, ctx):
    make_role(ctx, "clerk", [])
    assert admin.api("PATCH", "/api/roles/clerk", json={"version": 1, "name": "A"}).status_code == 200
    r = admin.api("PATCH", "/api/roles/clerk", json={"version": 1, "name": "B"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    r = admin.api("PUT", "/api/roles/clerk/permissions", json={"permissions": ["core.org.view"], "version": 1})
    assert r.status_code == 409
    assert ctx.authz.role_permissions("clerk") == set()


def test_role_permissions_put_requires_the_version(admin, ctx):
    """Defect 14 (issue 10): without ``version`` two editors overwrote each other."""
    make_role(ctx, "clerk", [])
    r = admin.api("PUT", "/api/roles/clerk/permissions", json={"permissions": ["core.org.view"]})
    assert r.status_code == 422 and "version" in r.json()["error"]["fields"]
    assert ctx.authz.role_permissions("clerk") == set()
    first = admin.api("PUT", "/api/roles/clerk/permissions", json={"permissions": ["core.org.view"], "version": 1})
    assert first.status_code == 200 and first.json()["version"] == 2
    late = admin.api("PUT", "/api/roles/clerk/permissions", json={"permissions": ["core.person.view"], "version": 1})
    assert late.status_code == 409 and late.json()["error"]["code"] == "conflict"
    assert ctx.authz.role_permissions("clerk") == {"core.org.view"}
    spec = admin.get("/api/openapi.json").json()
    body = spec["components"]["schemas"]["PermissionsIn"]
    assert "version" in body["required"]


def test_delete_is_refused_while_the_role_is_granted(admin, ctx):
    make_role(ctx, "clerk", [])
    pid = make_person(ctx, "wang", roles=[("clerk", root_id(ctx))])
    r = admin.api("DELETE", "/api/roles/clerk")
    assert r.status_code == 409 and r.json()["error"]["code"] == "role_in_use"
    assert "仍授予了 1 人次" in r.json()["error"]["message"]
    page = admin.form("/admin/roles/clerk/delete", {"version": "1"})
    assert page.status_code == 409 and "请先撤销" in page.text
    assert admin.api("GET", "/api/roles/clerk").status_code == 200
    admin.api("DELETE", "/api/grants", json={"person_id": pid, "role": "clerk", "org_id": root_id(ctx)})
    r = admin.form("/admin/roles/clerk/delete", {"version": "1"}, follow_redirects=False)
    assert r.status_code == 303 and admin.api("GET", "/api/roles/clerk").status_code == 404


# --- grants -------------------------------------------------------------------------------------

def test_grant_and_revoke_through_the_api(admin, ctx):
    district = make_org(ctx, "姑苏区")
    pid = make_person(ctx, "li", district)
    body = {"person_id": pid, "role": "auditor", "org_id": district}
    r = admin.api("POST", "/api/grants", json=body)
    assert r.status_code == 201 and r.json()["created"] is True and r.json()["grant"]["org_name"] == "姑苏区"
    assert admin.api("POST", "/api/grants", json=body).json()["created"] is False  # idempotent
    listed = admin.api("GET", f"/api/grants?person_id={pid}").json()
    assert listed["total"] == 1 and listed["items"][0]["role"] == "auditor"
    assert admin.api("GET", f"/api/grants?org_id={district}&role=auditor").json()["total"] == 1
    assert admin.api("GET", "/api/grants?role=staff").json()["total"] == 0
    assert ctx.authz.check(pid, "core.audit.view", district)
    assert admin.api("DELETE", "/api/grants", json=body).status_code == 204
    assert admin.api("DELETE", "/api/grants", json=body).status_code == 404
    assert [e.action for e in audit_entries(ctx) if e.object_type == "person" and e.object_id == str(pid)] == [
        "role_grant", "role_revoke"]
    assert audit_entries(ctx, "role_grant")[-1].after == {"role": "auditor", "org_id": district}


def test_grant_bad_input_is_refused_with_fields(admin, ctx):
    pid = make_person(ctx, "li")
    before = audit_count(ctx)
    cases = [({"person_id": 9999, "role": "staff", "org_id": root_id(ctx)}, "person_id"),
             ({"person_id": pid, "role": "nobody", "org_id": root_id(ctx)}, "role"),
             ({"person_id": pid, "role": "staff", "org_id": 9999}, "org_id"),
             ({"person_id": "abc", "role": "staff", "org_id": 1}, "person_id")]
    for body, field in cases:
        r = admin.api("POST", "/api/grants", json=body)
        assert r.status_code == 422 and field in r.json()["error"]["fields"], (body, r.text)
    assert admin.api("GET", "/api/grants?person_id=abc").status_code == 422
    assert audit_count(ctx) == before


def test_grant_form_with_people_search(admin, ctx):
    district = make_org(ctx, "吴中区")
    pid = make_person(ctx, "zhangsan", district)
    frag = admin.get("/admin/grants/people?username=zhang")
    assert 'data-testid="person-options"' in frag.text and f'value="{pid}"' in frag.text and "<html" not in frag.text
    assert "没有找到" in admin.get("/admin/grants/people?username=nobody").text
    form = admin.get("/admin/grants/new?role=staff")
    assert 'hx-get="/admin/grants/people"' in form.text and "吴中区" in form.text
    r = admin.form("/admin/grants/new", {"person_id": str(pid), "org_id": str(district), "role": "staff"},
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/roles/staff")
    detail = admin.get("/admin/roles/staff")
    assert f'data-testid="grant-{pid}-staff-{district}"' in detail.text
    assert f'href="/admin/people/{pid}"' in detail.text and f'href="/admin/orgs/{district}"' in detail.text
    # no-JS fallback: the exact user name instead of the picker; errors keep the input
    r = admin.form("/admin/grants/new", {"username": "ghost", "org_id": str(district), "role": "staff"})
    assert r.status_code == 422 and 'data-testid="error-person_id"' in r.text and 'value="ghost"' in r.text
    r = admin.form("/admin/grants/new", {"username": "zhangsan", "org_id": "", "role": "auditor"})
    assert r.status_code == 422 and 'data-testid="error-org_id"' in r.text


def test_person_grants_page_grant_then_revoke(admin, ctx):
    district = make_org(ctx, "相城区")
    pid = make_person(ctx, "zhao", district)
    page = admin.get(f"/admin/people/{pid}/grants")
    assert page.status_code == 200 and "zhao 同志" in page.text and "暂无授权" in page.text
    assert f'<option value="{district}" selected' in page.text  # defaults to the person's own org
    r = admin.form(f"/admin/people/{pid}/grants", {"action": "grant", "role": "auditor", "org_id": str(district)},
                   follow_redirects=False)
    assert r.status_code == 303
    page = admin.get(r.headers["location"])
    assert "已授予角色" in page.text and f'data-testid="grant-{pid}-auditor-{district}"' in page.text
    r = admin.form(f"/admin/people/{pid}/grants", {"action": "revoke", "role": "auditor", "org_id": str(district)},
                   follow_redirects=False)
    assert r.status_code == 303 and ctx.authz.grants_of(pid) == []
    r = admin.form(f"/admin/people/{pid}/grants", {"action": "grant", "role": "", "org_id": str(district)})
    assert r.status_code == 422 and 'data-testid="error-role"' in r.text
    assert admin.get("/admin/people/99999/grants").status_code == 404


def test_revoke_button_on_grants_page(admin, ctx):
    pid = make_person(ctx, "qian", roles=[("staff", root_id(ctx))])
    page = admin.get("/admin/grants?role=staff")
    assert f'data-testid="revoke-{pid}-staff-{root_id(ctx)}"' in page.text
    r = admin.form("/admin/grants/revoke", {"person_id": str(pid), "role": "staff", "org_id": str(root_id(ctx)),
                                            "next": "/admin/grants?role=staff"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/grants?role=staff")
    assert ctx.authz.grants_of(pid) == []
    r = admin.form("/admin/grants/revoke", {"person_id": str(pid), "role": "staff", "org_id": str(root_id(ctx)),
                                            "next": "https://evil.example/"}, follow_redirects=False)
    assert r.status_code == 404  # nothing left to revoke, and never an open redirect


# --- menus follow grants at once ------------------------------------------------------------

def test_menus_and_access_follow_grant_and_revoke_at_once(admin, ctx, client_for):
    pid = make_person(ctx, "sun", roles=[("staff", root_id(ctx))])
    c = client_for("sun", PW)
    assert 'data-menu="maintenance.audit"' not in c.get("/").text
    page = c.get("/admin/audit")
    assert page.status_code == 403 and 'data-testid="error-403"' in page.text and "查看审计日志" in page.text
    api = c.api("GET", "/api/audit")
    assert api.status_code == 403 and api.json()["error"]["code"] == "forbidden"

    body = {"person_id": pid, "role": "auditor", "org_id": root_id(ctx)}
    assert admin.api("POST", "/api/grants", json=body).status_code == 201
    home = c.get("/").text
    assert 'data-menu="maintenance.audit"' in home and 'data-menu="maintenance.roles"' in home
    assert 'data-menu="maintenance.settings"' not in home
    assert c.get("/admin/audit").status_code == 200 and c.api("GET", "/api/audit").status_code == 200

    assert admin.api("DELETE", "/api/grants", json=body).status_code == 204
    assert 'data-menu="maintenance.audit"' not in c.get("/").text
    assert c.get("/admin/audit").status_code == 403 and c.api("GET", "/api/audit").status_code == 403


# --- privilege escalation guard ----------------------------------------------------------------

def test_district_administrator_grants_only_within_district_and_own_powers(admin, ctx, client_for):
    district, other = make_org(ctx, "姑苏区"), make_org(ctx, "吴江区")
    # core.flow.start: granting 业务人员 needs every permission it holds
    make_role(ctx, "district_admin", ["core.role.view", "core.role.edit", "core.person.view", "core.flow.start"])
    make_person(ctx, "gusu_admin", district, roles=[("district_admin", district)])
    worker = make_person(ctx, "worker", district)
    c = client_for("gusu_admin", PW)
    grant = lambda role, org: c.api("POST", "/api/grants", json={"person_id": worker, "role": role, "org_id": org})

    assert grant("staff", district).status_code == 201
    assert grant("staff", other).status_code == 403  # outside the district
    r = grant("admin", district)
    assert r.status_code == 403 and r.json()["error"]["code"] == "privilege_escalation"
    r = grant("auditor", district)  # holds none of the auditor's permissions
    assert r.status_code == 403 and "core.audit.view" in r.json()["error"]["message_en"]
    # roles are platform-wide: defining them needs core.role.edit at the root
    assert c.api("POST", "/api/roles", json={"code": "mine", "name": "x"}).status_code == 403
    assert c.api("PUT", "/api/roles/staff/permissions",
                 json={"permissions": ["*"], "version": role_version(ctx, "staff")}).status_code == 403
    page = c.form(f"/admin/people/{worker}/grants", {"action": "grant", "role": "admin", "org_id": str(district)})
    assert page.status_code == 403 and "全部权限" in page.text
    assert ctx.authz.grants_of(worker) == [("staff", district)]
    roles_page = c.get("/admin/roles").text
    assert 'data-testid="grant-new"' in roles_page and 'data-testid="role-new"' not in roles_page
    # the org picker only offers the district
    form = c.get("/admin/grants/new").text
    assert "姑苏区" in form and "吴江区" not in form


def test_root_role_manager_cannot_hand_out_what_they_lack(admin, ctx, client_for):
    root = root_id(ctx)
    make_role(ctx, "role_manager", ["core.role.view", "core.role.edit", "core.org.view"])
    make_person(ctx, "hr", roles=[("role_manager", root)])
    target = make_person(ctx, "target")
    c = client_for("hr", PW)
    r = c.api("POST", "/api/roles", json={"code": "viewer", "name": "只读", "permissions": ["core.org.view"]})
    assert r.status_code == 201
    for perms in (["*"], ["core.org.view", "core.settings.edit"]):
        r = c.api("PUT", "/api/roles/viewer/permissions", json={"permissions": perms, "version": 1})
        assert r.status_code == 403 and r.json()["error"]["code"] == "privilege_escalation", perms
    r = c.api("POST", "/api/roles", json={"code": "boss", "name": "x", "permissions": ["*"]})
    assert r.status_code == 403
    r = c.api("PATCH", "/api/roles/admin", json={"version": 1, "permissions": ["core.org.view"]})
    assert r.status_code == 403  # cannot strip "*" either
    for role in ("admin", "auditor"):
        r = c.api("POST", "/api/grants", json={"person_id": target, "role": role, "org_id": root})
        assert r.status_code == 403, role
    r = c.api("DELETE", "/api/grants", json={"person_id": 1, "role": "admin", "org_id": root})
    assert r.status_code == 403  # nor take the administrator's grant away
    assert ctx.authz.grants_of(target) == [] and ctx.authz.role_permissions("admin") == {"*"}
    # the root administrator may
    r = admin.api("POST", "/api/grants", json={"person_id": target, "role": "admin", "org_id": root})
    assert r.status_code == 201


def test_last_root_administrator_cannot_be_revoked(admin, ctx):
    root = root_id(ctx)
    r = admin.api("DELETE", "/api/grants", json={"person_id": 1, "role": "admin", "org_id": root})
    assert r.status_code == 409 and r.json()["error"]["code"] == "last_administrator"
    r = admin.api("PUT", "/api/roles/admin/permissions",
                  json={"permissions": ["core.org.view"], "version": role_version(ctx, "admin")})
    assert r.status_code == 409
    assert ctx.authz.check(1, "*", root)
    second = make_person(ctx, "deputy", roles=[("admin", root)])
    assert admin.api("DELETE", "/api/grants", json={"person_id": second, "role": "admin", "org_id": root}).status_code == 204


def test_openapi_declares_role_and_grant_endpoints(admin):
    doc = admin.get("/api/openapi.json").json()
    assert doc["paths"]["/api/roles/{code}/permissions"]["put"]["x-permission"] == "core.role.edit"
    assert doc["paths"]["/api/grants"]["delete"]["x-permission"] == "core.role.edit"
    assert doc["paths"]["/api/grants"]["get"]["x-permission"] == "core.role.view"
    assert {"get", "post"} <= set(doc["paths"]["/api/roles"])
