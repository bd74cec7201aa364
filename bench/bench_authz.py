"""Benchmark: ccms.authz.Authorizer.check against casbin's plain Enforcer.enforce.

Builds 1,000 / 10,000 / 100,000 casbin rules in a temporary SQLite database
(bulk insert: an org tree, roles with 20 permissions each, people with about
two grants each) and measures the time per check of

* casbin ``Enforcer.enforce`` with the same model and domain matcher, cold
  (first query of a domain: casbin builds that domain's role manager) and warm
  (the same queries again, role managers cached);
* ``Authorizer.check`` for a specific org and for "any org" (menus);
* ``Authorizer.check`` again after a revocation, which must be honoured at once.

Run ``python bench/bench_authz.py`` (``--quick`` for a smoke run); a bench
runner can import :func:`run`. The target is < 0.1 ms per check at 100,000 rules.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from ccms import migrate  # noqa: E402
from ccms.authz import Authorizer, domain, subject  # noqa: E402
from ccms.db import Database  # noqa: E402
from ccms.models import CasbinRule, Org  # noqa: E402

TARGET_MS = 0.1
PERMS_PER_ROLE = 20


def build(db: Database, n_rules: int, seed: int = 1) -> dict[str, Any]:
    """Fill ``db`` with about ``n_rules`` casbin rules; return what the queries need."""
    rnd = random.Random(seed)
    n_roles = max(10, n_rules // 500)
    n_orgs = max(50, n_rules // 20)
    perm_pool = [f"mod{m}.obj{o}.{a}" for m in range(20) for o in range(10)
                 for a in ("view", "edit", "approve")]
    # Org tree: each org hangs under a random earlier one (log depth), ids from 1.
    paths: dict[int, str] = {1: "/1/"}
    orgs = [{"id": 1, "parent_id": None, "name": "org 1", "kind": "tier", "path": "/1/"}]
    for oid in range(2, n_orgs + 1):
        parent = rnd.randint(max(1, oid // 4), oid - 1)
        paths[oid] = f"{paths[parent]}{oid}/"
        orgs.append({"id": oid, "parent_id": parent, "name": f"org {oid}", "kind": "unit",
                     "path": paths[oid]})
    roles = [f"role{r}" for r in range(n_roles)]
    role_perms = {r: rnd.sample(perm_pool, PERMS_PER_ROLE) for r in roles}
    role_perms[roles[0]] = ["*"]  # one all-powerful role, granted rarely below
    # Same keys in every row: an executemany takes its columns from the first one.
    rules = [{"ptype": "p", "v0": r, "v1": p, "v2": None} for r in roles for p in role_perms[r]]
    n_grants = n_rules - len(rules)
    n_people = max(1, n_grants // 2)
    grants: set[tuple[int, str, int]] = set()
    while len(grants) < n_grants:
        role = roles[rnd.randint(1, n_roles - 1)] if rnd.random() > 0.001 else roles[0]
        grants.add((rnd.randint(1, n_people), role, rnd.randint(1, n_orgs)))
    rules += [{"ptype": "g", "v0": subject(p), "v1": r, "v2": domain(o)} for p, r, o in grants]
    with db.engine.begin() as conn:
        conn.execute(insert(Org.__table__), orgs)
        conn.execute(insert(CasbinRule.__table__), rules)
    by_person: dict[int, list[tuple[str, int]]] = {}
    for p, r, o in grants:
        by_person.setdefault(p, []).append((r, o))
    return {"paths": paths, "role_perms": role_perms, "by_person": by_person,
            "perm_pool": perm_pool, "n_orgs": n_orgs, "n_people": n_people,
            "p_rules": len(rules) - len(grants), "g_rules": len(grants)}


def queries(meta: dict[str, Any], n: int, seed: int = 2) -> list[tuple[int, str, int]]:
    """Half likely-allowed (a granted perm in the grant's subtree), half random."""
    rnd = random.Random(seed)
    people = list(meta["by_person"])
    by_parent: dict[str, list[int]] = {}
    for oid, path in meta["paths"].items():
        by_parent.setdefault(path.rsplit("/", 2)[0] + "/", []).append(oid)
    out = []
    for i in range(n):
        pid = rnd.choice(people)
        if i % 2 == 0:
            role, org = rnd.choice(meta["by_person"][pid])
            perms = meta["role_perms"][role]
            perm = rnd.choice(meta["perm_pool"]) if perms == ["*"] else rnd.choice(perms)
            for _ in range(rnd.randint(0, 2)):  # step down into the subtree
                kids = by_parent.get(meta["paths"][org])
                if not kids:
                    break
                org = rnd.choice(kids)
        else:
            perm, org = rnd.choice(meta["perm_pool"]), rnd.randint(1, meta["n_orgs"])
        out.append((pid, perm, org))
    return out


def _per_call_ms(fn: Any, args: list[tuple], min_calls: int) -> float:
    calls = 0
    t0 = time.perf_counter()
    while calls < min_calls:
        for a in args:
            fn(*a)
        calls += len(args)
    return (time.perf_counter() - t0) * 1000 / calls


def bench_size(n_rules: int, casbin_samples: int, our_calls: int, workdir: Path) -> dict[str, Any]:
    db = Database(f"sqlite:///{workdir / f'authz_{n_rules}.db'}")
    try:
        migrate.upgrade(db.engine, [])
        meta = build(db, n_rules)
        authz = Authorizer(db)
        t0 = time.perf_counter()
        authz.ensure_fresh()
        load_ms = (time.perf_counter() - t0) * 1000

        t0 = time.perf_counter()
        enf = authz.enforcer()
        casbin_load_s = time.perf_counter() - t0

        qs = queries(meta, max(our_calls // 10, 200))
        sample = qs[:casbin_samples]
        casbin_args = [(subject(p), domain(o), perm) for p, perm, o in sample]
        t0 = time.perf_counter()
        want = [enf.enforce(*a) for a in casbin_args]
        casbin_cold = (time.perf_counter() - t0) * 1000 / len(casbin_args)
        casbin_warm = _per_call_ms(enf.enforce, casbin_args, len(casbin_args))
        agree = all(authz.check(p, perm, o) == w for (p, perm, o), w in zip(sample, want))

        ours = _per_call_ms(authz.check, qs, our_calls)
        ours_any = _per_call_ms(authz.check, [(p, perm) for p, perm, _ in qs], our_calls)
        allowed = sum(authz.check(*q) for q in qs) / len(qs)

        # Revoke every grant behind one allowed query; the next check must say no.
        pid, perm, org = next(q for q in qs if authz.check(*q))
        path = meta["paths"][org]
        with db.session() as s:
            for role, gorg in authz.grants_of(pid):
                if path.startswith(meta["paths"][gorg]):
                    authz.revoke(s, pid, role, gorg)
        t0 = time.perf_counter()
        honoured = not authz.check(pid, perm, org)  # first call reloads the index
        reload_ms = (time.perf_counter() - t0) * 1000
        ours_after = _per_call_ms(authz.check, qs, our_calls)
        ratio = ours / casbin_warm
        return {
            "rules": n_rules, "p_rules": meta["p_rules"], "g_rules": meta["g_rules"],
            "orgs": meta["n_orgs"], "people": meta["n_people"],
            "casbin_load_s": round(casbin_load_s, 3), "casbin_samples": len(casbin_args),
            "casbin_cold_ms": casbin_cold, "casbin_warm_ms": casbin_warm,
            "ours_load_ms": load_ms, "ours_ms": ours, "ours_any_org_ms": ours_any,
            "ours_after_revoke_ms": ours_after, "reload_after_revoke_ms": reload_ms,
            "revocation_honoured": honoured, "agrees_with_casbin": agree,
            "allowed_share": round(allowed, 3),
            "speedup_vs_warm": casbin_warm / ours, "ratio_vs_warm": ratio,
            "ratio_vs_cold": ours / casbin_cold,
            "under_target": max(ours, ours_any, ours_after) < TARGET_MS,
        }
    finally:
        db.dispose()


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Run the benchmark; one dict per rule count (times in ms unless named _s)."""
    plan = ([(1_000, 50, 5_000), (10_000, 20, 5_000), (100_000, 3, 5_000)] if quick else
            [(1_000, 300, 50_000), (10_000, 100, 50_000), (100_000, 20, 50_000)])
    with tempfile.TemporaryDirectory(prefix="ccms_bench_authz_") as tmp:
        return [bench_size(n, cs, oc, Path(tmp)) for n, cs, oc in plan]


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (f"{'rules':>8} {'casbin cold ms':>14} {'casbin warm ms':>14} {'ours ms':>9} "
            f"{'any-org ms':>10} {'after revoke':>12} {'ours/casbin':>11} {'speed-up':>9} "
            f"{'<0.1ms':>6} {'revoked':>7} {'agree':>5}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['rules']:>8,} {r['casbin_cold_ms']:>14.3f} {r['casbin_warm_ms']:>14.3f} "
              f"{r['ours_ms']:>9.5f} {r['ours_any_org_ms']:>10.5f} {r['ours_after_revoke_ms']:>12.5f} "
              f"{r['ratio_vs_warm']:>11.2e} {r['speedup_vs_warm']:>8,.0f}x "
              f"{'yes' if r['under_target'] else 'NO':>6} "
              f"{'yes' if r['revocation_honoured'] else 'NO':>7} "
              f"{'yes' if r['agrees_with_casbin'] else 'NO':>5}")
    print()
    for r in rows:
        print(f"{r['rules']:>8,} rules = {r['p_rules']:,} p + {r['g_rules']:,} g, {r['orgs']:,} orgs, "
              f"{r['people']:,} people; casbin load {r['casbin_load_s']:.2f} s, "
              f"{r['casbin_samples']} casbin samples; index load {r['ours_load_ms']:.1f} ms, "
              f"reload after revoke {r['reload_after_revoke_ms']:.1f} ms; "
              f"{r['allowed_share']:.0%} of queries allowed")


if __name__ == "__main__":
    t0 = time.perf_counter()
    rows = run(quick="--quick" in sys.argv)
    print_table(rows)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s; ratio = our time / casbin warm time; "
          f"target < {TARGET_MS} ms per check")
    sys.exit(0 if all(r["under_target"] and r["revocation_honoured"] and r["agrees_with_casbin"]
                      for r in rows) else 1)
