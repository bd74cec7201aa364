"""Browser test (Chromium, SQLite; issue 11 items 10 and 12): a supervisor's and a shift
leader's 工作台 at 1366 and 390 px, and the case list on a phone as labelled cards."""

from __future__ import annotations

import datetime as dt

from browserkit import logged_in, shot
from browserkit import sqlite_only as backend  # noqa: F401  (fixture)
from sqlalchemy import select, update
from test_command_base import COMMUNITY
from test_command_cases import INSIDE, PW, act, app, ok, report, world  # noqa: F401  (fixtures)

from ccms.api import utcnow
from ccms.flows.models import FlowTask
from ccms.plugins.command.models import Case

WIDTHS = {1366: {"width": 1366, "height": 900}, 390: {"width": 390, "height": 844}}


def _seed(ctx, w) -> None:
    """Three hotline reports waiting for 核实 by ``sup`` (who reported in that grid before):
    one overdue, one in its warning band; two cases filed, one dispatched."""
    first = ok(report(w["sup"], address="平江路 1 号"), 201)
    hot = [ok(report(w["intake"], at=INSIDE, class_code=cls, source="hotline", photos=False,
                     address=f"干将东路 {n} 号"), 201)["id"] for n, cls in enumerate(("E0102", "E0104", "E0201"))]
    ok(act(w["leader"], first["id"], "file"))
    ok(act(w["disp"], first["id"], "dispatch", dept_ids=[w["ids"]["srhw"]]))
    now = utcnow()
    with ctx.db.session() as s:
        inst = dict(s.execute(select(Case.id, Case.instance_id).where(Case.id.in_(hot))).all())
        for cid, (warn, due) in zip(hot, ((-3, -1), (-1, 2), (4, 8))):
            s.execute(update(FlowTask).where(FlowTask.instance_id == inst[cid], FlowTask.status == "open").values(
                warn_at=now + dt.timedelta(hours=warn), due_at=now + dt.timedelta(hours=due)))


def test_workbenches_and_the_case_list_on_a_phone(ctx, world, browser, live_server):  # noqa: F811
    w = world
    _seed(ctx, w)
    for who, figures in (("sup", False), ("leader", True)):
        for width, viewport in WIDTHS.items():
            context, page, errors = logged_in(browser, live_server.url, who, PW, viewport)
            try:
                page.goto(live_server.url + "/")
                counts = page.locator("[data-testid=panel-core\\.my_counts]")
                assert counts.is_visible()
                todo = counts.locator("[data-testid=wb-count-todo] .wb-num").inner_text()
                assert todo == ("3" if who == "sup" else "0"), (who, todo)
                if who == "sup":
                    assert counts.locator("[data-testid=wb-count-overdue] .wb-num").inner_text() == "1"
                    assert page.locator(".wb-task").count() == 3
                    assert "超期" in page.locator(".wb-task").first.inner_text()  # colour with words
                assert page.locator("[data-testid=panel-command\\.figures]").count() == (1 if figures else 0)
                if figures:
                    fig = page.locator("[data-testid=panel-command\\.figures]")
                    assert fig.locator("[data-testid=wb-count-reported] .wb-num").inner_text() == "4"
                    assert fig.locator("[data-testid=wb-count-dispatched] .wb-num").inner_text() == "1"
                # nothing wider than the screen
                box = page.locator("[data-testid=workbench]").bounding_box()
                assert box["x"] + box["width"] <= width + 1, (who, width, box)
                shot(page, f"workbench-{who}-{width}")
                if who == "sup" and width == 390:  # 我的待办 on a phone: labelled cards too
                    page.click("[data-testid=wb-count-todo]")
                    page.wait_for_selector("[data-testid=task-table]")
                    cell = page.locator("[data-testid=task-table] tbody tr").first.locator("td[data-label]").nth(1)
                    assert cell.evaluate("el => getComputedStyle(el, '::before').content") == '"环节："'
                    shot(page, "inbox-phone-390")
                if who == "leader" and width == 1366:  # the same markup stays a table on a desktop
                    page.goto(live_server.url + "/command/cases")
                    assert page.locator("[data-testid=case-table] thead").is_visible()
                    shot(page, "case-list-1366")
                assert errors == [], errors
            finally:
                context.close()
    # the case list on a phone: a card per case, class name first, every value labelled
    context, page, errors = logged_in(browser, live_server.url, "leader", PW, WIDTHS[390])
    try:
        page.goto(live_server.url + "/command/cases")
        assert not page.locator("[data-testid=case-table] thead").is_visible()
        row = page.locator("[data-testid^=case-row-]").first
        cls, addr, status, due = (row.locator(f"td.{c}").bounding_box() for c in ("c-class", "c-addr", "c-status",
                                                                                  "c-no"))
        assert cls["y"] < addr["y"] < status["y"] < due["y"]  # what matters first, then the rest
        assert row.bounding_box()["width"] <= 390
        label = row.locator("td.c-addr").evaluate("el => getComputedStyle(el, '::before').content")
        assert label == '"地址："', label
        grid = row.locator("td.c-grid")
        assert grid.inner_text() == "第1网格"  # the grid's name; its code only as the tooltip
        assert grid.locator("span").get_attribute("title") == f"{COMMUNITY}01"
        assert grid.evaluate("el => getComputedStyle(el, '::before').content") == '"单元网格："'
        shot(page, "case-list-phone-390")
        assert errors == [], errors
    finally:
        context.close()
