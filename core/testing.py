"""Test helpers for plugin authors: a migrated deployment and a logged-in
browser-like client in two lines, using only the public contract.

    from ccms.testing import login_client, make_test_app

    def test_my_page(tmp_path):
        app = make_test_app(tmp_path, enable=["my_plugin"])
        client = login_client(app)
        assert client.get("/my_plugin").status_code == 200

The deployment runs on a SQLite file in ``tmp_path`` (pass ``database_url``
for PostgreSQL), with core's and the enabled plugins' migrations applied,
proposed roles seeded and an administrator (:data:`ADMIN_USER`) created.
Needs the ``test`` extra (``httpx``) for :class:`Client`.

Building that database (migrations, seeding) takes seconds; the result only
depends on the deployment's settings, so :class:`TemplateDatabases` builds it
once per distinct settings ("key") and hands each test a copy: a file copy on
SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import json
import os
import queue
import re
import shutil
import sqlite3
import sys
import tempfile
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.testclient import TestClient

from . import audit, auth, migrate, plugin_loader, seed
from .app import create_app
from .config import parse_deployment
from .models import Person, Role

ADMIN_USER = "root"
ADMIN_PASSWORD = "Str0ng#Passw0rd"
SECRET = "test-secret-key-0123456789"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


# Settings whose effect on the database depends on files of the test's own
# folder: a deployment using them is built from scratch, never from a template.
_UNTEMPLATED = ("form_defs_dir", "flow_defs_dir", "pii")


class TemplateDatabases:
    """Databases built once per key and copied per test.

    ``fresh(key, build)`` returns the URL of a new database holding what
    ``build(url)`` wrote into the key's template; the template is built on the
    first call for that key. SQLite templates are files under ``root``;
    PostgreSQL templates are databases on ``pg_url``'s server (its user must
    be allowed to create databases). Names carry the process id, so parallel
    test workers (pytest-xdist) never share one.
    """

    def __init__(self, root: Path, pg_url: str | None = None) -> None:
        self.root = Path(root)
        self.pg_url = make_url(pg_url) if pg_url else None
        self._admin: Any = None
        self._files: dict[str, Path] = {}
        self._pg_templates: dict[str, str] = {}
        self._pg_made: list[str] = []
        self._drops: queue.Queue[str | None] = queue.Queue()
        self._dropper: threading.Thread | None = None

    @staticmethod
    def digest(key: str) -> str:
        return hashlib.sha1(key.encode()).hexdigest()[:12]

    def fresh_sqlite(self, key: str, build: Callable[[str], None], dest: Path) -> str:
        tpl = self._files.get(key)
        if tpl is None:
            tpl = self.root / f"tpl-{self.digest(key)}.db"
            tpl.unlink(missing_ok=True)
            build(f"sqlite:///{tpl}")
            with sqlite3.connect(tpl) as conn:  # fold the write-ahead log into the file we copy
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._files[key] = tpl
        shutil.copyfile(tpl, dest)
        return f"sqlite:///{dest}"

    def _pg(self, db: str) -> str:
        assert self.pg_url is not None
        return self.pg_url.set(database=db).render_as_string(hide_password=False)

    def _exec(self, sql: str) -> None:
        if self._admin is None:
            self._admin = create_engine(self.pg_url, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as c:
            c.execute(text(sql))

    def fresh_postgresql(self, key: str, build: Callable[[str], None]) -> str:
        if self.pg_url is None:
            raise RuntimeError("TemplateDatabases has no PostgreSQL server (pg_url)")
        tpl = self._pg_templates.get(key)
        if tpl is None:
            tpl = f"ccms_tpl_{os.getpid()}_{self.digest(key)}"
            self._exec(f'DROP DATABASE IF EXISTS "{tpl}" WITH (FORCE)')
            self._exec(f'CREATE DATABASE "{tpl}"')
            build(self._pg(tpl))  # must close its connections: a template in use cannot be copied
            self._pg_templates[key] = tpl
        name = f"ccms_t_{os.getpid()}_{uuid.uuid4().hex[:12]}"
        self._exec(f'CREATE DATABASE "{name}" TEMPLATE "{tpl}"')
        self._pg_made.append(name)
        return self._pg(name)

    def release(self, url: str) -> None:
        """Drop a PostgreSQL database made here, in the background: a drop takes
        the server up to a second, which the next tests need not wait for
        (connections still open are ended)."""
        name = make_url(url).database
        if name not in self._pg_made:
            return
        self._pg_made.remove(name)
        self._drops.put(name)
        if self._dropper is None:
            self._dropper = threading.Thread(target=self._drop_queued, name="ccms-test-db-drops", daemon=True)
            self._dropper.start()

    def _drop_queued(self) -> None:
        while (name := self._drops.get()) is not None:
            try:
                self._exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception:  # noqa: BLE001 — close() drops what is left; a test never fails here
                self._pg_made.append(name)

    def close(self) -> None:
        """Drop every PostgreSQL database and template made here."""
        if self._dropper is not None:
            self._drops.put(None)
            self._dropper.join()
            self._dropper = None
        if self._admin is None:
            return
        for name in [*self._pg_made, *self._pg_templates.values()]:
            self._exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._pg_made.clear()
        self._pg_templates.clear()
        self._admin.dispose()
        self._admin = None


def deployment_key(data: dict[str, Any], *, available: Any = None, profiles: Any = None,
                   admin: bool = True) -> str | None:
    """The template key of a deployment: its settings without the database URL
    and folder; ``None`` when its database cannot come from a template (own
    plugin folders or profiles, or settings that read files of the test)."""
    if available is not None or profiles is not None or any(k in data for k in _UNTEMPLATED):
        return None
    rest = {k: v for k, v in data.items() if k not in ("database_url", "base_dir")}
    return json.dumps({"deployment": rest, "admin": admin}, sort_keys=True, default=str)


def build_database(data: dict[str, Any], *, available: Any = None, profiles: Any = None,
                   admin: bool = True) -> Starlette:
    """An app on ``data["database_url"]`` with core's and the enabled plugins'
    migrations applied, roles, root org and definitions seeded and (``admin``)
    the administrator created — what every test deployment starts from."""
    app = create_app(parse_deployment(data), available=available, profiles=profiles)
    ctx = app.state.ccms
    migrate.upgrade(ctx.db.engine, ctx.plugins)
    seed.bootstrap(ctx)
    if admin:
        with ctx.db.session() as s:
            if s.scalar(select(Person.id).where(Person.username == ADMIN_USER)) is None:
                seed.create_admin(ctx, s, ADMIN_USER, "平台管理员", ADMIN_PASSWORD)
    return app


def _build_and_close(data: dict[str, Any], admin: bool) -> Callable[[str], None]:
    def build(url: str) -> None:
        build_database({**data, "database_url": url}, admin=admin).state.ccms.close()
    return build


_default_templates: TemplateDatabases | None = None


def default_templates() -> TemplateDatabases:
    """This process's SQLite templates (a temporary folder removed at exit)."""
    global _default_templates
    if _default_templates is None:
        root = Path(tempfile.mkdtemp(prefix="ccms-templates-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _default_templates = TemplateDatabases(root)
    return _default_templates


def plugin_context(app: Starlette) -> Any:
    """The :class:`ccms.api.PluginContext` an app's plugins receive as ``ctx``: call a
    plugin's functions in tests with this, as hooks and ``ctx_of(request)`` do."""
    return app.state.ccms.plugin_context


def make_test_app(tmp_path: Path, *, enable: Iterable[str] = (), disable: Iterable[str] = (),
                  profile: str = "city", region_code: str = "320500", database_url: str | None = None,
                  available: Any = None, templates: TemplateDatabases | None = None,
                  **overrides: Any) -> Starlette:
    """A ready deployment of ``profile`` with ``enable``/``disable`` applied.

    :func:`plugin_context` gives the ``ctx`` its plugins receive. Start-up faults
    raise :class:`ccms.errors.StartupError` exactly as in production. Without
    ``database_url`` the SQLite database is a copy of a template built once
    per distinct settings (``templates``, default: one per process).
    """
    overrides.setdefault("base_dir", str(tmp_path))  # uploads land in the test's folder, not the cwd
    data = {"profile": profile, "region_code": region_code, "name": "测试部署", "secret_key": SECRET,
            "plugins": {"enable": list(enable), "disable": list(disable)}, **overrides}
    key = deployment_key(data, available=available)
    Path(tmp_path).mkdir(parents=True, exist_ok=True)
    if database_url is None and key is not None:
        url = (templates or default_templates()).fresh_sqlite(
            key, _build_and_close(data, True), Path(tmp_path) / "ccms-test.db")
        return create_app(parse_deployment({**data, "database_url": url}))
    url = database_url or f"sqlite:///{Path(tmp_path) / 'ccms-test.db'}"
    return build_database({**data, "database_url": url}, available=available)


class Client(TestClient):
    """A TestClient that carries the page's CSRF token like a browser does."""

    csrf: str = ""

    def refresh_csrf(self) -> str:
        m = CSRF_RE.search(self.get("/login").text)
        assert m, "login page has no CSRF token"
        self.csrf = m.group(1)
        return self.csrf

    def form(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        """POST a form with the CSRF token."""
        payload = dict(data or {})
        payload.setdefault("csrf_token", self.csrf or self.refresh_csrf())
        return self.post(url, data=payload, **kw)

    def api(self, method: str, url: str, **kw: Any) -> Any:
        """A JSON API call with the session cookie and the ``X-CSRF-Token`` header."""
        headers = dict(kw.pop("headers", {}) or {})
        if method.upper() not in ("GET", "HEAD"):
            headers.setdefault("X-CSRF-Token", self.csrf or self.refresh_csrf())
        return self.request(method, url, headers=headers, **kw)


def login_client(app: Starlette, username: str | None = ADMIN_USER, password: str = ADMIN_PASSWORD) -> Client:
    """A client logged in as ``username`` (``None``: anonymous)."""
    client = Client(app, raise_server_exceptions=False)
    if username:
        client.refresh_csrf()
        r = client.form("/login", {"username": username, "password": password}, follow_redirects=False)
        assert r.status_code == 303, f"login of {username} failed: {r.status_code} {r.text[:300]}"
    return client


def add_user(app: Starlette, username: str, permissions: Iterable[str] = (), *,
             password: str = ADMIN_PASSWORD, org_id: int | None = None) -> int:
    """A person holding exactly ``permissions`` on ``org_id`` (default: the
    root org), through a role of their own; returns the person's id."""
    ctx = app.state.ccms
    with ctx.db.session() as s:
        org_id = org_id or seed.ensure_root_org(ctx, s).id
        person = Person(username=username, display_name=username, org_id=org_id)
        auth.set_password(person, password)
        s.add(person)
        role = f"test_{username}"
        s.add(Role(code=role, name=role))
        s.flush()
        ctx.authz.set_role_permissions(s, role, list(permissions))
        ctx.authz.grant(s, person.id, role, org_id)
        audit.record(s, None, "person_create", "person", person.id, summary="test user")
        return person.id


# --- temporary plugins ---------------------------------------------------------------

def write_plugin(root: Path, plugin_id: str, files: dict[str, str | bytes] | None = None, *,
                 manifest: dict[str, Any] | None = None) -> Path:
    """Write the plugin folder ``root/plugin_id``: ``plugin.json`` from ``manifest``
    (merged over a minimal city plugin's), and ``files`` (relative path -> text or
    bytes, e.g. ``{"__init__.py": ..., "templates/x.html": ...}``); returns it."""
    folder = Path(root) / plugin_id
    folder.mkdir(parents=True)
    data = {"id": plugin_id, "name": {"zh-CN": plugin_id, "en": plugin_id}, "version": "0.0.1",
            "tiers": ["city"], **(manifest or {})}
    (folder / "plugin.json").write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    files = {"__init__.py": "", **(files or {})}
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


@contextmanager
def temporary_plugins(root: Path, plugins: dict[str, dict[str, Any]], *,
                      builtin: bool = True) -> Iterator[dict[str, Any]]:
    """Plugins written from data, available only inside the ``with`` block.

    ``plugins`` maps an id to ``{"manifest": {...}, "files": {...}}`` (see
    :func:`write_plugin`). Yields the ``available`` plugins to start an app
    with — the built-in ones too unless ``builtin=False`` — and enable them as
    usual::

        with temporary_plugins(tmp_path, {"acme": {"files": {"__init__.py": CODE}}}) as available:
            app = make_test_app(tmp_path, enable=["acme"], available=available)

    Afterwards the folder leaves ``sys.path`` and every module imported from it
    leaves ``sys.modules``, even when the block failed, so the next test can
    write a plugin of the same name.
    """
    folder = Path(root) / f"temporary-plugins-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    infos = []
    for plugin_id, spec in plugins.items():
        path = write_plugin(folder, plugin_id, spec.get("files"), manifest=spec.get("manifest"))
        infos.append(plugin_loader.PluginInfo(
            plugin_id, plugin_loader.read_manifest(path / "plugin.json", plugin_id), path, plugin_id, "test"))
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    try:
        yield plugin_loader.discover(builtin_dir=plugin_loader.BUILTIN_DIR if builtin else None,
                                     use_entry_points=False, extra=infos)
    finally:
        sys.path.remove(str(folder))
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if file and Path(file).is_relative_to(folder):
                del sys.modules[name]
        importlib.invalidate_caches()
