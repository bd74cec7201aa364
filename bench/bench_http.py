"""Benchmark: the full ccms stack over real HTTP against a bare Starlette endpoint
doing the same database work.

Two uvicorn servers (1 worker, h11, 127.0.0.1, each in its own subprocess)
share one temporary, migrated and seeded database:

* **full**: the ccms app of a city deployment. Requests carry a logged-in
  session cookie and the CSRF token, so each one pays for the session lookup,
  the CSRF check, the casbin (permission index) check, pydantic validation,
  the ORM, the audit write and the theme's templates.
* **bare**: a Starlette app with no middleware that runs the same SQL with
  SQLAlchemy Core on an engine made by :func:`ccms.db.make_engine` (same
  pragmas and pool) and renders a plain Jinja2 table.

Benchmarks:

* ``POST /api/orgs``: create an org (JSON). The full stack goes through
  ``ccms.services.orgs.create``; the bare endpoint issues the same statements
  (parent lookup, root check, sibling-name check, INSERT org, UPDATE path,
  INSERT audit row) in one transaction.
* ``GET /admin/people?page_size=50``: the list page (full HTML page, not the
  htmx fragment). The bare endpoint runs the same count, page and org-picker
  queries and renders as many rows as the full page shows through a plain
  Jinja2 table (the screen's page size is fixed at 20 today).

Load comes from this process: a few threads, each with its own keep-alive
``httpx.Client``. Both servers are up together and measured in alternating
rounds, so machine noise hits both alike; only ratios full/bare are judged,
never absolute figures. Each server reports its own CPU time and in-app time
per request (a thin timing wrapper around the ASGI app); the verdict is on
server CPU time per request (target: full at most 1.5x bare), which equals the
req/s ratio on a quiet machine and survives a busy one.

Run ``python bench/bench_http.py [--quick|--smoke] [--db-url URL]``; the
runner ``bench/run.py`` imports :func:`run` and :func:`print_table`.
``python bench/bench_http.py serve ...`` is the server subprocess itself.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_RATIO = 1.5
SECRET = "bench-secret-key-0123456789abcdef"
ADMIN_USER = "bench_admin"
ADMIN_PASSWORD = "Bench#Passw0rd-2026"
PEOPLE = 120          # > 2 pages of 50
WANT_ROWS = 50        # rows the list page should show
DISTRICTS = 12        # seeded org tree: root -> districts -> streets, plus departments
STREETS = 10
DEPARTMENTS = 8
USER_PREFIX = "bench_p"
POST_CHUNK = 250      # created orgs are removed every 250 POSTs: the tree stays at its seeded size + <= 250
STATS_PATH = "/__bench/stats"

PLANS: dict[str, dict[str, int]] = {
    # warm-up requests per server, measured requests per round and server, rounds, client threads
    # (many short rounds: full and bare alternate often, so both see the same machine noise)
    "smoke": {"warmup": 5, "requests": 15, "rounds": 1, "threads": 2},
    "quick": {"warmup": 60, "requests": 100, "rounds": 6, "threads": 3},
    "full": {"warmup": 300, "requests": 250, "rounds": 12, "threads": 3},
}


# --- the database ----------------------------------------------------------------

def deployment_data(db_url: str) -> dict[str, Any]:
    return {"profile": "city", "region_code": "320500", "name": "基准测试市城市综合管理服务平台",
            "secret_key": SECRET, "database_url": db_url}


@dataclass
class Seeded:
    db_url: str
    root_id: int
    bench_parent_id: int   # POSTed orgs go under this department
    max_org_id: int        # orgs above this id were created by the benchmark and are removed per round
    orgs: int
    people: int


def prepare(db_url: str) -> Seeded:
    """Migrate and seed like the test fixtures, then add an org tree and people."""
    from sqlalchemy import func, insert, select, update

    from ccms import migrate, seed
    from ccms.app import create_app
    from ccms.config import parse_deployment
    from ccms.models import AuthzState, Org, Person

    app = create_app(parse_deployment(deployment_data(db_url)))
    ctx = app.state.ccms
    try:
        migrate.upgrade(ctx.db.engine, ctx.plugins)
        root = seed.bootstrap(ctx)
        with ctx.db.session() as s:
            if s.scalar(select(Person.id).where(Person.username == ADMIN_USER)) is None:
                seed.create_admin(ctx, s, ADMIN_USER, "基准管理员", ADMIN_PASSWORD)
        org_t, person_t = Org.__table__, Person.__table__
        with ctx.db.engine.begin() as c:
            existing = c.execute(select(org_t.c.id).where(org_t.c.name == "基准测试部门")).scalar()
            if existing is None:
                def add(parent: tuple[int, str], name: str, kind: str, region: str | None,
                        sort: int) -> tuple[int, str]:
                    oid = c.execute(insert(org_t).values(parent_id=parent[0], name=name, kind=kind,
                                                         region_code=region, path="", sort=sort, active=True,
                                                         version=1).returning(org_t.c.id)).scalar_one()
                    path = f"{parent[1]}{oid}/"
                    c.execute(update(org_t).where(org_t.c.id == oid).values(path=path))
                    return oid, path

                top = (root.id, root.path)
                leaves: list[int] = []
                for d in range(DEPARTMENTS):
                    leaves.append(add(top, f"职能部门{d + 1:02d}", "department", None, d)[0])
                for d in range(DISTRICTS):
                    dist = add(top, f"第{d + 1:02d}区", "region", f"3205{d + 1:02d}", 100 + d)
                    for st in range(STREETS):
                        leaves.append(add(dist, f"第{d + 1:02d}区第{st + 1:02d}街道", "unit", None, st)[0])
                existing = add(top, "基准测试部门", "department", None, 999)[0]
                surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
                given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
                c.execute(insert(person_t), [
                    {"username": f"{USER_PREFIX}{i:04d}", "org_id": leaves[i % len(leaves)],
                     "display_name": surnames[i % 20] + given[(i * 7) % 20] + given[(i * 3) % 20],
                     "post": "网格员" if i % 3 else "科员", "phone": f"0512-6{i:07d}",
                     "email": f"p{i}@bench.example.cn", "active": i % 11 != 0, "password_hash": "!",
                     "version": 1}
                    for i in range(1, PEOPLE + 1)])
                c.execute(update(AuthzState).where(AuthzState.id == 1).values(version=AuthzState.version + 1))
            max_org = c.execute(select(func.max(org_t.c.id))).scalar_one()
            n_orgs = c.execute(select(func.count()).select_from(org_t)).scalar_one()
            n_people = c.execute(select(func.count()).select_from(person_t)).scalar_one()
        return Seeded(db_url, root.id, existing, max_org, n_orgs, n_people)
    finally:
        ctx.close()


def drop_bench_orgs(engine: Any, max_org_id: int) -> None:
    """Remove orgs the POST benchmark created so every round starts from the same tree."""
    from sqlalchemy import delete

    from ccms.models import Org

    with engine.begin() as c:
        c.execute(delete(Org.__table__).where(Org.__table__.c.id > max_org_id))


# --- the bare app ------------------------------------------------------------------



def bare_app(db_url: str) -> Any:
    """Starlette, no middleware: the same statements as the full stack, nothing else."""
    import math

    from sqlalchemy import insert, select, update
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    from ccms.db import make_engine, utcnow
    from ccms.models import AuditLog, Org, Person

    engine = make_engine(db_url)
    org, person, audit_t = Org.__table__, Person.__table__, AuditLog.__table__
    with engine.connect() as c:
        root_path = c.execute(select(org.c.path).where(org.c.parent_id.is_(None)).order_by(org.c.id)).scalar_one()

    async def create_org(request: Request) -> JSONResponse:
        data = json.loads(await request.body())
        name, kind, parent_id = data["name"], data["kind"], data["parent_id"]
        with engine.begin() as c:
            parent = c.execute(select(org.c.id, org.c.path, org.c.active).where(org.c.id == parent_id)).first()
            if parent is None or not parent.active:
                return JSONResponse({"error": "parent"}, status_code=422)
            if c.execute(select(org.c.id).where(org.c.parent_id == parent_id, org.c.name == name)
                         .limit(1)).scalar() is not None:
                return JSONResponse({"error": "name"}, status_code=422)
            now = utcnow()
            oid = c.execute(insert(org).values(parent_id=parent_id, name=name, kind=kind,
                                               region_code=data.get("region_code"), path="", sort=0, active=True,
                                               created_at=now, updated_at=now, version=1)
                            .returning(org.c.id)).scalar_one()
            path = f"{parent.path}{oid}/"
            c.execute(update(org).where(org.c.id == oid).values(path=path))
            row = {"id": oid, "parent_id": parent_id, "name": name, "kind": kind, "path": path}
            c.execute(insert(audit_t).values(at=now, actor_id=None, actor_name="bench", client_ip="127.0.0.1",
                                             action="org_create", object_type="org", object_id=str(oid),
                                             summary=f"创建机构 {name}", before=None, after=row, success=True))
        return JSONResponse(row, status_code=201)

    # The list page renders the very same templates with the same queries, so
    # the ratio measures the stack (session, CSRF, permissions, per-request
    # menus and settings), not a difference in page richness. Layout data that
    # the stack computes per request is computed once here.
    from ccms.app import App
    from ccms.config import parse_deployment
    from ccms.services import people as people_svc
    from ccms.web.admin_orgs import org_options
    from ccms.web.user import CurrentUser

    ctx = App(parse_deployment(deployment_data(db_url)))
    with ctx.db.Session() as s:
        admin = s.execute(select(person.c.id, person.c.org_id).where(person.c.username == ADMIN_USER)).one()
    user = CurrentUser(admin.id, ADMIN_USER, "管理员", admin.org_id)
    layout = {"user": user, "csrf_token": "-", "menus": ctx.menus_for(user), "htmx": False, "flash": "",
              "can": lambda *a, **k: True}
    page_template = ctx.templates.get_template("admin/people.html")

    async def people(request: Request) -> HTMLResponse:
        size = int(request.query_params.get("page_size", WANT_ROWS))
        page = int(request.query_params.get("page", 1))
        paths = [root_path]
        with ctx.db.Session() as s:
            stmt = people_svc.search_rows(paths)
            total = people_svc.count(s, stmt)
            pages = max(1, math.ceil(total / size))
            rows = s.execute(stmt.offset((page - 1) * size).limit(size)).all()
            orgs = org_options(s, paths, active_only=False)
        html = page_template.render(request=request, rows=rows, total=total, page=page, pages=pages,
                                    filters={"q": "", "org_id": "", "active": ""}, page_url="/admin/people?",
                                    can_create=True, is_locked=people_svc.is_locked, orgs=orgs,
                                    breadcrumbs=[("人员配置", None)], **layout)
        return HTMLResponse(html)

    return Starlette(routes=[Route("/api/orgs", create_org, methods=["POST"]),
                             Route("/admin/people", people)])


# --- the server subprocess ------------------------------------------------------------

class Timed:
    """Outermost ASGI wrapper: in-app time per request, plus a stats endpoint.

    ``GET /__bench/stats`` answers the process CPU time and the in-app
    durations (ms) recorded since the previous call, then forgets them.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.durations: list[float] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"] == STATS_PATH:
            body = json.dumps({"cpu_s": time.process_time(), "durations_ms": self.durations}).encode()
            self.durations = []
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        t0 = time.perf_counter()
        await self.app(scope, receive, send)
        self.durations.append((time.perf_counter() - t0) * 1000)


