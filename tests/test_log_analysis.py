"""日志分析: search across access, system and audit logs; each suspicious
pattern is flagged from seeded rows and links to the rows behind it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from ccms import audit
from ccms.loganalysis import LogFilter, analyse, search
from ccms.testing import ADMIN_PASSWORD, ADMIN_USER

UTC = dt.UTC
# 2026-12-01 is a Tuesday; 10:00 Beijing time = 02:00 UTC (inside office hours 07:00-20:00)
DAY = dt.datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
RANGE = (DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=1))


@pytest.fixture
def lapp(make_app: Any) -> Any:
    return make_app(logging={"access": "logs/access.log", "system": "logs/system.log", "failed_login_burst": 5,
                             "failed_login_minutes": 10, "refusal_burst": 4, "refusal_minutes": 5,
                             "export_burst": 3, "export_minutes": 30, "export_rows": 5000,
                             "office_hours": "07:00-20:00", "new_address_days": 30})


def rec(monkeypatch: pytest.MonkeyPatch, ctx: Any, when: dt.datetime, action: str, name: str, ip: str,
        uid: int | None = None, after: dict[str, Any] | None = None, success: bool = True) -> None:
    """One audit entry written the normal way, at ``when``."""
    monkeypatch.setattr(audit, "utcnow", lambda: when)
    with ctx.db.session() as s:
        audit.record(s, audit.Actor(uid, name, ip), action, "person", uid or "", after=after, success=success)
    monkeypatch.undo()


def write_access(tmp_path: Path, lines: list[dict[str, Any]]) -> None:
    f = tmp_path / "logs" / "access.log"
    f.parent.mkdir(parents=True, exist_ok=True)
    with f.open("a", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps({"type": "access", "method": "GET", "route": "/x", "ms": 1.0, **line},
                                ensure_ascii=False) + "\n")


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def kinds(flags: list[Any], kind: str) -> list[Any]:
    return [f for f in flags if f.kind == kind]


def rows_behind(ctx: Any, flag: Any) -> list[Any]:
    return search(ctx, LogFilter.model_validate(flag.link))


def test_failed_login_burst_by_address_and_by_account(lapp: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = lapp.state.ccms
    for i in range(5):  # 5 failures in 4 minutes from one address, against different accounts
        rec(monkeypatch, ctx, DAY + dt.timedelta(minutes=i), "login_failed", f"user{i}", "203.0.113.50",
            success=False)
    for i in range(5):  # 5 failures against one account from 5 addresses, spread over 40 minutes: no burst
        rec(monkeypatch, ctx, DAY + dt.timedelta(minutes=10 * i), "login_failed", "zhangsan", f"198.51.100.{i}",
            success=False)
    for i in range(5):  # and 5 within 8 minutes against another account
        rec(monkeypatch, ctx, DAY + dt.timedelta(hours=2, minutes=2 * i), "login_failed", "lisi",
            f"192.0.2.{i}", success=False)
    flags = kinds(analyse(ctx, *RANGE), "failed_login_burst")
    assert sorted((f.subject, f.who, f.count) for f in flags) == [("account", "lisi", 5),
                                                                ("address", "203.0.113.50", 5)]
    by_addr = next(f for f in flags if f.subject == "address")
    rows = rows_behind(ctx, by_addr)
    assert len(rows) == 5 and {r.client for r in rows} == {"203.0.113.50"} and not any(r.ok for r in rows)
    by_acct = next(f for f in flags if f.subject == "account")
    assert {r.user for r in rows_behind(ctx, by_acct)} == {"lisi"} and len(rows_behind(ctx, by_acct)) == 5


def test_aggregated_failures_count_by_their_attempts(lapp: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Login throttling audits repeated failures as one entry per address and window."""
    ctx = lapp.state.ccms
    rec(monkeypatch, ctx, DAY, "login_failed", "admin", "198.51.100.9", success=False)
    rec(monkeypatch, ctx, DAY + dt.timedelta(minutes=2), "login_failed_aggregate", "", "198.51.100.9",
        after={"attempts": 40}, success=False)
    flags = kinds(analyse(ctx, *RANGE), "failed_login_burst")
    assert [(f.subject, f.who, f.count) for f in flags] == [("address", "198.51.100.9", 41)]
    assert len(rows_behind(ctx, flags[0])) == 2
    assert ctx.monitor.snapshot()["login_failures_total"] == 41


