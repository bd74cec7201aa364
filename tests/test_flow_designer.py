"""流程配置 through HTTP: list, create, edit nodes and transitions in forms,
live problems, save as version, publish/unpublish, diff, raw JSON,
export/import, the JSON API — and each bad input refused with nothing written."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from ccms.flows import store
from ccms.flows.def_models import FlowDef, FlowWorkCopy

HX = {"HX-Request": "true"}


def versions(ctx: Any, flow_id: str) -> list[tuple[int, str]]:
    with ctx.db.session() as s:
        return [(v["version"], v["status"]) for v in store.list_versions(s, flow_id)]


def work(ctx: Any, flow_id: str) -> dict[str, Any] | None:
    with ctx.db.session() as s:
        row = store.work_row(s, flow_id)
        return None if row is None else dict(row.definition)


def lock(ctx: Any, flow_id: str) -> int:
    with ctx.db.session() as s:
        row = store.work_row(s, flow_id)
        return 0 if row is None else row.lock_version


def create(admin: Any, flow_id: str = "trip", title: str = "出差审批") -> None:
    r = admin.form("/admin/flows/new", {"flow_id": flow_id, "title": title}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/admin/flows/{flow_id}"


def edit(admin: Any, ctx: Any, flow_id: str, path: str, data: dict[str, Any], **kw: Any) -> Any:
    return admin.form(f"/admin/flows/{flow_id}{path}", {"lock": lock(ctx, flow_id), **data}, **kw)


def build_three_steps(admin: Any, ctx: Any) -> None:
    """start -> apply -> review -> end, through the designer's forms."""
    create(admin)
    edit(admin, ctx, "trip", "/nodes", {"type": "task", "id": "apply", "title": "填写申请"})
    edit(admin, ctx, "trip", "/nodes", {"type": "task", "id": "review", "title": "部门审核"})
    edit(admin, ctx, "trip", "/nodes/review", {
        "type": "task", "title": "部门审核", "title_en": "Review", "assignee_rule": "role", "assignee_role": "admin",
        "claim": "1", "limit_amount": "2", "limit_unit": "work_days", "op_return": "1", "return_to": "apply",
        "op_extend": "1", "extend_approval_role": "admin", "extend_max_times": "2", "op_urge": "1"})
    r = edit(admin, ctx, "trip", "/transitions/0", {"from": "start", "to": "apply"})
    assert r.status_code == 200
    edit(admin, ctx, "trip", "/transitions", {"from": "apply", "to": "review", "action": "submit", "label": "提交"})
    edit(admin, ctx, "trip", "/transitions", {"from": "review", "to": "end", "action": "approve", "label": "同意",
                                              "label_en": "Approve"})


# --- list, create, permissions ---------------------------------------------------------------

def test_list_shows_flows_and_the_menu_entry(admin: Any) -> None:
    r = admin.get("/admin/flows")
    assert r.status_code == 200
    assert 'data-testid="flow-link-simple_approval"' in r.text and "简单审批" in r.text
    assert 'href="/admin/flows"' in r.text and "流程配置" in r.text  # menu 应用维护 → 流程配置


def test_needs_permission(app: Any, ctx: Any, anon: Any, client_for: Any) -> None:
    r = anon.get("/admin/flows", follow_redirects=False)
    assert r.status_code in (302, 303, 401)
    from ccms import auth
    from ccms.models import Person
    with ctx.db.session() as s:
        p = Person(username="clerk", display_name="办事员", org_id=1, post="")
        auth.set_password(p, "Clerk-pass-2024!")
        s.add(p)
        s.flush()
        ctx.authz.grant(s, p.id, "staff", 1)
    clerk = client_for("clerk", "Clerk-pass-2024!")
    assert clerk.get("/admin/flows").status_code == 403
    r = clerk.form("/admin/flows/new", {"flow_id": "sneaky", "title": "x"})
    assert r.status_code == 403 and versions(ctx, "sneaky") == []


def test_create_bad_inputs_are_refused_inline(admin: Any, ctx: Any) -> None:
    r = admin.form("/admin/flows/new", {"flow_id": "Bad Id", "title": "坏"})
    assert r.status_code == 422 and 'data-testid="error-flow_id"' in r.text and 'value="Bad Id"' in r.text
    r = admin.form("/admin/flows/new", {"flow_id": "ok_id", "title": ""})
    assert r.status_code == 422 and 'data-testid="error-title"' in r.text
    r = admin.form("/admin/flows/new", {"flow_id": "simple_approval", "title": "重复"})
    assert r.status_code == 422 and "已被使用" in r.text
    assert versions(ctx, "ok_id") == [] and versions(ctx, "simple_approval") == [(1, "published")]


