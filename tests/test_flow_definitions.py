"""Flow definitions: the format's checks (each bad input names its JSON path in
Chinese and English), versions in the database on both backends, layering
from files and the sync at bootstrap; the migration makes exactly the table."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from ccms.app import App
from ccms.audit import Actor
from ccms.errors import Conflict, NotFound, StartupError
from ccms.flows import store
from ccms.flows.def_models import FlowDef
from ccms.flows.definition import FlowDefinitionError, check_flow, load_flow, load_text
from ccms.flows.registry import CORE_FLOW_DIR, FlowRegistry, Layer
from ccms.forms import store as form_store
from ccms.models import AuditLog

ADMIN = Actor(1, "管理员", "127.0.0.1")
EXAMPLE = CORE_FLOW_DIR / "simple_approval.json"

LEAVE_FORM = {"id": "leave_request", "title": "请假申请", "schema": {"type": "object", "properties": {
    "days": {"type": "integer"}, "opinion": {"type": "string"}, "dept_id": {"type": "integer"},
    "photos": {"type": "array", "items": {"type": "string"}}}}}


def flow(**over: Any) -> dict[str, Any]:
    """A small valid flow bound to no form: start -> review -> end."""
    d: dict[str, Any] = {
        "id": "leave", "title": {"zh-CN": "请假", "en": "Leave"},
        "variables": {"approved": {"type": "boolean"}},
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "review", "type": "task", "assignee": {"rule": "role", "role": "admin"}},
            {"id": "end", "type": "end", "outcome": "approved"},
        ],
        "transitions": [
            {"from": "start", "to": "review"},
            {"from": "review", "to": "end", "action": "approve"},
        ],
    }
    d.update(over)
    return d


def example() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def fault(data: Any, ctx: Any = None, session: Any = None) -> FlowDefinitionError:
    with pytest.raises(FlowDefinitionError) as info:
        load_flow(data, "t.json", ctx, session=session)
    err = info.value
    assert err.reason_zh and err.reason_en and err.reason_zh != err.reason_en
    assert err.status == 422 and err.code == "flow_definition_invalid"
    return err


# --- loading -------------------------------------------------------------------------------

def test_example_flow_loads_and_describes_its_graph() -> None:
    d = load_flow(example())
    assert d.id == "simple_approval" and d.start == "start"
    assert d.title("zh-CN") == "简单审批" and d.title("en") == "Simple approval"
    assert [t["action"] for t in d.outgoing("review")] == ["approve", "reject"]
    assert {t["from"] for t in d.incoming("approved")} == {"check_amount", "director"}
    assert d.nodes["review"]["claim"] is True and d.ends == ["approved", "rejected"]
    assert d.node_title("director", "en") == "Director approval"
    assert d.label(d.outgoing("review")[0]) == "同意"
    assert d.expr("amount > 10000").evaluate({"amount": 20000}) is True
    assert d.warn_ratio == 0.8 and d.content_hash() == load_flow(example()).content_hash()


def test_not_json_is_a_clear_error() -> None:
    with pytest.raises(FlowDefinitionError) as info:
        load_text("{nodes: ", "x.json")
    assert "不是有效的 JSON" in info.value.zh and "not valid JSON" in info.value.en


def test_meta_schema_faults_name_the_key() -> None:
    assert fault([]).path == "$"
    assert fault(flow(nodez=[])).path == "$.nodez"
    err = fault(flow(nodes=[{"id": "start", "type": "begin"}]))
    assert err.path == "$.nodes[0].type" and "start" in err.zh
    assert fault({"id": "x1", "title": "t", "nodes": []}).path in ("$.transitions", "$.nodes")
    bad = flow()
    bad["nodes"][1]["assignee"] = {"rule": "role"}  # role rule without a role
    assert fault(bad).path == "$.nodes[1].assignee.role"
    assert fault(flow(variables={"9x": {"type": "string"}})).path == '$.variables["9x"]'


def test_duplicate_node_ids() -> None:
    d = flow()
    d["nodes"].append({"id": "review", "type": "end"})
    err = fault(d)
    assert err.path == "$.nodes[3].id" and "重复" in err.zh and "duplicate" in err.en


def test_exactly_one_start_and_at_least_one_end() -> None:
    d = flow()
    d["nodes"].insert(1, {"id": "start2", "type": "start"})
    d["transitions"].append({"from": "start2", "to": "review"})
    assert "恰好有一个开始节点" in fault(d).zh
    d = flow()
    d["nodes"] = d["nodes"][:2]
    d["transitions"] = d["transitions"][:1]
    assert any("至少需要一个结束节点" in e.zh for e in check_flow(d))


def test_transition_to_and_from_a_missing_node() -> None:
    d = flow()
    d["transitions"].append({"from": "review", "to": "ghost", "action": "x"})
    err = fault(d)
    assert err.path == "$.transitions[2].to" and "ghost" in err.zh and "does not exist" in err.en
    d = flow()
    d["transitions"].append({"from": "nowhere", "to": "end"})
    assert fault(d).path == "$.transitions[2].from"


def test_unreachable_node() -> None:
    d = flow()
    d["nodes"].insert(2, {"id": "orphan", "type": "task", "assignee": {"rule": "initiator"}})
    d["transitions"].append({"from": "orphan", "to": "end", "action": "ok"})
    err = fault(d)
    assert err.path == "$.nodes[2]" and "无法到达" in err.zh and "cannot be reached" in err.en


def test_dead_ends() -> None:
    d = flow()
    d["nodes"].insert(2, {"id": "stuck", "type": "task", "assignee": {"rule": "initiator"}})
    d["transitions"].append({"from": "review", "to": "stuck", "action": "park"})
    err = fault(d)
    assert err.path == "$.nodes[2]" and "死路" in err.zh and "dead end" in err.en
    # a loop that never reaches an end
    d = flow()
    d["nodes"].insert(2, {"id": "a", "type": "task", "assignee": {"rule": "initiator"}})
    d["nodes"].insert(3, {"id": "b", "type": "task", "assignee": {"rule": "initiator"}})
    d["transitions"] += [{"from": "review", "to": "a", "action": "loop"}, {"from": "a", "to": "b", "action": "go"},
                         {"from": "b", "to": "a", "action": "go"}]
    paths = {e.path for e in check_flow(d)}
    assert {"$.nodes[2]", "$.nodes[3]"} <= paths


def test_bulk_names_only_the_nodes_own_actions_without_required_comment() -> None:
    d = flow()
    d["transitions"].append({"from": "review", "to": "end", "action": "reject", "comment_required": True})
    d["nodes"][1]["bulk"] = ["approve"]
    assert check_flow(d) == []
    d["nodes"][1]["bulk"] = ["approve", "archive"]
    err = fault(d)
    assert err.path == "$.nodes[1].bulk[1]" and "archive" in err.zh and "not an action" in err.en
    d["nodes"][1]["bulk"] = ["reject"]
    err = fault(d)
    assert err.path == "$.nodes[1].bulk[0]" and "意见" in err.zh and "requires a comment" in err.en


def test_task_without_assignee_rule() -> None:
    d = flow()
    del d["nodes"][1]["assignee"]
    err = fault(d)
    assert err.path == "$.nodes[1].assignee" and "办理人" in err.zh and "assignee" in err.en


def test_keys_not_used_by_a_node_type_are_refused() -> None:
    d = flow()
    d["nodes"][2]["assignee"] = {"rule": "initiator"}
    assert fault(d).path == "$.nodes[2].assignee"


def test_task_transitions_need_unique_actions() -> None:
    d = flow()
    del d["transitions"][1]["action"]
    assert fault(d).path == "$.transitions[1].action"
    d = flow()
    d["nodes"].insert(2, {"id": "end2", "type": "end"})
    d["transitions"].append({"from": "review", "to": "end2", "action": "approve"})
    err = fault(d)
    assert err.path == "$.transitions[2].action" and "重复" in err.zh


def test_condition_that_does_not_parse_or_names_a_missing_field() -> None:
    def gw(cond: str) -> dict[str, Any]:
        d = flow()
        d["nodes"].insert(2, {"id": "gw", "type": "exclusive"})
        d["nodes"].append({"id": "no", "type": "end"})
        d["transitions"][1]["to"] = "gw"
        d["transitions"] += [{"from": "gw", "to": "end", "condition": cond}, {"from": "gw", "to": "no", "default": True}]
        return d

    load_flow(gw("approved and rework_count < 3"))
    err = fault(gw("approved and (("))
    assert err.path == "$.transitions[2].condition" and "语法错误" in err.zh and "syntax error" in err.en
    err = fault(gw("__import__('os')"))
    assert err.path == "$.transitions[2].condition"
    err = fault(gw("ghost > 1"))
    assert err.path == "$.transitions[2].condition" and "ghost" in err.zh and "unknown field" in err.en


def test_exclusive_gateway_needs_conditions_and_one_default() -> None:
    d = flow()
    d["nodes"].insert(2, {"id": "gw", "type": "exclusive"})
    d["transitions"][1]["to"] = "gw"
    d["transitions"].append({"from": "gw", "to": "end"})
    assert fault(d).path == "$.transitions[2]"


def test_parallel_split_without_matching_join() -> None:
    nodes = [{"id": "start", "type": "start"}, {"id": "split", "type": "parallel"},
             {"id": "a", "type": "task", "assignee": {"rule": "initiator"}},
             {"id": "b", "type": "task", "assignee": {"rule": "initiator"}},
             {"id": "join", "type": "join"}, {"id": "end", "type": "end"}]
    good = [{"from": "start", "to": "split"}, {"from": "split", "to": "a"}, {"from": "split", "to": "b"},
            {"from": "a", "to": "join", "action": "done"}, {"from": "b", "to": "join", "action": "done"},
            {"from": "join", "to": "end"}]
    load_flow(flow(nodes=nodes, transitions=good))
    bad = copy.deepcopy(good)
    bad[4] = {"from": "b", "to": "end", "action": "done"}  # b skips the join
    errs = check_flow(flow(nodes=nodes, transitions=bad))
    msgs = {e.path: e for e in errs}
    assert "$.nodes[1]" in msgs and "汇聚" in msgs["$.nodes[1]"].zh and "join" in msgs["$.nodes[1]"].en


def test_operation_settings_refer_to_unknown_nodes() -> None:
    d = flow()
    d["nodes"][1]["operations"] = {"return": {"to": ["nowhere"]}}
    err = fault(d)
    assert err.path == "$.nodes[1].operations.return.to[0]" and "nowhere" in err.zh


def test_time_limits_bad_unit_non_positive_amount_bad_expression() -> None:
    d = flow()
    d["nodes"][1]["time_limit"] = {"amount": 2, "unit": "fortnights"}
    err = fault(d)
    assert err.path == "$.nodes[1].time_limit.unit" and "work_days" in err.zh
    d["nodes"][1]["time_limit"] = {"amount": 0, "unit": "work_days"}
    assert fault(d).path == "$.nodes[1].time_limit.amount"
    d["nodes"][1]["time_limit"] = {"amount": -3, "unit": "minutes"}
    assert "大于 0" in fault(d).zh
    d["nodes"][1]["time_limit"] = {"amount": "limit_hours *", "unit": "work_hours"}
    assert fault(d).path == "$.nodes[1].time_limit.amount"
    d["nodes"][1]["time_limit"] = {"amount": "days * 8", "unit": "work_hours"}
    d["variables"] = {"days": {"type": "integer"}}
    load_flow(d)
    d["transitions"].append({"from": "review", "to": "end", "action": "late", "timer": {"amount": 0, "unit": "minutes"}})
    assert fault(d).path == "$.transitions[2].timer.amount"


def test_unknown_automatic_action(monkeypatch: pytest.MonkeyPatch) -> None:
    from ccms.flows import actions
    monkeypatch.setattr(actions, "available", lambda ctx: {"notify": print})
    d = flow()
    d["nodes"].insert(2, {"id": "auto1", "type": "auto", "action": "notify"})
    d["transitions"][1]["to"] = "auto1"
    d["transitions"].append({"from": "auto1", "to": "end"})
    load_flow(d)  # without ctx, actions are not checked
    d["nodes"][2]["action"] = "send_fax"
    load_flow(d)
    err = fault(d, ctx=object())
    assert err.path == "$.nodes[2].action" and "send_fax" in err.zh and "unknown automatic action" in err.en


# --- the form ------------------------------------------------------------------------------------

def _publish_form(ctx: App) -> None:
    with ctx.db.session() as s:
        row = form_store.save_draft(s, ADMIN, LEAVE_FORM)
        form_store.publish(s, ADMIN, "leave_request", row.version)


def test_unknown_form_and_names_of_the_bound_form(ctx: App) -> None:
    with ctx.db.session() as s:
        err = fault(flow(form="leave_request"), session=s)
    assert err.path == "$.form" and "leave_request" in err.zh and "not published" in err.en
    _publish_form(ctx)
    d = flow(form="leave_request")
    d["nodes"][1].update({"editable": ["opinion"], "required_attachments": ["photos"],
                          "time_limit": {"amount": "days * 8", "unit": "work_hours"},
                          "multi": {"field": "dept_id"}})
    d["transitions"][1]["condition"] = "days <= 3 and approved"
    with ctx.db.session() as s:
        load_flow(d, session=s)
        load_flow(d, ctx=ctx)
        bad = copy.deepcopy(d)
        bad["nodes"][1]["editable"] = ["opinion", "salary"]
        assert fault(bad, session=s).path == "$.nodes[1].editable[1]"
        bad = copy.deepcopy(d)
        bad["transitions"][1]["condition"] = "salary > 3"
        err = fault(bad, session=s)
        assert err.path == "$.transitions[1].condition" and "salary" in err.zh
        bad = copy.deepcopy(d)
        bad["nodes"][1]["assignee"] = {"rule": "field", "field": "boss"}
        assert fault(bad, session=s).path == "$.nodes[1].assignee.field"


# --- versions --------------------------------------------------------------------------------------

def count(ctx: App) -> int:
    with ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(FlowDef).where(FlowDef.flow_id == "leave")) or 0


def test_migration_creates_exactly_the_model_tables(ctx: App) -> None:
    import ccms.models  # noqa: F401
    from ccms.db import Base
    with ctx.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    from test_form_store import _table_of
    from ccms.flows.def_models import FlowWorkCopy
    mine = {FlowDef.__tablename__, FlowWorkCopy.__tablename__}
    assert [d for d in diffs if _table_of(d) in mine] == []
    assert mine <= set(Base.metadata.tables)


def test_versions_save_publish_unpublish_diff_export_import(ctx: App) -> None:
    v2 = flow()
    v2["nodes"][1]["time_limit"] = {"amount": 2, "unit": "work_days"}
    v2["nodes"].insert(2, {"id": "check", "type": "task", "assignee": {"rule": "previous_actor"}})
    v2["transitions"][1] = {"from": "review", "to": "check", "action": "approve"}
    v2["transitions"].append({"from": "check", "to": "end", "action": "ok"})
    with ctx.db.session() as s:
        r1 = store.save_draft(s, ADMIN, flow(), note="初版")
        r2 = store.save_draft(s, ADMIN, v2)
        assert (r1.version, r2.version, r1.status) == (1, 2, "draft")
        assert store.published_row(s, "leave") is None
        store.publish(s, ADMIN, "leave", 1)
        assert store.get_published(s, "leave").nodes.keys() == {"start", "review", "end"}
    with ctx.db.session() as s:
        store.publish(s, ADMIN, "leave", 2)
        assert [(v["version"], v["status"]) for v in store.list_versions(s, "leave")] == [(2, "published"), (1, "archived")]
        assert store.get_version(s, "leave", 1).definition == flow()
        changes = store.diff_versions(s, "leave", 1, 2)
        kinds = {(c.kind, c.subject) for c in changes}
        assert ("added", "node:check") in kinds and ("changed", "node:review") in kinds
        assert ("added", "transition:review->check:approve") in kinds
        assert ("removed", "transition:review->end:approve") in kinds
        assert any(c.path == "$.nodes[1].time_limit" for c in changes)
        text = store.export_json(s, "leave")
        assert json.loads(text) == v2
        assert json.loads(store.export_json(s, "leave", 1)) == flow()
        r3 = store.import_json(s, ADMIN, text.encode("utf-8"), note="导入")
        assert (r3.version, r3.source, r3.status) == (3, "import", "draft")
        assert store.flow_ids(s)[:1] == ["leave"] or "leave" in store.flow_ids(s)
        store.unpublish(s, ADMIN, "leave")
        assert store.published_row(s, "leave") is None
        with pytest.raises(NotFound):
            store.unpublish(s, ADMIN, "leave")
        with pytest.raises(NotFound):
            store.get_version(s, "leave", 9)
    with ctx.db.session() as s:
        actions = list(s.scalars(select(AuditLog.action).where(AuditLog.object_type == "flow_def",
                                                               AuditLog.object_id.like("leave@%")).order_by(AuditLog.id)))
    assert actions == ["flow.save_draft", "flow.save_draft", "flow.publish", "flow.archive", "flow.publish",
                       "flow.save_draft", "flow.unpublish"]


def test_import_refuses_bad_files_and_writes_nothing(ctx: App) -> None:
    for text in (b"\xff\xfe not utf8", "not json at all", json.dumps({**flow(), "nodes": []})):
        with pytest.raises(FlowDefinitionError):
            with ctx.db.session() as s:
                store.import_json(s, ADMIN, text)
    assert count(ctx) == 0


def test_stale_lock_version_is_a_conflict(ctx: App) -> None:
    with ctx.db.session() as s:
        lock = store.save_draft(s, ADMIN, flow()).lock_version
    with ctx.db.session() as s:
        store.publish(s, ADMIN, "leave", 1, lock_version=lock)
    with pytest.raises(Conflict):
        with ctx.db.session() as s:
            store.unpublish(s, ADMIN, "leave", lock_version=lock)
    with ctx.db.session() as s:
        assert store.published_row(s, "leave") is not None


def test_publishing_checks_the_form_again(ctx: App) -> None:
    _publish_form(ctx)
    with ctx.db.session() as s:
        store.save_draft(s, ADMIN, flow(form="leave_request"))
        form_store.unpublish(s, ADMIN, "leave_request")
    with pytest.raises(FlowDefinitionError) as info:
        with ctx.db.session() as s:
            store.publish(s, ADMIN, "leave", 1)
    assert info.value.path == "$.form"


# --- files and bootstrap ---------------------------------------------------------------------------

def test_bootstrap_publishes_the_core_example_once(ctx: App) -> None:
    from ccms import seed
    with ctx.db.session() as s:
        row = store.published_row(s, "simple_approval")
        assert row is not None and row.source.startswith("file:") and row.version == 1
    seed.bootstrap(ctx)  # idempotent
    with ctx.db.session() as s:
        assert [v["version"] for v in store.list_versions(s, "simple_approval")] == [1]


def test_layers_later_replaces_earlier_and_faults_name_the_file(ctx: App, tmp_path: Path) -> None:
    override = example()
    override["title"] = "本地审批"
    (tmp_path / "a.json").write_text(json.dumps(override, ensure_ascii=False), encoding="utf-8")
    reg = FlowRegistry(ctx, layers=[Layer("core", (EXAMPLE,)), Layer("deployment", (tmp_path / "a.json",))])
    assert reg.get("simple_approval").title() == "本地审批" and reg.origins["simple_approval"].endswith("a.json")
    with ctx.db.session() as s:
        done = store.sync_from_files(ctx, s, registry=reg)
        assert done == [("simple_approval", 2)]
        assert store.get_published(s, "simple_approval").title() == "本地审批"
        assert store.sync_from_files(ctx, s, registry=reg) == []
    bad = flow()
    bad["transitions"][1]["to"] = "ghost"
    (tmp_path / "b.json").write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(StartupError) as info:
        FlowRegistry(ctx, layers=[Layer("deployment", (tmp_path / "b.json",))])
    assert info.value.file.endswith("b.json") and info.value.field == "$.transitions[1].to"
    (tmp_path / "c.json").write_text(json.dumps(flow()), encoding="utf-8")
    (tmp_path / "d.json").write_text(json.dumps(flow()), encoding="utf-8")
    with pytest.raises(StartupError) as info:
        FlowRegistry(ctx, layers=[Layer("x", (tmp_path / "c.json", tmp_path / "d.json"))])
    assert info.value.field == "$.id" and info.value.plugin == "x"
