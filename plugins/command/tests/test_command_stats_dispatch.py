"""Issue 11, correctness 3: 多次派遣 counts cases dispatched more than once (a 派遣 done again
after 回退), not departments; 协同 (one dispatch to several departments at once) is a figure of
its own — on the statistics screen, in the XLSX export, the JSON API and the drill-down, with
its Chinese label; the dispatcher's 派遣准确率 no longer counts a 协同 dispatch as a wrong one.
Through the HTTP API of each role, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import openpyxl
from test_command_cases import act, app, ok, report, to_dispose, world  # noqa: F401 (fixtures)

TZ = ZoneInfo("Asia/Shanghai")


def _period() -> dict[str, str]:
    today = dt.datetime.now(TZ).date()
    return {"period": "custom", "start": f"{today - dt.timedelta(days=1)}", "end": f"{today + dt.timedelta(days=1)}"}


def _cases(w: dict[str, Any]) -> dict[str, int]:
    """joint: one 协同 dispatch to two departments; again: sent back and dispatched a second
    time; once: one department, once."""
    joint = ok(report(w["sup"], class_code="E0104"), 201)["id"]
    ok(act(w["leader"], joint, "file"))
    c = ok(act(w["disp"], joint, "dispatch", dept_ids=[w["ids"]["srhw"], w["ids"]["szgy"]]))
    assert (c["dispatch_count"], c["cooperative"]) == (1, True)
    again = to_dispose(w, class_code="E0201")["id"]
    ok(w["h1"].api("POST", f"/api/command/cases/{again}/claim", json={}))
    ok(w["h1"].api("POST", f"/api/command/cases/{again}/ops/return", json={"reason": "不属于本部门职责"}))
    ok(w["disp"].api("POST", f"/api/command/cases/{again}/decide", json={"approve": True}))
    c = ok(act(w["disp"], again, "dispatch", dept_ids=[w["ids"]["szgy"]]))
    assert (c["dispatch_count"], c["cooperative"]) == (2, False)
    once = to_dispose(w)["id"]
    return {"joint": joint, "again": again, "once": once}


def test_redispatch_and_joint_dispatch_are_two_figures(world):
    w = world
    ids = _cases(w)
    leader, q = w["leader"], _period()
    # JSON API
    api = ok(leader.api("GET", "/api/command/stats?" + urlencode({"dim": "district", **q})))
    counts, rates = api["total"]["counts"], api["total"]["rates"]
    assert (counts["filed"], counts["redispatched"], counts["cooperative"]) == (3, 1, 1)
    assert (rates["redispatch_rate"], rates["cooperative_rate"]) == (33.33, 33.33)
    # the screen: both columns, Chinese headers, linked numbers
    html = leader.get("/command/stats?" + urlencode({"dim": "district", **q})).text
    assert "<th scope=\"col\" class=\"num\">多次派遣数</th>" in html and "<th scope=\"col\" class=\"num\">协同派遣数</th>" in html
    assert 'data-testid="stats-total-redispatched">1<' in html and 'data-testid="stats-total-cooperative">1<' in html
    # the drill-down behind each number lists exactly its case
    for measure, case in (("redispatched", ids["again"]), ("cooperative", ids["joint"])):
        link = re.search(rf'href="(/command/stats/cases\?[^"]*measure={measure}[^"]*)" data-testid="stats-total-',
                         html).group(1).replace("&amp;", "&")
        drill = leader.get(link).text
        assert 'data-testid="stats-drill-total">共 1 件<' in drill, measure
        assert re.findall(r'data-testid="stats-case-(\d+)"', drill) == [str(case)], measure
    # XLSX: the same figures under the Chinese headers
    x = leader.get("/command/stats/export.xlsx?" + urlencode({"dim": "district", **q}))
    sheet = list(openpyxl.load_workbook(io.BytesIO(x.content)).active.iter_rows(values_only=True))
    col = {h: i for i, h in enumerate(sheet[0])}
    total = sheet[-1]
    assert (total[col["多次派遣数"]], total[col["协同派遣数"]]) == (1, 1)
    assert (total[col["多次派遣率 %"]], total[col["协同派遣率 %"]]) == (33.33, 33.33)


def test_labels_come_from_the_i18n_layer_in_both_languages(ctx):
    cat = ctx.catalog
    assert [cat.gettext(f"stats.m.{m}") for m in ("redispatched", "cooperative")] == ["多次派遣数", "协同派遣数"]
    assert [cat.gettext(f"stats.m.{m}", "en") for m in ("redispatched", "cooperative")] == [
        "Re-dispatched", "Joint dispatches"]


def test_a_joint_dispatch_is_an_accurate_dispatch(world):
    """派遣准确率 = dispatches without rework and not dispatched again ÷ dispatches: the 协同
    case is accurate, the one sent back and dispatched again is not."""
    w = world
    _cases(w)
    data = ok(w["leader"].api("GET", "/api/command/evaluation?" + urlencode({"type": "dispatcher", **_period()})))
    (row,) = data["rows"]
    assert row["key"] == str(w["disp_actor"].id)
    assert row["indicators"]["dispatch_accurate_rate"]["value"] == 66.67