def test_created_flow_is_a_valid_draft(admin: Any, ctx: Any) -> None:
    create(admin)
    assert versions(ctx, "trip") == [(1, "draft")]
    r = admin.get("/admin/flows/trip")
    assert r.status_code == 200 and 'data-testid="problems-none"' in r.text
    assert 'data-testid="node-row-start"' in r.text and 'data-testid="node-row-end"' in r.text
    assert 'data-testid="flow-diagram"' in r.text


# --- editing ----------------------------------------------------------------------------------

def test_draw_three_steps_save_version_publish(admin: Any, ctx: Any) -> None:
    build_three_steps(admin, ctx)
    w = work(ctx, "trip")
    assert w is not None
    review = next(n for n in w["nodes"] if n["id"] == "review")
    assert review["assignee"] == {"rule": "role", "role": "admin"} and review["claim"] is True
    assert review["time_limit"] == {"amount": 2, "unit": "work_days"}
    assert review["operations"] == {"return": {"to": ["apply"]}, "extend": {"approval": {"rule": "role", "role": "admin"},
                                                                             "max_times": 2}, "urge": {}}
    assert review["title"] == {"zh-CN": "部门审核", "en": "Review"}
    page = admin.get("/admin/flows/trip")
    assert 'data-testid="problems-none"' in page.text and 'data-testid="work-state"' in page.text
    assert "<svg" in page.text or 'data-testid="flow-outline"' in page.text
    r = admin.form("/admin/flows/trip/save", {"lock": lock(ctx, "trip"), "note": "三步审批"}, headers=HX)
    assert r.status_code == 200 and 'data-testid="flow-notice"' in r.text
    assert versions(ctx, "trip") == [(2, "draft"), (1, "draft")] and work(ctx, "trip") is None
    r = admin.form("/admin/flows/trip/publish", {"version": "2"}, follow_redirects=False)
    assert r.status_code == 303
    assert versions(ctx, "trip") == [(2, "published"), (1, "draft")]
    with ctx.db.session() as s:
        d = store.get_published(s, "trip")
        assert [t["to"] for t in d.outgoing("review")] == ["end"] and d.nodes["apply"]["assignee"] == {"rule": "initiator"}
    r = admin.form("/admin/flows/trip/unpublish", {}, headers=HX)
    assert r.status_code == 200 and versions(ctx, "trip")[0] == (2, "archived")


def test_problems_are_listed_live_and_block_saving_a_version(admin: Any, ctx: Any) -> None:
    create(admin)
    r = edit(admin, ctx, "trip", "/nodes", {"type": "task", "id": "lonely", "title": "孤立"}, headers=HX)
    assert r.status_code == 200
    assert 'data-path="$.nodes[1]"' in r.text and "无法到达" in r.text  # unreachable, listed, kept in the copy
    assert 'data-testid="node-problem-lonely"' in r.text
    r = admin.form("/admin/flows/trip/save", {"lock": lock(ctx, "trip")})
    assert r.status_code == 422 and "无法到达" in r.text and "cannot be reached" in r.text
    assert versions(ctx, "trip") == [(1, "draft")]
    r = admin.form("/admin/flows/trip/discard", {"lock": lock(ctx, "trip")}, follow_redirects=False)
    assert r.status_code == 303 and work(ctx, "trip") is None


def test_condition_that_does_not_parse_or_names_a_missing_field(admin: Any, ctx: Any) -> None:
    create(admin)
    edit(admin, ctx, "trip", "/nodes", {"type": "exclusive", "id": "gw"})
    edit(admin, ctx, "trip", "/transitions/0", {"from": "start", "to": "gw"})
    r = edit(admin, ctx, "trip", "/transitions", {"from": "gw", "to": "end", "condition": "amount >"}, headers=HX)
    assert "语法错误" in r.text and 'data-path="$.transitions[1].condition"' in r.text
    r = edit(admin, ctx, "trip", "/transitions/1", {"from": "gw", "to": "end", "condition": "amount > 5"}, headers=HX)
    assert "amount" in r.text and "unknown field" in r.text
    edit(admin, ctx, "trip", "/settings", {"title": "出差审批", "variables": "amount:number"})
    r = admin.get("/admin/flows/trip")
    assert 'data-testid="problems-none"' in r.text