def serve(kind: str, db_url: str) -> None:
    """Run one uvicorn server on a free loopback port; print the port on stdout."""
    import socket

    import uvicorn

    if kind == "full":
        from ccms.app import create_app
        from ccms.config import parse_deployment
        app = create_app(parse_deployment(deployment_data(db_url)))
    else:
        app = bare_app(db_url)
    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then (with
    # proto 0 every response written in two pieces waits for the client's 40 ms delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(Timed(app), http="h11", loop="asyncio", workers=1, lifespan="on",
                            log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


class Server:
    """A server subprocess started by us and stopped by its own pid."""

    def __init__(self, kind: str, db_url: str, workdir: Path) -> None:
        self.kind = kind
        self.log_path = workdir / f"server_{kind}.log"
        self._log = open(self.log_path, "w+b")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "serve", kind, db_url],
                                     stdout=subprocess.PIPE, stderr=self._log, env=env, cwd=str(ROOT))
        self.url = ""

    def start(self, timeout: float = 60.0) -> "Server":
        import select

        import httpx

        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().decode().strip() if ready else f"(no port after {timeout:.0f} s)"
        if not line.startswith("PORT "):
            raise RuntimeError(f"{self.kind} server did not start: {line!r}\n{self.log()}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + STATS_PATH, timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} server is not answering\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def stats(self) -> dict[str, Any]:
        import httpx
        return httpx.get(self.url + STATS_PATH, timeout=10).json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()


# --- the client ---------------------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def client(base_url: str, headers: dict[str, str] | None = None) -> Any:
    """A keep-alive httpx client with TCP_NODELAY: without it a request written in two
    pieces waits for a delayed ACK (40 ms on Linux) and every figure is that timer."""
    import socket

    import httpx
    transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    return httpx.Client(base_url=base_url, headers=headers, timeout=60, transport=transport)


def login(base_url: str) -> dict[str, str]:
    """Log in like a browser; return the headers every request of the full stack carries."""
    import httpx

    with httpx.Client(base_url=base_url, timeout=30) as c:
        page = c.get("/login")
        m = CSRF_RE.search(page.text)
        if not m:
            raise RuntimeError(f"no CSRF token on the login page ({page.status_code})")
        r = c.post("/login", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD, "csrf_token": m.group(1),
                                   "next": "/"})
        if r.status_code != 303 or "ccms_session" not in c.cookies:
            raise RuntimeError(f"login failed: {r.status_code} {r.text[:300]}")
        cookies = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
        token = m.group(1)
    return {"Cookie": cookies, "X-CSRF-Token": token}


