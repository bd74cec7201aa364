"""Working calendars after the last year ``chinesecalendar`` knows (issue 11,
item 4): statutory holidays computed from the 2024 放假办法, the year marked
provisional until an administrator confirms it or the package brings it,
notices from October, and "暂定" next to deadlines that fall in such a year.

The package's range and "today" are pinned (package ends with 2026, today is
2026-12-07) so the tests mean the same after a package release or a new year.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flow_engine_kit import ADMIN as FLOW_ADMIN
from flow_engine_kit import flow, open_tasks, person, publish, task
from sqlalchemy import select

from ccms import seed
from ccms.audit import Actor
from ccms.calendar import package, rules
from ccms.calendar import service as svc
from ccms.errors import ValidationFailed
from ccms.flows import clock, engine
from ccms.models import AuditLog
from ccms.testing import ADMIN_PASSWORD, add_user

SH = ZoneInfo("Asia/Shanghai")
ADMIN = Actor(1, "admin")
CAL = "future"
URL = f"/admin/calendars/{CAL}"
REAL_YEARS = package.known_years
REAL_DAYS = package.year_days


def sh(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def pin(monkeypatch: pytest.MonkeyPatch, today: dt.date, last_year: int = 2026,
        extra: dict[int, dict[dt.date, tuple[str, str]]] | None = None) -> None:
    """The package knows years up to ``last_year`` (plus ``extra`` official years); today is ``today``."""
    extra = extra or {}
    monkeypatch.setattr(package, "known_years", lambda: sorted({y for y in REAL_YEARS() if y <= last_year} | set(extra)))
    monkeypatch.setattr(package, "year_days", lambda y: extra[y] if y in extra else REAL_DAYS(y) if y <= last_year else {})
    monkeypatch.setattr(svc, "today", lambda tz: today)


@pytest.fixture
def future(ctx: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A calendar created while the package ends with 2026 and today is 2026-12-07."""
    pin(monkeypatch, dt.date(2026, 12, 7))
    with ctx.db.session() as s:
        svc.create_calendar(s, ADMIN, {"id": CAL, "name": "未来日历"}, timezone="Asia/Shanghai")
    return ctx


def status(ctx: Any, year: int) -> str:
    with ctx.db.session() as s:
        return svc.year_status(svc.get(s, CAL), year)


def audits(ctx: Any, action: str) -> list[AuditLog]:
    with ctx.db.session() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == action, AuditLog.object_id == CAL)))


# --- the rules against the official data ------------------------------------------------------

@pytest.mark.parametrize("year", [2025, 2026])
def test_computed_holidays_are_official_holidays_in_years_the_package_knows(year):
    assert year in REAL_YEARS()
    official = {d for d, (kind, _n) in REAL_DAYS(year).items() if kind == "holiday"}
    statutory = rules.statutory_days(year)
    assert len(statutory) == 13  # 1 + 4 + 1 + 2 + 1 + 1 + 3 days, none coinciding in these years
    computed = rules.year_days(year)
    assert set(computed) <= official, sorted(set(computed) - official)
    assert {k for k, _n in computed.values()} == {"holiday"}  # no 调休 working day is invented


def test_the_2027_rules_give_the_lunar_and_solar_term_days():
    days = rules.year_days(2027)
    assert days[dt.date(2027, 1, 1)] == ("holiday", "元旦")
    # 除夕 2027-02-05 (Fri) .. 初三 02-08; Saturday and Sunday owe two working days (article 6)
    assert [d.isoformat() for d in sorted(days) if days[d][1].startswith("春节")] == [
        "2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08", "2027-02-09", "2027-02-10"]
    assert days[dt.date(2027, 2, 9)][1] == "春节（补假）"
    assert days[dt.date(2027, 4, 5)][1] == "清明节"   # the 清明 solar term
    assert days[dt.date(2027, 6, 9)][1] == "端午节"   # 五月初五
    assert days[dt.date(2027, 9, 15)][1] == "中秋节"  # 八月十五


# --- deadlines in a year the package does not know ----------------------------------------------

