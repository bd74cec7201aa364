"""Permission checks: casbin RBAC with org domains, answered from an in-memory index.

The model lives in ``core/rbac/model.conf`` (requests ``("u:<person>", "o:<org>",
perm)``; ``p = role, perm`` with ``"*"`` for all; ``g = "u:<person>", role,
"o:<org>"`` where a grant covers the org's whole subtree). casbin's own
``Enforcer`` is the reference semantics, but a plain ``enforce`` walks every
``p`` rule and rebuilds per-domain role managers, which costs tens to hundreds
of milliseconds at 100,000 rules. Every request does several checks, so the
hot path is :class:`Authorizer`'s index instead::

    person id -> ((perms of the role, "*" granted?, org id, org path), ...)

A check walks only that person's grants (usually a handful), so it stays in
the microseconds whatever the rule count. ``tests/test_authz.py`` proves with
a property test that the index and casbin agree.

Freshness across processes: every policy write (and every org move) bumps
``core_authz_state.version`` in the writer's transaction. The writing process
marks its index stale after commit; other processes call
:meth:`Authorizer.ensure_fresh` with the version they read once per request
and reload when it differs.

Only rows of the shape this module writes are understood by the index:
``p`` rows ``(role, perm)`` and ``g`` rows ``("u:<id>", role, "o:<id>")``.
Role-to-role inheritance and direct per-person ``p`` rows are not part of the
ccms model (role codes may not start with ``u:`` / ``o:``).
"""

from __future__ import annotations

import gc
import re
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NamedTuple

from sqlalchemy import ColumnElement, and_, delete, event, false, or_, select, update
from sqlalchemy.orm import Session

from .db import Database
from .errors import ValidationFailed
from .models import AuthzState, CasbinRule, Org

MODEL_PATH = Path(__file__).resolve().parent / "rbac" / "model.conf"

ALL = "*"
_SUB = "u:"
_DOM = "o:"
# Policy values are stored in casbin's comma-separated line format when casbin
# loads them, so commas, quotes and whitespace would corrupt a rule.
_CODE_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,255}$")


def subject(person_id: int) -> str:
    """casbin subject of a person (``u:<id>``)."""
    return f"{_SUB}{person_id}"


def domain(org_id: int) -> str:
    """casbin domain of an org (``o:<id>``)."""
    return f"{_DOM}{org_id}"


def _parse_id(value: str | None, prefix: str) -> int | None:
    if not value or not value.startswith(prefix):
        return None
    try:
        return int(value[len(prefix):])
    except ValueError:
        return None


def _clean_path(path: str | None) -> str | None:
    """A usable materialised path, or None (an empty path would prefix everything)."""
    if not path or not path.startswith("/") or not path.endswith("/") or path == "/":
        return None
    return path


def org_domain_matcher(paths: Mapping[int, str | None]) -> Callable[[str, str], bool]:
    """casbin domain matching function: request domain ``o:A`` lies in grant domain ``o:B``.

    Registered on ``g`` so a grant at an ancestor org covers every descendant.
    ``paths`` maps org id to its materialised path; unknown orgs match nothing
    (casbin still matches identical domains by itself).
    """

    def match(request_dom: str, grant_dom: str) -> bool:
        a = _parse_id(request_dom, _DOM)
        b = _parse_id(grant_dom, _DOM)
        if a is None or b is None:
            return False
        pa = _clean_path(paths.get(a))
        pb = _clean_path(paths.get(b))
        return pa is not None and pb is not None and pa.startswith(pb)

    return match


class _Grant(NamedTuple):
    """One grant of one person, with the role's permissions resolved at load time."""

    perms: frozenset[str]
    all: bool  # the role holds "*"
    role: str
    org_id: int
    path: str | None  # materialised path of org_id, None if unknown


