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
from contextlib import ExitStack
import sys
from functools import cache
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

os.environ.setdefault("CCMS_ARGON2_CHEAP", "1")  # before core.auth is imported: fast hashes in tests

from sqlalchemy import create_engine
from starlette.applications import Starlette

from ccms import migrate
from ccms.app import App, create_app
from ccms.config import parse_deployment
from ccms.testing import ADMIN_PASSWORD, ADMIN_USER  # noqa: F401  (tests import them from here)
from ccms.testing import TemplateDatabases, build_database, deployment_key, temporary_plugins
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``pytest -n N --dist loadgroup`` (pytest-xdist) a file's tests stay on one
    worker (its module fixtures are built once), and every test of the session's
    seeded demo (``demo_city``, the slowest fixture) joins one worker too."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        group = "demo_city" if "demo_city" in getattr(item, "fixturenames", ()) else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


# --- databases ----------------------------------------------------------------
# Every database a test gets is a copy of a template built once per session
# (ccms.testing.TemplateDatabases): core-only for ``db_url``/``new_db_url``,
# and one per distinct deployment (profile, plugins, settings) for the apps of
# ``make_app``/``app`` — migrated, seeded and with the administrator.

CORE_ONLY = "core-only"


def _migrate_core(url: str) -> None:
    eng = create_engine(url)
    migrate.upgrade(eng, [])
    eng.dispose()


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemplateDatabases]:
    t = TemplateDatabases(tmp_path_factory.mktemp("db-templates"), PG_URL or None)
    yield t
    t.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not PG_URL:
        if os.environ.get("CCMS_REQUIRE_PG") == "1":
            pytest.fail("CCMS_REQUIRE_PG=1 but CCMS_TEST_PG_URL is not set")
        pytest.skip("PostgreSQL 未配置：设置 CCMS_TEST_PG_URL 以运行 / no PostgreSQL server: set CCMS_TEST_PG_URL")
    return request.param


def _fresh(templates: TemplateDatabases, backend: str, key: str, build: Callable[[str], None],
           dest: Path) -> str:
    if backend == "sqlite":
        return templates.fresh_sqlite(key, build, dest)
    return templates.fresh_postgresql(key, build)


@pytest.fixture
def new_db_url(backend: str, tmp_path: Path, _templates: TemplateDatabases) -> Iterator[Callable[[], str]]:
    """Factory of fresh, migrated (core only) databases of the test's backend.
    The PostgreSQL ones are dropped after the test (SQLite's go with tmp_path)."""
    counter = iter(range(1000))
    made: list[str] = []

    def make() -> str:
        made.append(_fresh(_templates, backend, CORE_ONLY, _migrate_core, tmp_path / f"db{next(counter)}.sqlite"))
        return made[-1]

    yield make
    for url in made:
        _templates.release(url)


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
def make_app(request: pytest.FixtureRequest, backend: str, tmp_path: Path, _templates: TemplateDatabases,
             new_db_url: Callable[[], str]) -> Iterator[Callable[..., Starlette]]:
    """``make_app(profile=..., plugins={"enable": [...]}, security={...}, db_url=...)``.

    The first app of a test uses the test's database (``db_url``); pass
    ``db_url=new_db_url()`` for a separate one. Core plus the enabled plugins'
    migrations are applied, proposed roles and the root org seeded, and an
    administrator created. When the test never touches ``db_url`` itself, its
    first database is a copy of that deployment's session template instead of
    being migrated and seeded again (same content, milliseconds instead of
    seconds).
    """
    apps: list[App] = []
    used: set[str] = set()
    default_url: list[str] = []
    own_db_url = "db_url" in request.fixturenames  # the test or one of its fixtures reads it

    def make(*, available: Any = None, profiles: Any = None, admin: bool = True, **overrides: Any) -> Starlette:
        url = overrides.pop("db_url", None)
        if profiles is None:  # core's profiles.json: drop what is not installed (tests of profiles pass their own)
            overrides = without_uninstalled(overrides.get("profile", "city"), overrides, available)
        overrides.setdefault("base_dir", str(tmp_path))  # uploads land in the test's folder, never the cwd
        data = deployment_data(**overrides)
        key = deployment_key(data, available=available, profiles=profiles, admin=admin)
        if url is None and not default_url and not own_db_url and key is not None:
            def build(tpl_url: str) -> None:
                build_database({**data, "database_url": tpl_url}, admin=admin).state.ccms.close()
            url = _fresh(_templates, backend, key, build, tmp_path / "app.sqlite")
            default_url.append(url)
            used.add(url)
            app = create_app(parse_deployment({**data, "database_url": url}))
        else:
            url = url or (default_url[0] if default_url else request.getfixturevalue("db_url"))
            default_url[:] = default_url or [url]
            app = build_database({**data, "database_url": url}, available=available, profiles=profiles,
                                 admin=admin and url not in used)
            used.add(url)
        apps.append(app.state.ccms)
        return app

    yield make
    for ctx in apps:
        ctx.close()
    if default_url and not own_db_url:
        _templates.release(default_url[0])  # (new_db_url releases its own, after this)


@pytest.fixture
def app(make_app: Callable[..., Starlette]) -> Starlette:
    return make_app()


@pytest.fixture
def ctx(app: Starlette) -> App:
    return app.state.ccms


@pytest.fixture
def temp_plugins(tmp_path: Path) -> Iterator[Callable[..., dict[str, Any]]]:
    """``temp_plugins({"acme": {"manifest": {...}, "files": {"__init__.py": ...}}})`` ->
    ``available`` for ``make_app(available=..., plugins={"enable": ["acme"]})``; the
    plugins are gone after the test (ccms.testing.temporary_plugins)."""
    with ExitStack() as stack:
        yield lambda plugins, builtin=True: stack.enter_context(
            temporary_plugins(tmp_path, plugins, builtin=builtin))


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
