"""Shared fixtures: a migrated database per test on SQLite and PostgreSQL,
app instances per deployment, and logged-in test clients.

This file sits at the repository root so core's tests (``tests/``) and each
built-in plugin's own tests (``plugins/<id>/tests/``) share it; ``tests/`` is
put on ``sys.path`` so plugin tests can use its helpers (``browserkit``,
``flow_engine_kit``). Core stands alone: with ``CCMS_BUILTIN_PLUGINS_DIR``
pointing at an empty folder no built-in plugin is found or importable, the
test deployments drop the profile's missing plugins, plugin test folders are
not collected and tests marked ``needs_plugins`` skip with the reason.

PostgreSQL runs when ``CCMS_TEST_PG_URL`` points at a server whose user may
create databases (CI starts one, see ``.ci/run``); otherwise those test
variants are skipped with the reason. ``CCMS_REQUIRE_PG=1`` turns that skip
into a failure so CI cannot pass without PostgreSQL.
"""

from __future__ import annotations

import importlib.abc
import os
import shutil
import sys
import uuid
from functools import cache
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

os.environ.setdefault("CCMS_ARGON2_CHEAP", "1")  # before core.auth is imported: fast hashes in tests

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from ccms import migrate, seed
from ccms.app import App, create_app
from ccms.config import parse_deployment
from ccms.testing import ADMIN_PASSWORD, ADMIN_USER  # noqa: F401  (tests import them from here)
from ccms import plugin_loader

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tests"))  # test helpers, for plugins' tests too

SECRET = "test-secret-key-0123456789"
PG_URL = os.environ.get("CCMS_TEST_PG_URL", "")

BACKENDS = ["sqlite", "postgresql"]


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("TZ", "UTC")


# --- built-in plugins present or not -----------------------------------------------

@cache
def installed_plugins() -> frozenset[str]:
    """Ids of the plugins this run can load (built-in folder and installed distributions)."""
    return frozenset(plugin_loader.discover())


class _HiddenBuiltins(importlib.abc.MetaPathFinder):
    """With the built-in folder switched away, importing a shipped plugin fails as if deleted."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        parts = name.split(".")
        if parts[:2] == ["ccms", "plugins"] and len(parts) > 2 and parts[2] not in installed_plugins():
            raise ModuleNotFoundError(f"No module named {name!r} (CCMS_BUILTIN_PLUGINS_DIR hides it)", name=name)


if plugin_loader.BUILTIN_DIR != plugin_loader.SHIPPED_BUILTIN_DIR:
    sys.meta_path.insert(0, _HiddenBuiltins())

# whole-deployment tests in tests/ may reuse an installed plugin's test helpers (test_command_base, ...)
sys.path += [str(d) for d in sorted(ROOT.glob("plugins/*/tests")) if d.parent.name in installed_plugins()]


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A plugin's own tests (``plugins/<id>/tests``) run only when that plugin is installed."""
    rel = collection_path.resolve().relative_to(ROOT) if collection_path.resolve().is_relative_to(ROOT) else None
    if rel is not None and len(rel.parts) >= 3 and rel.parts[0] == "plugins" and rel.parts[2] == "tests":
        return True if rel.parts[1] not in installed_plugins() else None
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs_plugins"):
        missing = [pid for pid in mark.args if pid not in installed_plugins()]
        if missing:
            pytest.skip(f"需要插件 {', '.join(missing)} / needs plugin(s) {', '.join(missing)}, not installed")


def without_uninstalled(profile: str, overrides: dict[str, Any], available: Any = None) -> dict[str, Any]:
    """``overrides`` with the profile's uninstalled plugins added to ``plugins.disable`` (what an
    operator does for a plugin they did not install), so core's tests run without ``plugins/``."""
    have = installed_plugins() if available is None else set(available)
    missing = [pid for pid in plugin_loader.load_profiles().get(profile, []) if pid not in have]
    if not missing:
        return overrides
    plugins = dict(overrides.get("plugins") or {})
    plugins["disable"] = list(plugins.get("disable", [])) + [p for p in missing if p not in plugins.get("disable", [])]
    return {**overrides, "plugins": plugins}


def plugins_toml(profile: str = "city") -> str:
    """The ``[plugins]`` table a deployment file of ``profile`` needs here ("" when every
    plugin of the profile is installed), for tests that write TOML files."""
    missing = without_uninstalled(profile, {}).get("plugins", {}).get("disable", [])
    return ("[plugins]\ndisable = [" + ", ".join(f'"{pid}"' for pid in missing) + "]\n") if missing else ""


# --- databases ----------------------------------------------------------------

