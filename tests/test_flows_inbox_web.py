"""我的待办 over HTTP (both backends): the inbox, the task page with the
record's form, actions, special operations, bulk, starting a flow, the
instance page and the JSON API, and every refused input changing nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flow_engine_kit import ADMIN, flow, open_tasks, person, publish, task

from ccms.api import hookimpl
from ccms.app import App
from ccms.flows import engine
from ccms.flows.models import FlowHistory, FlowTask
from ccms.forms import records
from ccms.forms import store as form_store

PW = "x-Secret-123456"
FORM = {"id": "leave", "title": {"zh-CN": "请假"}, "schema": {
    "type": "object", "required": ["reason"],
    "properties": {"reason": {"type": "string", "title": "事由"}, "days": {"type": "integer", "title": "天数"},
                   "opinion": {"type": "string", "title": "意见", "maxLength": 20}}}}

FLOW = flow("leave_flow", [
    {"id": "start", "type": "start"},
    task("fill", "emp"),
    task("review", "head", editable=["opinion"], bulk=["agree"], time_limit={"amount": 2, "unit": "work_days"},
         operations={"return": {"to": ["fill"]}, "urge": {},
                     "extend": {"approval": {"rule": "person", "username": "boss"}}}),
    {"id": "end", "type": "end", "outcome": "approved"},
], [
    {"from": "start", "to": "fill"},
    {"from": "fill", "to": "review", "action": "submit", "label": {"zh-CN": "提交"}},
    {"from": "review", "to": "end", "action": "agree", "label": {"zh-CN": "同意"}},
    {"from": "review", "to": "fill", "action": "reject", "label": {"zh-CN": "退回修改"}, "comment_required": True},
], form="leave", title={"zh-CN": "请假流程"})

CLAIM_FLOW = flow("claim_flow", [
    {"id": "start", "type": "start"},
    {"id": "pick", "type": "task", "title": {"zh-CN": "认领办理"}, "claim": True,
     "assignee": {"rule": "role", "role": "handler", "scope": "initiator_org"}},
    {"id": "end", "type": "end"},
], [{"from": "start", "to": "pick"}, {"from": "pick", "to": "end", "action": "finish"}])


@pytest.fixture
def w(ctx: App, client_for: Any) -> dict[str, Any]:
    p = {n: person(ctx, n) for n in ("emp", "head", "boss", "clerk")}
    person(ctx, "h1", roles=["handler"])
    person(ctx, "h2", roles=["handler"])
    with ctx.db.session() as s:
        row = form_store.save_draft(s, ADMIN, FORM)
        form_store.publish(s, ADMIN, "leave", row.version)
    publish(ctx, FLOW)
    publish(ctx, CLAIM_FLOW)
    return {"p": p, "c": lambda name: client_for(name, PW)}


def _at_review(ctx: App, w: dict[str, Any], days: int = 5) -> tuple[int, FlowTask]:
    """An instance whose record waits at 部门审核 (review) for head."""
    with ctx.db.session() as s:
        rid = records.create(s, w["p"]["emp"], ctx, "leave", {"reason": "探亲", "days": days}, 1).id
        iid = engine.start(s, ctx, w["p"]["emp"], "leave_flow", record_id=rid, title=f"请假 {days} 天").id
    [t] = open_tasks(ctx, iid)
    with ctx.db.session() as s:
        engine.act(s, ctx, w["p"]["emp"], t.id, "submit")
    [t] = open_tasks(ctx, iid)
    return iid, t


def _task(ctx: App, tid: int) -> FlowTask:
    with ctx.db.session() as s:
        return s.get(FlowTask, tid)


def _history_len(ctx: App, iid: int) -> int:
    with ctx.db.session() as s:
        return s.query(FlowHistory).filter(FlowHistory.instance_id == iid).count()


def test_inbox_lists_tasks_with_counts_and_deadline_words(ctx: App, w: dict[str, Any]) -> None:
    iid, t = _at_review(ctx, w)
    head = w["c"]("head")
    r = head.get("/tasks")
    assert r.status_code == 200
    assert 'data-testid="count-todo">1<' in r.text
    assert f'data-testid="task-row-{t.id}"' in r.text and "请假 5 天" in r.text
    assert 'data-level="green"' in r.text and "正常" in r.text  # the colour comes with words
    assert 'data-testid="bulk-agree"' in r.text  # the node allows 同意 in bulk
    assert 'href="/static/flows.css"' in r.text
    # htmx: the list fragment alone (tabs refreshed out of band), filtered
    frag = head.get("/tasks?group=todo&q=不存在", headers={"HX-Request": "true", "HX-Target": "list"})
    assert "<html" not in frag.text and 'data-testid="task-empty"' in frag.text
    frag = head.get("/tasks?group=todo&flow_id=leave_flow&node_id=review&level=green",
                    headers={"HX-Request": "true", "HX-Target": "list"})
    assert f'task-row-{t.id}' in frag.text
    # a bad filter in the address is shown, never a 500
    r = head.get("/tasks?group=todo&level=purple")
    assert r.status_code == 200 and 'data-testid="inbox-error"' in r.text
    # 我发起的 for the applicant, 已办 after acting
    emp = w["c"]("emp")
    r = emp.get("/tasks?group=started")
    assert f'instance-row-{iid}' in r.text
    row = r.text.split(f'instance-row-{iid}', 1)[1].split("</tr>", 1)[0]
    assert ">请假流程</td>" in row and "leave_flow" not in row  # the flow's title, not its id
    assert 'task-link-' in emp.get("/tasks?group=done").text
    assert "我的待办" in r.text  # the menu entry


def test_task_page_shows_form_actions_timeline_and_diagram(ctx: App, w: dict[str, Any]) -> None:
    iid, t = _at_review(ctx, w)
    r = w["c"]("head").get(f"/tasks/{t.id}")
    assert r.status_code == 200
    assert 'name="opinion"' in r.text  # editable here
    assert 'name="reason"' not in r.text.split('data-testid="task-form"')[1].split("</form>")[0]  # read-only
    assert "探亲" in r.text
    assert 'data-testid="action-agree"' in r.text and 'data-testid="action-reject"' in r.text
    assert f'name="version" value="{t.version}"' in r.text
    assert 'data-testid="op-return"' in r.text and 'data-testid="op-extend"' in r.text
    assert 'data-testid="flow-diagram"' in r.text and "current" in r.text
    assert 'data-kind="start"' in r.text and 'data-kind="complete"' in r.text
    # the instance page too
    r = w["c"]("emp").get(f"/flows/instances/{iid}")
    assert r.status_code == 200 and 'data-testid="flow-diagram"' in r.text and f"itask-{t.id}" in r.text


class OwnScreen:
    """A plugin with its own page for 部门审核, where 同意 is done (``ccms_task_screen``)."""

    def __init__(self, url: str) -> None:
        self.url = url

    @hookimpl
    def ccms_task_screen(self, ctx, session, instance, task):
        from ccms.api import FlowInstanceInfo, TaskInfo
        assert type(task) is TaskInfo and type(instance) is FlowInstanceInfo  # data, never ORM rows
        return {"url": self.url, "actions": ["agree"]} if task.node_id == "review" else None


def test_a_plugin_page_for_the_task_is_linked_and_its_actions_leave_the_task_page(ctx: App,
                                                                                   w: dict[str, Any]) -> None:
    iid, t = _at_review(ctx, w)
    ctx.pm.register(OwnScreen(f"/leave/{iid}"))
    page = w["c"]("head").get(f"/tasks/{t.id}").text
    assert f'href="/leave/{iid}" data-testid="task-screen-link"' in page and "专门的办理页面" in page
    assert 'data-testid="action-agree"' not in page and 'data-testid="action-reject"' in page  # the rest stays
    assert 'data-testid="op-return"' in page


def test_a_foreign_address_from_a_plugin_is_not_linked(ctx: App, w: dict[str, Any]) -> None:
    _iid, t = _at_review(ctx, w)
    ctx.pm.register(OwnScreen("//evil.example/x"))
    page = w["c"]("head").get(f"/tasks/{t.id}").text
    assert 'data-testid="task-screen' not in page and 'data-testid="action-agree"' in page


def test_completing_edits_the_record_and_moves_on(ctx: App, w: dict[str, Any]) -> None:
    iid, t = _at_review(ctx, w)
    head = w["c"]("head")
    r = head.form(f"/tasks/{t.id}/act", {"action": "agree", "opinion": "同意休假", "comment": "好",
                                         "version": str(t.version)}, follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    done = _task(ctx, t.id)
    assert done.status == "done" and done.action == "agree"
    with ctx.db.session() as s:
        inst = engine.get_instance(s, iid)
        assert inst.status == "ended"
        assert records.get(s, "leave", inst.record_id).data["opinion"] == "同意休假"
    page = head.get(f"/tasks/{t.id}?done=completed")
    assert "已办理" in page.text and "好" in page.text


def test_not_the_assignee_gets_403_and_nothing_changes(ctx: App, w: dict[str, Any]) -> None:
    iid, t = _at_review(ctx, w)
    before = _history_len(ctx, iid)
    clerk = w["c"]("clerk")
    assert clerk.get(f"/tasks/{t.id}").status_code == 403
    assert clerk.get(f"/flows/instances/{iid}").status_code == 403
    r = clerk.form(f"/tasks/{t.id}/act", {"action": "agree", "version": str(t.version)})
    assert r.status_code == 403
    emp = w["c"]("emp")  # takes part (initiator) but is not the assignee
    r = emp.form(f"/tasks/{t.id}/act", {"action": "agree", "version": str(t.version)})
    assert r.status_code == 403
    r = emp.api("POST", f"/api/tasks/{t.id}/act", json={"action": "agree", "version": t.version})
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_assignee"
    assert clerk.api("GET", f"/api/flows/instances/{iid}").status_code == 403
    r = clerk.api("POST", f"/api/tasks/{t.id}/operations/urge", json={"comment": "快"})
    assert r.status_code == 403
    after = _task(ctx, t.id)
    assert after.status == "open" and after.version == t.version and _history_len(ctx, iid) == before


def test_action_not_allowed_and_missing_comment_are_422(ctx: App, w: dict[str, Any]) -> None:
    _iid, t = _at_review(ctx, w)
    head = w["c"]("head")
    r = head.form(f"/tasks/{t.id}/act", {"action": "submit", "version": str(t.version)})
    assert r.status_code == 422 and 'data-code="action_not_allowed"' in r.text
    r = head.api("POST", f"/api/tasks/{t.id}/act", json={"action": "nope", "version": t.version})
    assert r.status_code == 422 and r.json()["error"]["code"] == "action_not_allowed"
    r = head.form(f"/tasks/{t.id}/act", {"action": "reject", "comment": "  ", "opinion": "再看看",
                                         "version": str(t.version)})
    assert r.status_code == 422 and 'data-testid="error-comment"' in r.text
    assert 'value="再看看"' in r.text  # the input is kept
    r = head.api("POST", f"/api/tasks/{t.id}/act", json={"action": "agree", "extra": 1})
    assert r.status_code == 422
    assert _task(ctx, t.id).status == "open" and _task(ctx, t.id).version == t.version


def test_invalid_field_is_shown_inline_with_input_kept(ctx: App, w: dict[str, Any]) -> None:
    _iid, t = _at_review(ctx, w)
    head = w["c"]("head")
    long = "很" * 30
    r = head.form(f"/tasks/{t.id}/act", {"action": "agree", "opinion": long, "version": str(t.version)})
    assert r.status_code == 422
    assert 'class="field invalid' in r.text or "invalid" in r.text
    assert long in r.text
    r = head.api("POST", f"/api/tasks/{t.id}/act", json={"action": "agree", "data": {"days": 1}})
    assert r.status_code == 422 and "days" in r.json()["error"]["fields"]
    assert _task(ctx, t.id).status == "open"


def test_completing_twice_and_a_stale_version_are_409(ctx: App, w: dict[str, Any]) -> None:
    iid, t = _at_review(ctx, w)
    _iid2, t2 = _at_review(ctx, w, days=2)
    head = w["c"]("head")
    # stale: the page carried an older version
    r = head.form(f"/tasks/{t.id}/act", {"action": "agree", "version": str(t.version - 1)})
    assert r.status_code == 409
    assert "该任务已被他人处理或修改" in r.text and "reload and try again" in r.text
    r = head.api("POST", f"/api/tasks/{t.id}/act", json={"action": "agree", "version": t.version + 5})
    assert r.status_code == 409 and r.json()["error"]["message_en"]
    assert _task(ctx, t.id).status == "open"
    # twice: the second submit is refused, nothing applied twice
    assert head.form(f"/tasks/{t.id}/act", {"action": "agree", "version": str(t.version)},
                     follow_redirects=False).status_code == 303
    before = _history_len(ctx, iid)
    r = head.form(f"/tasks/{t.id}/act", {"action": "agree", "version": str(t.version)})
    assert r.status_code == 409 and "不能重复办理" in r.text and "cannot be completed again" in r.text
    r = head.api("POST", f"/api/tasks/{t2.id}/act", json={"action": "agree"})
    assert r.status_code == 200 and r.json()["status"] == "done"
    r = head.api("POST", f"/api/tasks/{t2.id}/act", json={"action": "agree"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "task_closed"
    assert _history_len(ctx, iid) == before


def test_claim_and_unclaim_in_page_and_api(ctx: App, w: dict[str, Any]) -> None:
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, w["p"]["emp"], "claim_flow").id
    [t] = open_tasks(ctx, iid)
    h1, h2 = w["c"]("h1"), w["c"]("h2")
    r = h1.get("/tasks")
    assert f'data-testid="claim-{t.id}"' in r.text
    # acting before claiming is refused
    r = h1.api("POST", f"/api/tasks/{t.id}/act", json={"action": "finish"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "claim_required"
    r = h1.form(f"/tasks/{t.id}/claim", {"version": str(t.version), "next": "/tasks?group=todo"},
                follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/tasks?group=todo"
    assert _task(ctx, t.id).assignee_id is not None
    r = h2.api("POST", f"/api/tasks/{t.id}/claim", json={})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_claimed"
    assert 'data-testid="task-unclaim"' in h1.get(f"/tasks/{t.id}").text
    r = h1.api("POST", f"/api/tasks/{t.id}/unclaim", json={})
    assert r.status_code == 200 and r.json()["assignee_id"] is None
    r = h2.api("POST", f"/api/tasks/{t.id}/claim", json={})
    assert r.status_code == 200
    r = h2.api("POST", f"/api/tasks/{t.id}/act", json={"action": "finish"})
    assert r.status_code == 200


def test_return_and_extension_through_the_page(ctx: App, w: dict[str, Any]) -> None:
    iid, t = _at_review(ctx, w)
    head, boss = w["c"]("head"), w["c"]("boss")
    # 回退 without a reason: inline error, nothing changed
    r = head.form(f"/tasks/{t.id}/op/return", {"to": "fill", "reason": "", "version": str(t.version)})
    assert r.status_code == 422 and 'data-testid="op-error-return-reason"' in r.text
    assert _task(ctx, t.id).status == "open"
    # 延期 request → approval task for boss
    r = head.form(f"/tasks/{t.id}/op/extend", {"amount": "3", "unit": "work_days", "reason": "材料未齐",
                                               "version": str(t.version)}, follow_redirects=False)
    assert r.status_code == 303 and "extend_requested" in r.headers["location"]
    old_due = _task(ctx, t.id).due_at
    r = boss.get("/tasks")
    ap = next(x for x in open_tasks(ctx, iid) if x.kind == "approval")
    assert f"task-row-{ap.id}" in r.text
    page = boss.get(f"/tasks/{ap.id}")
    main = page.text[page.text.find("<main"):]
    assert "材料未齐" in main and "data-testid=ext-amount" in main, main[:3000]
    r = boss.form(f"/tasks/{ap.id}/act", {"action": "approve", "ext_amount": "5", "ext_unit": "work_days",
                                          "version": str(ap.version)}, follow_redirects=False)
    assert r.status_code == 303, r.text[:400]
    assert _task(ctx, t.id).due_at > old_due
    # a bad unit from the API is refused
    r = head.api("POST", f"/api/tasks/{t.id}/operations/extend", json={"reason": "x", "amount": 1, "unit": "years"})
    assert r.status_code == 422
    # 回退 to 填写申请 with a reason
    t = _task(ctx, t.id)
    r = head.form(f"/tasks/{t.id}/op/return", {"to": "fill", "reason": "附件不全", "version": str(t.version)},
                  follow_redirects=False)
    assert r.status_code == 303
    [back] = open_tasks(ctx, iid)
    assert back.node_id == "fill"
    timeline = w["c"]("emp").get(f"/flows/instances/{iid}").text
    assert 'data-kind="return"' in timeline and "附件不全" in timeline and 'data-kind="extend"' in timeline
    # an unknown operation, and one the node does not allow
    assert head.form(f"/tasks/{t.id}/op/explode", {"reason": "x"}).status_code == 404
    emp = w["c"]("emp")
    r = emp.api("POST", f"/api/tasks/{back.id}/operations/void", json={"reason": "不要了"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "operation_not_allowed"


def test_bulk_complete_where_the_node_allows_it(ctx: App, w: dict[str, Any]) -> None:
    _i1, t1 = _at_review(ctx, w, 1)
    _i2, t2 = _at_review(ctx, w, 2)
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, w["p"]["emp"], "claim_flow").id
    head = w["c"]("head")
    r = head.form("/tasks/bulk", {"ids": [str(t1.id), str(t2.id)], "do": "agree"})
    assert r.status_code == 200 and 'data-testid="bulk-result"' in r.text
    assert _task(ctx, t1.id).status == "done" and _task(ctx, t2.id).status == "done"
    # not allowed in bulk (comment required), and a task that is not theirs: reported, unchanged
    _i3, t3 = _at_review(ctx, w, 3)
    [other] = open_tasks(ctx, iid)
    r = head.api("POST", "/api/tasks/bulk", json={"ids": [t3.id, other.id], "do": "reject"})
    assert r.status_code == 207 and len(r.json()["failed"]) == 2
    assert _task(ctx, t3.id).status == "open"


def test_start_page_creates_the_record_and_the_instance(ctx: App, w: dict[str, Any], admin: Any) -> None:
    r = admin.get("/flows/start")
    assert 'data-testid="start-leave_flow"' in r.text
    r = admin.get("/flows/start/leave_flow")
    assert r.status_code == 200 and 'name="reason"' in r.text
    r = admin.form("/flows/start/leave_flow", {"_title": "我的请假", "reason": "", "days": "abc"})
    assert r.status_code == 422 and 'data-testid="start-error"' in r.text and 'value="我的请假"' in r.text
    r = admin.form("/flows/start/leave_flow", {"_title": "我的请假", "reason": "看病", "days": "1"},
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/flows/instances/")
    iid = int(re.search(r"/flows/instances/(\d+)", r.headers["location"]).group(1))
    data = admin.api("GET", f"/api/flows/instances/{iid}").json()
    assert data["title"] == "我的请假" and data["tasks"][0]["node_id"] == "fill" and data["history"]
    assert admin.get("/flows/start/no_such_flow").status_code == 404
    # someone without the form's create permission may not start it
    assert w["c"]("clerk").get("/flows/start/leave_flow").status_code == 403


def test_api_lists_and_task(ctx: App, w: dict[str, Any]) -> None:
    iid, t = _at_review(ctx, w)
    head = w["c"]("head")
    r = head.api("GET", "/api/tasks?group=todo")
    body = r.json()
    assert r.status_code == 200 and body["total"] == 1 and body["counts"]["todo"] == 1
    assert body["items"][0]["id"] == t.id and body["items"][0]["level"] == "green"
    assert head.api("GET", "/api/tasks?group=nope").status_code == 422
    assert head.api("GET", "/api/tasks?group=todo&page=x").status_code == 422
    r = head.api("GET", f"/api/tasks/{t.id}")
    assert r.json()["allowed"]["actions"][0]["action"] in ("agree", "reject")
    assert r.json()["record"]["reason"] == "探亲"
    assert head.api("GET", "/api/tasks/999999").status_code == 404
    assert w["c"]("emp").api("GET", "/api/tasks?group=started").json()["items"][0]["id"] == iid


# --------------------------------------------------------------------------- 转办 pickers

REASSIGN_FLOW = flow("handover_flow", [
    {"id": "start", "type": "start"},
    task("handle", "head", operations={"reassign": {}}),
    {"id": "end", "type": "end"},
], [{"from": "start", "to": "handle"}, {"from": "handle", "to": "end", "action": "done"}])


@pytest.fixture
def ho(ctx: App, w: dict[str, Any]) -> dict[str, Any]:
    """A task waiting for head that may be handed over; departments and people to hand it to."""
    from flow_engine_kit import org

    from ccms.models import Org, Person
    publish(ctx, REASSIGN_FLOW)
    dept, closed, empty = org(ctx, "巡查科"), org(ctx, "已撤销科"), org(ctx, "空部门")
    patrol = person(ctx, "patrol", org_id=dept)
    person(ctx, "patrol2", org_id=dept)
    ghost = person(ctx, "patrol_gone", org_id=dept)
    person(ctx, "closed_man", org_id=closed)
    with ctx.db.session() as s:
        s.get(Org, closed).active = False
        s.get(Person, ghost.id).active = False
        s.get(Person, patrol.id).display_name = "巡查员小王"
        iid = engine.start(s, ctx, w["p"]["emp"], "handover_flow", title="占道经营").id
    [t] = open_tasks(ctx, iid)
    return {"iid": iid, "t": t, "dept": dept, "closed": closed, "empty": empty, "patrol": patrol.id,
            "ghost": ghost.id, "head": w["c"]("head")}


def _reassign_section(html: str) -> str:
    return html.split('data-testid="op-form-reassign"', 1)[1].split("</form>", 1)[0]


def test_reassign_offers_a_person_search_and_a_department_chooser(ctx: App, w: dict[str, Any],
                                                                  ho: dict[str, Any]) -> None:
    tid, head = ho["t"].id, ho["head"]
    form = _reassign_section(head.get(f"/tasks/{tid}").text)
    assert 'data-testid="search-to_person"' in form and f'hx-get="/tasks/{tid}/reassign/people"' in form
    assert 'type="hidden" name="to_person" value=""' in form  # the posted value is the chosen id
    assert 'data-testid="reassign-to_org"' in form and f'<option value="{ho["dept"]}" >' in form
    assert "巡查科" in form and "已撤销科" not in form  # inactive departments are not offered
    # search as you type: active people by name or user name, each a keyboard-usable button
    r = head.get(f"/tasks/{tid}/reassign/people?q=patrol", headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    assert f'data-testid="pick-to_person-{ho["patrol"]}"' in r.text and "巡查员小王" in r.text
    assert f'pick-to_person-{ho["ghost"]}"' not in r.text  # inactive: never offered
    assert "<button" in r.text and "巡查科" in r.text
    r = head.get(f"/tasks/{tid}/reassign/people?q=小王")
    assert f'pick-to_person-{ho["patrol"]}"' in r.text
    r = head.get(f"/tasks/{tid}/reassign/people?q=nobody_like_this")
    assert 'data-testid="picker-empty-to_person"' in r.text
    # choosing re-renders the widget with the id in the hidden input and the name shown
    r = head.get(f"/tasks/{tid}/reassign/person?_id={ho['patrol']}")
    assert r.status_code == 200 and f'name="to_person" value="{ho["patrol"]}"' in r.text
    assert "巡查员小王（巡查科）" in r.text and 'data-testid="clear-to_person"' in r.text
    r = head.get(f"/tasks/{tid}/reassign/person?_id=")
    assert 'name="to_person" value=""' in r.text
    for bad in (str(ho["ghost"]), "99999", "abc"):
        assert head.get(f"/tasks/{tid}/reassign/person?_id={bad}").status_code == 404
    # only someone offered 转办 on this task may search (no looking people up otherwise)
    assert w["c"]("emp").get(f"/tasks/{tid}/reassign/people?q=patrol").status_code == 403
    assert w["c"]("clerk").get(f"/tasks/{tid}/reassign/people?q=patrol").status_code == 403
    assert w["c"]("clerk").get(f"/tasks/{tid}/reassign/person?_id={ho['patrol']}").status_code == 403


def test_reassign_to_the_picked_person_or_department(ctx: App, w: dict[str, Any], ho: dict[str, Any]) -> None:
    t, head = ho["t"], ho["head"]
    r = head.form(f"/tasks/{t.id}/op/reassign", {"to_person": str(ho["patrol"]), "to_org": "", "reason": "休假",
                                                 "version": str(t.version)}, follow_redirects=False)
    assert r.status_code == 303 and "done=reassign" in r.headers["location"]
    assert _task(ctx, t.id).assignee_id == ho["patrol"]
    with ctx.db.session() as s:
        iid = engine.start(s, ctx, w["p"]["emp"], "handover_flow", title="乱堆物料").id
    [t2] = open_tasks(ctx, iid)
    r = head.form(f"/tasks/{t2.id}/op/reassign", {"to_person": "", "to_org": str(ho["dept"]), "reason": "属巡查科",
                                                  "version": str(t2.version)}, follow_redirects=False)
    assert r.status_code == 303
    t2 = _task(ctx, t2.id)
    assert t2.assignee_id is None and t2.org_id == ho["dept"]
    assert f"task-row-{t2.id}" in w["c"]("patrol2").get("/tasks").text  # the department's people may take it


def test_reassign_bad_targets_are_refused_inline_and_change_nothing(ctx: App, w: dict[str, Any],
                                                                   ho: dict[str, Any]) -> None:
    t, head = ho["t"], ho["head"]
    before = _history_len(ctx, ho["iid"])
    cases = [
        ({"to_person": "99999"}, "to_person", "人员不存在或已停用"),
        ({"to_person": str(ho["ghost"])}, "to_person", "人员不存在或已停用"),
        ({"to_person": "nobody_such"}, "to_person", "人员不存在或已停用"),
        ({"to_org": str(ho["closed"])}, "to_org", "部门不存在或已停用"),
        ({"to_org": "99999"}, "to_org", "部门不存在或已停用"),
        ({"to_org": str(ho["empty"])}, "to_org", "没有在职人员"),
        ({"to_org": "abc"}, "to_org", ""),
        ({}, "to_org", "请选择转办给一个人或一个部门"),
        ({"to_person": str(ho["patrol"]), "to_org": str(ho["dept"])}, "to_org", "请只选择一个人或一个部门"),
    ]
    for data, field, text in cases:
        r = head.form(f"/tasks/{t.id}/op/reassign", {"reason": "换人", "version": str(t.version), **data})
        assert r.status_code == 422, (data, r.status_code)
        form = _reassign_section(r.text)
        assert 'data-testid="op-error-reassign"' in form and 'lang="en"' in form, data
        testid = "error-to_person" if field == "to_person" else "op-error-reassign-to_org"
        assert f'data-testid="{testid}"' in form and text in form, data
        assert 'data-testid="op-reassign" open' in r.text  # the form stays open with the reason kept
        assert "换人" in form
        if data.get("to_org", "").isdigit() and int(data["to_org"]) in (ho["dept"], ho["empty"]):
            assert f'<option value="{data["to_org"]}" selected>' in form  # the choice is kept
        now = _task(ctx, t.id)
        assert (now.assignee_id, now.version, now.status) == (t.assignee_id, t.version, "open"), data
    assert _history_len(ctx, ho["iid"]) == before
    # a person chosen and refused (inactive) stays shown, so the user sees what was refused
    r = head.form(f"/tasks/{t.id}/op/reassign", {"reason": "换人", "version": str(t.version),
                                                 "to_person": str(ho["ghost"])})
    assert f'name="to_person" value="{ho["ghost"]}"' in _reassign_section(r.text)
    # the API takes the same ids and refuses the same way
    r = head.api("POST", f"/api/tasks/{t.id}/operations/reassign", json={"reason": "x", "to_org": ho["closed"]})
    assert r.status_code == 422 and r.json()["error"]["fields"]["to_org"]["message_en"].startswith("no such")
    assert _task(ctx, t.id).assignee_id == t.assignee_id