def test_malformed_edits_are_refused_inline_and_change_nothing(admin: Any, ctx: Any) -> None:
    build_three_steps(admin, ctx)
    before = work(ctx, "trip")
    r = edit(admin, ctx, "trip", "/nodes/review", {"type": "task", "assignee_rule": "role", "assignee_role": ""})
    assert r.status_code == 422 and 'data-testid="error-n-review-assignee_role"' in r.text
    r = edit(admin, ctx, "trip", "/nodes/review", {"type": "task", "assignee_rule": "initiator", "limit_amount": "2",
                                                   "limit_unit": "fortnights"})
    assert r.status_code == 422 and 'data-testid="error-n-review-limit_unit"' in r.text
    r = edit(admin, ctx, "trip", "/nodes", {"type": "task", "id": "9bad"})
    assert r.status_code == 422 and 'data-testid="error-an-id"' in r.text
    r = edit(admin, ctx, "trip", "/nodes", {"type": "task", "id": "review"})
    assert r.status_code == 422 and "已被使用" in r.text
    r = edit(admin, ctx, "trip", "/transitions", {"from": "", "to": "end"})
    assert r.status_code == 422 and 'data-testid="error-at-from"' in r.text
    r = edit(admin, ctx, "trip", "/settings", {"title": "", "variables": ""})
    assert r.status_code == 422 and 'data-testid="error-s-title"' in r.text
    r = edit(admin, ctx, "trip", "/settings", {"title": "t", "warn_ratio": "1.5"})
    assert r.status_code == 422 and 'data-testid="error-s-warn_ratio"' in r.text
    assert work(ctx, "trip") == before


def test_non_positive_time_limit_and_unknown_return_target_are_listed(admin: Any, ctx: Any) -> None:
    build_three_steps(admin, ctx)
    r = edit(admin, ctx, "trip", "/nodes/review", {"type": "task", "assignee_rule": "initiator", "limit_amount": "0",
                                                   "limit_unit": "work_days", "op_return": "1", "return_to": "ghost"},
             headers=HX)
    assert 'data-path="$.nodes[2].time_limit.amount"' in r.text and "大于 0" in r.text
    assert 'data-path="$.nodes[2].operations.return.to[0]"' in r.text and "ghost" in r.text


def test_task_without_assignee_and_dead_end(admin: Any, ctx: Any) -> None:
    build_three_steps(admin, ctx)
    r = edit(admin, ctx, "trip", "/nodes/review", {"type": "task", "assignee_rule": ""}, headers=HX)
    assert 'data-path="$.nodes[2].assignee"' in r.text and "办理人" in r.text
    edit(admin, ctx, "trip", "/nodes/review", {"type": "task", "assignee_rule": "initiator"})
    r = edit(admin, ctx, "trip", "/transitions/2/remove", {}, headers=HX)  # review -> end removed
    assert "死路" in r.text and "dead end" in r.text


def test_move_and_remove_nodes_and_transitions(admin: Any, ctx: Any) -> None:
    build_three_steps(admin, ctx)
    edit(admin, ctx, "trip", "/nodes/review/move", {"where": "up"})
    assert [n["id"] for n in work(ctx, "trip")["nodes"]] == ["start", "review", "apply", "end"]
    edit(admin, ctx, "trip", "/transitions/2/move", {"where": "up"})
    assert work(ctx, "trip")["transitions"][1]["from"] == "review"
    edit(admin, ctx, "trip", "/nodes/apply/remove", {})
    w = work(ctx, "trip")
    assert [n["id"] for n in w["nodes"]] == ["start", "review", "end"]
    assert all("apply" not in (t["from"], t["to"]) for t in w["transitions"])
    assert "return" not in next(n for n in w["nodes"] if n["id"] == "review").get("operations", {})
    assert admin.form("/admin/flows/trip/nodes/ghost/remove", {"lock": lock(ctx, "trip")}).status_code == 404
    assert admin.form("/admin/flows/trip/transitions/99/remove", {"lock": lock(ctx, "trip")}).status_code == 404


