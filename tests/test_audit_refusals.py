"""Refusals are audited (issue 10, Deliver 2): every 403 on a screen or API is
in the audit log with who, which permission and which path, aggregated per
(person, address, permission) and minute so a scan cannot flood the log."""

from __future__ import annotations

import itertools

from test_roles import PW, audit_entries, make_person, root_id

from ccms.models import AuditLog


def refusals(ctx, who: str | None = None) -> list[AuditLog]:
    return [e for e in audit_entries(ctx, "access_denied") if who is None or e.actor_name == who]


def fake_clock(ctx, step: float) -> None:
    """Each refusal advances the aggregator's clock by ``step`` seconds (no sleeping, no timing)."""
    ticks = itertools.count()
    ctx.refusals.clock = lambda: next(ticks) * step


def test_500_refusals_make_few_entries_whose_counts_add_up(make_app, client_for):
    app = make_app(audit={"seal_delay_seconds": 0})
    ctx = app.state.ccms
    make_person(ctx, "scanner", roles=[("staff", root_id(ctx))])
    c = client_for("scanner", PW, app)
    fake_clock(ctx, 0.4)  # 500 refusals over 200 "seconds": four one-minute windows
    for i in range(500):
        if i % 2:
            r = c.get(f"/admin/audit?page={i}")
        else:
            r = c.api("GET", f"/api/audit?q={i}")
        assert r.status_code == 403
    ctx.refusals.flush(force=True)
    entries = refusals(ctx, "scanner")
    assert sum(e.after["count"] for e in entries) == 500
    assert len(entries) <= 8  # (one at once + one summary) per window
    first = entries[0]
    assert first.success is False and first.object_id == "core.audit.view" and first.after["count"] == 1
    assert first.after["path"] == "/api/audit" and first.client_ip
    assert "拒绝访问" in first.summary and "core.audit.view" in first.summary and "GET /api/audit" in first.summary
    summary = entries[1]
    assert summary.after["count"] > 1 and "/admin/audit" in summary.after["paths"]
    assert "又被拒绝" in summary.summary


def test_each_source_and_permission_is_counted_apart(make_app, client_for):
    app = make_app(audit={"seal_delay_seconds": 0})
    ctx = app.state.ccms
    root = root_id(ctx)
    make_person(ctx, "a1", roles=[("staff", root)])
    make_person(ctx, "a2", roles=[("staff", root)])
    c1, c2 = client_for("a1", PW, app), client_for("a2", PW, app)
    assert c1.get("/admin/audit").status_code == 403
    assert c2.get("/admin/audit").status_code == 403
    assert c1.get("/admin/roles").status_code == 403
    written_now = refusals(ctx)
    assert sorted((e.actor_name, e.object_id) for e in written_now) == [
        ("a1", "core.audit.view"), ("a1", "core.role.view"), ("a2", "core.audit.view")]
    assert all(e.after["count"] == 1 for e in written_now)  # the first of each window is written at once


def test_refusals_without_a_permission_name_their_reason(make_app, client_for):
    """A CSRF failure is a 403 too: recorded under its error code, anonymous included."""
    app = make_app(audit={"seal_delay_seconds": 0})
    ctx = app.state.ccms
    anon = client_for(None, None, app)
    r = anon.post("/login", data={"username": "x", "password": "y"})  # no CSRF token
    assert r.status_code == 403
    (e,) = refusals(ctx)
    assert e.actor_name == "anonymous" and e.object_id == "csrf_failed" and e.after["path"] == "/login"
    assert "CSRF" in e.after["reason"] and "拒绝访问：请求校验失败（CSRF）" in e.summary


def test_refusal_entries_read_in_chinese_on_the_audit_screen(make_app, client_for, admin):
    app = make_app(audit={"seal_delay_seconds": 0})
    ctx = app.state.ccms
    make_person(ctx, "nosy", roles=[("staff", root_id(ctx))])
    assert client_for("nosy", PW, app).get("/admin/audit").status_code == 403
    page = admin.get("/admin/audit?action=access_denied")
    assert "拒绝访问" in page.text and "没有“" in page.text and "nosy" in page.text


# --- exports and bulk actions ------------------------------------------------------------------

def test_exports_and_bulk_actions_are_audited(ctx, client_for, admin):
    from test_bulk_actions import FORM, bulk, env

    e = env(ctx, client_for)
    viewer, clerk, ids = e["viewer_all"], e["clerk"], e["ids"]
    before = {x.id for x in audit_entries(ctx)}

    def new(action: str) -> list[AuditLog]:
        return [x for x in audit_entries(ctx, action) if x.id not in before]

    assert viewer.get(f"/forms/{FORM}/export.csv").status_code == 200
    r = bulk(viewer, [ids["a1"], ids["b1"]], "export_xlsx")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    exports = new("export")
    assert len(exports) >= 2 and all(x.actor_name == "viewer_all" for x in exports)
    assert any(x.after["file"] == f"{FORM}.xlsx" and x.after["bytes"] == len(r.content) for x in exports)
    assert all("导出文件" in x.summary for x in exports)
    # the audit log's own export writes its detailed entry, not a second generic one
    assert admin.get("/admin/audit/export?format=csv").status_code == 200
    assert len(new("audit_export")) == 1 and len(new("export")) == len(exports)
    # a bulk action leaves one entry for the whole action besides each record's own
    assert bulk(clerk, [ids["a1"], ids["a2"]], "delete", confirm="1").status_code == 200
    (b,) = new("form_record.bulk")
    assert b.actor_name == "clerk_a" and b.after["action"] == "delete" and sorted(b.after["done"]) == sorted(
        [ids["a1"], ids["a2"]]) and "完成 2 条" in b.summary
    assert len(new("form_record.delete")) == 2
