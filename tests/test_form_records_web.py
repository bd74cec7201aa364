"""表单数据 screens and JSON API (core/web/forms_records.py), both backends:
list/search/filter/sort/page, create/edit with inline errors, detail with
history, delete/restore, export, per-form permissions, row scope, and the
hidden field never leaking through screen, API, export or history."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
from sqlalchemy import func, select
from test_form_records import COMPLAINT, publish
from test_orgs import PASSWORD, districts, make_person
from test_roles import make_role

from ccms.forms.models import FormRecord, FormRecordHistory

FORM = "t_complaint"
ALL_ACTIONS = [f"form.{FORM}.{a}" for a in ("list", "read", "create", "update", "delete", "export")]


def n_records(ctx: Any) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(FormRecord)) or 0


def setup(ctx: Any, client_for: Any) -> dict[str, Any]:
    """Orgs; a clerk in district A (all form actions, note read-only), a viewer
    in district B (list/read/export, note hidden)."""
    publish(ctx, COMPLAINT)
    orgs = districts(ctx)
    make_role(ctx, "clerk", ALL_ACTIONS)
    make_role(ctx, "viewer", [f"form.{FORM}.list", f"form.{FORM}.read", f"form.{FORM}.export"])
    make_person(ctx, "clerk_a", orgs["a"], role="clerk")
    make_person(ctx, "viewer_b", orgs["b"], role="viewer")
    return {"orgs": orgs, "clerk": client_for("clerk_a", PASSWORD), "viewer": client_for("viewer_b", PASSWORD)}


def test_create_edit_detail_history_by_screen(ctx: Any, client_for: Any) -> None:
    env = setup(ctx, client_for)
    clerk, a = env["clerk"], env["orgs"]["a"]
    page = clerk.get(f"/forms/{FORM}/new")
    assert page.status_code == 200 and 'name="subject"' in page.text and 'name="_org_id"' in page.text
    # bad input: wrong type, too long, outside the enum, bad date, missing required -> inline errors, input kept
    r = clerk.form(f"/forms/{FORM}/new", {"_org_id": str(a), "subject": "长" * 21, "category": "sky",
                                          "amount": "lots", "happened": "2024/13/01"})
    assert r.status_code == 422
    for name in ("subject", "category", "amount", "happened"):
        assert f'data-testid="error-{name}"' in r.text, name
    assert 'value="lots"' in r.text and "长" * 21 in r.text
    r = clerk.form(f"/forms/{FORM}/new", {"_org_id": str(a), "category": "road"})
    assert r.status_code == 422 and 'data-testid="error-subject"' in r.text
    assert n_records(ctx) == 0
    r = clerk.form(f"/forms/{FORM}/new", {"_org_id": str(a), "subject": "<script>1</script>",
                                          "category": "road", "amount": "12.5"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    url = r.headers["location"].split("?")[0]
    saved = clerk.get(r.headers["location"]).text  # the notice once, in words, never as its key
    assert saved.count('data-testid="flash"') == 1 and "已保存。" in saved and "flash." not in saved
    assert 'data-testid="flash"' not in clerk.get(url + "?flash=no_such_notice").text
    detail = clerk.get(url)
    assert "&lt;script&gt;1&lt;/script&gt;" in detail.text and "<script>1</script>" not in detail.text
    assert 'data-testid="history-0"' in detail.text
    edit = clerk.get(url + "/edit")
    assert 'name="version" value="1"' in edit.text
    r = clerk.form(url + "/edit", {"version": "1", "_org_id": str(a), "subject": "井盖缺失", "category": "green"},
                   follow_redirects=False)
    assert r.status_code == 303, r.text
    detail = clerk.get(url)
    assert "井盖缺失" in detail.text and 'data-testid="history-1"' in detail.text and "clerk_a" in detail.text
    # stale version: 409 with a message, nothing changed
    r = clerk.form(url + "/edit", {"version": "1", "_org_id": str(a), "subject": "旧版本", "category": "road"})
    assert r.status_code == 409 and 'data-testid="error-conflict"' in r.text
    assert "旧版本" not in clerk.get(url).text


def test_add_row_button_rerenders_without_saving(ctx: Any, client_for: Any) -> None:
    env = setup(ctx, client_for)
    r = env["clerk"].form(f"/forms/{FORM}/new", {"_org_id": str(env["orgs"]["a"]), "subject": "x",
                                                 "_add_row": "nothing"})
    assert r.status_code == 200 and n_records(ctx) == 0


def test_list_search_filter_sort_page_and_row_scope(ctx: Any, client_for: Any) -> None:
    env = setup(ctx, client_for)
    clerk, viewer, orgs = env["clerk"], env["viewer"], env["orgs"]
    for i in range(3):
        assert clerk.api("POST", f"/api/forms/{FORM}/records",
                         json={"org_id": orgs["a1u"], "data": {"subject": f"A事项{i}", "category": "road",
                                                               "amount": i}}).status_code == 201
    make_role(ctx, "creator_b", [f"form.{FORM}.create"])
    make_person(ctx, "creator_b", orgs["b"], role="creator_b")
    cb = client_for("creator_b", PASSWORD)
    assert cb.api("POST", f"/api/forms/{FORM}/records",
                  json={"org_id": orgs["b"], "data": {"subject": "B事项", "category": "green"}}).status_code == 201
    page = clerk.get(f"/forms/{FORM}")
    assert page.status_code == 200 and "A事项0" in page.text and "B事项" not in page.text  # row scope
    frag = clerk.get(f"/forms/{FORM}?q=事项1", headers={"HX-Request": "true"})
    assert "<html" not in frag.text and "A事项1" in frag.text and "A事项2" not in frag.text
    frag = clerk.get(f"/forms/{FORM}?f.category=green", headers={"HX-Request": "true"})
    assert 'data-testid="record-empty"' in frag.text
    frag = clerk.get(f"/forms/{FORM}?sort=-amount&page_size=2&page=2", headers={"HX-Request": "true"})
    assert "A事项0" in frag.text and "A事项2" not in frag.text
    listed = viewer.api("GET", f"/api/forms/{FORM}/records").json()
    assert [x["data"]["subject"] for x in listed["items"]] == ["B事项"] and listed["total"] == 1
    a_id = clerk.api("GET", f"/api/forms/{FORM}/records").json()["items"][0]["id"]
    assert viewer.api("GET", f"/api/forms/{FORM}/records/{a_id}").status_code == 404  # outside the subtree
    assert viewer.get(f"/forms/{FORM}/{a_id}").status_code == 404


def test_permissions_per_form(ctx: Any, client_for: Any, anon: Any) -> None:
    env = setup(ctx, client_for)
    viewer = env["viewer"]
    assert viewer.get(f"/forms/{FORM}/new").status_code == 403
    r = viewer.api("POST", f"/api/forms/{FORM}/records", json={"org_id": env["orgs"]["b"], "data": {"subject": "x"}})
    assert r.status_code == 403 and n_records(ctx) == 0
    make_person(ctx, "nobody", env["orgs"]["a"])
    nobody = client_for("nobody", PASSWORD)
    assert nobody.get(f"/forms/{FORM}").status_code == 403
    assert 'href="/forms"' not in nobody.get("/").text and 'href="/forms"' in env["viewer"].get("/").text
    assert f"/forms/{FORM}" in viewer.get("/forms").text and f"/forms/{FORM}" not in nobody.get("/forms").text
    assert anon.get(f"/api/forms/{FORM}/records").status_code in (401, 403)


def test_api_crud_bad_input_and_conflict(ctx: Any, client_for: Any) -> None:
    env = setup(ctx, client_for)
    clerk, a = env["clerk"], env["orgs"]["a"]
    base = f"/api/forms/{FORM}/records"
    bad = [{"subject": 1}, {"subject": "长" * 21}, {"subject": "x", "category": "sky"},
           {"subject": "x", "happened": "01/05/2024"}, {"category": "road"}]
    for data in bad:
        r = clerk.api("POST", base, json={"org_id": a, "data": data})
        assert r.status_code == 422 and r.json()["error"]["fields"], data
    bad = clerk.api("POST", base, content=b"not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "malformed_json"  # as everywhere in /api/
    assert n_records(ctx) == 0
    r = clerk.api("POST", base, json={"org_id": a, "data": {"subject": "<b>x</b>", "category": "road"}})
    assert r.status_code == 201
    rec = r.json()
    assert rec["data"]["subject"] == "<b>x</b>" and rec["version"] == 1 and rec["def_version"] == 1
    r = clerk.api("PATCH", f"{base}/{rec['id']}", json={"version": 1, "data": {"amount": 3}})
    assert r.status_code == 200 and r.json()["data"] == {"subject": "<b>x</b>", "category": "road", "amount": 3}
    r = clerk.api("PATCH", f"{base}/{rec['id']}", json={"version": 1, "data": {"amount": 4}})
    assert r.status_code == 409
    r = clerk.api("PATCH", f"{base}/{rec['id']}", json={"data": {"amount": 4}})
    assert r.status_code == 422
    assert clerk.api("DELETE", f"{base}/{rec['id']}", json={"version": 2}).status_code == 200
    assert clerk.api("GET", f"{base}/{rec['id']}").status_code == 404
    # restore by screen (holder of delete)
    r = clerk.form(f"/forms/{FORM}/{rec['id']}/restore", {"version": "3"}, follow_redirects=False)
    assert r.status_code == 303
    assert clerk.api("GET", f"{base}/{rec['id']}").status_code == 200
    d = clerk.api("GET", f"/api/forms/{FORM}/definition").json()
    assert d["version"] == 1 and "subject" in d["definition"]["schema"]["properties"]
    assert clerk.api("GET", "/api/forms/nope/records").status_code in (403, 404)


def test_delete_needs_confirmation_screen(ctx: Any, client_for: Any) -> None:
    env = setup(ctx, client_for)
    clerk = env["clerk"]
    rid = clerk.api("POST", f"/api/forms/{FORM}/records",
                    json={"org_id": env["orgs"]["a"], "data": {"subject": "x"}}).json()["id"]
    page = clerk.get(f"/forms/{FORM}/{rid}?confirm=delete")
    assert 'data-testid="delete-confirm"' in page.text
    r = clerk.form(f"/forms/{FORM}/{rid}/delete", {"version": "1"}, follow_redirects=False)
    assert r.status_code == 303
    assert clerk.get(f"/forms/{FORM}?deleted=1").text.count("record-row-") == 1
    assert 'data-testid="record-restore"' in clerk.get(f"/forms/{FORM}/{rid}").text


def test_hidden_field_never_leaks(ctx: Any, client_for: Any) -> None:
    """note is hidden for viewer: not in the list, detail, API (list, get, definition), export or history."""
    env = setup(ctx, client_for)
    clerk, viewer, b = env["clerk"], env["viewer"], env["orgs"]["b"]
    make_role(ctx, "writer_b", ALL_ACTIONS)
    make_person(ctx, "writer_b", b, role="writer_b")
    w = client_for("writer_b", PASSWORD)
    rid = w.api("POST", f"/api/forms/{FORM}/records",
                json={"org_id": b, "data": {"subject": "公开", "note": "绝密备注"}}).json()["id"]
    w.api("PATCH", f"/api/forms/{FORM}/records/{rid}", json={"version": 1, "data": {"note": "绝密备注二"}})
    SECRET = "绝密备注"
    assert SECRET in w.get(f"/forms/{FORM}/{rid}").text  # the writer sees it
    paths = [f"/forms/{FORM}", f"/forms/{FORM}/{rid}", f"/api/forms/{FORM}/records",
             f"/api/forms/{FORM}/records/{rid}", f"/api/forms/{FORM}/definition", f"/forms/{FORM}/export.csv"]
    for p in paths:
        r = viewer.get(p)
        assert r.status_code == 200, p
        assert SECRET not in r.content.decode("utf-8-sig"), p
    assert "note" not in viewer.api("GET", f"/api/forms/{FORM}/definition").json()["definition"]["schema"]["properties"]
    xlsx = viewer.get(f"/forms/{FORM}/export.xlsx")
    wb = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    cells = [str(c.value) for row in wb.active.iter_rows() for c in row]
    assert "公开" in cells and not any(SECRET in c for c in cells)
    # searching or filtering by the hidden field reveals nothing
    assert viewer.api("GET", f"/api/forms/{FORM}/records?q=绝密").json()["total"] == 0
    assert viewer.get(f"/forms/{FORM}?f.note=绝密备注").status_code in (200, 422)
    with ctx.db.session() as s:  # the history holds it; only the screen filters it
        assert s.scalar(select(func.count()).select_from(FormRecordHistory)) == 2
    del clerk


def test_readonly_field_kept_on_edit(ctx: Any, client_for: Any) -> None:
    env = setup(ctx, client_for)
    make_role(ctx, "admin_a", ALL_ACTIONS)
    clerk, a = env["clerk"], env["orgs"]["a"]
    with ctx.db.session() as s:  # the clerk role has note read-only: store one through the service
        from ccms.audit import Actor
        from ccms.forms import records
        rid = records.create(s, Actor(1, "admin"), ctx, FORM, {"subject": "x", "note": "原备注"}, a).id
    r = clerk.api("PATCH", f"/api/forms/{FORM}/records/{rid}", json={"version": 1, "data": {"note": "改掉"}})
    assert r.status_code == 403
    edit = clerk.get(f"/forms/{FORM}/{rid}/edit")
    assert 'name="note" value="原备注" disabled' in edit.text
    r = clerk.form(f"/forms/{FORM}/{rid}/edit", {"version": "1", "_org_id": str(a), "subject": "y", "note": "改掉"},
                   follow_redirects=False)
    assert r.status_code == 303
    got = clerk.api("GET", f"/api/forms/{FORM}/records/{rid}").json()
    assert got["data"] == {"subject": "y", "note": "原备注"}


def test_export_csv_filtered_and_permission(ctx: Any, client_for: Any) -> None:
    env = setup(ctx, client_for)
    clerk = env["clerk"]
    for subj, cat in (("甲", "road"), ("乙", "green"), ("=1+1", "road")):
        clerk.api("POST", f"/api/forms/{FORM}/records", json={"org_id": env["orgs"]["a"],
                                                               "data": {"subject": subj, "category": cat}})
    r = clerk.get(f"/forms/{FORM}/export.csv?f.category=road")
    text = r.content.decode("utf-8-sig")
    assert r.status_code == 200 and "甲" in text and "乙" not in text and "'=1+1" in text
    assert clerk.get(f"/forms/{FORM}/export.pdf").status_code == 422
    make_role(ctx, "lister", [f"form.{FORM}.list"])
    make_person(ctx, "lister", env["orgs"]["a"], role="lister")
    assert client_for("lister", PASSWORD).get(f"/forms/{FORM}/export.csv").status_code == 403


def test_sensitive_values_masked_in_lists_unless_unmask(ctx: Any, client_for: Any) -> None:
    env = setup(ctx, client_for)
    clerk, a = env["clerk"], env["orgs"]["a"]
    rid = clerk.api("POST", f"/api/forms/{FORM}/records",
                    json={"org_id": a, "data": {"subject": "x", "phone": "13812345678"}}).json()["id"]
    listed = clerk.api("GET", f"/api/forms/{FORM}/records").json()["items"][0]["data"]["phone"]
    assert listed != "13812345678" and "*" in listed
    assert "13812345678" not in clerk.get(f"/forms/{FORM}/export.csv").content.decode("utf-8-sig")
    # issue 10 (Deliver 6): the detail answer is masked too, not only lists
    assert clerk.api("GET", f"/api/forms/{FORM}/records/{rid}").json()["data"]["phone"] == "138****5678"
    make_role(ctx, "unmask", [f"form.{FORM}.unmask"])
    make_person(ctx, "clerk_u", a, role="clerk")
    with ctx.db.session() as s:
        from ccms.models import Person
        pid = s.scalar(select(Person.id).where(Person.username == "clerk_u"))
        ctx.authz.grant(s, pid, "unmask", a)
    u = client_for("clerk_u", PASSWORD)
    assert u.api("GET", f"/api/forms/{FORM}/records").json()["items"][0]["data"]["phone"] == "13812345678"
    assert u.api("GET", f"/api/forms/{FORM}/records/{rid}").json()["data"]["phone"] == "13812345678"


def test_old_record_shows_renamed_and_archived_fields(ctx: Any, client_for: Any) -> None:
    env = setup(ctx, client_for)
    clerk, a = env["clerk"], env["orgs"]["a"]
    rid = clerk.api("POST", f"/api/forms/{FORM}/records",
                    json={"org_id": a, "data": {"subject": "旧事项", "note": "旧备注"}}).json()["id"]
    import copy
    v2 = copy.deepcopy(COMPLAINT)
    props = v2["schema"]["properties"]
    props["remark"] = props.pop("note")
    props["remark"]["title"] = "说明"
    del props["phone"]
    v2["renames"] = {"note": "remark"}
    v2["permissions"] = {"fields": {"remark": {"hidden_for": ["viewer"]}}}
    v2["schema"]["properties"]["subject"]["title"] = "诉求"
    publish(ctx, v2)
    with ctx.db.session() as s:  # a removed field with data: stored under v1
        row = s.get(FormRecord, rid)
        row.data = {**row.data, "phone": "13812345678"}
    page = clerk.get(f"/forms/{FORM}/{rid}")
    assert page.status_code == 200
    assert "诉求" in page.text and "旧事项" in page.text and "说明" in page.text and "旧备注" in page.text
    assert 'data-testid="record-archived"' in page.text and 'data-testid="archived-phone"' in page.text
    got = clerk.api("GET", f"/api/forms/{FORM}/records/{rid}").json()
    assert got["def_version"] == 1 and got["data"]["remark"] == "旧备注" and got["archived"] == {"phone": "13812345678"}


def test_random_json_never_a_500_and_nothing_half_written(ctx: Any, client_for: Any) -> None:
    """Random JSON bodies at create and patch: 201/200 or a field-level 4xx, never a 500."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    env = setup(ctx, client_for)
    clerk, a = env["clerk"], env["orgs"]["a"]
    rid = clerk.api("POST", f"/api/forms/{FORM}/records", json={"org_id": a, "data": {"subject": "x"}}).json()["id"]
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False, allow_infinity=False),
                        st.text(max_size=30))
    values = st.recursive(scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                        st.dictionaries(st.text(max_size=5), c, max_size=3)),
                          max_leaves=6)
    fields = st.sampled_from(["subject", "category", "amount", "happened", "phone", "note", "ghost"])
    data = st.dictionaries(fields, values, max_size=5)

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data, st.one_of(st.just(a), values))
    def check(d: dict[str, Any], org: Any) -> None:
        before = n_records(ctx)
        r = clerk.api("POST", f"/api/forms/{FORM}/records", json={"org_id": org, "data": d})
        assert r.status_code in (201, 403, 404, 422), r.text
        assert n_records(ctx) == before + (1 if r.status_code == 201 else 0)
        cur = clerk.api("GET", f"/api/forms/{FORM}/records/{rid}").json()["version"]
        r = clerk.api("PATCH", f"/api/forms/{FORM}/records/{rid}", json={"version": cur, "data": d})
        assert r.status_code in (200, 403, 422), r.text

    check()


def test_non_finite_numbers_in_raw_json_are_refused_not_a_500(ctx: Any, client_for: Any) -> None:
    """Python's json accepts NaN and Infinity; JSON does not. Such a body is bad input."""
    env = setup(ctx, client_for)
    clerk, a = env["clerk"], env["orgs"]["a"]
    before = n_records(ctx)
    for literal in ("Infinity", "-Infinity", "NaN"):
        body = '{"org_id": %d, "data": {"subject": "x", "amount": %s}}' % (a, literal)
        r = clerk.api("POST", f"/api/forms/{FORM}/records", content=body,
                      headers={"Content-Type": "application/json"})
        assert r.status_code in (400, 422), (literal, r.status_code, r.text)
        assert r.json()["error"]["code"]
    assert n_records(ctx) == before
