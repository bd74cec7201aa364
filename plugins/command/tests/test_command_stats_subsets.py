"""Issue 11, correctness 2: every rate's numerator is a subset of its denominator.

* 结案 ⊆ 应结案: a self-disposed case (自行处置, approved by the shift leader, never filed) is
  closed but was never due; it counts as 自行处置 (``self_disposed``), not as 结案, so 结案率
  stays within 100 % (the reading is documented under 指标口径 in the plugin's README);
* a property test: random histories of the case loop, driven through the plugin's own services
  (report, the steps of every role, 延期 / 回退 / 挂账 / 作废 / 督办 and their approvals, 恢复)
  on a moving flow clock; after each history, for several periods, every case counted in a
  rate's numerator is counted in its denominator, and every rate of every row is 0–100 %.

On SQLite and PostgreSQL; a handful of short histories (seconds, not minutes).
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flow_engine_kit import person
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import and_, func, not_, select
from test_command_base import city
from test_command_cases import INSIDE, INSIDE_B, app  # noqa: F401 (fixture)

from ccms.api import Actor, flow_available_actions, flow_tasks
from ccms.flows import models as m
from ccms.errors import CcmsError
from ccms.flows import clock
from ccms.flows import operations as flow_ops
from ccms.plugins.command import cases, standards, stats
from ccms.plugins.command.models import Case

TZ = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # Monday 09:00 local
WEIGHTS = {"not_file": 1, "unfounded": 1, "refuse_self": 1, "fail": 3, "op": 1, "decide": 2}
STEPS = (dt.timedelta(minutes=10), dt.timedelta(hours=3), dt.timedelta(days=1), dt.timedelta(days=4))


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), "green").save(buf, "PNG")
    return buf.getvalue()


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at


@pytest.fixture
def loop(ctx: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The test city, a filing standard, one person per role, a clock the engine and the
    case service read."""
    ids = city(ctx)
    with ctx.db.session() as s:
        standards.save_standard(s, Actor(None, "t"), {
            "kind": "event", "class_code": "0102", "time_limit": 4, "time_unit": "work_hours",
            "filing_condition": "暴露垃圾", "closing_condition": "清除干净", "dept_org_id": ids["srhw"]})
    root = ids["root"]
    roles = {"sup": ("command_supervisor", root), "intake": ("command_intake", root),
             "leader": ("command_shift_leader", root), "disp": ("command_dispatcher", root),
             "h1": ("command_handler", ids["srhw"]), "h2": ("command_handler", ids["szgy"])}
    people = {n: person(ctx, f"p_{n}", org_id=org, roles=[role], role_org=org) for n, (role, org) in roles.items()}
    clk = Clock(T0)
    monkeypatch.setattr(clock, "now", lambda: clk.at)
    monkeypatch.setattr(cases, "utcnow", lambda: clk.at)
    return {"ids": ids, "people": people, "clock": clk, "depts": [ids["srhw"], ids["szgy"]]}


def _photo(ctx: Any, s: Any, actor: Actor) -> str:
    return cases.save_photo(ctx, s, actor, "p.png", png()).id


def _report(ctx: Any, loop: dict[str, Any], data: Any) -> None:
    p = loop["people"]
    source = data.draw(st.sampled_from(("supervisor", "supervisor", "hotline", "public")), label="source")
    self_dispose = source == "supervisor" and data.draw(st.booleans(), label="self_dispose")
    at = data.draw(st.sampled_from((INSIDE, INSIDE_B)), label="where")
    who = p["sup"] if source == "supervisor" else p["intake"]
    with ctx.db.session() as s:
        before = [_photo(ctx, s, who)] if source == "supervisor" else []
        after = [_photo(ctx, s, who)] if self_dispose else []
        cases.report(ctx, s, who, cases.ReportIn(
            class_code=data.draw(st.sampled_from(("E0102", "E0104")), label="class"), lon=at[0], lat=at[1],
            source=source, photos=before, photos_after=after, self_dispose=self_dispose, description="随机"),
            supervisor_id=p["sup"].id)


