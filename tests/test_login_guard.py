"""Defects 7 and 8: login does not reveal which user names exist, one address
cannot lock anyone out, addresses that keep failing are made to wait, argon2
runs off the event loop, and failures under attack do not flood the audit log.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import re
import threading

import httpx
from conftest import ADMIN_PASSWORD, ADMIN_USER
from sqlalchemy import func, select

from ccms import auth, login_guard
from ccms.db import utcnow
from ccms.models import AuditLog, Person
from ccms.testing import CSRF_RE, Client

A, B, C, D = "203.0.113.7", "198.51.100.2", "192.0.2.44", "192.0.2.45"
ERROR_RE = re.compile(r'data-testid="login-error">(.*?)</div>', re.DOTALL)


def _client(app, ip: str) -> Client:
    c = Client(app, raise_server_exceptions=False, client=(ip, 40000))
    c.__enter__()
    return c


def _post_login(c: Client, username: str, password: str):
    c.refresh_csrf()
    return c.form("/login", {"username": username, "password": password}, follow_redirects=False)


def _admin(ctx) -> Person:
    with ctx.db.session() as s:
        return s.scalar(select(Person).where(Person.username == ADMIN_USER))


def _audit_count(ctx, action: str, ip: str) -> list[AuditLog]:
    with ctx.db.session() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == action, AuditLog.client_ip == ip)))


def test_fifty_failures_from_a_do_not_stop_admin_logging_in_from_b(make_app):
    app = make_app(security={"throttle_delay_seconds": 60})
    ctx = app.state.ccms
    attacker, office = _client(app, A), _client(app, B)
    statuses = [_post_login(attacker, ADMIN_USER, f"guess-{i}").status_code for i in range(50)]
    # Five free failures and one more, then the address must wait: refused, never a lock.
    assert statuses[:6] == [401] * 6 and set(statuses[6:]) == {429}
    r = _post_login(attacker, ADMIN_USER, ADMIN_PASSWORD)  # even the right password waits
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 60
    message = ERROR_RE.search(r.text).group(1)
    assert "登录失败次数过多，请" in message and "秒后再试" in message and "try again in" in message
    assert _admin(ctx).locked_until is None
    assert _post_login(office, ADMIN_USER, ADMIN_PASSWORD).status_code == 303


def test_one_address_never_locks_an_account_but_several_do(ctx):
    policy = ctx.deployment.security  # defaults: 5 to lock, 2 per address, 5 free, 2 s doubling to 300 s
    t = utcnow()
    for i in range(50):  # each attempt after the address's wait: all fifty checked and failed
        t += dt.timedelta(seconds=policy.throttle_max_delay_seconds + 1)
        r = auth.login(ctx.db, ADMIN_USER, f"guess-{i}", policy, A, now=t)
        assert r.code == "bad_credentials", (i, r.code)
    assert _admin(ctx).locked_until is None
    assert auth.login(ctx.db, ADMIN_USER, ADMIN_PASSWORD, policy, B, now=t).ok
    # A distributed guess still locks: 2 each from three addresses reach the threshold of 5.
    codes = [auth.login(ctx.db, ADMIN_USER, "x", policy, ip, now=t).code for ip in (B, B, C, C, D)]
    assert codes == ["bad_credentials"] * 4 + ["locked"]
    assert auth.login(ctx.db, ADMIN_USER, ADMIN_PASSWORD, policy, D, now=t).code == "locked"


def test_known_and_unknown_user_names_get_byte_identical_answers(make_app):
    app = make_app()
    known, unknown = _client(app, A), _client(app, B)
    r1 = _post_login(known, ADMIN_USER, "wrong-guess")
    r2 = _post_login(unknown, "no-such-user", "wrong-guess")
    assert r1.status_code == r2.status_code == 401
    assert ERROR_RE.search(r1.text).group(1).encode() == ERROR_RE.search(r2.text).group(1).encode()
    for _ in range(4):  # the messages stay the same all the way (no "tries left" for real accounts)
        m1 = ERROR_RE.search(_post_login(known, ADMIN_USER, "wrong-guess").text).group(1)
        m2 = ERROR_RE.search(_post_login(unknown, "no-such-user", "wrong-guess").text).group(1)
        assert m1.encode() == m2.encode()


def test_unknown_names_lock_exactly_like_real_ones(ctx):
    policy = ctx.deployment.security
    t = utcnow()
    results = {}
    for name in (ADMIN_USER, "no-such-user"):
        for ip in (A, A, B, B, C, C):
            results[name] = auth.login(ctx.db, name, "wrong-guess", policy, ip, now=t)
    assert results[ADMIN_USER].code == results["no-such-user"].code == "locked"
    assert (results[ADMIN_USER].zh, results[ADMIN_USER].en) == (results["no-such-user"].zh, results["no-such-user"].en)


def test_unknown_user_names_verify_a_dummy_hash(ctx, monkeypatch):
    calls: list[str] = []
    real = auth._hasher

    class Counting:
        def verify(self, stored, password):
            calls.append(stored)
            return real.verify(stored, password)

    monkeypatch.setattr(auth, "_hasher", Counting())
    policy = ctx.deployment.security
    auth.login(ctx.db, "no-such-user", "wrong-guess", policy, A)
    auth.login(ctx.db, ADMIN_USER, "wrong-guess", policy, B)
    assert len(calls) == 2 and calls[0] == auth._DUMMY_HASH and calls[1] == _admin(ctx).password_hash


def test_throttle_state_is_shared_by_processes(make_app):
    app1 = make_app(security={"throttle_delay_seconds": 60})
    app2 = make_app(security={"throttle_delay_seconds": 60})  # same database, own engine and state
    c1, c2 = _client(app1, A), _client(app2, A)
    for i in range(6):
        assert _post_login(c1, "someone", f"guess-{i}").status_code == 401
    r = _post_login(c2, "someone", "guess")
    assert r.status_code == 429 and "Retry-After" in r.headers


def test_failures_under_attack_are_audited_in_aggregate(ctx):
    policy = ctx.deployment.security
    t0 = utcnow()
    for i in range(50):  # one burst: five checked and audited, the sixth checked, the rest refused
        auth.login(ctx.db, ADMIN_USER, f"guess-{i}", policy, A, now=t0)
    assert len(_audit_count(ctx, "login_failed", A)) == policy.throttle_free_attempts
    first = _audit_count(ctx, "login_failed_aggregate", A)
    assert [e.after["attempts"] for e in first] == [1]
    # After the window, the next login anywhere writes one entry for the rest of the burst.
    later = t0 + dt.timedelta(minutes=policy.login_window_minutes, seconds=1)
    assert auth.login(ctx.db, ADMIN_USER, ADMIN_PASSWORD, policy, B, now=later).ok
    aggregate = _audit_count(ctx, "login_failed_aggregate", A)
    assert sum(e.after["attempts"] for e in aggregate) == 50 - policy.throttle_free_attempts
    assert len(aggregate) == 2 and not aggregate[-1].success
    # ...and the counters of a finished burst are deleted: the table does not grow.
    much_later = later + dt.timedelta(minutes=policy.lockout_minutes + policy.login_window_minutes + 1)
    auth.login(ctx.db, ADMIN_USER, ADMIN_PASSWORD, policy, B, now=much_later)
    with ctx.db.session() as s:
        assert login_guard.rows(s) == 1  # only B's own address row, from this very login
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.client_ip == A)) == 7


def test_unlock_clears_the_counters_of_the_account(admin, ctx):
    policy = ctx.deployment.security
    t = utcnow()
    for ip in (A, A, B, B, C):
        auth.login(ctx.db, ADMIN_USER, "x", policy, ip, now=t)
    me = _admin(ctx)
    assert me.locked_until is not None
    r = admin.api("POST", f"/api/people/{me.id}/unlock", json={"version": me.version})
    assert r.status_code == 200 and r.json()["locked"] is False
    with ctx.db.session() as s:
        assert s.get(login_guard.LoginThrottle, login_guard.account_key(ADMIN_USER)) is None
        assert s.get(login_guard.LoginThrottle, login_guard.pair_key(ADMIN_USER, A)) is None


def test_hashing_runs_off_the_event_loop(app, monkeypatch):
    """While bad-password logins sit inside argon2, /healthz still answers."""
    release = threading.Event()
    entered = threading.Semaphore(0)
    timed_out: list[bool] = []
    real = auth._hasher

    class Blocking:
        def verify(self, stored, password):
            entered.release()
            timed_out.append(not release.wait(20))  # a loop blocked here could never answer /healthz
            return real.verify(stored, password)

    monkeypatch.setattr(auth, "_hasher", Blocking())

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            token = CSRF_RE.search((await c.get("/login")).text).group(1)
            logins = [asyncio.create_task(c.post("/login", data={"username": ADMIN_USER, "password": f"bad-{i}",
                                                                  "csrf_token": token}))
                      for i in range(3)]
            while not entered.acquire(blocking=False):  # until one login is inside argon2
                await asyncio.sleep(0.01)
            health = await asyncio.wait_for(c.get("/healthz"), 15)
            assert health.status_code == 200
            assert not any(t.done() for t in logins)  # the logins were still hashing
            release.set()
            answers = await asyncio.gather(*logins)
            assert [a.status_code for a in answers] == [401, 401, 401]

    def run_in_own_thread() -> None:  # its own event loop, whatever loop this thread may hold
        asyncio.run(scenario())

    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(run_in_own_thread).result()
    finally:
        release.set()
    assert not any(timed_out)


def test_migration_creates_exactly_the_throttle_table(ctx):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ccms.db import Base
    name = login_guard.LoginThrottle.__tablename__
    with ctx.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if name in str(d)] == []


def test_no_request_hashes_on_the_event_loop(app, admin, ctx, monkeypatch):
    """Login, own password change, person create and password reset (screens and API) all hash in worker threads."""
    from test_orgs import PASSWORD, make_person, root_id
    real = auth._hasher
    on_loop: list[str] = []

    def running_loop() -> bool:
        try:
            asyncio.get_running_loop()
            return True
        except RuntimeError:
            return False

    class Watching:
        def hash(self, password):
            if running_loop():
                on_loop.append("hash")
            return real.hash(password)

        def verify(self, stored, password):
            if running_loop():
                on_loop.append("verify")
            return real.verify(stored, password)

    pid = make_person(ctx, "hasher", root_id(ctx), "org_admin")
    monkeypatch.setattr(auth, "_hasher", Watching())
    c = _client(app, A)
    assert _post_login(c, "hasher", PASSWORD).status_code == 303
    new = "Quiet#Harbor-2291"
    assert c.form("/account/password", {"current": PASSWORD, "new": new, "confirm": new},
                  follow_redirects=False).status_code == 303
    r = admin.api("POST", "/api/people", json={"username": "api_made", "display_name": "甲",
                                               "org_id": root_id(ctx), "password": new})
    assert r.status_code == 201
    r = admin.form("/admin/people/new", {"username": "screen_made", "display_name": "乙", "org_id": root_id(ctx),
                                         "password": new}, follow_redirects=False)
    assert r.status_code == 303
    with ctx.db.session() as s:
        version = s.get(Person, pid).version
    assert admin.api("POST", f"/api/people/{pid}/reset-password", json={"version": version}).status_code == 200
    with ctx.db.session() as s:
        version = s.get(Person, pid).version
    assert admin.form(f"/admin/people/{pid}/reset-password", {"version": version}).status_code == 200
    assert on_loop == []
