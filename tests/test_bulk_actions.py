"""Bulk actions on list screens (core/forms/bulk_actions.py, POST /forms/{form}/bulk),
both backends: row checkboxes, bulk soft delete with confirmation and per-row
refusals, restore on the deleted view, export of the selected rows (masked
like the normal export), all-or-nothing "set field" with history per record."""

from __future__ import annotations

import copy
import csv
import io
from typing import Any

import openpyxl
from sqlalchemy import func, select
from test_form_records import ADMIN, COMPLAINT, publish
from test_form_records_web import ALL_ACTIONS, FORM
from test_orgs import PASSWORD, districts, make_person
from test_roles import make_role

from ccms.forms import records
from ccms.forms.models import FormRecord, FormRecordHistory

BULKY = copy.deepcopy(COMPLAINT)
BULKY["schema"]["properties"]["category"]["x-bulk-edit"] = True
BULKY["schema"]["properties"]["amount"]["x-ccms-bulk-edit"] = True
BULKY["schema"]["properties"]["note"]["x-bulk-edit"] = True  # read-only for the clerk: never offered to them


def env(ctx: Any, client_for: Any) -> dict[str, Any]:
    publish(ctx, BULKY)
    orgs = districts(ctx)
    make_role(ctx, "clerk", ALL_ACTIONS)
    make_role(ctx, "viewer", [f"form.{FORM}.list", f"form.{FORM}.read", f"form.{FORM}.export"])
    make_person(ctx, "clerk_a", orgs["a"], role="clerk")
    make_person(ctx, "viewer_b", orgs["b"], role="viewer")
    make_person(ctx, "viewer_all", orgs["root"], role="viewer")
    ids = {}
    with ctx.db.session() as s:
        for key, org, data in [("a1", orgs["a"], {"subject": "路灯不亮", "category": "road", "phone": "13812345678",
                                                  "note": "内部备注"}),
                               ("a2", orgs["a1"], {"subject": "井盖缺失", "category": "road", "amount": 3}),
                               ("b1", orgs["b"], {"subject": "树木倒伏", "category": "green"})]:
            ids[key] = records.create(s, ADMIN, ctx, FORM, data, org).id
    return {"orgs": orgs, "ids": ids, "clerk": client_for("clerk_a", PASSWORD),
            "viewer": client_for("viewer_b", PASSWORD), "viewer_all": client_for("viewer_all", PASSWORD)}


def live(ctx: Any) -> set[int]:
    with ctx.db.session() as s:
        return set(s.scalars(select(FormRecord.id).where(FormRecord.deleted_at.is_(None))))


def bulk(client: Any, ids: list[int], action: str, **extra: Any) -> Any:
    return client.post(f"/forms/{FORM}/bulk", data={"csrf_token": client.csrf or client.refresh_csrf(),
                                                    "action": action, "ids": [str(i) for i in ids], **extra})


def test_list_offers_checkboxes_and_the_actions_the_user_may_take(ctx: Any, client_for: Any) -> None:
    e = env(ctx, client_for)
    page = e["clerk"].get(f"/forms/{FORM}")
    assert 'data-testid="select-all"' in page.text and f'data-testid="select-{e["ids"]["a1"]}"' in page.text
    assert '/static/ccms-list.js' in page.text and e["clerk"].get("/static/ccms-list.js").status_code == 200
    for action in ('value="delete"', 'value="export_xlsx"', 'value="set:category"', 'value="set:amount"'):
        assert action in page.text, action
    assert 'value="set:note"' not in page.text and 'value="restore"' not in page.text  # read-only; live view
    viewer = e["viewer"].get(f"/forms/{FORM}")
    assert 'value="export_csv"' in viewer.text and 'value="delete"' not in viewer.text
    assert 'value="set:category"' not in viewer.text
    deleted_view = client_for("root", "Str0ng#Passw0rd").get(f"/forms/{FORM}?deleted=1")
    assert deleted_view.status_code == 200


