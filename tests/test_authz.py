"""ccms.authz: the in-memory permission index against casbin's reference semantics."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from conftest import CORE_ONLY
from conftest import _migrate_core as migrate_core
from sqlalchemy import delete, select, update

from ccms import migrate
from ccms.authz import Authorizer, domain, org_domain_matcher, subject
from ccms.db import Database
from ccms.errors import ValidationFailed
from ccms.models import AuditLog, AuthzState, CasbinRule, Org


def _new_db(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db.engine, [])
    return db


def _paths(parents: dict[int, int | None]) -> dict[int, str]:
    out: dict[int, str] = {}

    def path(oid: int) -> str:
        if oid not in out:
            parent = parents[oid]
            out[oid] = (path(parent) if parent is not None else "/") + f"{oid}/"
        return out[oid]

    for oid in parents:
        path(oid)
    return out


def _add_orgs(db: Database, parents: dict[int, int | None]) -> None:
    """Insert orgs (parents before children) with their materialised paths."""
    paths = _paths(parents)
    with db.session() as s:
        for oid in sorted(parents, key=lambda o: paths[o].count("/")):
            s.add(Org(id=oid, parent_id=parents[oid], name=f"org {oid}", kind="unit",
                      path=paths[oid]))
            s.flush()


def _db_version(db: Database) -> int:
    with db.session() as s:
        return s.execute(select(AuthzState.version).where(AuthzState.id == 1)).scalar_one()


#      1
#    /   \
#   2     3
#   |
#   4
TREE = {1: None, 2: 1, 3: 1, 4: 2}


@pytest.fixture
def db(tmp_path: Path, _templates) -> Database:
    d = Database(_templates.fresh_sqlite(CORE_ONLY, migrate_core, tmp_path / "authz.db"))  # a migrated copy
    _add_orgs(d, TREE)
    yield d
    d.dispose()


@pytest.fixture
def authz(db: Database) -> Authorizer:
    a = Authorizer(db)
    with db.session() as s:
        a.set_role_permissions(s, "clerk", ["case.view", "case.edit"])
        a.set_role_permissions(s, "admin", ["*"])
    return a


def test_model_file_loads_and_matcher_follows_paths() -> None:
    m = org_domain_matcher({1: "/1/", 2: "/1/2/", 3: "/1/3/", 9: ""})
    assert m("o:2", "o:1") and not m("o:1", "o:2") and not m("o:3", "o:2")
    assert not m("o:9", "o:1") and not m("o:1", "o:9")  # empty path: unknown, matches nothing
    assert not m("x", "o:1") and not m("o:5", "o:1")


def test_grant_at_ancestor_covers_descendants_not_siblings_or_parent(authz: Authorizer,
                                                                     db: Database) -> None:
    with db.session() as s:
        assert authz.grant(s, 7, "clerk", 2)
    assert authz.check(7, "case.view", 2)
    assert authz.check(7, "case.view", 4)
    assert not authz.check(7, "case.view", 3)      # sibling
    assert not authz.check(7, "case.view", 1)      # parent
    assert not authz.check(7, "org.edit", 4)       # permission the role lacks
    assert authz.check(7, "case.edit")             # any domain (menus)
    assert not authz.check(7, "org.edit")
    assert not authz.check(8, "case.view", 2)      # someone else
    assert not authz.check(7, "case.view", 999)    # unknown org
    e = authz.enforcer()
    assert e.enforce(subject(7), domain(4), "case.view")
    assert not e.enforce(subject(7), domain(3), "case.view")
    assert not e.enforce(subject(7), domain(1), "case.view")


def test_org_created_after_load_is_covered_without_a_reload(authz: Authorizer, db: Database) -> None:
    with db.session() as s:
        authz.grant(s, 7, "clerk", 2)
    assert authz.check(7, "case.view", 4)  # index loaded
    version = authz.version
    with db.session() as s:  # new orgs, no version bump (as the orgs service does)
        s.add(Org(id=5, parent_id=4, name="org 5", kind="unit", path="/1/2/4/5/"))
        s.add(Org(id=6, parent_id=3, name="org 6", kind="unit", path="/1/3/6/"))
    assert authz.check(7, "case.view", 5)      # under the grant
    assert not authz.check(7, "case.view", 6)  # under the sibling
    assert authz.version == version            # no reload happened


def test_star_grants_every_permission(authz: Authorizer, db: Database) -> None:
    with db.session() as s:
        authz.grant(s, 5, "admin", 1)
    for org in (1, 2, 3, 4):
        assert authz.check(5, "anything.at.all", org)
    assert authz.check(5, "x.y")
    assert authz.permissions_of(5) == {"*"}
    assert authz.permissions_of(5, 4) == {"*"}
    assert authz.enforcer().enforce(subject(5), domain(3), "anything.at.all")


def test_revoke_takes_effect_at_once_in_same_authorizer(authz: Authorizer, db: Database) -> None:
    with db.session() as s:
        authz.grant(s, 7, "clerk", 2)
    assert authz.check(7, "case.edit", 4)
    with db.session() as s:
        assert authz.revoke(s, 7, "clerk", 2)
        assert not authz.revoke(s, 7, "clerk", 2)
    assert not authz.check(7, "case.edit", 4)
    assert not authz.check(7, "case.edit")
    assert authz.grants_of(7) == []


def test_write_commits_with_callers_audit_entry_or_not_at_all(authz: Authorizer,
                                                              db: Database) -> None:
    before = _db_version(db)
    with pytest.raises(RuntimeError):
        with db.session() as s:
            authz.grant(s, 7, "clerk", 2)
            s.add(AuditLog(action="grant", object_type="role", summary="clerk to 7"))
            raise RuntimeError("caller failed after writing")
    assert _db_version(db) == before
    assert not authz.check(7, "case.view", 2)
    with db.session() as s:
        authz.grant(s, 7, "clerk", 2)
        s.add(AuditLog(action="grant", object_type="role", summary="clerk to 7"))
    assert _db_version(db) == before + 1
    assert authz.check(7, "case.view", 2)


def test_second_authorizer_sees_changes_after_ensure_fresh(authz: Authorizer, db: Database) -> None:
    other_db = Database(db.url)  # own engine and pool, as another process would have
    other = Authorizer(other_db)
    try:
        assert not other.check(7, "case.view", 4)
        with db.session() as s:
            authz.grant(s, 7, "clerk", 2)
        assert other.ensure_fresh()
        assert other.check(7, "case.view", 4)
        assert not other.ensure_fresh()  # nothing changed: no reload
        with db.session() as s:
            authz.revoke(s, 7, "clerk", 2)
        v = _db_version(db)
        assert other.ensure_fresh(v)     # the web layer passes the version it read
        assert other.version == v
        assert not other.check(7, "case.view", 4)
        assert not other.ensure_fresh(v - 1)  # a stale figure costs no reload
    finally:
        other_db.dispose()


def test_moving_an_org_changes_coverage(authz: Authorizer, db: Database) -> None:
    other_db = Database(db.url)
    other = Authorizer(other_db)
    try:
        with db.session() as s:
            authz.grant(s, 7, "clerk", 2)
        other.ensure_fresh()
        assert authz.check(7, "case.view", 4) and other.check(7, "case.view", 4)
        # Move org 4 from under 2 to under 3.
        with db.session() as s:
            org = s.get(Org, 4)
            org.parent_id, org.path = 3, "/1/3/4/"
            s.flush()
            authz.bump(s)
        assert not authz.check(7, "case.view", 4)
        assert other.ensure_fresh()
        assert not other.check(7, "case.view", 4)
        assert not authz.enforcer().enforce(subject(7), domain(4), "case.view")
    finally:
        other_db.dispose()


def test_reads_for_menus_scoping_and_admin_screens(authz: Authorizer, db: Database) -> None:
    with db.session() as s:
        authz.grant(s, 7, "clerk", 2)
        authz.grant(s, 7, "clerk", 4)   # redundant: inside 2's subtree
        authz.grant(s, 7, "clerk", 3)
        authz.grant(s, 8, "clerk", 4)
        authz.set_role_permissions(s, "viewer", ["org.view"])
        authz.grant(s, 7, "viewer", 1)
    assert authz.grants_of(7) == [("clerk", 2), ("clerk", 3), ("clerk", 4), ("viewer", 1)]
    assert authz.role_permissions("clerk") == {"case.view", "case.edit"}
    assert authz.role_permissions("nope") == set()
    assert authz.people_with_role("clerk") == [(7, 2), (7, 3), (7, 4), (8, 4)]
    assert authz.grant_orgs(7, "case.view") == [2, 3]   # 4 is covered by 2
    assert authz.grant_orgs(7, "org.view") == [1]
    assert authz.grant_orgs(8, "org.view") == []
    assert authz.permissions_of(7) == {"case.view", "case.edit", "org.view"}
    assert authz.permissions_of(7, 1) == {"org.view"}
    assert authz.permissions_of(7, 4) == {"case.view", "case.edit", "org.view"}


def test_role_and_person_removal(authz: Authorizer, db: Database) -> None:
    with db.session() as s:
        authz.grant(s, 7, "clerk", 2)
        authz.grant(s, 8, "clerk", 2)
        authz.grant(s, 8, "admin", 1)
    with db.session() as s:
        assert authz.remove_person(s, 8)
        assert not authz.remove_person(s, 8)
    assert not authz.check(8, "case.view", 2) and authz.grants_of(8) == []
    assert authz.check(7, "case.view", 2)
    with db.session() as s:
        assert authz.remove_role(s, "clerk")
    assert not authz.check(7, "case.view", 2)
    assert authz.role_permissions("clerk") == set() and authz.people_with_role("clerk") == []
    with db.session() as s:
        n = s.execute(select(CasbinRule).where(CasbinRule.v0 == "clerk")).all()
    assert n == []


def test_noop_writes_do_not_bump_and_bad_input_is_refused(authz: Authorizer, db: Database) -> None:
    with db.session() as s:
        authz.grant(s, 7, "clerk", 2)
    v = _db_version(db)
    with db.session() as s:
        assert not authz.grant(s, 7, "clerk", 2)
        authz.set_role_permissions(s, "clerk", ["case.edit", "case.view"])
    assert _db_version(db) == v
    with db.session() as s:
        for bad in ("", "a, b", "u:7", "o:1", "*", "has space", None):
            with pytest.raises(ValidationFailed):
                authz.grant(s, 7, bad, 2)  # type: ignore[arg-type]
        with pytest.raises(ValidationFailed):
            authz.set_role_permissions(s, "clerk", ["ok", "not,ok"])
        with pytest.raises(ValidationFailed):
            authz.grant(s, True, "clerk", 2)  # type: ignore[arg-type]
    assert _db_version(db) == v


def test_concurrent_checks_during_reloads(authz: Authorizer, db: Database) -> None:
    with db.session() as s:
        authz.grant(s, 1, "admin", 1)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                assert authz.check(1, "x", 4)   # never touched, must always hold
                time.sleep(0)                   # let the writer have the GIL too
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(20):
        with db.session() as s:
            authz.grant(s, 100 + i, "clerk", 3)
        authz.ensure_fresh()
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert authz.check(119, "case.view", 3)


# ----------------------------------------------------------- property test

PERMS = ["a.read", "a.write", "b.read", "*"]
QUERY_PERMS = ["a.read", "a.write", "b.read", "c.other", "*"]
ROLES = ["r0", "r1", "r2"]
PEOPLE = [1, 2, 3]


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 7))
    parents: dict[int, int | None] = {1: None}
    for oid in range(2, n + 1):
        parents[oid] = draw(st.one_of(st.none(), st.integers(1, oid - 1)))
    role_perms = {r: draw(st.lists(st.sampled_from(PERMS), max_size=3, unique=True)) for r in ROLES}
    org_ids = st.integers(1, n + 1)  # n + 1 does not exist: exact-domain match only
    grants = draw(st.lists(st.tuples(st.sampled_from(PEOPLE), st.sampled_from(ROLES), org_ids),
                           max_size=8, unique=True))
    revokes = draw(st.lists(st.sampled_from(grants), unique=True)) if grants else []
    move = None
    if n >= 2 and draw(st.booleans()):
        moved = draw(st.integers(2, n))
        move = (moved, draw(st.one_of(st.none(), st.integers(1, n))))
    return {"parents": parents, "role_perms": role_perms, "grants": grants,
            "revokes": revokes, "move": move, "orgs": list(range(1, n + 2))}


def _assert_same_as_casbin(authz: Authorizer, orgs: list[int]) -> None:
    e = authz.enforcer()
    for pid in PEOPLE:
        for perm in QUERY_PERMS:
            anywhere = False
            for oid in orgs:
                want = e.enforce(subject(pid), domain(oid), perm)
                anywhere = anywhere or want
                assert authz.check(pid, perm, oid) == want, (pid, perm, oid)
            # "in any domain" = casbin allows it in at least one org (incl. unknown grant orgs)
            assert authz.check(pid, perm) == anywhere, (pid, perm)


@pytest.fixture(scope="module")
def prop_db(tmp_path_factory: pytest.TempPathFactory) -> Database:
    d = _new_db(tmp_path_factory.mktemp("authz_prop") / "prop.db")
    yield d
    d.dispose()


@settings(max_examples=75, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sc=scenarios())
def test_index_agrees_with_casbin_enforcer(prop_db: Database, sc: dict) -> None:
    db = prop_db
    with db.session() as s:
        s.execute(delete(CasbinRule))
        s.execute(delete(Org))
    _add_orgs(db, sc["parents"])
    authz = Authorizer(db)
    with db.session() as s:
        for role, perms in sc["role_perms"].items():
            authz.set_role_permissions(s, role, perms)
        for pid, role, oid in sc["grants"]:
            authz.grant(s, pid, role, oid)
    _assert_same_as_casbin(authz, sc["orgs"])

    # Revocations and an org move must be honoured by the same instance at once.
    with db.session() as s:
        for pid, role, oid in sc["revokes"]:
            authz.revoke(s, pid, role, oid)
    if sc["move"]:
        moved, new_parent = sc["move"]
        parents = dict(sc["parents"])
        subtree = {o for o, p in _paths(parents).items() if f"/{moved}/" in p}
        if new_parent not in subtree:  # never make a cycle
            parents[moved] = new_parent
            paths = _paths(parents)
            with db.session() as s:
                s.execute(update(Org).where(Org.id == moved).values(parent_id=new_parent))
                for oid in subtree:
                    s.execute(update(Org).where(Org.id == oid).values(path=paths[oid]))
                authz.bump(s)
    _assert_same_as_casbin(authz, sc["orgs"])
