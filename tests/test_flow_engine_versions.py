"""Version pinning and the explicit migration of running instances (both backends)."""

from __future__ import annotations

import pytest
from flow_engine_kit import flow, instance, open_tasks, person, publish, task
from sqlalchemy import select

from ccms.app import App
from ccms.errors import ValidationFailed
from ccms.flows import engine
from ccms.flows.models import FlowHistory

V1 = flow("pinned", [
    {"id": "start", "type": "start"}, task("draft", "ann"), task("review", "ben"), {"id": "end", "type": "end"},
], [{"from": "start", "to": "draft"}, {"from": "draft", "to": "review", "action": "submit"},
    {"from": "review", "to": "end", "action": "ok"}])

V2 = flow("pinned", [
    {"id": "start", "type": "start"}, task("write", "ann"), task("legal", "cat"), task("review", "ben"),
    {"id": "end", "type": "end", "outcome": "v2"},
], [{"from": "start", "to": "write"}, {"from": "write", "to": "legal", "action": "submit"},
    {"from": "legal", "to": "review", "action": "ok"}, {"from": "review", "to": "end", "action": "ok"}])


def test_instances_keep_their_version_and_migrate_explicitly(ctx: App) -> None:
    p = {n: person(ctx, n) for n in ("ann", "ben", "cat")}
    publish(ctx, V1)
    with ctx.db.session() as s:
        old_a = engine.start(s, ctx, p["ann"], "pinned").id
        old_b = engine.start(s, ctx, p["ann"], "pinned").id
    publish(ctx, V2)
    with ctx.db.session() as s:
        new = engine.start(s, ctx, p["ann"], "pinned").id
    assert (instance(ctx, old_a).def_version, instance(ctx, new).def_version) == (1, 2)
    assert open_tasks(ctx, new)[0].node_id == "write"
    # the old instance runs on its own version although v2 is published
    [t] = open_tasks(ctx, old_a)
    with ctx.db.session() as s:
        engine.act(s, ctx, p["ann"], t.id, "submit")
    assert open_tasks(ctx, old_a)[0].node_id == "review"
    # a mapping to a missing node refuses the whole batch
    with pytest.raises(ValidationFailed) as err, ctx.db.session() as s:
        engine.migrate_instances(s, ctx, None, "pinned", from_version=1, to_version=2, node_map={"draft": "nope"})
    assert err.value.code == "migration_refused"
    assert instance(ctx, old_a).def_version == 1 and instance(ctx, old_b).def_version == 1
    # without a mapping "draft" does not exist in v2 either
    with pytest.raises(ValidationFailed), ctx.db.session() as s:
        engine.migrate_instances(s, ctx, None, "pinned", from_version=1, to_version=2)
    with ctx.db.session() as s:
        assert engine.migrate_instances(s, ctx, None, "pinned", from_version=1, to_version=2,
                                        node_map={"draft": "write"}, dry_run=True) == [old_a, old_b]
    assert instance(ctx, old_b).def_version == 1
    with ctx.db.session() as s:
        moved = engine.migrate_instances(s, ctx, None, "pinned", from_version=1, to_version=2,
                                         node_map={"draft": "write"})
    assert moved == [old_a, old_b]
    [tb] = open_tasks(ctx, old_b)
    assert (tb.node_id, instance(ctx, old_b).def_version) == ("write", 2)
    with ctx.db.session() as s:
        engine.act(s, ctx, p["ann"], tb.id, "submit")  # now follows v2: legal review comes next
    [tl] = open_tasks(ctx, old_b)
    assert tl.node_id == "legal"
    with ctx.db.session() as s:
        engine.act(s, ctx, p["cat"], tl.id, "ok")
    [tr] = open_tasks(ctx, old_b)
    with ctx.db.session() as s:
        engine.act(s, ctx, p["ben"], tr.id, "ok")
    assert instance(ctx, old_b).outcome == "v2"
    with ctx.db.session() as s:
        assert s.scalar(select(FlowHistory.data).where(FlowHistory.instance_id == old_b,
                                                       FlowHistory.kind == "migrate"))["to"] == 2