def test_stale_lock_is_a_conflict(admin: Any, ctx: Any) -> None:
    create(admin)
    edit(admin, ctx, "trip", "/nodes", {"type": "task", "id": "a"})
    r = admin.form("/admin/flows/trip/nodes", {"lock": "0", "type": "task", "id": "b"})
    assert r.status_code == 409 and "他人" in r.text
    assert [n["id"] for n in work(ctx, "trip")["nodes"]] == ["start", "a", "end"]


def test_editing_an_unknown_flow_is_404(admin: Any) -> None:
    assert admin.get("/admin/flows/nope").status_code == 404
    assert admin.form("/admin/flows/nope/nodes", {"type": "task", "id": "a"}).status_code == 404


# --- 批量办理 (node bulk) ------------------------------------------------------------------------

def _review_with(admin: Any, ctx: Any, **extra: Any) -> Any:
    """Save the review node directly assigned to the initiator (admin), with ``extra`` fields."""
    return edit(admin, ctx, "trip", "/nodes/review", {"type": "task", "title": "部门审核", "assignee_rule": "initiator",
                                                      **extra}, headers=HX)


def test_bulk_chooser_round_trips_to_the_inbox(admin: Any, ctx: Any) -> None:
    build_three_steps(admin, ctx)
    edit(admin, ctx, "trip", "/transitions", {"from": "review", "to": "apply", "action": "reject", "label": "退回",
                                              "comment_required": "1"})
    page = admin.get("/admin/flows/trip")
    # offered: the node's actions without a required comment; 退回 (comment required) is not
    assert 'data-testid="bulk-review-approve"' in page.text and 'data-testid="bulk-review-reject"' not in page.text
    assert 'data-testid="bulk-none-apply"' not in page.text and 'data-testid="bulk-apply-submit"' in page.text
    assert 'data-testid="bulk-none-start"' not in page.text  # only task nodes have the chooser
    r = _review_with(admin, ctx, bulk_shown="1", bulk="approve")
    assert r.status_code == 200 and 'data-testid="flow-error"' not in r.text
    assert next(n for n in work(ctx, "trip")["nodes"] if n["id"] == "review")["bulk"] == ["approve"]
    page = admin.get("/admin/flows/trip")  # reload shows it chosen
    box = page.text.split('data-testid="bulk-review-approve"')[0].rsplit("<input", 1)[1]
    assert "checked" in box
    # a save of another field from an older page (no chooser posted) keeps it
    _review_with(admin, ctx, limit_amount="3")
    assert next(n for n in work(ctx, "trip")["nodes"] if n["id"] == "review")["bulk"] == ["approve"]
    r = admin.form("/admin/flows/trip/save", {"lock": lock(ctx, "trip"), "note": "批量"}, follow_redirects=False)
    assert r.status_code == 303
    admin.form("/admin/flows/trip/publish", {"version": "2"}, follow_redirects=False)
    with ctx.db.session() as s:
        d = store.get_published(s, "trip")
        assert d.nodes["review"]["bulk"] == ["approve"]
    from flow_engine_kit import ADMIN, open_tasks

    from ccms.flows import engine
    ids = []
    for n in range(2):
        with ctx.db.session() as s:
            iid = engine.start(s, ctx, ADMIN, "trip", title=f"出差 {n}").id
        [t] = open_tasks(ctx, iid)
        with ctx.db.session() as s:
            engine.act(s, ctx, ADMIN, t.id, "submit")
        [t] = open_tasks(ctx, iid)
        ids.append(t.id)
    inbox = admin.get("/tasks?group=todo")
    assert 'data-testid="bulk-approve"' in inbox.text  # the inbox offers 同意 in bulk
    r = admin.form("/tasks/bulk", {"ids": [str(i) for i in ids], "do": "approve"})
    assert r.status_code == 200 and 'data-testid="bulk-result"' in r.text


