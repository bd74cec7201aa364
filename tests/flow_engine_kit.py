"""Helpers for the flow engine tests: people, orgs, published definitions."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from ccms import auth
from ccms.audit import Actor
from ccms.flows import store
from ccms.flows.models import FlowInstance, FlowTask
from ccms.models import Org, Person, Role

ADMIN = Actor(1, "admin", "127.0.0.1")


def org(ctx: Any, name: str, parent_id: int | None = None, region_code: str | None = None) -> int:
    with ctx.db.session() as s:
        if parent_id is None:
            parent_id = s.scalar(select(Org.id).where(Org.parent_id.is_(None)).order_by(Org.id))
        parent = s.get(Org, parent_id)
        o = Org(name=name, kind="department", parent_id=parent_id, region_code=region_code, path="")
        s.add(o)
        s.flush()
        o.path = f"{parent.path}{o.id}/"
        ctx.authz.bump(s)
        return o.id


def person(ctx: Any, username: str, *, org_id: int | None = None, roles: Iterable[str] = (),
           role_org: int | None = None) -> Actor:
    """A person (optionally holding roles on ``role_org`` or their own org); returns their Actor."""
    with ctx.db.session() as s:
        if org_id is None:
            org_id = s.scalar(select(Org.id).where(Org.parent_id.is_(None)).order_by(Org.id))
        p = Person(username=username, display_name=username, org_id=org_id)
        auth.set_password(p, "x-Secret-123456")
        s.add(p)
        s.flush()
        for code in roles:
            if s.scalar(select(Role.id).where(Role.code == code)) is None:
                s.add(Role(code=code, name=code))
                s.flush()
            ctx.authz.grant(s, p.id, code, role_org or org_id)
        return Actor(p.id, username, "127.0.0.1")


def publish(ctx: Any, data: dict[str, Any]) -> int:
    """Save and publish a definition; returns the version."""
    with ctx.db.session() as s:
        row = store.save_draft(s, ADMIN, copy.deepcopy(data), ctx=ctx)
        store.publish(s, ADMIN, row.flow_id, row.version, ctx=ctx)
        return row.version


def open_tasks(ctx: Any, instance_id: int) -> list[FlowTask]:
    with ctx.db.session() as s:
        return list(s.scalars(select(FlowTask).where(FlowTask.instance_id == instance_id,
                                                     FlowTask.status.in_(("open", "held", "suspended")))
                              .order_by(FlowTask.id)))


def instance(ctx: Any, instance_id: int) -> FlowInstance:
    with ctx.db.session() as s:
        return s.get(FlowInstance, instance_id)


def flow(fid: str, nodes: list[dict[str, Any]], transitions: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": fid, "title": {"zh-CN": fid}, "nodes": nodes, "transitions": transitions, **extra}


def task(nid: str, who: str, **extra: Any) -> dict[str, Any]:
    return {"id": nid, "type": "task", "title": {"zh-CN": nid}, "assignee": {"rule": "person", "username": who}, **extra}