def test_2027_new_year_and_national_day_are_holidays_and_deadlines_skip_them(future):
    ctx = future
    with ctx.db.session() as s:
        cal = svc.get_calendar(s, CAL)
        assert not cal.is_working_day(dt.date(2027, 1, 1))  # was a working day (Monday–Friday fallback)
        assert [cal.is_working_day(dt.date(2027, 10, d)) for d in (1, 2, 3)] == [False, False, False]
        due = svc.deadline(s, CAL, sh(2027, 10, 1, 9, 0), 3, "work_days").astimezone(SH)
        # Counting starts at the first opening after the holiday and its 补假 (Mon 4, Tue 5 October).
        assert due == sh(2027, 10, 8, 17, 30)
        assert due.date() > dt.date(2027, 10, 3)
        assert svc.is_provisional(s, CAL, due)
        assert not svc.is_provisional(s, CAL, sh(2026, 10, 9, 9, 0))  # a year the package knows
        days = {d.day: d for d in svc.year_days(s, CAL, 2027)}
        assert (days[dt.date(2027, 10, 1)].name, days[dt.date(2027, 10, 1)].source) == ("国庆节", "rules")
        assert svc.as_dict(svc.get(s, CAL))["provisional_years"] == [2027]
    assert status(ctx, 2026) == "official" and status(ctx, 2027) == "provisional"
    assert [a.after["years"] for a in audits(ctx, "calendar_compute")] == [[2027]]


def test_bootstrap_computes_the_coming_year_once(future, monkeypatch):
    ctx = future
    seed.bootstrap(ctx)
    with ctx.db.session() as s:
        n = len(svc.year_days(s, CAL, 2027))
        version = svc.get(s, CAL).version
    seed.bootstrap(ctx)
    with ctx.db.session() as s:
        assert len(svc.year_days(s, CAL, 2027)) == n == len(rules.year_days(2027))
        assert svc.get(s, CAL).version == version
    # A year later without a package update, the next bootstrap computes 2028.
    pin(monkeypatch, dt.date(2027, 12, 1))
    seed.bootstrap(ctx)
    assert status(ctx, 2028) == "provisional"


# --- the calendar screen: provisional, confirmed, computed ------------------------------------------