def _options(ctx: Any, loop: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Every step some person may take now on this history's cases: (case id, kind, what, actor, task id)."""
    people = list(loop["people"].values())
    out: list[tuple[Any, ...]] = []
    with ctx.db.session() as s:
        mine = select(Case).where(Case.id > loop["first_id"], Case.status.not_in(stats.OPEN_END)).order_by(Case.id)
        for c in s.scalars(mine):
            inst = s.get(m.FlowInstance, c.instance_id)
            if inst.status == "suspended":
                out += [(c.id, "resume", None, a, None) for a in people if flow_ops.may_resume(s, inst, a.id)]
                continue
            for t in flow_tasks(s, c.instance_id, live=True):
                for a in people:
                    av = flow_available_actions(s, ctx, t, a.id)
                    if t.kind == "approval":
                        out += [(c.id, "decide", x["action"], a, t.id) for x in av["actions"]]
                        continue
                    out += [(c.id, "act", x["action"], a, t.id) for x in av["actions"] if x["action"] != "merge"]
                    # 督办 (urge) changes no figure and needs the shift leader's role: left out
                    out += [(c.id, "op", o, a, t.id) for o in av["operations"] if o in cases.OPS and o != "urge"]
                    if av["claim"]:
                        out.append((c.id, "claim", None, a, t.id))
    return out


def _step(ctx: Any, loop: dict[str, Any], data: Any) -> None:
    # weighted so that histories often get through to 结案, with some 返工, 回退, 延期, 挂账, 作废 on the way
    options = [o for o in _options(ctx, loop) for _ in range(WEIGHTS.get(o[2] if o[1] == "act" else o[1], 4))]
    if not options or data.draw(st.integers(0, 11), label="new report?") == 0:
        _report(ctx, loop, data)
        return
    cid, kind, what, actor, tid = data.draw(st.sampled_from(options), label="step")
    try:
        with ctx.db.session() as s:
            if kind == "act":
                kw: dict[str, Any] = {}
                if what == "dispatch":
                    kw["dept_ids"] = data.draw(st.sampled_from(
                        [loop["depts"][:1], loop["depts"][1:], loop["depts"]]), label="departments")
                elif what == "done":
                    kw["photos"] = [_photo(ctx, s, actor)]
                cases.act(ctx, s, actor, cid, what, comment="随机意见", task_id=tid, **kw)
            elif kind == "decide":
                cases.decide(ctx, s, actor, cid, what == "approve", comment="随机审批", task_id=tid)
            elif kind == "op":
                cases.operation(ctx, s, actor, cid, what, reason="随机原因", task_id=tid, amount=4)
            elif kind == "claim":
                cases.claim(ctx, s, actor, cid, tid)
            else:
                cases.resume(ctx, s, actor, cid, "继续")
    except CcmsError as exc:
        # an offered operation may still be refused for a stated reason (one request at a time, 3 extensions)
        assert kind == "op" and exc.status in (409, 422), f"{kind} {what} refused: {exc}"


def _periods(start: dt.datetime, end: dt.datetime) -> list[stats.Period]:
    first, last = start.astimezone(TZ).date(), end.astimezone(TZ).date()
    out = [stats.make_period("custom", first, last, TZ), stats.make_period("custom", last, last, TZ)]
    month = dt.date(first.year, first.month, 1)
    while month <= last:
        out.append(stats.parse_period({"period": "month", "month": f"{month:%Y-%m}"}, TZ))
        month = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return out


def check_subsets(ctx: Any, now: dt.datetime, periods: list[stats.Period]) -> None:
    t = stats.case_table()
    with ctx.db.session() as s:
        for period in periods:
            b = stats.bounds(period, now)
            for rate, (num, den) in stats.RATES.items():
                outside = list(s.scalars(select(t.c.id).where(and_(stats.MEASURES[num](t, b),
                                                                  not_(stats.MEASURES[den](t, b))))))
                assert outside == [], f"{period.label} {rate}: cases {outside} in {num} but not in {den}"
            for dim in ("district", "dept", "source"):
                tab = stats.compute(s, stats.get_dimension(dim), period, now=now)
                for row in [*tab.rows, tab.total]:
                    for rate, value in row.rates.items():
                        assert value is None or 0 <= value <= 100, (period.label, dim, row.key, rate, value)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(data=st.data())
def test_every_rate_counts_a_subset_of_its_denominator(ctx, loop, data):
    clk = loop["clock"]
    start = clk.at = T0  # every history starts at the same instant (a replay meets the same deadlines)
    with ctx.db.session() as s:
        loop["first_id"] = s.scalar(select(func.max(Case.id))) or 0
    _report(ctx, loop, data)
    for _ in range(data.draw(st.integers(8, 30), label="steps")):
        clk.at += data.draw(st.sampled_from(STEPS), label="wait")
        _step(ctx, loop, data)
    check_subsets(ctx, clk.at, _periods(start, clk.at))
    # a past period's figures too (snapshot at its end, before what came later)
    check_subsets(ctx, clk.at + dt.timedelta(days=40), _periods(start, clk.at))


def test_a_self_disposed_case_is_closed_on_the_spot_not_counted_as_due_or_closed(ctx, loop):
    """The defect as found: 1 case filed and due, plus 1 self-disposed case closed on the spot —
    结案 counted 2 of 1 due (200 %). Now: 结案 1 of 应结案 1 (100 %), 自行处置 1."""
    p, clk = loop["people"], loop["clock"]
    with ctx.db.session() as s:
        fixed = cases.report(ctx, s, p["sup"], cases.ReportIn(
            class_code="E0104", lon=INSIDE[0], lat=INSIDE[1], photos=[_photo(ctx, s, p["sup"])],
            photos_after=[_photo(ctx, s, p["sup"])], self_dispose=True), supervisor_id=p["sup"].id).id
        normal = cases.report(ctx, s, p["sup"], cases.ReportIn(
            class_code="E0102", lon=INSIDE_B[0], lat=INSIDE_B[1], photos=[_photo(ctx, s, p["sup"])]),
            supervisor_id=p["sup"].id).id
    clk.at += dt.timedelta(minutes=20)
    with ctx.db.session() as s:
        cases.act(ctx, s, p["leader"], fixed, "approve_self", comment="同意")
        cases.act(ctx, s, p["leader"], normal, "file")
        cases.act(ctx, s, p["disp"], normal, "dispatch", dept_ids=[loop["depts"][0]])
        cases.claim(ctx, s, p["h1"], normal)
        cases.act(ctx, s, p["h1"], normal, "done", photos=[_photo(ctx, s, p["h1"])])
        cases.act(ctx, s, p["sup"], normal, "pass")
        cases.act(ctx, s, p["leader"], normal, "close")
    period = stats.parse_period({"period": "month", "month": "2026-03"}, TZ)
    with ctx.db.session() as s:
        tab = stats.compute(s, stats.get_dimension("district"), period, now=clk.at + dt.timedelta(hours=1))
        closed_ids, _ = stats.drill(s, None, None, "closed", period, now=clk.at)
        self_ids, _ = stats.drill(s, None, None, "self_disposed", period, now=clk.at)
    counts, rates = tab.total.counts, tab.total.rates
    assert (counts["reported"], counts["filed"], counts["due"], counts["closed"]) == (2, 1, 1, 1)
    assert (counts["self_disposed"], counts["disposed"]) == (1, 1)
    assert rates["close_rate"] == 100.0 and rates["dispose_rate"] == 100.0
    assert [r["id"] for r in closed_ids] == [normal] and [r["id"] for r in self_ids] == [fixed]
