"""ccms_audit_recorded: plugins hear of committed audit entries only, and cannot break writes."""

from __future__ import annotations

import pytest

from ccms import audit
from ccms.api import hookimpl


class Listener:
    def __init__(self, fail: bool = False) -> None:
        self.seen: list[dict] = []
        self.fail = fail

    @hookimpl
    def ccms_audit_recorded(self, ctx, entry):
        self.seen.append(entry)
        if self.fail:
            raise RuntimeError("SIEM down")


def test_committed_entries_reach_listeners(ctx, admin):
    listener = Listener()
    ctx.pm.register(listener)
    admin.form("/logout")
    assert [e["action"] for e in listener.seen] == ["logout"]
    assert listener.seen[0]["actor_name"] == "root"


def test_rolled_back_entries_are_never_announced(ctx):
    listener = Listener()
    ctx.pm.register(listener)
    with pytest.raises(RuntimeError):
        with ctx.db.session() as s:
            audit.record(s, None, "org_create", "org", "1")
            raise RuntimeError("the change failed")
    with ctx.db.session() as s:
        audit.record(s, None, "org_edit", "org", "1")
    assert [e["action"] for e in listener.seen] == ["org_edit"]


def test_a_failing_listener_does_not_undo_the_write(ctx):
    ctx.pm.register(Listener(fail=True))
    with ctx.db.session() as s:
        audit.record(s, None, "settings_change", "setting", "core")
    from sqlalchemy import select
    from ccms.models import AuditLog
    with ctx.db.session() as s:
        assert s.scalar(select(AuditLog.action).order_by(AuditLog.id.desc()).limit(1)) == "settings_change"