def test_admin_sees_provisional_deadline_and_confirms_the_year_audited(future, admin, client_for):
    ctx = future
    r = admin.get(f"{URL}?year=2027")
    assert r.status_code == 200
    assert 'data-testid="year-status" data-status="provisional"' in r.text
    assert "调休上班日只能由国务院通知确定" in r.text and 'data-testid="confirm-year"' in r.text
    assert "按放假办法计算（暂定）" in r.text  # the source column of the computed days
    calc = admin.get(f"{URL}/calc", params={"start": "2027-10-01T09:00", "amount": "3", "unit": "work_days"})
    assert re.search(r'data-testid="calc-deadline"><strong>2027-10-08 17:30</strong> 周五 '
                     r'<span class="badge provisional" data-testid="provisional"', calc.text), calc.text[-3000:]
    api = admin.get(f"/api/calendars/{CAL}/deadline", params={"start": "2027-10-01T09:00", "amount": "3",
                                                              "unit": "work_days"}).json()
    assert (api["deadline_local"], api["provisional"]) == ("2027-10-08T17:30:00+08:00", True)
    known = admin.get(f"/api/calendars/{CAL}/deadline",
                      params={"start": "2026-09-30T16:00", "amount": "1", "unit": "work_days"}).json()
    assert known["provisional"] is False
    r = admin.form(f"{URL}/confirm", {"year": "2027"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("year=2027&flash=calendar_confirmed")
    assert status(ctx, 2027) == "confirmed"
    [entry] = audits(ctx, "calendar_confirm")
    assert (entry.actor_name, entry.before, entry.after) == (
        "root", {"year": 2027, "status": "provisional"}, {"year": 2027, "status": "confirmed"})
    calc = admin.get(f"{URL}/calc", params={"start": "2027-10-01T09:00", "amount": "3", "unit": "work_days"})
    assert 'data-testid="calc-deadline"><strong>2027-10-08 17:30</strong>' in calc.text
    assert 'data-testid="provisional"' not in calc.text
    page = admin.get(f"{URL}?year=2027").text
    assert 'data-status="confirmed"' in page and 'data-testid="confirm-year"' not in page
    # Confirming again, or a year the package knows, is refused in words.
    again = admin.api("POST", f"/api/calendars/{CAL}/confirm", json={"year": 2026})
    assert again.status_code == 422 and again.json()["error"]["code"] == "calendar_year_settled"


def test_only_calendar_editors_confirm(future, app, client_for):
    add_user(app, "viewer", ["core.calendar.view"])
    viewer = client_for("viewer", ADMIN_PASSWORD)
    page = viewer.get(f"{URL}?year=2027")
    assert page.status_code == 200 and 'data-status="provisional"' in page.text
    assert 'data-testid="confirm-year"' not in page.text
    assert viewer.form(f"{URL}/confirm", {"year": "2027"}).status_code == 403
    assert status(future, 2027) == "provisional" and audits(future, "calendar_confirm") == []


def test_a_missing_year_is_provisional_and_can_be_computed(future, admin):
    ctx = future
    assert status(ctx, 2029) == "missing"
    with ctx.db.session() as s:
        assert svc.is_provisional(s, CAL, dt.date(2029, 10, 1))
        assert svc.get_calendar(s, CAL).is_working_day(dt.date(2029, 10, 1))  # weekly rule only
    page = admin.get(f"{URL}?year=2029").text
    assert 'data-status="missing"' in page and 'data-testid="compute-year"' in page
    r = admin.form(f"{URL}/compute", {"year": "2029"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and 'data-status="provisional"' in r.text
    assert status(ctx, 2029) == "provisional"
    with ctx.db.session() as s:
        assert not svc.get_calendar(s, CAL).is_working_day(dt.date(2029, 10, 1))
    bad = admin.api("POST", f"/api/calendars/{CAL}/compute", json={"year": 2025})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "calendar_year_not_missing"
    with ctx.db.session() as s, pytest.raises(ValidationFailed) as exc:
        svc.confirm_year(s, ADMIN, CAL, "二〇二九")
    assert exc.value.code == "bad_year"


# --- the package release brings the official year -----------------------------------------------

def test_package_release_replaces_computed_days_and_keeps_admin_edits(future, monkeypatch):
    ctx = future
    with ctx.db.session() as s:
        svc.set_day(s, ADMIN, CAL, {"day": "2027-09-26", "kind": "workday", "name": "本地调休上班"})
        svc.set_day(s, ADMIN, CAL, {"day": "2027-02-09", "kind": "holiday", "name": "本地春节假"})
    official = {dt.date(2027, 1, 1): ("holiday", "元旦")}
    official.update({dt.date(2027, 10, d): ("holiday", "国庆节") for d in range(1, 8)})
    official[dt.date(2027, 10, 9)] = ("workday", "国庆节调休上班")
    pin(monkeypatch, dt.date(2026, 12, 20), extra={2027: official})
    seed.bootstrap(ctx)  # what `ccms db upgrade` does after a package upgrade
    assert status(ctx, 2027) == "official"
    with ctx.db.session() as s:
        days = {d.day: (d.kind, d.name, d.source) for d in svc.year_days(s, CAL, 2027)}
        assert days[dt.date(2027, 10, 7)] == ("holiday", "国庆节", "package")
        assert days[dt.date(2027, 10, 9)] == ("workday", "国庆节调休上班", "package")
        assert days[dt.date(2027, 9, 26)] == ("workday", "本地调休上班", "admin")   # kept
        assert days[dt.date(2027, 2, 9)] == ("holiday", "本地春节假", "admin")     # kept over the rules' 补假
        assert dt.date(2027, 2, 10) not in days and dt.date(2027, 6, 9) not in days  # computed days gone
        assert not any(src == "rules" for _k, _n, src in days.values())
        assert not svc.is_provisional(s, CAL, sh(2027, 10, 8, 9, 0))
    assert any(a.after.get("years") == [2027] for a in audits(ctx, "calendar_import"))


def test_a_confirmed_year_still_takes_the_official_release(future, admin, monkeypatch):
    ctx = future
    admin.form(f"{URL}/confirm", {"year": "2027"})
    pin(monkeypatch, dt.date(2027, 1, 5), extra={2027: {dt.date(2027, 10, 7): ("holiday", "国庆节")}})
    seed.bootstrap(ctx)
    assert status(ctx, 2027) == "official"
    with ctx.db.session() as s:
        assert [d.day for d in svc.year_days(s, CAL, 2027) if d.source != "admin"] == [dt.date(2027, 10, 7)]


# --- notices for administrators ------------------------------------------------------------------

def test_notice_from_october_on_the_calendar_screens_and_the_home_page(future, admin, app, client_for,
                                                                      monkeypatch):
    # Before the fix nobody was told; now: from October, a coming year that is not settled.
    # Here 2027 is provisional (computed) and 2028 missing.
    pin(monkeypatch, dt.date(2027, 9, 30))
    warn_2027 = f'data-testid="calendar-warning-{CAL}-2027"'
    warn_2028 = f'data-testid="calendar-warning-{CAL}-2028"'
    assert warn_2027 in admin.get("/").text  # the current year itself is provisional
    assert warn_2028 not in admin.get("/").text and warn_2028 not in admin.get("/admin/calendars").text
    pin(monkeypatch, dt.date(2027, 10, 1))
    home = admin.get("/").text
    assert warn_2028 in home and "工作日历「未来日历」没有 2028 年的节假日安排" in home
    assert f'href="{URL}?year=2028"' in home
    assert warn_2028 in admin.get("/admin/calendars").text
    assert warn_2028 in admin.get(URL).text
    # Not for someone who cannot edit calendars.
    add_user(app, "viewer", ["core.calendar.view"])
    assert "calendar-warning-" not in client_for("viewer", ADMIN_PASSWORD).get("/").text
    # Computing and confirming both years clears the notices.
    admin.form(f"{URL}/compute", {"year": "2028"})
    text = admin.get("/").text
    assert warn_2028 in text and "2028 年的节假日为暂定" in text
    admin.form(f"{URL}/confirm", {"year": "2028"})
    admin.form(f"{URL}/confirm", {"year": "2027"})
    assert f"calendar-warning-{CAL}-" not in admin.get("/").text


# --- the task deadline display --------------------------------------------------------------------

def test_task_deadline_in_a_provisional_year_is_marked(future, client_for, monkeypatch):
    ctx = future
    person(ctx, "head")
    publish(ctx, flow("future_flow", [
        {"id": "start", "type": "start"},
        task("review", "head", time_limit={"amount": 3, "unit": "work_days"}),
        {"id": "end", "type": "end"},
    ], [{"from": "start", "to": "review"}, {"from": "review", "to": "end", "action": "agree"}], calendar=CAL))
    ids = {}
    for label, when in (("2027", sh(2027, 9, 30, 9, 0)), ("2026", sh(2026, 3, 2, 9, 0))):
        monkeypatch.setattr(clock, "now", lambda when=when: when.astimezone(dt.UTC))
        with ctx.db.session() as s:
            iid = engine.start(s, ctx, FLOW_ADMIN, "future_flow", title=f"期限 {label}").id
        [t] = open_tasks(ctx, iid)
        ids[label] = t
    assert ids["2027"].due_at.astimezone(SH) == sh(2027, 10, 8, 9, 0)  # Thu 30 Sep + 3: past the holidays
    head = client_for("head", "x-Secret-123456")
    page = head.get(f"/tasks/{ids['2027'].id}").text
    assert re.search(r'截止 2027-10-08 09:00</small> <span class="badge provisional" data-testid="provisional"',
                     page), page
    assert 'data-testid="provisional"' not in head.get(f"/tasks/{ids['2026'].id}").text
    inbox = head.get("/tasks?group=todo").text
    row_2027 = inbox.split(f'data-testid="task-row-{ids["2027"].id}"')[1].split("</tr>")[0]
    row_2026 = inbox.split(f'data-testid="task-row-{ids["2026"].id}"')[1].split("</tr>")[0]
    assert 'data-testid="provisional"' in row_2027 and 'data-testid="provisional"' not in row_2026
    with ctx.db.session() as s:  # confirmed: the mark goes
        svc.confirm_year(s, ADMIN, CAL, 2027)
    assert 'data-testid="provisional"' not in head.get(f"/tasks/{ids['2027'].id}").text
