"""工作台 and lists on phones (issue 11, items 10 and 12).

* Every person's home shows their task counts (待办, 即将超期, 超期, 今日新增), their next
  tasks and notices; each count equals the total of the list it links to.
* Leaders (``command.figures.view``: 值班长, 分管领导) see today's key figures, counted
  in their statistics scope: a leader of 姑苏区 counts 姑苏区's cases, one of 吴中区 none
  of them; each figure equals the total of its drill-down list.
* The case workbench (待立案, 待派遣, 待结案, 疑似重复) for those who see all cases.
* The case list, dispatch board, case page and statistics rows name grids (grid name, or
  community + number), the 14-digit code only as the tooltip; list cells carry labels
  for the phone cards.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from flow_engine_kit import person
from sqlalchemy import select, update
from test_command_base import COMMUNITY
from test_command_cases import PW, act, ok, report, world  # noqa: F401 (fixture)
from test_command_visibility import districts  # noqa: F401 (fixture)

from ccms.api import utcnow
from ccms.flows.models import FlowTask
from ccms.plugins.command import gridnames
from ccms.plugins.command.models import Case, Grid


@pytest.fixture
def app(make_app, tmp_path):
    return make_app(attachments_dir=str(tmp_path / "att"))


def _value(html: str, key: str) -> str:
    m = re.search(rf'data-testid="wb-count-{key}" data-value="([^"]*)"', html)
    assert m, f"no count {key}"
    return m.group(1)


def _count(html: str, key: str) -> int:
    return int(_value(html, key))


def _href(html: str, key: str) -> str:
    m = re.search(rf'href="([^"]*)" data-testid="wb-count-{key}"', html)
    assert m, f"no link for {key}"
    return m.group(1).replace("&amp;", "&")


def _inbox_total(client: Any, url: str) -> int:
    text = client.get(url).text
    m = re.search(r'data-testid="task-total">[^<\d]*(\d+)', text)
    assert m, url
    return int(m.group(1))


def _drill_total(client: Any, url: str) -> int:
    text = client.get(url).text
    m = re.search(r'data-testid="stats-drill-total">[^<\d]*(\d+)', text)
    assert m, url
    return int(m.group(1))


def test_my_counts_match_the_lists_they_link_to(ctx, world):  # noqa: F811
    """The shift leader's 立案 tasks: 3 waiting, one in its warning band, one overdue, one
    that arrived yesterday; each count is the total of the inbox list behind it."""
    w = world
    ids = [ok(report(w["sup"], address=f"平江路 {n} 号"), 201)["id"] for n in range(3)]
    now = utcnow()
    with ctx.db.session() as s:
        inst = dict(s.execute(select(Case.id, Case.instance_id).where(Case.id.in_(ids))).all())
        t = {cid: s.scalar(select(FlowTask.id).where(FlowTask.instance_id == inst[cid], FlowTask.status == "open"))
             for cid in ids}
        s.execute(update(FlowTask).where(FlowTask.id == t[ids[0]]).values(
            warn_at=now - dt.timedelta(hours=1), due_at=now + dt.timedelta(hours=1)))
        s.execute(update(FlowTask).where(FlowTask.id == t[ids[1]]).values(
            warn_at=now - dt.timedelta(hours=3), due_at=now - dt.timedelta(hours=1)))
        s.execute(update(FlowTask).where(FlowTask.id == t[ids[2]]).values(
            created_at=now - dt.timedelta(days=2), warn_at=now + dt.timedelta(hours=5),
            due_at=now + dt.timedelta(hours=8)))
    home = w["leader"].get("/").text
    assert "请从左侧菜单选择功能" not in home
    expected = {"todo": 3, "warning": 1, "overdue": 1, "new": 2}
    for key, n in expected.items():
        assert _count(home, key) == n, key
        assert _inbox_total(w["leader"], _href(home, key)) == n, key
    assert 'data-testid="inbox-since"' in w["leader"].get(_href(home, "new")).text  # the list says it is filtered
    # the next tasks, soonest deadline first, each linking to its task page
    tasks = re.findall(r'data-testid="wb-task-(\d+)"', home)
    assert [int(x) for x in tasks] == [t[ids[1]], t[ids[0]], t[ids[2]]]
    # each opens where the inbox opens it (the task page, or the plugin's own page for its tasks)
    inbox_page = w["leader"].get("/tasks?group=todo").text
    for tid in t.values():
        href = re.search(rf'href="([^"]+)" data-testid="task-link-{tid}"', inbox_page).group(1)
        assert re.search(rf'data-testid="wb-task-{tid}">\s*<a href="{re.escape(href)}"', home), tid
    assert "1 件待办已超期" in home  # the notice
    # someone with nothing to do: zeros, and the empty states
    other = w["sup2"].get("/").text
    assert _count(other, "todo") == 0 and 'data-testid="wb-no-tasks"' in other
    assert 'data-testid="wb-no-notices"' in other
    # the filter behind 今日新增 refuses a date without its offset (JSON error, not a 500)
    r = w["leader"].api("GET", "/api/tasks?created_from=2026-01-01T00:00:00")
    assert r.status_code in (404, 422), r.text


def _file_and_dispatch(w: dict[str, Any], n: int) -> list[int]:
    out = []
    for i in range(n):
        c = ok(report(w["sup"], address=f"平江路 {10 + i} 号"), 201)
        out.append(c["id"])
    ok(act(w["leader"], out[0], "file"))
    ok(act(w["leader"], out[1], "file"))
    ok(act(w["disp"], out[1], "dispatch", dept_ids=[w["ids"]["srhw"]]))
    return out


def test_leaders_see_todays_figures_of_their_scope(ctx, districts, client_for):  # noqa: F811
    w = districts
    gs, wz = w["ids"]["district"], None
    with ctx.db.session() as s:
        from ccms.models import Org
        wz = s.scalar(select(Org.id).where(Org.name == "吴中区"))
    person(ctx, "gs_lead", org_id=gs, roles=["command_leader"], role_org=gs)
    person(ctx, "wz_lead", org_id=wz, roles=["command_leader"], role_org=wz)
    gs_lead, wz_lead = client_for("gs_lead", PW), client_for("wz_lead", PW)
    ids = _file_and_dispatch(w, 3)
    # the filed, undispatched case is overdue (its deadline passed)
    with ctx.db.session() as s:
        s.execute(update(Case).where(Case.id == ids[0]).values(due_at=utcnow() - dt.timedelta(hours=1)))
    expected = {"reported": 3, "filed": 2, "dispatched": 1, "closed": 0, "overdue_open": 1}
    for client in (gs_lead, w["leader"]):  # the district's leader and the city's 值班长
        home = client.get("/").text
        assert 'data-testid="panel-command.figures"' in home
        for key, n in expected.items():
            assert _count(home, key) == n, key
            assert _drill_total(client, _href(home, key)) == n, key
        # 按期处置率: the statistics' own figure for today in the same scope ("" when nothing is due)
        day = re.search(r"start=(\d{4}-\d{2}-\d{2})", _href(home, "reported")).group(1)
        api = ok(client.api("GET", f"/api/command/stats?period=custom&start={day}&end={day}"))
        rate = api["total"]["rates"]["ontime_dispose_rate"]
        assert _value(home, "ontime_dispose_rate") == ("" if rate is None else str(float(rate)))
        assert api["total"]["counts"]["reported"] == 3
    assert "姑苏区" in gs_lead.get("/").text  # the caption names the scope
    # 吴中区's leader: none of 姑苏区's cases
    home = wz_lead.get("/").text
    for key in expected:
        assert _count(home, key) == 0, key
        assert _drill_total(wz_lead, _href(home, key)) == 0, key
    # not leaders: no figures
    for who in ("sup", "disp", "h1"):
        assert 'data-testid="panel-command.figures"' not in w[who].get("/").text, who


def test_case_workbench_counts_are_the_case_lists_totals(ctx, world):  # noqa: F811
    w = world
    _file_and_dispatch(w, 3)
    home = w["disp"].get("/").text
    # three reports at one spot: the 1st filed, the 2nd filed and dispatched, the 3rd waiting (and
    # flagged as a duplicate of the 1st; the 2nd was flagged too but is no longer waiting)
    expected = {"to_file": 1, "to_dispatch": 1, "to_close": 0, "duplicates": 1}
    for key, n in expected.items():
        assert _count(home, key) == n, key
        page = w["disp"].get(_href(home, key)).text
        assert re.search(rf'data-testid="case-total">共 {n} 件', page), key
    assert 'data-testid="panel-command.cases"' not in w["h1"].get("/").text


def test_grids_are_named_not_coded(ctx, world):  # noqa: F811
    w = world
    c = ok(report(w["sup"]), 201)
    code = c["grid_code"]
    assert code == f"{COMMUNITY}01"
    page = w["leader"].get("/command/cases").text
    cell = re.search(rf'data-testid="case-grid-{c["id"]}">(.*?)</td>', page).group(1)
    assert cell == f'<span title="{code}">第1网格</span>'
    # the phone card's labels
    for label in ("问题分类", "地址", "状态", "处置时限", "单元网格"):
        assert f'data-label="{label}"' in page, label
    # a grid without a name: its community and number
    with ctx.db.session() as s:
        s.execute(update(Grid).where(Grid.code == code).values(name=""))
    page = w["leader"].get("/command/cases").text
    assert f'<span title="{code}">平江新村社区 1号网格</span>' in page
    detail = w["leader"].get(f"/command/cases/{c['id']}").text
    assert "平江新村社区 1号网格" in detail
    ok(act(w["leader"], c["id"], "file"))
    board = w["disp"].get("/command/dispatch").text
    assert f'<span title="{code}">平江新村社区 1号网格</span>' in board
    drill = w["leader"].get("/command/stats/cases?measure=reported").text
    assert f'<span title="{code}">平江新村社区 1号网格</span>' in drill
    stats = w["leader"].api("GET", "/api/command/stats?dim=grid").json()
    assert [(r["key"], r["label"]) for r in stats["rows"]] == [(code, "平江新村社区 1号网格")]


def test_grid_label_fallbacks():
    assert gridnames.label_text("32050800100103", "平江第3网格", "平江新村社区", "320508001001") == "平江第3网格"
    assert gridnames.label_text("32050800100103", " ", "平江新村社区", "320508001001") == "平江新村社区 3号网格"
    assert gridnames.label_text("32050800100103", "", "", "320508001001") == "32050800100103"
    assert gridnames.label_text("32050800100103", "", "平江新村社区", "") == "32050800100103"
