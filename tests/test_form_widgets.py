"""Person and region pickers (core/forms/widgets*.py, core/web/pickers.py), both backends:
search within the user's orgs, picks checked against the same scope, names (never ids)
on detail, list, export and history, existence and shape checks with clear messages,
the region cascade from the 数据字典 dictionary plus the org tree."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from test_form_records import publish
from test_orgs import PASSWORD, districts, make_org, make_person
from test_roles import make_role

from ccms import demo
from ccms.forms import widgets_region as regions
from ccms.forms.models import FormRecord
from ccms.models import Person

FORM = "t_assign"
ASSIGN: dict[str, Any] = {
    "id": FORM, "version": 1, "title": "派遣登记",
    "schema": {"type": "object", "required": ["subject"], "additionalProperties": False, "properties": {
        "subject": {"type": "string", "title": "事项", "maxLength": 40},
        "owner": {"type": "integer", "minimum": 1, "x-ccms-type": "person", "title": "责任人"},
        "place": {"type": "object", "x-ccms-type": "region", "title": "发生地"},
        "crew": {"type": "array", "title": "协办人员", "items": {"type": "object", "properties": {
            "who": {"type": "integer", "minimum": 1, "x-ccms-type": "person", "title": "人员"},
            "where": {"type": "object", "x-ccms-type": "region", "title": "片区"}}}},
        "secret_owner": {"type": "integer", "minimum": 1, "x-ccms-type": "person", "title": "内部联系人"}}},
    "list": {"columns": ["subject", "owner", "place", "_created_at"]},
    "permissions": {"fields": {"secret_owner": {"hidden_for": ["clerk"]}}},
}


@pytest.fixture
def env(ctx: Any, client_for: Any) -> dict[str, Any]:
    """A clerk in district A (姑苏区 320508); people in A (张伟, 李娜 inactive) and in B (王强)."""
    publish(ctx, ASSIGN)
    orgs = districts(ctx)
    make_role(ctx, "clerk", [f"form.{FORM}.{a}" for a in ("list", "read", "create", "update", "export")])
    clerk = make_person(ctx, "clerk_a", orgs["a"], role="clerk", display_name="办事员")
    zhang = make_person(ctx, "zhangwei", orgs["a1"], display_name="张伟")
    li = make_person(ctx, "lina", orgs["a1u"], display_name="李娜")
    wang = make_person(ctx, "wangqiang", orgs["b"], display_name="王强")
    with ctx.db.session() as s:
        s.get(Person, li).active = False
        # streets and communities of the demo city (what `ccms demo` seeds)
        regions.extend(s, demo.region_entries())
    return {"orgs": orgs, "clerk": client_for("clerk_a", PASSWORD), "ids": {
        "clerk": clerk, "zhang": zhang, "li": li, "wang": wang}}


def q(**params: str) -> str:
    from urllib.parse import urlencode
    return urlencode(params)


def search(client: Any, text: str, field: str = "owner", name: str = "owner") -> Any:
    return client.get(f"/pickers/person?{q(_form=FORM, _field=field, _name=name, q=text)}",
                      headers={"HX-Request": "true"})


# --- person picker ------------------------------------------------------------------------------

def test_person_search_within_the_users_orgs_by_name_or_username(env: dict[str, Any]) -> None:
    clerk, ids = env["clerk"], env["ids"]
    r = search(clerk, "张")
    assert r.status_code == 200 and f'data-testid="pick-owner-{ids["zhang"]}"' in r.text and "张伟" in r.text
    assert "zhangwei" in r.text and "姑苏区城管局" in r.text  # user name and org help tell namesakes apart
    assert f'data-testid="pick-owner-{ids["zhang"]}"' in search(clerk, "zhangw").text  # by user name
    assert "王强" not in search(clerk, "王").text  # district B is outside the clerk's orgs
    assert "picker-empty-owner" in search(clerk, "王").text
    assert "李娜" not in search(clerk, "李").text  # inactive people are not offered
    assert "<button" in r.text and "<script" not in r.text  # plain buttons: keyboard usable
    assert search(clerk, "%").text.count("pick-owner-") == 0  # LIKE wildcards are literal


def test_person_search_in_a_group_row(env: dict[str, Any]) -> None:
    r = search(env["clerk"], "张", field="crew.who", name="crew[2].who")
    assert r.status_code == 200 and 'hx-target="#w-crew-2-who"' in r.text


def test_pick_shows_the_name_and_stores_the_id(env: dict[str, Any]) -> None:
    zhang = env["ids"]["zhang"]
    r = env["clerk"].get(f"/pickers/person/pick?{q(_form=FORM, _field='owner', _name='owner', _id=str(zhang))}")
    assert r.status_code == 200
    assert f'<input type="hidden" name="owner" value="{zhang}">' in r.text
    assert "张伟（姑苏区城管局）" in r.text and 'data-testid="clear-owner"' in r.text
    cleared = env["clerk"].get(f"/pickers/person/pick?{q(_form=FORM, _field='owner', _name='owner', _id='')}")
    assert 'name="owner" value=""' in cleared.text and "张伟" not in cleared.text


def test_pick_outside_scope_or_unknown_reveals_nothing(env: dict[str, Any]) -> None:
    for pid in (str(env["ids"]["wang"]), str(env["ids"]["li"]), "999999", "abc"):
        r = env["clerk"].get(f"/pickers/person/pick?{q(_form=FORM, _field='owner', _name='owner', _id=pid)}")
        assert r.status_code == 404 and "王强" not in r.text and "李娜" not in r.text


def test_picker_refused_without_form_permission_or_for_hidden_and_wrong_fields(env: dict[str, Any], ctx: Any,
                                                                            client_for: Any) -> None:
    make_person(ctx, "nobody", env["orgs"]["a"])
    nobody = client_for("nobody", PASSWORD)
    assert search(nobody, "张").status_code == 403
    assert search(env["clerk"], "张", field="secret_owner", name="secret_owner").status_code == 404  # hidden
    assert search(env["clerk"], "张", field="subject", name="subject").status_code == 404  # not a person field
    assert search(env["clerk"], "张", field="owner", name="crew[0].who").status_code in (400, 422)  # inconsistent
    r = env["clerk"].get(f"/pickers/person?{q(_form='nope', _field='owner', _name='owner', q='张')}")
    assert r.status_code == 403


def test_person_name_on_detail_list_export_and_history_never_the_id(env: dict[str, Any], ctx: Any) -> None:
    clerk, ids = env["clerk"], env["ids"]
    r = clerk.form(f"/forms/{FORM}/new", {"_org_id": str(env["orgs"]["a"]), "subject": "井盖缺失",
                                          "owner": str(ids["zhang"]), "crew[0].who": str(ids["zhang"])}, follow_redirects=False)
    assert r.status_code == 303, r.text
    rid = int(r.headers["location"].split("/")[-1].split("?")[0])
    page = clerk.get(f"/forms/{FORM}/{rid}").text
    owner = re.search(r'data-testid="value-owner">([^<]*)<', page).group(1)
    assert owner == "张伟"
    assert re.search(r'data-testid="value-crew\[0\]\.who">张伟<', page)
    listing = clerk.get(f"/forms/{FORM}").text
    assert "张伟" in listing
    rows = list(csv.reader(io.StringIO(clerk.get(f"/forms/{FORM}/export.csv").content.decode("utf-8-sig"))))
    assert "张伟" in rows[1] and str(ids["zhang"]) not in rows[1][1:3]
    with ctx.db.session() as s:
        version = s.get(FormRecord, rid).version
    r = clerk.form(f"/forms/{FORM}/{rid}/edit", {"_org_id": str(env["orgs"]["a"]), "version": str(version),
                                                 "subject": "井盖缺失", "owner": str(env["ids"]["clerk"])}, follow_redirects=False)
    assert r.status_code == 303, r.text
    history = clerk.get(f"/forms/{FORM}/{rid}").text.split('data-testid="record-history"')[1]
    assert "张伟" in history and "办事员" in history
    assert f">{ids['zhang']}<" not in history and f"<del>{ids['zhang']}</del>" not in history
    edit = clerk.get(f"/forms/{FORM}/{rid}/edit").text  # the edit form shows the name too
    assert "办事员（姑苏区）" in edit


@pytest.mark.parametrize("value, expected", [
    ("999999", "不存在或已停用"),
    ("abc", "请从列表中选择"),
    ("li", "不存在或已停用"),  # an inactive person
])
def test_person_must_exist_and_be_active(env: dict[str, Any], ctx: Any, value: str, expected: str) -> None:
    value = str(env["ids"]["li"]) if value == "li" else value
    r = env["clerk"].form(f"/forms/{FORM}/new", {"_org_id": str(env["orgs"]["a"]), "subject": "x", "owner": value}, follow_redirects=False)
    assert r.status_code == 422 and expected in r.text and 'data-testid="error-owner"' in r.text
    with ctx.db.session() as s:
        assert s.query(FormRecord).count() == 0


# --- region picker ------------------------------------------------------------------------------

def test_region_dictionary_seeded_once_for_the_deployment(ctx: Any) -> None:
    from ccms.dictionaries.service import options
    codes = {c: n for c, n, _ in options(ctx, regions.REGION_DICT)}
    assert codes["320000"] == "江苏省" and codes["320500"] == "苏州市" and codes["320508"] == "姑苏区"
    with ctx.db.session() as s:
        assert regions.seed_regions(ctx, s) is False  # create-only: administrators own it afterwards
    assert "320508001" not in codes  # streets are added by administrators or by `ccms demo`


def test_region_levels_by_code_shape() -> None:
    assert [regions.level_of(c) for c in ("320000", "320500", "320508", "320508001", "320508001001")] == [0, 1, 2, 3, 4]
    assert regions.chain("320508001001") == ["320000", "320500", "320508", "320508001", "320508001001"]
    assert regions.level_of("3205") == -1 and regions.shape_problem("3205") is not None
    assert regions.shape_problem("320508001") is None


def test_regions_api_cascades(env: dict[str, Any]) -> None:
    clerk = env["clerk"]
    assert [i["code"] for i in clerk.api("GET", "/api/regions").json()["items"]] == ["320000"]
    assert [i["name"] for i in clerk.api("GET", "/api/regions?parent=320000").json()["items"]] == ["苏州市"]
    districts = clerk.api("GET", "/api/regions?parent=320500").json()
    assert {"code": "320508", "name": "姑苏区", "level": "district"} in districts["items"]
    streets = clerk.api("GET", "/api/regions?parent=320508").json()
    assert streets["parent_path"] == "江苏省 / 苏州市 / 姑苏区"
    assert [i["name"] for i in streets["items"]] == ["平江街道", "沧浪街道"]
    bad = clerk.api("GET", "/api/regions?parent=12")
    assert bad.status_code == 422 and "6位" in bad.json()["error"]["message"]


def test_region_cascade_loads_the_next_level(env: dict[str, Any]) -> None:
    clerk = env["clerk"]
    base = q(_form=FORM, _field="place", _name="place")
    r = clerk.get(f"/pickers/region?{base}&_parent=&place=320000", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert 'data-testid="region-place-1"' in r.text and "苏州市" in r.text  # the city select appeared
    r = clerk.get(f"/pickers/region?{base}&_parent=320500&place=320508")
    assert "平江街道" in r.text and 'data-testid="region-place-3"' in r.text
    assert "江苏省 / 苏州市 / 姑苏区" in r.text
    r = clerk.get(f"/pickers/region?{base}&_parent=320508&place=")  # a level set back to "—"
    assert '<option value="320508" selected>' in r.text and 'data-testid="region-place-4"' not in r.text
    assert clerk.get(f"/pickers/region?{base}&_parent=&place=12").status_code == 422
    # in a group row
    r = clerk.get(f"/pickers/region?{q(_form=FORM, _field='crew.where', _name='crew[1].where')}&crew%5B1%5D.where=320000")
    assert 'name="crew[1].where"' in r.text and 'id="w-crew-1-where"' in r.text


def test_org_tree_regions_join_the_dictionary(env: dict[str, Any], ctx: Any) -> None:
    make_org(ctx, env["orgs"]["root"], "工业园区", "region", "320571")
    names = [i["name"] for i in env["clerk"].api("GET", "/api/regions?parent=320500").json()["items"]]
    assert "工业园区" in names and "姑苏区" in names
    r = env["clerk"].form(f"/forms/{FORM}/new", {"_org_id": str(env["orgs"]["a"]), "subject": "x",
                                                 "place": ["320000", "320500", "320571"]}, follow_redirects=False)
    assert r.status_code == 303, r.text


def test_region_stored_as_code_and_shown_as_full_name(env: dict[str, Any], ctx: Any) -> None:
    clerk = env["clerk"]
    r = clerk.form(f"/forms/{FORM}/new", {"_org_id": str(env["orgs"]["a"]), "subject": "占道经营",
                                          "place": ["320000", "320500", "320508", "320508001", ""],
                                          "crew[0].where": ["320000", "320500", "320506"]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    rid = int(r.headers["location"].split("/")[-1].split("?")[0])
    with ctx.db.session() as s:
        data = s.get(FormRecord, rid).data
    assert data["place"] == {"code": "320508", "street": "320508001"}
    assert data["crew"] == [{"where": {"code": "320506"}}]
    page = clerk.get(f"/forms/{FORM}/{rid}").text
    assert "江苏省 / 苏州市 / 姑苏区 / 平江街道" in page and "江苏省 / 苏州市 / 吴中区" in page
    assert "江苏省 / 苏州市 / 姑苏区 / 平江街道" in clerk.get(f"/forms/{FORM}").text
    export = clerk.get(f"/forms/{FORM}/export.csv").content.decode("utf-8-sig")
    assert "平江街道" in export
    edit = clerk.get(f"/forms/{FORM}/{rid}/edit").text  # the cascade re-opens at the stored street
    assert '<option value="320508001" selected>' in edit and '<option value="320508" selected>' in edit


@pytest.mark.parametrize("posted, expected", [
    (["1234"], "6位"),  # shape: 6, 9 or 12 digits
    (["32050800"], "6位"),
    (["320599"], "不存在"),  # well-formed but unknown
    (["320000", "330100"], "不一致"),  # levels that do not belong together
    (["990000"], "GB/T 2260"),  # no such province
])
def test_bad_region_codes_are_refused_with_a_clear_message(env: dict[str, Any], ctx: Any, posted: list[str],
                                                           expected: str) -> None:
    r = env["clerk"].form(f"/forms/{FORM}/new", {"_org_id": str(env["orgs"]["a"]), "subject": "x",
                                                 "place": posted}, follow_redirects=False)
    assert r.status_code == 422 and expected in r.text and 'data-testid="error-place"' in r.text
    with ctx.db.session() as s:
        assert s.query(FormRecord).count() == 0


def test_region_json_api_checks_existence(env: dict[str, Any], ctx: Any) -> None:
    ok = env["clerk"].api("POST", f"/api/forms/{FORM}/records", json={
        "org_id": env["orgs"]["a"], "data": {"subject": "x", "place": {"code": "320508", "street": "320508002"}}})
    assert ok.status_code == 201, ok.text
    bad = env["clerk"].api("POST", f"/api/forms/{FORM}/records", json={
        "org_id": env["orgs"]["a"], "data": {"subject": "x", "place": {"code": "320508", "street": "320508009"}}})
    assert bad.status_code == 422 and "place" in bad.json()["error"]["fields"]


def test_extending_the_region_dictionary_keeps_administrators_names(ctx: Any) -> None:
    entries = demo.region_entries()
    assert entries["320508001"] == "平江街道" and entries["320508001001"] == "平江新村社区"
    with ctx.db.session() as s:
        regions.extend(s, {"320508": "姑苏区（改）", "320508001": "平江街道"})
        regions.extend(s, entries)  # twice, and over a code the dictionary has: nothing changes
    with ctx.db.session() as s:
        assert regions.names(s, ["320508001", "320508001001"]) == {"320508001": "平江街道",
                                                                   "320508001001": "平江新村社区"}
        assert regions.path_names(s, ["320508001001"])["320508001001"] == \
            "江苏省 / 苏州市 / 姑苏区 / 平江街道 / 平江新村社区"