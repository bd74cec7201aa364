"""Issue 11, correctness 1: a case sent back for rework (核查 fails → 返工) is judged on its
current disposal round. While the rework is open the case is not disposed: the statistics count
it not disposed and (once the rework deadline has passed) overdue, the case page shows the
overdue colour, the case map counts it overdue. 按期处置 is judged on the disposal that was
accepted (GB/T 30428.4). Through the HTTP API of each role, on SQLite and PostgreSQL.

The loop runs on a moved flow clock (``ccms.flows.clock.now`` and the case service's clock), a
few weeks in the past, so that a rework deadline a few working hours long has really passed
when the page, the map and the statistics look at it with the real clock.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from test_command_cases import act, app, detail, ok, photo_id, to_dispose, world  # noqa: F401 (fixtures)

from ccms.flows import clock
from ccms.plugins.command import cases, stats
from ccms.plugins.command.models import Case

PAST = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=40)


class Clock:
    """The instant the flow engine and the case service read; ``move`` sets it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, at: dt.datetime) -> None:
        self.at = at
        monkeypatch.setattr(clock, "now", lambda: self.at)
        monkeypatch.setattr(cases, "utcnow", lambda: self.at)

    def move(self, **delta: float) -> None:
        self.at += dt.timedelta(**delta)


def figures(ctx: Any, since: dt.datetime, now: dt.datetime | None = None) -> dict[str, int]:
    """The statistics' totals over the days from ``since`` to today (whole city)."""
    from zoneinfo import ZoneInfo
    tz = ZoneInfo("Asia/Shanghai")
    period = stats.make_period("custom", since.astimezone(tz).date() - dt.timedelta(days=1),
                               dt.datetime.now(tz).date(), tz)
    with ctx.db.session() as s:
        return stats.compute(s, stats.get_dimension("district"), period, now=now).total.counts


def row(ctx: Any, cid: int) -> Case:
    with ctx.db.session() as s:
        c = s.get(Case, cid)
        s.expunge(c)
        return c


def page_level(client: Any, cid: int) -> str:
    html = client.get(f"/command/cases/{cid}").text
    return re.search(r'class="lvl lvl-(\w+)" data-testid="case-deadline"', html).group(1)


def map_overdue(client: Any) -> int:
    return ok(client.api("GET", "/api/command/map"))["total"]["overdue"]


def test_rework_reopens_the_disposal_until_the_accepted_round(ctx, world, monkeypatch):
    w = world
    clk = Clock(monkeypatch, PAST)
    c = to_dispose(w)
    cid = c["id"]
    ok(w["h1"].api("POST", f"/api/command/cases/{cid}/claim", json={}))
    clk.move(minutes=30)
    c = ok(act(w["h1"], cid, "done", photos=[photo_id(w["h1"])], comment="已清理"))
    assert c["disposed_on_time"] is True  # the first round was on time
    clk.move(minutes=30)
    c = ok(act(w["sup"], cid, "fail", comment="仍有残留"))  # 返工: the disposal no longer stands
    first_due = row(ctx, cid).due_at
    assert c["disposed_at"] is None and c["disposed_on_time"] is None
    assert first_due > PAST + dt.timedelta(hours=1)  # the rework's own deadline, from the failed check
    # weeks later (the real clock) the rework deadline has long passed
    assert first_due < dt.datetime.now(dt.UTC)
    got = figures(ctx, PAST)
    assert (got["disposed"], got["disposed_on_time"], got["overdue_open"]) == (0, 0, 1)
    assert got["due"] == 1 and got["due_overdue"] == 1
    assert page_level(w["leader"], cid) == "red"
    assert detail(w["leader"], cid)["deadline_level"] == "red"
    assert map_overdue(w["leader"]) == 1
    # the second disposal (late against the rework deadline) is accepted: it is the one counted
    monkeypatch.undo()
    c = ok(act(w["h1"], cid, "done", photos=[photo_id(w["h1"])], comment="已彻底清理"))
    assert c["disposed_at"] and c["disposed_on_time"] is False
    c = ok(act(w["sup"], cid, "pass"))
    got = figures(ctx, PAST)
    assert (got["disposed"], got["disposed_on_time"], got["overdue_open"]) == (1, 0, 0)
    assert page_level(w["leader"], cid) == "red"  # disposed, but after the rework deadline
    ok(act(w["leader"], cid, "close"))
    got = figures(ctx, PAST)
    assert (got["closed"], got["disposed"], got["disposed_on_time"], got["reworked"]) == (1, 1, 0, 1)
    assert map_overdue(w["leader"]) == 0  # closed: off the map


def test_on_time_is_judged_on_the_accepted_disposal(ctx, world, monkeypatch):
    """A late first round that fails the check, then a rework done within its own limit:
    按期处置 follows the accepted (second) disposal."""
    w = world
    clk = Clock(monkeypatch, PAST)
    c = to_dispose(w)
    cid = c["id"]
    ok(w["h1"].api("POST", f"/api/command/cases/{cid}/claim", json={}))
    clk.move(days=10)  # far past the 4 working hours
    c = ok(act(w["h1"], cid, "done", photos=[photo_id(w["h1"])]))
    assert c["disposed_on_time"] is False
    clk.move(minutes=20)
    ok(act(w["sup"], cid, "fail", comment="仍有残留"))
    clk.move(minutes=20)
    c = ok(act(w["h1"], cid, "done", photos=[photo_id(w["h1"])]))
    assert c["disposed_on_time"] is True and c["rework_count"] == 1
    clk.move(minutes=20)
    ok(act(w["sup"], cid, "pass"))
    ok(act(w["leader"], cid, "close"))
    got = figures(ctx, PAST, now=clk.at)
    assert (got["disposed"], got["disposed_on_time"], got["closed"], got["reworked"]) == (1, 1, 1, 1)


def test_a_case_sent_back_to_dispatch_after_a_failed_check_is_not_disposed(ctx, world, monkeypatch):
    """返工, then the department asks to send it back (回退) and the dispatcher agrees: the case
    waits for a new dispatch and the first round's disposal must not count."""
    w = world
    clk = Clock(monkeypatch, PAST)
    c = to_dispose(w)
    cid = c["id"]
    ok(w["h1"].api("POST", f"/api/command/cases/{cid}/claim", json={}))
    c = ok(act(w["h1"], cid, "done", photos=[photo_id(w["h1"])]))
    clk.move(minutes=10)
    ok(act(w["sup"], cid, "fail", comment="仍有残留"))
    clk.move(minutes=10)
    ok(w["h1"].api("POST", f"/api/command/cases/{cid}/ops/return", json={"reason": "不属于本部门职责"}))
    c = ok(w["disp"].api("POST", f"/api/command/cases/{cid}/decide", json={"approve": True}))
    assert c["status"] == "filed" and c["disposed_at"] is None and c["disposed_on_time"] is None
    assert figures(ctx, PAST, now=clk.at)["disposed"] == 0