class _Index:
    """Immutable snapshot of the rules; replaced wholesale on reload, never mutated."""

    __slots__ = ("version", "grants", "role_perms", "role_people", "paths")

    def __init__(self, version: int, grants: dict[int, tuple[_Grant, ...]],
                 role_perms: dict[str, frozenset[str]],
                 role_people: dict[str, tuple[tuple[int, int], ...]],
                 paths: dict[int, str | None]) -> None:
        self.version = version
        self.grants = grants
        self.role_perms = role_perms
        self.role_people = role_people
        self.paths = paths


_EMPTY: tuple[_Grant, ...] = ()


class Authorizer:
    """The kernel's permission check (see module docstring). One per app instance."""

    def __init__(self, db: Database, model_path: str | Path | None = None) -> None:
        self.db = db
        self.model_path = Path(model_path) if model_path else MODEL_PATH
        self._index: _Index | None = None
        self._stale = False
        self._lock = threading.Lock()
        self._session_key = ("ccms.authz.pending", id(self))
        # Paths of orgs created after the snapshot, tied to that snapshot.
        self._late: tuple[_Index | None, dict[int, str]] = (None, {})

    # ------------------------------------------------------------------ index

    def _idx(self) -> _Index:
        idx = self._index
        if idx is None or self._stale:
            idx = self._reload()
        return idx

    def _read_version(self, conn: Any) -> int:
        v = conn.execute(select(AuthzState.version).where(AuthzState.id == 1)).scalar()
        return int(v) if v is not None else 0

    def _reload(self, unless_version: int | None = None) -> _Index:
        """Rebuild the index from the DB under the lock and swap it in.

        Skipped when, once we hold the lock, the index is fresh (another thread
        reloaded while we waited) and matches ``unless_version`` if given.
        During a reload for another process's change, other threads keep
        answering from the old snapshot; after a write in this process they
        wait for the new one, so the change holds from the very next check.
        """
        with self._lock:
            idx = self._index
            if idx is not None and not self._stale and (unless_version is None
                                                        or idx.version == unless_version):
                return idx
            # Clear before reading: a commit landing during the load marks us stale again.
            self._stale = False
            # The cyclic GC would rescan the growing heap many times while ~100k
            # rows become tuples (half the reload time at 100k rules); nothing
            # built here is cyclic, so pause it for the load.
            gc_was_on = gc.isenabled()
            gc.disable()
            try:
                with self.db.engine.connect() as conn:
                    version = self._read_version(conn)  # read first: never newer than the rules
                    paths = {oid: _clean_path(p)
                             for oid, p in conn.execute(select(Org.id, Org.path))}
                    rows = conn.execute(select(CasbinRule.ptype, CasbinRule.v0, CasbinRule.v1,
                                               CasbinRule.v2)).all()
                new = self._build(version, rows, paths)
                del rows
            except BaseException:
                self._stale = True  # never keep answering from an index known to be old
                raise
            finally:
                if gc_was_on:
                    gc.enable()
            self._index = new
            return new

    @staticmethod
    def _build(version: int, rows: Iterable[Any], paths: dict[int, str | None]) -> _Index:
        """Turn rule rows into the index; tuned, as it runs on every policy change."""
        role_sets: dict[str, set[str]] = {}
        triples: set[tuple[int, str, int]] = set()  # (person, role, org), duplicates dropped
        add = triples.add
        for ptype, v0, v1, v2 in rows:
            if ptype == "g":
                if v1 and v0 and v2 and v0[:2] == _SUB and v2[:2] == _DOM:
                    try:
                        add((int(v0[2:]), v1, int(v2[2:])))
                    except ValueError:
                        pass  # not a row of ours; casbin alone would see it
            elif ptype == "p" and v0 and v1:
                perms = role_sets.get(v0)
                if perms is None:
                    role_sets[v0] = perms = set()
                perms.add(v1)
        role_perms = {r: frozenset(s) for r, s in role_sets.items()}
        role_all = {r: ALL in s for r, s in role_perms.items()}
        empty: frozenset[str] = frozenset()
        by_person: dict[int, list[_Grant]] = {}
        by_role: dict[str, list[tuple[int, int]]] = {}
        get_paths, get_perms, get_all = paths.get, role_perms.get, role_all.get
        new_grant = _Grant._make
        for pid, role, oid in triples:
            g = new_grant((get_perms(role, empty), get_all(role, False), role, oid, get_paths(oid)))
            lst = by_person.get(pid)
            if lst is None:
                by_person[pid] = [g]
            else:
                lst.append(g)
            lst2 = by_role.get(role)
            if lst2 is None:
                by_role[role] = [(pid, oid)]
            else:
                lst2.append((pid, oid))
        grants = {pid: tuple(lst) for pid, lst in by_person.items()}
        role_people = {r: tuple(sorted(lst)) for r, lst in by_role.items()}
        return _Index(version, grants, role_perms, role_people, paths)

    @property
    def version(self) -> int | None:
        """Policy version the loaded index reflects (None before the first load)."""
        return self._index.version if self._index is not None else None

    def ensure_fresh(self, db_version: int | None = None) -> bool:
        """Reload if the DB's policy version differs from the loaded one; True if reloaded.

        Called once per request by the web layer with the version it read, so
        changes made by other processes apply from the next request on. Without
        an argument the version is read with one cheap SELECT.
        """
        idx = self._index
        if (db_version is None or (idx is not None and db_version < idx.version)):
            # An older figure usually means this process reloaded after the caller
            # read it; ask the DB rather than pay for a needless reload.
            with self.db.engine.connect() as conn:
                db_version = self._read_version(conn)
        if idx is not None and not self._stale and idx.version == db_version:
            return False
        return self._reload(unless_version=db_version) is not idx

    # ------------------------------------------------------------------ reads

    def check(self, person_id: int, permission: str, org_id: int | None = None) -> bool:
        """May the person use ``permission`` in org ``org_id`` (None: in any org)?

        The hot path of every request: one dict lookup plus a walk over the
        person's own grants, so it costs microseconds at any rule count.
        """
        idx = self._index
        if idx is None or self._stale:
            idx = self._idx()
        grants = idx.grants.get(person_id, _EMPTY)
        if org_id is None:
            for g in grants:
                if g.all or permission in g.perms:
                    return True
            return False
        path = idx.paths.get(org_id) or self._late_path(idx, org_id)
        for g in grants:
            if g.all or permission in g.perms:
                if g.org_id == org_id or (path is not None and g.path is not None
                                          and path.startswith(g.path)):
                    return True
        return False

    def check_at_root(self, person_id: int, permission: str) -> bool:
        """May the person use ``permission`` on an object of no org? Only a grant
        at a root org (path ``/<id>/``) covers the whole deployment."""
        idx = self._index
        if idx is None or self._stale:
            idx = self._idx()
        return any((g.all or permission in g.perms) and g.path is not None and g.path.count("/") == 2
                   for g in idx.grants.get(person_id, _EMPTY))

    def _late_path(self, idx: _Index, org_id: int) -> str | None:
        """Path of an org created after the snapshot was loaded.

        A new org has no grants and never changes its path without a move
        (which bumps the version), so creating one needs no reload of the
        whole index: its path is read once and cached with this snapshot.
        """
        late = self._late
        if late[0] is not idx:
            late = self._late = (idx, {})
        path = late[1].get(org_id)
        if path is None:
            with self.db.engine.connect() as conn:
                path = _clean_path(conn.execute(select(Org.path).where(Org.id == org_id)).scalar())
            if path is not None:
                late[1][org_id] = path
        return path

    def path_of(self, org_id: int) -> str | None:
        """Materialised path of an org, from the index (no query for known orgs)."""
        idx = self._idx()
        return idx.paths.get(org_id) or self._late_path(idx, org_id)

    def _covering(self, idx: _Index, grants: tuple[_Grant, ...], org_id: int) -> list[_Grant]:
        path = idx.paths.get(org_id) or self._late_path(idx, org_id)
        return [g for g in grants if g.org_id == org_id
                or (path is not None and g.path is not None and path.startswith(g.path))]

    def permissions_of(self, person_id: int, org_id: int | None = None) -> set[str]:
        """Every permission the person holds in ``org_id`` (None: anywhere), for menus.

        A role with ``"*"`` contributes ``"*"`` itself; callers treat it as "all".
        """
        idx = self._idx()
        grants = idx.grants.get(person_id, _EMPTY)
        if org_id is not None:
            grants = tuple(self._covering(idx, grants, org_id))
        out: set[str] = set()
        for g in grants:
            out |= g.perms
        return out

    def grant_orgs(self, person_id: int, permission: str) -> list[int]:
        """Org ids whose subtrees the person may use ``permission`` in, for row scoping.

        Minimal: an org already inside another listed org's subtree is dropped,
        so a query needs one ``path LIKE '<path>%'`` per returned org.
        """
        idx = self._idx()
        hits = {g.org_id: g.path for g in idx.grants.get(person_id, _EMPTY)
                if g.all or permission in g.perms}
        known = sorted(((p, o) for o, p in hits.items() if p is not None), key=lambda t: len(t[0]))
        keep: list[tuple[str, int]] = []
        for p, o in known:
            if not any(p.startswith(kp) for kp, _ in keep):
                keep.append((p, o))
        out = {o for _, o in keep} | {o for o, p in hits.items() if p is None}
        return sorted(out)

    def grants_of(self, person_id: int) -> list[tuple[str, int]]:
        """(role code, org id) pairs granted to the person."""
        return sorted((g.role, g.org_id) for g in self._idx().grants.get(person_id, _EMPTY))

    def role_permissions(self, role_code: str) -> set[str]:
        """Permissions of a role (``"*"`` stays ``"*"``)."""
        return set(self._idx().role_perms.get(role_code, ()))

    def people_with_role(self, role_code: str) -> list[tuple[int, int]]:
        """(person id, org id) pairs that hold the role."""
        return list(self._idx().role_people.get(role_code, ()))

    # ----------------------------------------------------------------- writes
    # Writes use the caller's session so the rule change, the version bump and
    # the caller's audit entry commit (or roll back) together.

    def bump(self, session: Session) -> None:
        """Bump ``core_authz_state.version`` in the caller's transaction.

        Policy writes call it themselves; callers call it after moving orgs
        (paths change, so coverage changes) so every process reloads.
        """
        res = session.execute(update(AuthzState).where(AuthzState.id == 1)
                              .values(version=AuthzState.version + 1)
                              .execution_options(synchronize_session=False))
        if res.rowcount == 0:  # the migration creates the row; be forgiving anyway
            session.add(AuthzState(id=1, version=2))
            session.flush()
        key = self._session_key
        if not session.info.get(key):
            session.info[key] = True

            def _after_commit(sess: Session) -> None:
                sess.info.pop(key, None)
                self._stale = True

            event.listen(session, "after_commit", _after_commit, once=True)

    @staticmethod
    def _check_code(value: Any, field: str, *, allow_all: bool = False) -> str:
        if allow_all and value == ALL:
            return value
        if not isinstance(value, str) or not _CODE_RE.match(value) or value == ALL:
            raise ValidationFailed(f"无效的{field}：{value!r}", f"invalid {field}: {value!r}",
                                   fields={field: ["只能包含字母、数字、_ . : -", "letters, digits, _ . : - only"]})
        return value

    def _check_role(self, role_code: Any) -> str:
        role = self._check_code(role_code, "role")
        if role.startswith((_SUB, _DOM)):
            raise ValidationFailed(f"角色代码不能以 u: 或 o: 开头：{role}",
                                   f"role code may not start with u: or o:: {role}",
                                   fields={"role": ["保留前缀", "reserved prefix"]})
        return role

    @staticmethod
    def _check_id(value: Any, field: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationFailed(f"无效的{field}：{value!r}", f"invalid {field}: {value!r}")
        return value

    def set_role_permissions(self, session: Session, role_code: str, perms: Iterable[str]) -> None:
        """Replace the role's permissions (``"*"`` = all) in the caller's transaction."""
        role = self._check_role(role_code)
        wanted = {self._check_code(p, "permission", allow_all=True) for p in perms}
        current = set(session.execute(select(CasbinRule.v1).where(
            CasbinRule.ptype == "p", CasbinRule.v0 == role)).scalars())
        if current == wanted:
            return
        session.execute(delete(CasbinRule).where(CasbinRule.ptype == "p", CasbinRule.v0 == role)
                        .execution_options(synchronize_session=False))
        session.add_all(CasbinRule(ptype="p", v0=role, v1=p) for p in sorted(wanted))
        session.flush()
        self.bump(session)

    def grant(self, session: Session, person_id: int, role_code: str, org_id: int) -> bool:
        """Grant the role to the person within the org's subtree; False if already granted."""
        role = self._check_role(role_code)
        sub = subject(self._check_id(person_id, "person_id"))
        dom = domain(self._check_id(org_id, "org_id"))
        exists = session.execute(select(CasbinRule.id).where(
            CasbinRule.ptype == "g", CasbinRule.v0 == sub, CasbinRule.v1 == role,
            CasbinRule.v2 == dom).limit(1)).first()
        if exists:
            return False
        session.add(CasbinRule(ptype="g", v0=sub, v1=role, v2=dom))
        session.flush()
        self.bump(session)
        return True

    def revoke(self, session: Session, person_id: int, role_code: str, org_id: int) -> bool:
        """Take the grant back; False if there was none."""
        sub = subject(self._check_id(person_id, "person_id"))
        dom = domain(self._check_id(org_id, "org_id"))
        return self._delete(session, and_(CasbinRule.ptype == "g", CasbinRule.v0 == sub,
                                          CasbinRule.v1 == role_code, CasbinRule.v2 == dom))

    def remove_role(self, session: Session, role_code: str) -> bool:
        """Delete the role's permissions and every grant of it; False if nothing existed."""
        return self._delete(session, ((CasbinRule.ptype == "p") & (CasbinRule.v0 == role_code))
                            | ((CasbinRule.ptype == "g") & (CasbinRule.v1 == role_code)))

    def remove_person(self, session: Session, person_id: int) -> bool:
        """Delete every grant of the person (on deactivation); False if there was none."""
        sub = subject(self._check_id(person_id, "person_id"))
        return self._delete(session, and_(CasbinRule.ptype == "g", CasbinRule.v0 == sub))

    def _delete(self, session: Session, where: Any) -> bool:
        res = session.execute(delete(CasbinRule).where(where)
                              .execution_options(synchronize_session=False))
        if not res.rowcount:
            return False
        self.bump(session)
        return True

    # ------------------------------------------------------------ reference

    def enforcer(self) -> Any:
        """A freshly loaded casbin ``Enforcer`` with the org-subtree domain matcher.

        The reference semantics, for explanations and tests; far too slow for
        the hot path at scale. Treat it as read-only: its policy writes would
        bypass the version bump.
        """
        # lazy: casbin only for this reference enforcer (explanations, tests)
        import casbin
        from sqlalchemy_adapter import Adapter

        with self.db.engine.connect() as conn:
            paths = {oid: p for oid, p in conn.execute(select(Org.id, Org.path))}
        adapter = Adapter(self.db.engine, db_class=CasbinRule, create_table=False)
        e = casbin.Enforcer(str(self.model_path), adapter)
        e.add_named_domain_matching_func("g", org_domain_matcher(paths))
        return e


# --------------------------------------------------------------------------- org subtrees

def subtree_filter(paths: list[str]) -> ColumnElement[bool]:
    """Rows whose org path lies in one of the given subtrees (paths are digits and slashes only)."""
    if not paths:
        return false()
    return or_(*[Org.path.like(p + "%") for p in paths])


def domain_paths(ctx: Any, session: Session, user: Any, permission: str) -> list[str]:
    """Paths of the subtrees where ``user`` may use ``permission`` (token scopes included)."""
    if user is None or not ctx.can_anywhere(user, permission):
        return []
    ids = ctx.authz.grant_orgs(user.id, permission)
    return sorted(p for p in (ctx.authz.path_of(i) for i in ids) if p)  # from the index: no query