def test_refusal_burst_from_access_log(lapp: Any, tmp_path: Path) -> None:
    ctx = lapp.state.ccms
    write_access(tmp_path, [{"time": iso(DAY + dt.timedelta(seconds=30 * i)), "path": f"/admin/people/{i}",
                             "status": 403, "uid": 7, "user": "wangwu", "client": "10.1.1.1"} for i in range(4)]
                 + [{"time": iso(DAY + dt.timedelta(hours=1, minutes=3 * i)), "path": "/admin/roles",
                     "status": 403, "uid": 8, "user": "zhao", "client": "10.2.2.2"} for i in range(4)])
    flags = kinds(analyse(ctx, *RANGE), "refusal_burst")
    assert sorted((f.subject, f.who) for f in flags) == [("address", "10.1.1.1"), ("user", "wangwu")]
    rows = rows_behind(ctx, next(f for f in flags if f.subject == "address"))
    assert [r.status for r in rows] == ["403"] * 4 and {r.source for r in rows} == {"access"}


def test_bulk_exports_by_count_and_by_size(lapp: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = lapp.state.ccms
    for i in range(3):
        rec(monkeypatch, ctx, DAY + dt.timedelta(minutes=5 * i), "audit_export", "sunqi", "10.0.0.9", uid=9,
            after={"rows": 10})
    rec(monkeypatch, ctx, DAY + dt.timedelta(hours=3), "form_export", "zhouba", "10.0.0.8", uid=10,
        after={"rows": 20000})
    rec(monkeypatch, ctx, DAY + dt.timedelta(hours=4), "form_export", "wujiu", "10.0.0.7", uid=11,
        after={"rows": 100})
    flags = kinds(analyse(ctx, *RANGE), "bulk_export")
    assert sorted((f.who, f.count) for f in flags) == [("sunqi", 3), ("zhouba", 20000)]
    big = next(f for f in flags if f.who == "zhouba")
    assert [r.user for r in rows_behind(ctx, big)] == ["zhouba"]
    assert len(rows_behind(ctx, next(f for f in flags if f.who == "sunqi"))) == 3


def test_login_at_unusual_hours(lapp: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = lapp.state.ccms
    rec(monkeypatch, ctx, DAY, "login", "qianyi", "10.0.0.1", uid=21)  # 10:00 local
    night = dt.datetime(2026, 12, 1, 17, 30, tzinfo=UTC)  # 01:30 local on 12-02
    rec(monkeypatch, ctx, night, "login", "qianyi", "10.0.0.1", uid=21)
    flags = kinds(analyse(ctx, *RANGE), "odd_hours_login")
    assert [(f.who, f.start) for f in flags] == [("qianyi", night)]
    rows = rows_behind(ctx, flags[0])
    assert len(rows) == 1 and rows[0].at == night


def test_login_from_an_address_new_for_that_user(lapp: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = lapp.state.ccms
    rec(monkeypatch, ctx, DAY - dt.timedelta(days=10), "login", "liuer", "10.0.0.1", uid=31)
    rec(monkeypatch, ctx, DAY, "login", "liuer", "10.0.0.1", uid=31)  # known address
    rec(monkeypatch, ctx, DAY + dt.timedelta(hours=1), "login", "liuer", "203.0.113.77", uid=31)  # new
    rec(monkeypatch, ctx, DAY + dt.timedelta(hours=2), "login", "liuer", "203.0.113.77", uid=31)  # now known
    rec(monkeypatch, ctx, DAY, "login", "newbie", "198.51.100.1", uid=32)  # first login ever: not flagged
    flags = kinds(analyse(ctx, *RANGE), "new_address_login")
    assert [(f.who, f.note) for f in flags] == [("liuer", "203.0.113.77")]
    rows = rows_behind(ctx, flags[0])
    assert [(r.user, r.client) for r in rows] == [("liuer", "203.0.113.77")]


def test_search_across_logs_with_filters(lapp: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = lapp.state.ccms
    write_access(tmp_path, [
        {"time": iso(DAY), "path": "/admin/orgs", "status": 200, "uid": 1, "user": "admin", "client": "10.0.0.1"},
        {"time": iso(DAY + dt.timedelta(minutes=1)), "path": "/admin/roles", "status": 403, "uid": 2,
         "user": "staff1", "client": "10.0.0.2"},
        {"time": iso(DAY + dt.timedelta(days=3)), "path": "/late", "status": 200, "uid": 1, "user": "admin",
         "client": "10.0.0.1"}])
    (tmp_path / "logs" / "system.log").write_text(json.dumps(
        {"time": iso(DAY), "type": "system", "level": "ERROR", "logger": "ccms", "msg": "flow timer 5 failed"}) + "\n"
        + "not json\n")
    rec(monkeypatch, ctx, DAY, "login", "staff1", "10.0.0.2", uid=2)
    since, until = (t.astimezone(dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None) for t in RANGE)
    all_rows = search(ctx, LogFilter(since=since, until=until))
    assert sorted(r.source for r in all_rows) == ["access", "access", "audit", "system"]
    assert [r.what for r in search(ctx, LogFilter(since=since, until=until, status=403))] == ["GET /admin/roles"]
    staff = search(ctx, LogFilter(since=since, until=until, user="staff1"))
    assert sorted(r.source for r in staff) == ["access", "audit"]
    assert [r.source for r in search(ctx, LogFilter(since=since, until=until, client="10.0.0.1"))] == ["access"]
    assert [r.what for r in search(ctx, LogFilter(q="timer 5"))] == ["flow timer 5 failed"]
    assert len(search(ctx, LogFilter(source="access"))) == 3  # no range: the late line too


def test_screen_shows_flags_with_links_and_needs_permission(lapp: Any, client_for: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from test_orgs import PASSWORD, make_person, root_id
    ctx = lapp.state.ccms
    now = dt.datetime.now(UTC)
    for i in range(5):
        rec(monkeypatch, ctx, now - dt.timedelta(minutes=5 - i), "login_failed", "ghost", "203.0.113.66",
            success=False)
    admin = client_for(ADMIN_USER, ADMIN_PASSWORD, lapp)
    r = admin.get("/admin/logs")
    assert r.status_code == 200
    assert "登录失败集中" in r.text and "203.0.113.66" in r.text
    link = "/admin/logs?" + urlencode(kinds(analyse(ctx, now - dt.timedelta(days=1), now), "failed_login_burst")[0]
                                      .link).replace("&", "&amp;")
    assert link in r.text
    r = admin.get("/api/logs", params={"source": "audit", "action": "login_failed", "client": "203.0.113.66"})
    assert r.status_code == 200 and len(r.json()["items"]) == 5
    assert admin.get("/admin/logs", params={"status": "abc"}).status_code == 422
    bad = admin.get("/api/logs", params={"since": "2026-12-02T00:00", "until": "2026-12-01T00:00"})
    assert bad.status_code == 422 and bad.json()["error"]["fields"]["until"]["message"] == "截止时间必须晚于起始时间"
    make_person(ctx, "plain", root_id(ctx))
    plain = client_for("plain", PASSWORD, lapp)
    assert plain.get("/admin/logs").status_code == 403
    assert plain.get("/api/logs").status_code == 403
    assert plain.get("/admin/monitor").status_code == 403
    assert "日志分析" not in plain.get("/").text and "日志分析" in admin.get("/").text


def test_logs_and_monitor_need_a_grant_at_the_root_org(make_app: Any) -> None:
    """Logs and monitoring cover the whole platform: a grant on one district does not open them."""
    from ccms import seed
    from ccms.services import orgs
    from ccms.testing import ADMIN_PASSWORD, Client, add_user
    app = make_app()
    ctx = app.state.ccms
    with ctx.db.session() as s:
        root = seed.ensure_root_org(ctx, s)
        district_id = orgs.create(s, None, ctx, {"name": "某区", "kind": "department", "parent_id": root.id}).id
    add_user(app, "district_auditor", ["core.logs.view", "core.monitor.view"], org_id=district_id)
    add_user(app, "city_auditor", ["core.logs.view", "core.monitor.view"])
    for name, expected in (("district_auditor", 403), ("city_auditor", 200)):
        with Client(app) as c:
            c.refresh_csrf()
            c.form("/login", {"username": name, "password": ADMIN_PASSWORD}, follow_redirects=False)
            assert c.get("/admin/logs").status_code == expected
            assert c.get("/admin/monitor").status_code == expected
            assert c.get("/api/logs").status_code == expected