def test_bulk_unticked_clears_it_and_bad_choices_are_refused(admin: Any, ctx: Any) -> None:
    build_three_steps(admin, ctx)
    edit(admin, ctx, "trip", "/transitions", {"from": "review", "to": "apply", "action": "reject", "label": "退回",
                                              "comment_required": "1"})
    _review_with(admin, ctx, bulk_shown="1", bulk="approve")
    before = work(ctx, "trip")
    # an action needing a comment, another node's action, or one that does not exist: inline, nothing written
    for bad in ("reject", "submit", "ghost", ["approve", "ghost"]):
        r = _review_with(admin, ctx, bulk_shown="1", bulk=bad)
        assert r.status_code == 200 and 'data-testid="error-n-review-bulk"' in r.text, bad
        assert "批量办理只能选择" in r.text and "need no comment" in r.text
        assert 'data-testid="node-panel-review" open' in r.text  # the panel stays open with the input
        assert work(ctx, "trip") == before
    r = edit(admin, ctx, "trip", "/nodes/review", {"type": "task", "assignee_rule": "initiator", "bulk_shown": "1",
                                                   "bulk": "ghost"})
    assert r.status_code == 422 and 'data-testid="error-n-review-bulk"' in r.text  # without htmx: 422
    _review_with(admin, ctx, bulk_shown="1")  # nothing ticked: no bulk
    assert "bulk" not in next(n for n in work(ctx, "trip")["nodes"] if n["id"] == "review")


def test_bulk_naming_an_action_that_later_needs_a_comment_is_flagged(admin: Any, ctx: Any) -> None:
    build_three_steps(admin, ctx)
    _review_with(admin, ctx, bulk_shown="1", bulk="approve")
    edit(admin, ctx, "trip", "/transitions/2", {"from": "review", "to": "end", "action": "approve", "label": "同意",
                                                "comment_required": "1"})
    page = admin.get("/admin/flows/trip")
    assert 'data-testid="bulk-dropped-review"' in page.text and "approve" in page.text
    assert 'data-testid="bulk-none-review"' in page.text


# --- raw JSON ---------------------------------------------------------------------------------

def test_raw_json_editor(admin: Any, ctx: Any) -> None:
    create(admin)
    r = admin.get("/admin/flows/trip/json")
    assert r.status_code == 200 and 'data-testid="json-text"' in r.text and "&#34;start&#34;" in r.text
    r = admin.form("/admin/flows/trip/json", {"lock": "0", "definition": "{not json"})
    assert r.status_code == 422 and "不是有效的 JSON" in r.text and "{not json" in r.text
    d = work(ctx, "trip") or json.loads(admin.get("/admin/flows/trip/export").text)
    d["nodes"][0]["type"] = "begin"
    r = admin.form("/admin/flows/trip/json", {"lock": "0", "definition": json.dumps(d)})
    assert r.status_code == 422 and "$.nodes[0].type" in r.text
    d["nodes"][0]["type"] = "start"
    d["id"] = "other"
    r = admin.form("/admin/flows/trip/json", {"lock": "0", "definition": json.dumps(d)})
    assert r.status_code == 422 and "$.id" in r.text
    d["id"] = "trip"
    d["transitions"].append({"from": "start", "to": "ghost"})
    r = admin.form("/admin/flows/trip/json", {"lock": "0", "definition": json.dumps(d)}, follow_redirects=False)
    assert r.status_code == 303
    r = admin.get("/admin/flows/trip/json")
    assert 'data-path="$.transitions[1].to"' in r.text and work(ctx, "trip") == d


# --- versions, diff, export, import ----------------------------------------------------------

def test_diff_between_versions(admin: Any, ctx: Any) -> None:
    build_three_steps(admin, ctx)
    admin.form("/admin/flows/trip/save", {"lock": lock(ctx, "trip")})
    r = admin.get("/admin/flows/trip/diff?from=1&to=2", headers=HX)
    assert r.status_code == 200 and r.text.lstrip().startswith('<div id="diff"')
    assert "新增节点 填写申请（apply）" in r.text and 'data-kind="removed"' in r.text
    r = admin.get("/admin/flows/trip/diff?from=1&to=2")
    assert r.status_code == 200 and "<html" in r.text and "新增节点" in r.text
    r = admin.get("/admin/flows/trip/diff?from=1&to=9", headers=HX)
    assert 'data-testid="diff-error"' in r.text
    assert admin.get("/admin/flows/trip/diff?from=x&to=2").status_code == 422