def test_bulk_delete_confirms_reports_refusals_and_restores(ctx: Any, client_for: Any) -> None:
    e = env(ctx, client_for)
    clerk, ids = e["clerk"], e["ids"]
    chosen = [ids["a1"], ids["a2"], ids["b1"], 999999]
    r = bulk(clerk, chosen, "delete")
    assert r.status_code == 200 and 'data-testid="bulk-confirm-form"' in r.text
    assert f'data-testid="bulk-row-{ids["a1"]}"' in r.text and f'data-testid="bulk-row-{ids["b1"]}"' not in r.text
    assert f'data-testid="refused-{ids["b1"]}"' in r.text and 'data-testid="refused-999999"' in r.text
    assert "路灯不亮" in r.text and "树木倒伏" not in r.text  # nothing of a record outside the user's subtree
    assert live(ctx) == set(ids.values())  # nothing deleted before the confirmation
    r = bulk(clerk, chosen, "delete", confirm="1", **{f"version.{ids['a1']}": "1", f"version.{ids['a2']}": "1"})
    assert r.status_code == 200 and 'data-testid="bulk-done"' in r.text and "已删除 2 条" in r.text
    assert f'data-testid="refused-{ids["b1"]}"' in r.text
    assert live(ctx) == {ids["b1"]}
    with ctx.db.session() as s:
        acts = list(s.scalars(select(FormRecordHistory.action).where(FormRecordHistory.record_id == ids["a1"])))
    assert acts == ["create", "delete"]
    # restore: on the deleted view, for those who may delete (administrators)
    admin = client_for("root", "Str0ng#Passw0rd")
    page = admin.get(f"/forms/{FORM}?deleted=1")
    assert 'value="restore"' in page.text and 'value="delete"' not in page.text
    r = bulk(admin, [ids["a1"], ids["a2"], ids["b1"]], "restore", deleted="1")
    assert 'data-testid="bulk-confirm-form"' in r.text and f'data-testid="refused-{ids["b1"]}"' in r.text  # live
    r = bulk(admin, [ids["a1"], ids["a2"]], "restore", deleted="1", confirm="1")
    assert "已恢复 2 条" in r.text and live(ctx) == set(ids.values())


def test_bulk_delete_with_a_stale_version_refuses_that_row(ctx: Any, client_for: Any) -> None:
    e = env(ctx, client_for)
    ids = e["ids"]
    r = bulk(e["clerk"], [ids["a1"], ids["a2"]], "delete", confirm="1",
             **{f"version.{ids['a1']}": "7", f"version.{ids['a2']}": "1"})
    assert f'data-testid="refused-{ids["a1"]}"' in r.text and "已被他人修改" in r.text
    assert live(ctx) == {ids["a1"], ids["b1"]}


def test_bad_bulk_input_is_refused_and_writes_nothing(ctx: Any, client_for: Any) -> None:
    e = env(ctx, client_for)
    clerk, ids = e["clerk"], e["ids"]
    cases = [([], "delete", {}), (["abc"], "delete", {}), (["-1"], "delete", {}), ([ids["a1"]], "", {}),
             ([ids["a1"]], "explode", {}), ([ids["a1"]], "set:subject", {}), ([ids["a1"]], "set:note", {}),
             ([ids["a1"]], "set:nope", {"confirm": "1", "value": "x"}), (list(range(1, 503)), "delete", {})]
    for chosen, action, extra in cases:
        r = bulk(clerk, chosen, action, **extra)
        assert r.status_code == 422, (chosen[:3], action)
        assert "<!doctype html>" in r.text.lower()  # a page, not a traceback
    viewer = e["viewer_all"]
    assert bulk(viewer, [ids["a1"]], "delete").status_code == 403
    assert bulk(viewer, [ids["a1"]], "set:category", confirm="1", value="green").status_code == 403
    assert client_for().post(f"/forms/{FORM}/bulk", data={"action": "delete", "ids": [str(ids["a1"])]},
                             follow_redirects=False).status_code in (302, 303, 401, 403)
    assert live(ctx) == set(ids.values())


