"""Per-form and per-field permissions (core/forms/access.py) and the roles
screen granting form permissions, on both backends."""

from __future__ import annotations

from typing import Any

from test_form_records import COMPLAINT, publish
from test_orgs import districts, make_person
from test_roles import make_role

from ccms.forms import access
from ccms.forms.definition import load_definition

PHONE_FORM = {**COMPLAINT, "id": "t_phone", "permissions": {"fields": {
    "note": {"hidden_for": ["viewer"], "readonly_for": ["clerk"]},
    "amount": {"readonly_for": ["viewer"]}}}}


class User:
    via, token_scopes = "session", None

    def __init__(self, pid: int) -> None:
        self.id = pid


def test_form_permissions_listed_for_published_forms(ctx: Any) -> None:
    with ctx.db.session() as s:
        assert access.form_permissions(s) == {}
    publish(ctx, COMPLAINT)
    with ctx.db.session() as s:
        perms = access.form_permissions(s)
    assert set(perms) == {f"form.t_complaint.{a}" for a in access.ACTIONS}
    assert perms["form.t_complaint.list"] == {"name": {"zh-CN": "投诉登记：列表", "en": "投诉登记: list"},
                                              "plugin": "forms"}


def test_roles_screen_shows_and_accepts_form_permissions(ctx: Any, admin: Any) -> None:
    publish(ctx, COMPLAINT)
    page = admin.get("/admin/roles/new")
    assert page.status_code == 200
    assert "表单" in page.text and 'value="form.t_complaint.list"' in page.text and "投诉登记：列表" in page.text
    r = admin.api("POST", "/api/roles", json={"code": "complaint_clerk", "name": "投诉文书",
                                              "permissions": ["form.t_complaint.list", "form.t_complaint.create"]})
    assert r.status_code in (200, 201), r.text
    assert ctx.authz.role_permissions("complaint_clerk") == {"form.t_complaint.list", "form.t_complaint.create"}
    r = admin.api("POST", "/api/roles", json={"code": "bad_forms", "name": "x", "permissions": ["form.nope.list"]})
    assert r.status_code == 422
    detail = admin.get("/admin/roles/complaint_clerk")
    assert 'value="form.t_complaint.list" checked' in detail.text
    assert 'data-testid="perm-group-undeclared"' not in detail.text


def test_form_permission_checked_within_org_domain(ctx: Any) -> None:
    publish(ctx, COMPLAINT)
    orgs = districts(ctx)
    make_role(ctx, "complaint_clerk", ["form.t_complaint.list", "form.t_complaint.read"])
    pid = make_person(ctx, "c1", orgs["a1"], role="complaint_clerk")
    u = User(pid)
    assert ctx.can(u, "form.t_complaint.list", orgs["a1u"])
    assert not ctx.can(u, "form.t_complaint.list", orgs["b"])
    assert not ctx.can(u, "form.t_complaint.create", orgs["a1"])


def test_hidden_readonly_strip_and_mask(ctx: Any) -> None:
    publish(ctx, PHONE_FORM)
    orgs = districts(ctx)
    make_role(ctx, "viewer", ["form.t_phone.read"])
    make_role(ctx, "clerk", ["form.t_phone.read"])
    make_role(ctx, "unmasker", ["form.t_phone.unmask"])
    viewer = User(make_person(ctx, "v1", orgs["a"], role="viewer"))
    clerk = User(make_person(ctx, "c1", orgs["a"], role="clerk"))
    both = User(make_person(ctx, "u1", orgs["a"], role="unmasker"))
    d = load_definition(PHONE_FORM)
    assert access.hidden_fields(ctx, viewer, d) == {"note"}
    assert access.readonly_fields(ctx, viewer, d) == {"note", "amount"}
    assert access.hidden_fields(ctx, clerk, d) == set() and access.readonly_fields(ctx, clerk, d) == {"note"}
    data = {"subject": "x", "note": "秘密", "phone": "13812345678"}
    assert access.strip(data, {"note"}) == {"subject": "x", "phone": "13812345678"}
    assert access.strip({"a": {"b": 1, "c": 2}, "g": [{"b": 1, "c": 2}]}, {"a.b", "g.b"}) == {
        "a": {"c": 2}, "g": [{"c": 2}]}
    assert access.strip_changes({"before": data, "after": {"note": "y"}}, {"note"}) == {
        "before": {"subject": "x", "phone": "13812345678"}, "after": {}}
    masked = access.mask(ctx, clerk, d, data, orgs["a"])
    assert masked["phone"] != "13812345678" and "*" in masked["phone"] and masked["subject"] == "x"
    assert access.mask(ctx, both, d, data, orgs["a"])["phone"] == "13812345678"