@dataclass
class Bench:
    """One benchmark: how to build the n-th request and what a good answer is."""

    key: str
    title: str
    method: str
    path: str
    expect: int
    body: Callable[[str, int], bytes | None] = lambda stack, i: None
    headers: dict[str, str] = field(default_factory=dict)
    chunk: int | None = None  # POSTs: reset the org tree every ``chunk`` requests


class Load:
    """``threads`` threads, each with its own keep-alive client, sharing a request counter."""

    def __init__(self, base_url: str, headers: dict[str, str], threads: int) -> None:
        self.clients = [client(base_url, headers) for _ in range(threads)]

    def close(self) -> None:
        for c in self.clients:
            c.close()

    def run(self, bench: Bench, stack: str, n: int, start: int) -> tuple[list[float], float, list[str]]:
        """Send ``n`` requests; return latencies (ms), wall time (s) and error samples."""
        lock = threading.Lock()
        counter = iter(range(start, start + n))
        latencies: list[float] = []
        errors: list[str] = []

        def worker(client: Any) -> None:
            own: list[float] = []
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    break
                body = bench.body(stack, i)
                t0 = time.perf_counter()
                r = client.request(bench.method, bench.path, content=body, headers=bench.headers)
                own.append((time.perf_counter() - t0) * 1000)
                if r.status_code != bench.expect and len(errors) < 3:
                    errors.append(f"{r.status_code} {r.text[:300]}")
            with lock:
                latencies.extend(own)

        workers = [threading.Thread(target=worker, args=(c,)) for c in self.clients]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return latencies, time.perf_counter() - t0, errors


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