def test_export_and_import(admin: Any, ctx: Any) -> None:
    r = admin.get("/admin/flows/simple_approval/export")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    doc = json.loads(r.text)
    doc["id"] = "copied"
    files = {"file": ("copied.json", json.dumps(doc, ensure_ascii=False).encode("utf-8"), "application/json")}
    r = admin.post("/admin/flows/import", files=files, data={"csrf_token": admin.csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/flows/copied"
    assert versions(ctx, "copied") == [(1, "draft")]


def test_import_bad_files(admin: Any, ctx: Any) -> None:
    def post(name: str, body: bytes) -> Any:
        return admin.post("/admin/flows/import", files={"file": (name, body, "application/json")},
                          data={"csrf_token": admin.csrf})

    r = post("x.json", b"this is not json")
    assert r.status_code == 422 and "不是有效的 JSON" in r.text and "not valid JSON" in r.text
    bad = {"id": "broken", "title": "坏", "nodes": [{"id": "start", "type": "start"}, {"id": "end", "type": "end"}],
           "transitions": [{"from": "start", "to": "ghost"}]}
    r = post("b.json", json.dumps(bad).encode())
    assert r.status_code == 422 and "$.transitions[0].to" in r.text
    r = admin.post("/admin/flows/import", data={"csrf_token": admin.csrf})
    assert r.status_code == 422 and "请选择" in r.text
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(FlowDef).where(FlowDef.flow_id == "broken")) == 0


def test_bpmn_export_and_import_round_trip(admin: Any, ctx: Any) -> None:
    """A flow goes out as BPMN 2.0 (for a standard modeler) and comes back as a new draft version."""
    r = admin.get("/admin/flows/simple_approval/export?format=bpmn")
    assert r.status_code == 200 and r.headers["content-disposition"].endswith('.bpmn"')
    assert "bpmn:definitions" in r.text or "<definitions" in r.text
    before = versions(ctx, "simple_approval")
    files = {"file": ("simple_approval.bpmn", r.content, "application/xml")}
    r = admin.post("/admin/flows/import", files=files, data={"csrf_token": admin.csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/flows/simple_approval"
    after = versions(ctx, "simple_approval")
    new = max(after)  # (version, status)
    assert len(after) == len(before) + 1 and new[1] == "draft"
    with ctx.db.session() as s:
        assert store.get_version(s, "simple_approval", new[0]).definition["nodes"] == \
            store.get_version(s, "simple_approval", max(before)[0]).definition["nodes"]


def test_bpmn_import_refusals_write_nothing(admin: Any, ctx: Any) -> None:
    def post(name: str, body: bytes) -> Any:
        return admin.post("/admin/flows/import", files={"file": (name, body, "application/xml")},
                          data={"csrf_token": admin.csrf})

    with ctx.db.session() as s:
        total = s.scalar(select(func.count()).select_from(FlowDef))
    r = post("bomb.bpmn", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>')
    assert r.status_code == 422 and "BPMN" in r.text
    r = post("broken.bpmn", b"<definitions><process")
    assert r.status_code == 422
    # (a modeler's file without our assignee rules now becomes a draft: tests/test_flows_bpmn_web.py)
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(FlowDef)) == total


# --- JSON API -----------------------------------------------------------------------------------

def test_api(admin: Any, ctx: Any) -> None:
    r = admin.api("GET", "/api/flows")
    assert r.status_code == 200 and any(f["flow_id"] == "simple_approval" for f in r.json()["items"])
    r = admin.api("GET", "/api/flows/simple_approval/versions/1")
    assert r.json()["definition"]["id"] == "simple_approval"
    assert admin.api("GET", "/api/flows/simple_approval/versions/7").status_code == 404
    doc = r.json()["definition"]
    doc["transitions"][0]["to"] = "ghost"
    r = admin.api("POST", "/api/flows/validate", json=doc)
    assert r.status_code == 200 and r.json()["problems"][0]["path"] == "$.transitions[0].to"
    r = admin.api("POST", "/api/flows/import", json=doc)
    assert r.status_code == 422 and r.json()["error"]["code"] == "flow_definition_invalid"
    doc["transitions"][0]["to"] = "apply"
    r = admin.api("POST", "/api/flows/import", json=doc)
    assert r.status_code == 201 and r.json()["version"] == 2
    r = admin.api("POST", "/api/flows/simple_approval/publish", json={"version": 2})
    assert r.status_code == 200 and versions(ctx, "simple_approval") == [(2, "published"), (1, "archived")]
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(FlowWorkCopy)) == 0
