"""应用维护 → 审计日志: search, paging, expandable rows, CSV/XLSX export, who may see it,
what gets logged, and the append-only table (both backends)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from conftest import ADMIN_USER, login
from ccms.models import AuditLog
from test_roles import PW, audit_entries, make_person, root_id

UTC = dt.timezone.utc


def add_entry(ctx, at: dt.datetime, **kw) -> int:
    """An audit row with a chosen time (inserting is the one thing the table allows)."""
    data = {"actor_name": "tester", "action": "test_action", "object_type": "thing", "object_id": "1",
            "summary": "", "success": True, **kw}
    with ctx.db.session() as s:
        e = AuditLog(at=at, **data)
        s.add(e)
        s.flush()
        return e.id


# --- who may see and export ----------------------------------------------------------------------

def test_auditor_searches_and_exports_staff_gets_403(ctx, client_for):
    root = root_id(ctx)
    make_person(ctx, "auditor1", roles=[("auditor", root)])
    make_person(ctx, "staff1", roles=[("staff", root)])
    a = client_for("auditor1", PW)
    page = a.get("/admin/audit?action=login")
    assert page.status_code == 200 and 'data-testid="export-csv"' in page.text
    assert a.api("GET", "/api/audit?action=login").json()["total"] >= 1
    r = a.get("/admin/audit/export?format=csv&action=login")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert a.get("/admin/audit/export?format=xlsx").status_code == 200
    s = client_for("staff1", PW)
    assert s.get("/admin/audit").status_code == 403
    assert s.get("/admin/audit/export?format=csv").status_code == 403
    assert s.api("GET", "/api/audit").status_code == 403
    assert s.api("GET", "/api/audit/export?format=csv").json()["error"]["code"] == "forbidden"


# --- what gets logged ----------------------------------------------------------------------------

def test_security_events_appear_in_the_log(admin, ctx, client_for, anon):
    assert login(anon, ADMIN_USER, "wrong-password").status_code == 401
    pid = make_person(ctx, "zhou")
    c = client_for("zhou", PW)
    assert c.form("/logout", follow_redirects=False).status_code == 303
    assert admin.api("PUT", "/api/roles/staff/permissions", json={"permissions": ["core.org.view"],
                                                                       "version": 1}).status_code == 200
    assert admin.api("POST", "/api/grants", json={"person_id": pid, "role": "staff",
                                                  "org_id": root_id(ctx)}).status_code == 201
    assert admin.api("PUT", "/api/settings/core", json={"values": {"page_size": 30}, "version": 0}).status_code == 200

    def found(**params) -> list[dict]:
        r = admin.api("GET", "/api/audit", params=params)
        assert r.status_code == 200
        return r.json()["items"]

    assert [e["actor_name"] for e in found(action="login", actor="zhou")] == ["zhou"]
    failed = found(action="login_failed", success="0")
    assert failed and failed[0]["actor_name"] == ADMIN_USER and failed[0]["success"] is False
    assert found(action="logout", actor="zhou")[0]["object_id"] == str(pid)
    perms = found(action="role_permissions")[0]
    assert perms["before"] == {"permissions": ["core.flow.start"]} and perms["after"] == {"permissions": ["core.org.view"]}
    assert found(action="role_grant", object_type="person")[0]["object_id"] == str(pid)
    assert found(action="settings_change")[0]["after"] == {"page_size": 30}


def test_the_table_refuses_update_and_delete_at_database_level(ctx):
    audit_id = add_entry(ctx, dt.datetime.now(UTC), summary="original")
    for stmt in (update(AuditLog).where(AuditLog.id == audit_id).values(summary="forged"),
                 delete(AuditLog).where(AuditLog.id == audit_id),
                 text("UPDATE core_audit_log SET success = false"),
                 text("DELETE FROM core_audit_log")):
        with pytest.raises(DBAPIError, match="append-only"):
            with ctx.db.engine.begin() as conn:
                conn.execute(stmt)
    with ctx.db.session() as s:
        assert s.get(AuditLog, audit_id).summary == "original"


# --- screen: filters, paging, details -------------------------------------------------------------

def test_filters_and_local_dates(admin, ctx):
    # 2024-03-01 16:30 UTC is 2024-03-02 00:30 in Asia/Shanghai
    late = add_entry(ctx, dt.datetime(2024, 3, 1, 16, 30, tzinfo=UTC), summary="深夜巡查", actor_name="night",
                     action="patrol", object_type="grid", success=False)
    early = add_entry(ctx, dt.datetime(2024, 3, 1, 15, 30, tzinfo=UTC), summary="白天巡查", actor_name="day",
                      action="patrol", object_type="grid")

    def ids(**params) -> list[int]:
        return [e["id"] for e in admin.api("GET", "/api/audit", params=params).json()["items"]]

    assert ids(date_from="2024-03-02", date_to="2024-03-02") == [late]
    assert ids(date_from="2024-03-01", date_to="2024-03-01") == [early]
    assert ids(action="patrol") == [early, late]  # newest entry first
    assert ids(action="patrol", success="1") == [early]
    assert ids(q="深夜") == [late] and ids(actor="day") == [early] and ids(object_type="grid", actor="night") == [late]
    page = admin.get("/admin/audit?date_from=2024-03-02&date_to=2024-03-02")
    assert f'data-testid="audit-row-{late}"' in page.text and f'data-testid="audit-row-{early}"' not in page.text
    assert "2024-03-02 00:30:00" in page.text  # shown in local time
    frag = admin.get("/admin/audit?action=patrol", headers={"HX-Request": "true", "HX-Target": "list"})
    assert "<html" not in frag.text and 'data-testid="audit-list"' in frag.text
    assert "action=patrol" in frag.text  # export links carry the filter


def test_paging_and_expandable_before_after(admin, ctx):
    for i in range(5):
        add_entry(ctx, dt.datetime(2024, 5, 1, 8, i, tzinfo=UTC), action="paged", before={"n": i}, after={"n": i + 1})
    body = admin.api("GET", "/api/audit?action=paged&per_page=2&page=3").json()
    assert body["total"] == 5 and body["page"] == 3 and len(body["items"]) == 1
    page = admin.get("/admin/audit?action=paged&per_page=2")
    assert "第 1 / 3 页" in page.text and "action=paged&amp;per_page=2&amp;page=2" in page.text
    assert page.text.split("<main", 1)[1].count("<details") == 2 and "&#34;n&#34;: 4" in page.text  # newest first; escaped JSON


def test_bad_filters_are_field_errors_not_500(admin):
    for params, field in (({"date_from": "2024-13-40"}, "date_from"), ({"page": "abc"}, "page"),
                          ({"per_page": "1000"}, "per_page"), ({"success": "maybe"}, "success"),
                          ({"date_from": "2024-03-02", "date_to": "2024-03-01"}, "date_to")):
        r = admin.api("GET", "/api/audit", params=params)
        assert r.status_code == 422 and field in r.json()["error"]["fields"], params
    page = admin.get("/admin/audit?date_from=2024-13-40")
    assert page.status_code == 422 and 'data-testid="error-date_from"' in page.text
    frag = admin.get("/admin/audit?date_from=bad", headers={"HX-Request": "true", "HX-Target": "list"})
    assert frag.status_code == 200 and 'data-testid="audit-errors"' in frag.text  # htmx swaps 2xx only
    assert admin.get("/admin/audit/export?format=pdf").status_code == 422
    assert admin.get("/admin/audit/export?format=csv&date_to=x").status_code == 422


# --- export ----------------------------------------------------------------------------------------

def test_csv_export_bom_chinese_header_filters_and_is_audited(admin, ctx):
    add_entry(ctx, dt.datetime(2024, 6, 1, 1, 0, tzinfo=UTC), action="exported", summary="=HYPERLINK(\"x\")",
              actor_name="张三", after={"名称": "网格"})
    add_entry(ctx, dt.datetime(2024, 6, 1, 2, 0, tzinfo=UTC), action="other")
    r = admin.get("/admin/audit/export?format=csv&action=exported")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["编号", "时间", "操作人"] and len(rows) == 2
    row = dict(zip(rows[0], rows[1]))
    assert row["操作人"] == "张三" and row["时间"] == "2024-06-01 09:00:00" and row["结果"] == "成功"
    assert row["摘要"] == "'=HYPERLINK(\"x\")"  # never a live formula in Excel
    assert '"名称": "网格"' in row["变更后"]
    entry = audit_entries(ctx, "audit_export")[-1]
    assert entry.actor_name == ADMIN_USER and entry.after["rows"] == 1
    assert entry.after["filters"] == {"action": "exported"} and entry.after["format"] == "csv"
    # the export is a snapshot: its own audit entry is not in the file
    everything = admin.get("/admin/audit/export?format=csv").content.decode("utf-8-sig")
    assert f"\n{audit_entries(ctx, 'audit_export')[-1].id}," not in everything


def test_xlsx_export(admin, ctx, anon):
    add_entry(ctx, dt.datetime(2024, 6, 1, 1, 0, tzinfo=UTC), action="exported", summary="中文摘要")
    r = admin.get("/admin/audit/export?format=xlsx&action=exported")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ws = load_workbook(io.BytesIO(r.content), read_only=True).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "编号" and rows[0][8] == "摘要" and len(rows) == 2 and rows[1][8] == "中文摘要"
    # a control character typed as a user name at a failed login must not break the export
    assert login(anon, "evil\x01name", "x").status_code == 401
    r = admin.get("/admin/audit/export?format=xlsx&action=login_failed")
    assert r.status_code == 200
    rows = list(load_workbook(io.BytesIO(r.content), read_only=True).active.iter_rows(values_only=True))
    assert rows[1][2] == "evil\ufffdname"
    assert audit_entries(ctx, "audit_export")[-1].after["format"] == "xlsx"


def test_search_treats_percent_and_underscore_literally(ctx):
    from ccms import audit as audit_mod
    with ctx.db.session() as s:
        audit_mod.record(s, None, "x_test", "thing", "1", summary="完成 100% 整改")
        audit_mod.record(s, None, "x_test", "thing", "2", summary="完成 1000 项")
        audit_mod.record(s, None, "x_test", "thing", "3", summary="code a_b")
        audit_mod.record(s, None, "x_test", "thing", "4", summary="code axb")
    with ctx.db.session() as s:
        hits = s.scalars(audit_mod.AuditQuery(q="100%").statement()).all()
        assert [h.object_id for h in hits] == ["1"]
        assert [h.object_id for h in s.scalars(audit_mod.AuditQuery(q="a_b").statement())] == ["3"]