@dataclass
class Measure:
    latencies: list[float] = field(default_factory=list)
    in_app: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    per_round: list[tuple[float, float]] = field(default_factory=list)  # (server CPU ms/request, req/s)

    def row(self) -> dict[str, Any]:
        n = len(self.latencies)
        return {"requests": n, "rps": n / self.wall_s if self.wall_s else 0.0,
                "median_ms": pct(self.latencies, 0.5), "p95_ms": pct(self.latencies, 0.95),
                "cpu_ms_per_req": self.cpu_s * 1000 / n if n else float("nan"),
                "server_cpu_share": self.cpu_s / self.wall_s if self.wall_s else 0.0,
                "client_cpu_share": self.client_cpu_s / self.wall_s if self.wall_s else 0.0,
                "in_app_median_ms": pct(self.in_app, 0.5), "errors": self.errors,
                "per_round": self.per_round}


def count_rows(html: str) -> int:
    """People rows on a list page: distinct links to a person's page."""
    return len(set(re.findall(r'href="/admin/people/(\d+)"', html)))


def run(quick: bool = False, *, smoke: bool = False, db_url: str | None = None,
        plan: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """Run both benchmarks; one dict per benchmark with the full and bare figures and ratios."""
    import httpx

    plan = plan or PLANS["smoke" if smoke else "quick" if quick else "full"]
    with tempfile.TemporaryDirectory(prefix="ccms_bench_http_") as tmp:
        work = Path(tmp)
        url = db_url or f"sqlite:///{work / 'bench.db'}"
        seeded = prepare(url)
        from ccms.db import make_engine
        cleaner = make_engine(url)
        servers = {k: Server(k, url, work) for k in ("full", "bare")}
        loads: dict[str, Load] = {}
        try:
            for s in servers.values():
                s.start()
            auth_headers = login(servers["full"].url)
            for k, s in servers.items():
                loads[k] = Load(s.url, auth_headers, plan["threads"])

            # The list page: ask for 50 rows, then render as many rows in the bare page as the full one shows.
            with httpx.Client(base_url=servers["full"].url, headers=auth_headers, timeout=30) as c:
                probe = c.get(f"/admin/people?page_size={WANT_ROWS}")
            rows_shown = count_rows(probe.text) if probe.status_code == 200 else 0
            list_ok = rows_shown > 0
            list_note = ""
            if not list_ok:
                list_note = (f"/admin/people answered {probe.status_code} with {rows_shown} of the seeded people: "
                             "list benchmark skipped")
            elif rows_shown != WANT_ROWS:
                list_note = (f"/admin/people shows {rows_shown} rows (asked page_size={WANT_ROWS}, not honoured); "
                             f"the bare page renders {rows_shown} rows too")

            post_headers = {"Content-Type": "application/json"}
            benches = [
                Bench("post_org", "POST /api/orgs (create org)", "POST", "/api/orgs", 201,
                      body=lambda stack, i: json.dumps({"name": f"基准机构-{stack}-{i:06d}", "kind": "department",
                                                        "parent_id": seeded.bench_parent_id}).encode(),
                      headers=post_headers, chunk=POST_CHUNK),
            ]
            if list_ok:
                benches.append(Bench("get_people", f"GET /admin/people ({rows_shown} rows)", "GET",
                                     f"/admin/people?page_size={rows_shown}", 200))

            results = []
            seq = 0

            def measure(b: Bench, k: str, n: int, m: Measure | None) -> None:
                """``n`` requests; POSTs in chunks with the tree reset between them (bounded org count)."""
                nonlocal seq
                done = 0
                while done < n:
                    step = min(n - done, b.chunk or n)
                    if b.key == "post_org":
                        drop_bench_orgs(cleaner, seeded.max_org_id)
                    lat, wall, errs = loads[k].run(b, k, step, seq)
                    seq += step
                    done += step
                    if m is None:
                        if errs:
                            raise RuntimeError(f"{b.title} on the {k} stack failed: {errs[0]}\n{servers[k].log()}")
                    else:
                        m.latencies += lat
                        m.wall_s += wall
                        m.errors += errs[:3 - len(m.errors)]

            for b in benches:
                m = {k: Measure() for k in servers}
                for k in servers:
                    measure(b, k, plan["warmup"], None)
                for rnd in range(plan["rounds"]):
                    for k in (("full", "bare") if rnd % 2 == 0 else ("bare", "full")):
                        before, client_before = servers[k].stats(), time.process_time()
                        wall_before = m[k].wall_s
                        measure(b, k, plan["requests"], m[k])
                        after = servers[k].stats()
                        cpu = after["cpu_s"] - before["cpu_s"]
                        m[k].cpu_s += cpu
                        m[k].client_cpu_s += time.process_time() - client_before
                        m[k].in_app += after["durations_ms"]
                        m[k].per_round.append((cpu * 1000 / plan["requests"],
                                               plan["requests"] / (m[k].wall_s - wall_before)))
                if b.key == "post_org":
                    drop_bench_orgs(cleaner, seeded.max_org_id)
                results.append(ratios(b.key, b.title, m["full"].row(), m["bare"].row(),
                                      note=list_note if b.key == "get_people" else ""))
            if not list_ok:
                results.append({"key": "get_people", "title": "GET /admin/people", "skipped": True,
                                "note": list_note})
            for r in results:
                r.update({"orgs": seeded.orgs, "people": seeded.people, "threads": plan["threads"],
                          "rounds": plan["rounds"], "backend": url.split(":", 1)[0].split("+", 1)[0]})
            return results
        finally:
            for ld in loads.values():
                ld.close()
            for s in servers.values():
                s.stop()
            cleaner.dispose()


def ratios(key: str, title: str, full: dict[str, Any], bare: dict[str, Any], note: str = "") -> dict[str, Any]:
    """Full/bare ratios. The verdict uses server CPU time per request: on a quiet machine it
    equals the req/s ratio of the saturated servers, and unlike req/s and latency it holds
    when other processes take CPU from the servers or the client."""
    # Median over rounds of the ratio within a round: full and bare ran back to back there, under
    # the same machine load, so a round disturbed by another process does not tip the verdict.
    pairs = list(zip(full["per_round"], bare["per_round"]))
    cpu = statistics.median(f[0] / b[0] for f, b in pairs)
    thr = statistics.median(b[1] / f[1] for f, b in pairs)
    ok = not full["errors"] and not bare["errors"] and cpu <= TARGET_RATIO
    return {"key": key, "title": title, "full": full, "bare": bare, "skipped": False, "note": note,
            "ratio_cpu": cpu, "ratio_throughput": thr,
            "ratio_median": full["median_ms"] / bare["median_ms"], "ratio_p95": full["p95_ms"] / bare["p95_ms"],
            "ratio_in_app": full["in_app_median_ms"] / bare["in_app_median_ms"],
            "target": TARGET_RATIO, "passed": ok}


def print_table(rows: list[dict[str, Any]]) -> None:
    if rows:
        r0 = rows[0]
        print(f"uvicorn 1 worker, h11, 127.0.0.1; {r0['backend']}; {r0['orgs']} orgs, {r0['people']} people; "
              f"{r0['threads']} client threads with keep-alive, {r0['rounds']} alternating round(s)")
    head = (f"{'benchmark':<34} {'stack':<5} {'requests':>8} {'req/s':>8} {'median ms':>9} {'p95 ms':>8} "
            f"{'srv CPU ms/req':>14} {'srv CPU %':>9} {'client CPU %':>12} {'in-app ms':>9}")
    print(head)
    print("-" * len(head))
    for r in rows:
        if r.get("skipped"):
            print(f"{r['title']:<34} SKIPPED: {r['note']}")
            continue
        for stack in ("full", "bare"):
            s = r[stack]
            print(f"{r['title'] if stack == 'full' else '':<34} {stack:<5} {s['requests']:>8} {s['rps']:>8.0f} "
                  f"{s['median_ms']:>9.2f} {s['p95_ms']:>8.2f} {s['cpu_ms_per_req']:>14.2f} "
                  f"{s['server_cpu_share']:>9.0%} {s['client_cpu_share']:>12.0%} {s['in_app_median_ms']:>9.2f}")
    print()
    head = (f"{'full / bare':<34} {'CPU/req':>7} {'req/s':>6} {'median':>7} {'p95':>6} {'in-app':>7}  "
            f"verdict (CPU/req <= {TARGET_RATIO}x)")
    print(head)
    print("-" * len(head))
    for r in rows:
        if r.get("skipped"):
            continue
        print(f"{r['title']:<34} {r['ratio_cpu']:>6.2f}x {r['ratio_throughput']:>5.2f}x {r['ratio_median']:>6.2f}x "
              f"{r['ratio_p95']:>5.2f}x {r['ratio_in_app']:>6.2f}x  {'PASS' if r['passed'] else 'FAIL'}")
    print("CPU/req = server CPU time per request (uvicorn + app, + SQLite itself on SQLite), the verdict; "
          "req/s = bare req/s / full req/s (both: median over rounds of the ratio within a round); "
          "median, p95 = client-side latency; in-app = time inside the ASGI app")
    busy = [r for r in rows if not r.get("skipped") and min(r["full"]["server_cpu_share"],
                                                           r["bare"]["server_cpu_share"]) < 0.85]
    if busy:
        print("note: a server got < 85% of a core while measured (the machine is busy, the client is the "
              "bottleneck or the server waits for a database server): req/s and latency ratios are less "
              "reliable than CPU/req in this run")
    for r in rows:
        if r.get("note") and not r.get("skipped"):
            print(f"note: {r['note']}")
        for stack in ("full", "bare"):
            for e in (r.get(stack) or {}).get("errors", []):
                print(f"error ({r['title']}, {stack}): {e}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        serve(argv[1], argv[2])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--smoke", action="store_true", help="a handful of requests: checks the harness, not speed")
    p.add_argument("--db-url", help="an empty (or core-migrated) database instead of a temporary SQLite file")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    rows = run(a.quick, smoke=a.smoke, db_url=a.db_url)
    print_table(rows)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")
    return 0 if all(r.get("passed") for r in rows if not r.get("skipped")) else 1


if __name__ == "__main__":
    sys.exit(main())
