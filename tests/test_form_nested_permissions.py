"""Nested field permissions on WRITES, over HTTP, both backends: a field hidden or
read-only for a role inside a nested object (``address.city``) or a repeating group
(``items.evidence``) keeps its stored value when a restricted user edits the record
on the screen or through the JSON API; the API refuses such writes with a 403 naming
each path; an unrestricted user still changes them. Rows are matched by position
(rules: core/forms/access.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from test_form_records import publish
from test_orgs import PASSWORD, districts, make_person
from test_roles import make_role

from ccms.forms.models import FormRecord

FORM = "t_nested_perm"
DEF: dict[str, Any] = {
    "id": FORM, "version": 1, "title": "巡查记录",
    "schema": {"type": "object", "required": ["subject"], "additionalProperties": False, "properties": {
        "subject": {"type": "string", "title": "事项", "maxLength": 40},
        "address": {"type": "object", "title": "地址", "properties": {
            "street": {"type": "string", "title": "街道"},
            "city": {"type": "string", "title": "城市"},
            "secret": {"type": "string", "title": "内部编号"}}},
        "items": {"type": "array", "title": "问题", "items": {
            "type": "object", "required": ["what"], "properties": {
                "what": {"type": "string", "title": "问题"},
                "evidence": {"type": "string", "title": "取证"},
                "score": {"type": "integer", "title": "评分"}}}}}},
    "permissions": {"fields": {"address.city": {"readonly_for": ["clerk"]},
                               "address.secret": {"hidden_for": ["clerk"]},
                               "items.evidence": {"hidden_for": ["clerk"]},
                               "items.score": {"readonly_for": ["clerk"]}}},
}
ACTIONS = [f"form.{FORM}.{a}" for a in ("list", "read", "create", "update", "delete", "export")]
STORED = {"subject": "占道经营",
          "address": {"street": "人民路", "city": "杭州", "secret": "S-001"},
          "items": [{"what": "摊点", "evidence": "E-ONE", "score": 1},
                    {"what": "垃圾", "evidence": "E-TWO", "score": 2}]}


def env(ctx: Any, client_for: Any) -> dict[str, Any]:
    """A clerk (evidence and address.secret hidden, score and address.city read-only) and
    a boss (no field restrictions), both in district A; one record made by the boss."""
    publish(ctx, DEF)
    orgs = districts(ctx)
    make_role(ctx, "clerk", ACTIONS)
    make_role(ctx, "boss", ACTIONS)
    make_person(ctx, "clerk_a", orgs["a"], role="clerk")
    make_person(ctx, "boss_a", orgs["a"], role="boss")
    boss = client_for("boss_a", PASSWORD)
    r = boss.api("POST", f"/api/forms/{FORM}/records", json={"org_id": orgs["a"], "data": STORED})
    assert r.status_code == 201, r.text
    return {"a": orgs["a"], "rid": r.json()["id"], "boss": boss, "clerk": client_for("clerk_a", PASSWORD)}


def stored(ctx: Any, rid: int) -> tuple[int, dict[str, Any]]:
    with ctx.db.session() as s:
        row = s.get(FormRecord, rid)
        return row.version, row.data


def edit(e: dict[str, Any], who: str, version: int, **fields: str) -> Any:
    return e[who].form(f"/forms/{FORM}/{e['rid']}/edit", {"version": str(version), "_org_id": str(e["a"]), **fields},
                       follow_redirects=False)


# --- the edit screen -----------------------------------------------------------------------------

def test_screen_edit_by_restricted_user_keeps_nested_locked_values(ctx: Any, client_for: Any) -> None:
    e = env(ctx, client_for)
    page = e["clerk"].get(f"/forms/{FORM}/{e['rid']}/edit")
    assert page.status_code == 200
    assert "E-ONE" not in page.text and "S-001" not in page.text  # hidden: never on the page
    assert 'name="items[0].evidence"' not in page.text and 'name="address.secret"' not in page.text
    assert "杭州" in page.text  # read-only: shown, not editable
    # the browser posts what it shows; the crafted extra inputs must change nothing
    r = edit(e, "clerk", 1, subject="占道经营（复查）", **{
        "address.street": "解放路", "address.city": "宁波", "address.secret": "HACK",
        "items[0].what": "流动摊点", "items[0].evidence": "HACK", "items[0].score": "99",
        "items[1].what": "垃圾"})
    assert r.status_code == 303, r.text
    version, data = stored(ctx, e["rid"])
    assert version == 2
    assert data == {"subject": "占道经营（复查）",
                    "address": {"street": "解放路", "city": "杭州", "secret": "S-001"},
                    "items": [{"what": "流动摊点", "evidence": "E-ONE", "score": 1},
                              {"what": "垃圾", "evidence": "E-TWO", "score": 2}]}
    # the clerk's own view after the save still hides what it hid
    got = e["clerk"].api("GET", f"/api/forms/{FORM}/records/{e['rid']}").json()
    assert "E-ONE" not in str(got) and "S-001" not in str(got)


def test_screen_rows_added_and_removed_and_emptied_object(ctx: Any, client_for: Any) -> None:
    """Rows by position: an added row gets no locked value; a restricted user cannot
    remove rows holding locked values; an object whose visible fields were emptied
    keeps its locked ones."""
    e = env(ctx, client_for)
    r = edit(e, "clerk", 1, subject="x", **{"items[0].what": "摊点", "items[1].what": "垃圾",
                                            "items[2].what": "新问题", "items[2].evidence": "HACK",
                                            "items[2].score": "5"})
    assert r.status_code == 303, r.text
    _v, data = stored(ctx, e["rid"])
    assert data["items"] == [{"what": "摊点", "evidence": "E-ONE", "score": 1},
                             {"what": "垃圾", "evidence": "E-TWO", "score": 2}, {"what": "新问题"}]
    assert data["address"] == {"city": "杭州", "secret": "S-001"}  # street emptied: the locked values stay
    # Removing rows: rows are matched by position, so a restricted user's removal could move
    # locked values onto other rows or drop them — refused inline, nothing changed.
    r = edit(e, "clerk", 2, subject="x", **{"items[0].what": "垃圾"})  # row 0 removed (or rows 1, 2?)
    assert r.status_code == 422 and "不能删除行" in r.text and "cannot remove rows" in r.text
    _v, data = stored(ctx, e["rid"])
    assert [row.get("evidence") for row in data["items"]] == ["E-ONE", "E-TWO", None]
    # ... someone who may see the whole row removes it.
    r = edit(e, "boss", 2, subject="x", **{"items[0].what": "垃圾", "items[0].evidence": "E-TWO",
                                           "items[0].score": "2"})
    assert r.status_code == 303, r.text
    _v, data = stored(ctx, e["rid"])
    assert data["items"] == [{"what": "垃圾", "evidence": "E-TWO", "score": 2}]


def test_screen_create_drops_crafted_hidden_nested_inputs(ctx: Any, client_for: Any) -> None:
    e = env(ctx, client_for)
    r = e["clerk"].form(f"/forms/{FORM}/new", {"_org_id": str(e["a"]), "subject": "新", "address.secret": "HACK",
                                               "items[0].what": "w", "items[0].evidence": "HACK",
                                               "items[0].score": "3"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    rid = int(r.headers["location"].split("/")[3].split("?")[0])
    _v, data = stored(ctx, rid)
    # read-only may be filled at creation; hidden never
    assert data == {"subject": "新", "items": [{"what": "w", "score": 3}]}


def test_screen_edit_by_unrestricted_user_changes_nested_values(ctx: Any, client_for: Any) -> None:
    e = env(ctx, client_for)
    page = e["boss"].get(f"/forms/{FORM}/{e['rid']}/edit")
    assert "E-ONE" in page.text and "S-001" in page.text
    r = edit(e, "boss", 1, subject="s", **{"address.city": "宁波", "address.secret": "S-002",
                                           "items[0].what": "摊点", "items[0].evidence": "E-NEW",
                                           "items[0].score": "7"})
    assert r.status_code == 303, r.text
    _v, data = stored(ctx, e["rid"])
    assert data == {"subject": "s", "address": {"city": "宁波", "secret": "S-002"},
                    "items": [{"what": "摊点", "evidence": "E-NEW", "score": 7}]}


# --- the JSON API --------------------------------------------------------------------------------

def test_api_refuses_nested_locked_writes_naming_the_path(ctx: Any, client_for: Any) -> None:
    e = env(ctx, client_for)
    url = f"/api/forms/{FORM}/records/{e['rid']}"
    rows = [{"what": "摊点", "score": 1}, {"what": "垃圾", "score": 2}]
    bad = [
        ({"items": [{"what": "摊点", "score": 99}, rows[1]]}, ["items[0].score"]),        # read-only in a row
        ({"items": [rows[0], {**rows[1], "evidence": "HACK"}]}, ["items[1].evidence"]),  # hidden in a row
        ({"items": [rows[0], {**rows[1], "evidence": "E-TWO"}]}, ["items[1].evidence"]),  # a right guess too
        ({"items": [*rows, {"what": "新", "score": 5}]}, ["items[2].score"]),              # new row, read-only
        ({"address": {"street": "人民路", "city": "宁波"}}, ["address.city"]),              # nested object
        ({"address": {"street": "人民路", "city": "杭州", "secret": "X"},
          "items": [{"what": "摊点", "score": None}]}, ["address.secret", "items[0].score"]),
    ]
    for data, paths in bad:
        r = e["clerk"].api("PATCH", url, json={"version": 1, "data": data})
        assert r.status_code == 403, (data, r.text)
        err = r.json()["error"]
        assert err["code"] == "forbidden" and sorted(err["fields"]) == paths, err
        assert all(p in err["message"] for p in paths)
    assert stored(ctx, e["rid"]) == (1, STORED)  # nothing written on a refused request
    # what the clerk reads, changed where allowed and sent back, keeps every locked value
    got = e["clerk"].api("GET", url).json()
    assert got["data"]["items"] == rows and "secret" not in got["data"]["address"]
    data = got["data"]
    data["items"][0]["what"] = "流动摊点"
    data["address"]["street"] = "解放路"
    r = e["clerk"].api("PATCH", url, json={"version": 1, "data": data})
    assert r.status_code == 200, r.text
    assert "E-ONE" not in r.text and "S-001" not in r.text
    version, now = stored(ctx, e["rid"])
    assert version == 2 and now == {"subject": "占道经营",
                                    "address": {"street": "解放路", "city": "杭州", "secret": "S-001"},
                                    "items": [{"what": "流动摊点", "evidence": "E-ONE", "score": 1},
                                              {"what": "垃圾", "evidence": "E-TWO", "score": 2}]}
    # a row sent without its locked keys keeps them; a new row without them is fine; null hides nothing
    r = e["clerk"].api("PATCH", url, json={"version": 2, "data": {"items": [
        {"what": "流动摊点"}, {"what": "垃圾", "evidence": None}, {"what": "新"}]}})
    assert r.status_code == 200, r.text
    assert stored(ctx, e["rid"])[1]["items"] == [{"what": "流动摊点", "evidence": "E-ONE", "score": 1},
                                                 {"what": "垃圾", "evidence": "E-TWO", "score": 2}, {"what": "新"}]


def test_api_create_refuses_hidden_nested_values(ctx: Any, client_for: Any) -> None:
    e = env(ctx, client_for)
    url = f"/api/forms/{FORM}/records"
    r = e["clerk"].api("POST", url, json={"org_id": e["a"], "data": {
        "subject": "新", "items": [{"what": "w"}, {"what": "v", "evidence": "HACK"}]}})
    assert r.status_code == 403 and sorted(r.json()["error"]["fields"]) == ["items[1].evidence"]
    r = e["clerk"].api("POST", url, json={"org_id": e["a"], "data": {"subject": "新", "address": {"secret": "X"}}})
    assert r.status_code == 403 and sorted(r.json()["error"]["fields"]) == ["address.secret"]
    with ctx.db.session() as s:
        assert len(list(s.scalars(select(FormRecord.id)))) == 1
    r = e["clerk"].api("POST", url, json={"org_id": e["a"], "data": {  # read-only: may be filled at creation
        "subject": "新", "address": {"city": "宁波"}, "items": [{"what": "w", "score": 4}]}})
    assert r.status_code == 201, r.text
    assert stored(ctx, r.json()["id"])[1] == {"subject": "新", "address": {"city": "宁波"},
                                              "items": [{"what": "w", "score": 4}]}


def test_api_unrestricted_user_changes_nested_values(ctx: Any, client_for: Any) -> None:
    e = env(ctx, client_for)
    data = {**STORED, "address": {**STORED["address"], "city": "宁波", "secret": "S-002"},
            "items": [{"what": "摊点", "evidence": "E-NEW", "score": 9}, {"what": "新", "evidence": "E-3"}]}
    r = e["boss"].api("PATCH", f"/api/forms/{FORM}/records/{e['rid']}", json={"version": 1, "data": data})
    assert r.status_code == 200, r.text
    assert stored(ctx, e["rid"]) == (2, data)


# --- the import screen -----------------------------------------------------------------------------

def _import(client: Any, org: int, name: str, content: bytes) -> Any:
    return client.post(f"/forms/{FORM}/import", data={"csrf_token": client.csrf or client.refresh_csrf(),
                                                      "_org_id": str(org)},
                       files={"file": (name, content, "application/octet-stream")})


def test_import_refuses_nested_locked_values_naming_row_and_path(ctx: Any, client_for: Any) -> None:
    import json as _json
    e = env(ctx, client_for)
    with ctx.db.session() as s:
        before = len(list(s.scalars(select(FormRecord.id))))
    ok_row = {"subject": "井盖", "address": {"street": "解放路"}, "items": [{"what": "破损"}]}
    bad_rows = [ok_row,
                {"subject": "占道", "items": [{"what": "摊点"}, {"what": "垃圾", "evidence": "E-X"}]},
                {"subject": "乱贴", "address": {"street": "中山路", "city": "宁波"}}]
    r = _import(e["clerk"], e["a"], "rows.json", _json.dumps(bad_rows, ensure_ascii=False).encode())
    assert r.status_code == 422
    assert "第 2 行 items[1].evidence" in r.text and "第 3 行 address.city" in r.text
    assert "row 2 items[1].evidence" in r.text and "/confirm" not in r.text
    # a CSV whose nested cells hold JSON is read the same way
    csv = "事项,问题\n摊点,\"[{\"\"what\"\": \"\"x\"\", \"\"score\"\": 3}]\"\n".encode()
    r = _import(e["clerk"], e["a"], "rows.csv", csv)
    assert r.status_code == 422 and "第 1 行 items[0].score" in r.text
    # the same file is fine for the boss, and a clean one for the clerk
    assert "/confirm" in _import(e["boss"], e["a"], "rows.json",
                                 _json.dumps(bad_rows, ensure_ascii=False).encode()).text
    assert "/confirm" in _import(e["clerk"], e["a"], "ok.json", _json.dumps([ok_row], ensure_ascii=False).encode()).text
    with ctx.db.session() as s:
        assert len(list(s.scalars(select(FormRecord.id)))) == before  # previews write no record