def test_export_selected_rows_masks_like_the_normal_export(ctx: Any, client_for: Any) -> None:
    e = env(ctx, client_for)
    ids = e["ids"]
    viewer = e["viewer_all"]  # note hidden, phone masked
    r = bulk(viewer, [ids["a1"], ids["b1"]], "export_csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == [str(ids["a1"]), str(ids["b1"])]
    assert "备注" not in rows[0] and "内部备注" not in r.content.decode("utf-8-sig")
    assert "138****5678" in rows[1] and "13812345678" not in r.content.decode("utf-8-sig")
    x = bulk(viewer, [ids["a2"]], "export_xlsx")
    sheet = list(openpyxl.load_workbook(io.BytesIO(x.content)).active.iter_rows(values_only=True))
    assert len(sheet) == 2 and sheet[1][0] == ids["a2"]
    # rows outside the user's export scope are simply not in the file
    r = bulk(e["viewer"], [ids["a1"], ids["b1"]], "export_csv")
    got = [row[0] for row in list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))[1:]]
    assert got == [str(ids["b1"])]


def test_set_field_all_or_nothing_with_history(ctx: Any, client_for: Any) -> None:
    e = env(ctx, client_for)
    clerk, ids = e["clerk"], e["ids"]
    r = bulk(clerk, [ids["a1"], ids["a2"]], "set:category")
    assert r.status_code == 200 and 'data-testid="bulk-set-form"' in r.text and 'value="green"' in r.text
    # a value outside the enum: inline error, nothing written
    r = bulk(clerk, [ids["a1"], ids["a2"]], "set:category", confirm="1", value="sky")
    assert r.status_code == 422 and 'data-testid="error-value"' in r.text
    r = bulk(clerk, [ids["a1"], ids["a2"]], "set:amount", confirm="1", value="lots")
    assert r.status_code == 422 and 'data-testid="error-value"' in r.text
    r = bulk(clerk, [ids["a1"], ids["a2"]], "set:amount", confirm="1", value="-5")  # minimum 0: per record
    assert r.status_code == 422 and 'data-testid="bulk-nothing-written"' in r.text
    # one record the clerk may not change (district B): nothing written, the refusal listed
    r = bulk(clerk, [ids["a1"], ids["b1"]], "set:category", confirm="1", value="green")
    assert r.status_code == 422 and f'data-testid="refused-{ids["b1"]}"' in r.text
    with ctx.db.session() as s:
        assert {r.data.get("category") for r in s.scalars(select(FormRecord))} == {"road", "green"}
        assert s.scalar(select(func.count()).select_from(FormRecordHistory)
                        .where(FormRecordHistory.action == "update")) == 0
    r = bulk(clerk, [ids["a1"], ids["a2"]], "set:category", confirm="1", value="green")
    assert r.status_code == 200 and "已修改 2 条" in r.text
    with ctx.db.session() as s:
        a1, a2 = s.get(FormRecord, ids["a1"]), s.get(FormRecord, ids["a2"])
        assert a1.data["category"] == a2.data["category"] == "green"
        assert a1.data["note"] == "内部备注" and a1.data["phone"] == "13812345678"  # others untouched
        h = records.history(s, ids["a1"])
        assert h[-1].action == "update" and h[-1].changes == {"before": {"category": "road"},
                                                              "after": {"category": "green"}}
    # empty value clears the field
    r = bulk(clerk, [ids["a2"]], "set:amount", confirm="1", value="")
    with ctx.db.session() as s:
        assert "amount" not in s.get(FormRecord, ids["a2"]).data


def test_bulk_api(ctx: Any, client_for: Any) -> None:
    e = env(ctx, client_for)
    clerk, ids = e["clerk"], e["ids"]
    r = clerk.api("POST", f"/api/forms/{FORM}/bulk", json={"action": "set:category", "ids": [ids["a1"], ids["b1"]],
                                                          "value": "green"})
    assert r.status_code == 422 and str(ids["b1"]) in r.json()["error"]["fields"]
    r = clerk.api("POST", f"/api/forms/{FORM}/bulk", json={"action": "delete", "ids": [ids["a1"], ids["b1"]]})
    assert r.json()["done"] == [ids["a1"]] and r.json()["refused"][0]["id"] == ids["b1"]
    for body in ({"action": "delete"}, {"action": "delete", "ids": ["x"]}, {"action": 3, "ids": [1]},
                 {"action": "fly", "ids": [ids["a2"]]}, [1]):
        assert clerk.api("POST", f"/api/forms/{FORM}/bulk", json=body).status_code == 422, body
