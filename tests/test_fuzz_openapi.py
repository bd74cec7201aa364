"""Deliver 7 (issue 10): schemathesis over the whole ``/api/openapi.json``.

In process against the ASGI app (no server), as the administrator and as a
low-privilege account (a district supervisor who may report cases and work
one form), on SQLite and PostgreSQL. Every operation gets a bounded number of
generated requests (``CCMS_FUZZ_EXAMPLES``, default 8; derandomized so a run
is reproducible, no deadline) and three checks: no server error, the status
code is documented, the body matches the documented schema (and an
undocumented method answers 405 with an ``Allow`` header that lists the
documented ones). All failures of
all operations are collected and reported together, each with a curl line
that reproduces it.

Fuzzed requests change the database (they may reset the actor's password or
revoke its token), so each operation starts with a fresh token and the actor
restored; that keeps every operation reachable.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks
from sqlalchemy import update
from test_form_records import COMPLAINT, publish
from test_orgs import districts, make_person

from ccms import auth
from ccms.models import Person

EXAMPLES = int(os.environ.get("CCMS_FUZZ_EXAMPLES", "8"))
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.response_schema_conformance,
          checks.unsupported_method, checks.allow_header_conformance]  # the last two: 405 with a true Allow
FORM_ACTIONS = [f"form.{COMPLAINT['id']}.{a}" for a in ("list", "read", "create", "update")]


def _actor(ctx: Any, who: str) -> int:
    if who == "admin":
        return 1
    orgs = districts(ctx)
    pid = make_person(ctx, "fuzz_supervisor", orgs["a"], role="command_supervisor")
    with ctx.db.session() as s:
        ctx.authz.set_role_permissions(s, "staff", FORM_ACTIONS)
        ctx.authz.grant(s, pid, "staff", orgs["a"])
    return pid


def _fresh_token(ctx: Any, person_id: int) -> str:
    """Undo what earlier operations may have done to the actor, then a new token."""
    with ctx.db.session() as s:
        s.execute(update(Person).where(Person.id == person_id).values(
            active=True, must_change_password=False, failed_logins=0, locked_until=None))
        return auth.create_token(s, person_id, "fuzz", ["*"]).secret


def _fuzz(op: Any, headers: dict[str, str], calls: list[str]) -> Any:
    """One operation's bounded, reproducible hypothesis run."""
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy())
    def run(case: Any) -> None:
        calls.append(op.label)
        case.call_and_validate(headers=headers, checks=CHECKS)
    return run


@pytest.mark.slow
@pytest.mark.needs_plugins("command")  # the city deployment's API: its floor of operations and the supervisor are command's
@pytest.mark.parametrize("who", ["admin", "supervisor"])
def test_schemathesis_finds_no_server_error_nor_schema_violation(app: Any, who: str) -> None:
    ctx = app.state.ccms
    publish(ctx, COMPLAINT)
    person_id = _actor(ctx, who)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    failures: dict[str, str] = {}
    calls: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        op = result.ok()
        operations += 1
        run = _fuzz(op, {"Authorization": f"Bearer {_fresh_token(ctx, person_id)}"}, calls)
        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001  # a FailureGroup, or what the app raised
            failures[op.label] = str(exc)[:1500]
    assert operations > 100, "the document lost operations"
    print(f"{who}: {operations} operations, {len(calls)} requests")
    assert len(calls) >= 2 * operations and len(set(calls)) == operations, "operations were not exercised"
    assert not failures, f"{len(failures)} of {operations} operations failed as {who}:\n\n" + "\n\n".join(
        f"== {label}\n{text}" for label, text in sorted(failures.items()))
