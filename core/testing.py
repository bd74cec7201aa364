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
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from . import audit, auth, migrate, seed
from .app import create_app
from .config import parse_deployment
from .models import Person, Role

ADMIN_USER = "root"
ADMIN_PASSWORD = "Str0ng#Passw0rd"
SECRET = "test-secret-key-0123456789"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def plugin_context(app: Starlette) -> Any:
    """The :class:`ccms.api.PluginContext` an app's plugins receive as ``ctx``: call a
    plugin's functions in tests with this, as hooks and ``ctx_of(request)`` do."""
    return app.state.ccms.plugin_context


def make_test_app(tmp_path: Path, *, enable: Iterable[str] = (), disable: Iterable[str] = (),
                  profile: str = "city", region_code: str = "320500", database_url: str | None = None,
                  available: Any = None, **overrides: Any) -> Starlette:
    """A ready deployment of ``profile`` with ``enable``/``disable`` applied.

    :func:`plugin_context` gives the ``ctx`` its plugins receive. Start-up faults
    raise :class:`ccms.errors.StartupError` exactly as in production.
    """
    url = database_url or f"sqlite:///{Path(tmp_path) / 'ccms-test.db'}"
    overrides.setdefault("base_dir", str(tmp_path))  # uploads land in the test's folder, not the cwd
    deployment = parse_deployment({
        "profile": profile, "region_code": region_code, "name": "测试部署", "secret_key": SECRET,
        "database_url": url, "plugins": {"enable": list(enable), "disable": list(disable)}, **overrides})
    app = create_app(deployment, available=available)
    ctx = app.state.ccms
    migrate.upgrade(ctx.db.engine, ctx.plugins)
    seed.bootstrap(ctx)
    with ctx.db.session() as s:
        if s.scalar(select(Person.id).where(Person.username == ADMIN_USER)) is None:
            seed.create_admin(ctx, s, ADMIN_USER, "平台管理员", ADMIN_PASSWORD)
    return app


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