class _SqliteTemplates:
    """Migrate once per session, copy the file per test (fast and isolated)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.template: Path | None = None

    def fresh(self, dest: Path) -> str:
        if self.template is None:
            self.template = self.root / "template.db"
            eng = create_engine(f"sqlite:///{self.template}")
            migrate.upgrade(eng, [])
            with eng.begin() as c:
                c.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            eng.dispose()
        shutil.copy(self.template, dest)
        return f"sqlite:///{dest}"


class _PgTemplates:
    """Migrate a template database once, ``CREATE DATABASE ... TEMPLATE`` per test."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        self.template = f"ccms_tpl_{os.getpid()}"
        self.made: list[str] = []
        self.ready = False

    def _url(self, db: str) -> str:
        return self.url.set(database=db).render_as_string(hide_password=False)

    def fresh(self) -> str:
        if not self.ready:
            with self.admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{self.template}"'))
                c.execute(text(f'CREATE DATABASE "{self.template}"'))
            eng = create_engine(self._url(self.template))
            migrate.upgrade(eng, [])
            eng.dispose()
            self.ready = True
        name = f"ccms_t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        self.made.append(name)
        return self._url(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        with self.admin.connect() as c:
            for name in self.made:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def _sqlite_templates(tmp_path_factory: pytest.TempPathFactory) -> _SqliteTemplates:
    return _SqliteTemplates(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def _pg_templates() -> Iterator[_PgTemplates | None]:
    if not PG_URL:
        yield None
        return
    t = _PgTemplates(PG_URL)
    yield t
    t.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not PG_URL:
        if os.environ.get("CCMS_REQUIRE_PG") == "1":
            pytest.fail("CCMS_REQUIRE_PG=1 but CCMS_TEST_PG_URL is not set")
        pytest.skip("PostgreSQL 未配置：设置 CCMS_TEST_PG_URL 以运行 / no PostgreSQL server: set CCMS_TEST_PG_URL")
    return request.param


@pytest.fixture
def new_db_url(backend: str, tmp_path: Path, _sqlite_templates: _SqliteTemplates,
               _pg_templates: _PgTemplates | None) -> Callable[[], str]:
    """Factory of fresh, migrated (core only) databases of the test's backend."""
    counter = iter(range(1000))

    def make() -> str:
        if backend == "sqlite":
            return _sqlite_templates.fresh(tmp_path / f"db{next(counter)}.sqlite")
        assert _pg_templates is not None
        return _pg_templates.fresh()

    return make


@pytest.fixture
def db_url(new_db_url: Callable[[], str]) -> str:
    return new_db_url()


# --- apps -----------------------------------------------------------------------

def deployment_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"profile": "city", "region_code": "320500", "name": "测试市城市综合管理服务平台",
                            "secret_key": SECRET}
    data.update(overrides)
    return data


@pytest.fixture
def make_app(new_db_url: Callable[[], str], db_url: str, tmp_path: Path) -> Iterator[Callable[..., Starlette]]:
    """``make_app(profile=..., plugins={"enable": [...]}, security={...}, db_url=...)``.

    The first app of a test uses ``db_url``; pass ``db_url=new_db_url()`` for a
    separate database. Core plus the enabled plugins' migrations are applied,
    proposed roles and the root org seeded, and an administrator created.
    """
    apps: list[App] = []
    used: set[str] = set()

    def make(*, available: Any = None, profiles: Any = None, admin: bool = True, **overrides: Any) -> Starlette:
        url = overrides.pop("db_url", None) or db_url
        if profiles is None:  # core's profiles.json: drop what is not installed (tests of profiles pass their own)
            overrides = without_uninstalled(overrides.get("profile", "city"), overrides, available)
        overrides.setdefault("base_dir", str(tmp_path))  # uploads land in the test's folder, never the cwd
        app = create_app(parse_deployment(deployment_data(database_url=url, **overrides)),
                         available=available, profiles=profiles)
        ctx: App = app.state.ccms
        migrate.upgrade(ctx.db.engine, ctx.plugins)
        seed.bootstrap(ctx)
        if admin and url not in used:
            with ctx.db.session() as s:
                seed.create_admin(ctx, s, ADMIN_USER, "平台管理员", ADMIN_PASSWORD)
        used.add(url)
        apps.append(ctx)
        return app

    yield make
    for ctx in apps:
        ctx.close()


@pytest.fixture
def app(make_app: Callable[..., Starlette]) -> Starlette:
    return make_app()


@pytest.fixture
def ctx(app: Starlette) -> App:
    return app.state.ccms


# --- clients ----------------------------------------------------------------------

# The CSRF-aware client is part of core's test helpers, shared with vendor plugins' tests.
from ccms.testing import Client  # noqa: E402


def login(client: Client, username: str, password: str) -> Any:
    client.refresh_csrf()
    return client.form("/login", {"username": username, "password": password}, follow_redirects=False)


@pytest.fixture
def client_for(app: Starlette) -> Iterator[Callable[..., Client]]:
    """``client_for(username=None, password=None, app=None)``: a client, logged in if asked."""
    clients: list[Client] = []

    def make(username: str | None = None, password: str | None = None, app_: Starlette | None = None) -> Client:
        c = Client(app_ or app, raise_server_exceptions=False)
        c.__enter__()
        clients.append(c)
        if username:
            r = login(c, username, password or "")
            assert r.status_code == 303, f"login of {username} failed: {r.status_code} {r.text[:300]}"
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def admin(client_for: Callable[..., Client]) -> Client:
    """A client logged in as the deployment's administrator."""
    return client_for(ADMIN_USER, ADMIN_PASSWORD)


@pytest.fixture
def anon(client_for: Callable[..., Client]) -> Client:
    return client_for()


# Browser fixtures (live server, Chromium, pages) live in browserkit.py.
from browserkit import browser, demo_city, live_server, new_page  # noqa: E402,F401
