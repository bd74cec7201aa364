"""Who may start a flow from 发起流程 (issue 11, item 8: an auditor saw 发起流程).

A flow without a form needs ``core.flow.start``; a form-bound flow needs the
form's create permission; a definition may name its own permission, or say that
only its plugin starts it (the case loop, started by 信息采集 with its case)."""
from __future__ import annotations

from typing import Any

import pytest
from flow_engine_kit import flow, person, publish, task

from ccms.app import App
from ccms.flows.definition import check_flow

PW = "x-Secret-123456"
PLAIN = flow("plain_flow", [{"id": "start", "type": "start"}, task("do", "starter"), {"id": "end", "type": "end"}],
             [{"from": "start", "to": "do"}, {"from": "do", "to": "end", "action": "finish"}])
PLUGIN_ONLY = {**PLAIN, "id": "plugin_only", "start": {"manual": False}}
OWN_PERM = {**PLAIN, "id": "own_perm", "start": {"permission": "core.monitor.view"}}


@pytest.fixture
def clients(ctx: App, client_for: Any) -> dict[str, Any]:
    person(ctx, "starter", roles=["staff"])  # staff hold core.flow.start
    person(ctx, "auditor1", roles=["auditor"])
    for data in (PLAIN, PLUGIN_ONLY, OWN_PERM):
        publish(ctx, data)
    return {n: client_for(n, PW) for n in ("starter", "auditor1")}


def test_staff_see_the_start_button_and_start_a_formless_flow(clients: dict[str, Any]) -> None:
    c = clients["starter"]
    assert 'data-testid="start-flow"' in c.get("/tasks").text
    listed = c.get("/flows/start").text
    assert 'data-testid="start-plain_flow"' in listed
    assert 'data-testid="start-plugin_only"' not in listed and 'data-testid="start-own_perm"' not in listed
    r = c.form("/flows/start/plain_flow", {"_title": "试一下"})
    assert r.status_code == 200 and "/tasks/" in str(r.url)  # started: the starter's first task opens


def test_an_auditor_is_offered_no_flow_to_start_and_is_refused(clients: dict[str, Any]) -> None:
    c = clients["auditor1"]
    assert 'data-testid="start-flow"' not in c.get("/tasks").text
    listed = c.get("/flows/start").text
    assert 'data-testid="start-plain_flow"' not in listed
    assert c.get("/flows/start/plain_flow").status_code == 403
    assert c.form("/flows/start/plain_flow", {"_title": "x"}).status_code == 403


def test_a_flow_may_name_its_own_start_permission(clients: dict[str, Any], admin: Any) -> None:
    assert clients["starter"].get("/flows/start/own_perm").status_code == 403
    assert 'data-testid="start-own_perm"' in admin.get("/flows/start").text


def test_a_flow_its_plugin_starts_is_never_offered(ctx: App, clients: dict[str, Any], admin: Any) -> None:
    assert 'data-testid="start-plugin_only"' not in admin.get("/flows/start").text
    r = admin.get("/flows/start/plugin_only")
    assert r.status_code == 403 and "业务模块" in r.text


def test_an_undeclared_start_permission_is_refused_with_its_path(ctx: App) -> None:
    with ctx.db.session() as s:
        errors = check_flow({**PLAIN, "start": {"permission": "core.no_such"}}, ctx=ctx, session=s)
    assert [e.fields for e in errors] == [{"$.start.permission": {
        "message": "发起权限 core.no_such 未声明", "message_en": "start permission core.no_such is not declared by any plugin"}}]


def test_upgrading_keeps_what_existing_roles_could_start(ctx: App, clients: dict[str, Any]) -> None:
    """Migration 0016_flow_start: roles that exist at upgrade keep starting form-less
    flows, except the auditor."""
    from alembic import command
    from ccms import migrate
    cfg = migrate._config(ctx.db.engine, migrate.CORE_MIGRATIONS, "alembic_version")
    command.downgrade(cfg, "0015_calendar_provisional")
    ctx.db.engine.dispose()
    ctx.authz.ensure_fresh()
    assert "core.flow.start" not in ctx.authz.role_permissions("staff")
    command.upgrade(cfg, "heads")
    ctx.db.engine.dispose()
    ctx.authz.ensure_fresh()
    have = {r: "core.flow.start" in ctx.authz.role_permissions(r) for r in ("staff", "auditor", "org_admin")}
    assert have == {"staff": True, "auditor": False, "org_admin": True}
    assert clients["starter"].get("/flows/start/plain_flow").status_code == 200
    assert clients["auditor1"].get("/flows/start/plain_flow").status_code == 403
