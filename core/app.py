"""The app factory: one :class:`App` (the plugin context) per deployment.

Nothing here is process-global, so several deployments (national, province,
city ...) can run side by side in one process, as the tests do.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.orm.exc import StaleDataError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, compile_path
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from . import audit, audit_chain, audit_refusals, pii
from . import plugin_loader, route_guards
from .accesslog import LogPipes
from .authz import Authorizer
from .config import Deployment
from .db import Database
from .errors import CcmsError, Forbidden, StartupError
from .i18n import Catalog
from .menus import MenuBuilder
from .metrics import Monitor
from .plugin_context import ContextApi, PluginContext
from .web import monitor as monitor_web
from .web.offloop import offload_routes
from .web.middleware import (
    AuthMiddleware,
    SecurityHeadersMiddleware,
    is_api,
    json_error,
)
from .web.render import THEMES_DIR, make_env, render
from .web.routing import allowed_methods
from .web.user import CurrentUser
from . import builtin
from .auth import scope_allows
from .forms.fields import FieldTypes

log = logging.getLogger("ccms")
CORE_MANIFEST = Path(__file__).parent / "core.json"


class App(ContextApi):
    """Everything one deployment needs. Hooks receive its closed view
    :attr:`plugin_context` as ``ctx`` (see core/plugin_context.py)."""

    def __init__(self, deployment: Deployment, *, available: dict[str, plugin_loader.PluginInfo] | None = None,
                 profiles: dict[str, list[str]] | str | Path | None = None, deployment_file: str = "<deployment>") -> None:
        self.deployment = deployment
        self.core_info = plugin_loader.PluginInfo(
            "core", plugin_loader.read_manifest(CORE_MANIFEST), CORE_MANIFEST.parent, "core", "built-in")
        self.available = available if available is not None else plugin_loader.discover()
        self.plugins = plugin_loader.resolve(self.available, deployment.profile, deployment.tier,
                                             deployment.plugins.enable, deployment.plugins.disable,
                                             deployment_file=deployment_file, profiles=profiles)
        self.pm = plugin_loader.make_manager(self.plugins, core_modules=[builtin])
        self.plugin_context = PluginContext(self)
        # Every hook call made with ``ctx=<this App>`` hands the implementations the closed
        # PluginContext instead, so no call site can leak the App to a plugin.
        self.pm.add_hookcall_monitoring(self._hand_plugin_context, lambda *_: None)
        self.catalog = Catalog()
        for info in self.plugins:
            self.catalog.add_folder(info.folder / "locales")
        self.db = Database(deployment.resolved_database_url)
        self.pii_keyring = pii.load_keyring(deployment.pii, deployment.base_dir)
        pii.install(self.db.engine, self.pii_keyring)  # before any read; a wrong key stops start-up here
        if self.pii_keyring is not None:
            pii.check_data(self.db.engine, self.pii_keyring)
        event.listen(self.db.Session, "after_commit", self._announce_audit)
        event.listen(self.db.Session, "after_rollback", lambda s: s.info.pop(audit.PENDING, None))
        self.audit_sealer = audit_chain.Sealer(self.db.engine, deployment.audit.seal_delay_seconds)
        self.authz = Authorizer(self.db)
        self.permissions = self._collect_permissions()
        # filled by create_app from the routes marked ``public`` (ccms.web.routing.public)
        self.public_paths: set[str] = set()
        self.public_patterns: list[re.Pattern[str]] = []
        self.public_prefixes: tuple[str, ...] = ("/static/",)
        self.password_change_paths = {"/account/password", "/logout"}
        self.templates = make_env(self)
        self.menu = MenuBuilder(self)  # create_app attaches the route table
        self.monitor = Monitor(self)
        self.logs = LogPipes(deployment)

    def _kernel(self) -> App:
        return self

    def _hand_plugin_context(self, _name: str, _impls: Any, kwargs: dict[str, Any]) -> None:
        if kwargs.get("ctx") is self:
            kwargs["ctx"] = self.plugin_context

    # -- plugins -----------------------------------------------------------

    @property
    def all_infos(self) -> list[plugin_loader.PluginInfo]:
        """Core first, then enabled plugins in dependency order."""
        return [self.core_info, *self.plugins]

    def enabled(self, plugin_id: str) -> bool:
        return plugin_id == "core" or any(p.id == plugin_id for p in self.plugins)

    def hook_list(self, name: str, **kwargs: Any) -> list[Any]:
        """Call a ``register_*``-style hook and flatten the lists, core first."""
        results = getattr(self.pm.hook, name)(ctx=self, **kwargs)
        out: list[Any] = []
        for r in reversed(results):  # pluggy returns last-registered first
            if r:
                out.extend(r)
        return out

    def manifest_file_of(self, info: plugin_loader.PluginInfo) -> str:
        """The file that declares ``info`` (core's is core.json, not a plugin.json)."""
        return str(CORE_MANIFEST) if info is self.core_info else str(info.manifest_file)

    def _collect_permissions(self) -> dict[str, dict[str, Any]]:
        perms: dict[str, dict[str, Any]] = {}
        for info in self.all_infos:
            for p in info.permissions:
                if not p["id"].startswith(info.id + "."):
                    raise StartupError(f"权限 id {p['id']} 须以插件 id 开头: {info.id}.…",
                                       f"permission id {p['id']} must start with its plugin's id: {info.id}.…",
                                       plugin=info.id, file=self.manifest_file_of(info), field="permissions")
                if p["id"] in perms:
                    raise StartupError(f"权限 {p['id']} 被重复声明", f"permission {p['id']} declared twice",
                                       plugin=info.id, file=str(info.manifest_file), field="permissions")
                perms[p["id"]] = {**p, "plugin": info.id}
        return perms

    def close(self) -> None:
        """End this deployment's background work (the audit sealer seals what is
        pending) and its database connections; for tools and tests that made an App."""
        self.audit_sealer.close()
        self.db.dispose()

    def _announce_audit(self, session: Any) -> None:
        """Hand committed audit entries to ``ccms_audit_recorded`` listeners; a
        failing listener is logged and never undoes or blocks the write."""
        entries = session.info.pop(audit.PENDING, ())
        if entries:
            self.audit_sealer.poke()
        for entry in entries:
            try:
                self.pm.hook.ccms_audit_recorded(ctx=self, entry=entry)
            except Exception:
                log.exception("ccms_audit_recorded listener failed")

    @functools.cached_property
    def field_types(self) -> Any:
        """Form field types: the built-in ones plus those of enabled plugins."""
        types = FieldTypes.default()
        for ft in self.hook_list("ccms_register_field_types"):
            types.register(ft, replace=bool(getattr(ft, "replaces", False)))
        return types

    # -- permissions -------------------------------------------------------

    def can(self, user: CurrentUser | None, permission: str, org_id: int | None) -> bool:
        """May ``user`` use ``permission`` on an object of org ``org_id``?

        The org is required: a grant covers only its own subtree. ``None`` means
        "an object that belongs to no org", which only a grant at a root org
        (the whole deployment) covers. To ask "does the user hold it anywhere"
        (menus, route guards, showing a button) use :meth:`can_anywhere`.
        ``tests/test_permission_calls.py`` fails on any call without an org.
        """
        if not self._token_allows(user, permission):
            return False
        assert user is not None
        if org_id is None:
            return self.authz.check_at_root(user.id, permission)
        return self.authz.check(user.id, permission, org_id)

    def can_anywhere(self, user: CurrentUser | None, permission: str) -> bool:
        """Does ``user`` hold ``permission`` in some org? For menus, route guards
        (``requires``) and buttons only: never for deciding access to an object."""
        if not self._token_allows(user, permission):
            return False
        assert user is not None
        return self.authz.check(user.id, permission, None)

    @staticmethod
    def _token_allows(user: CurrentUser | None, permission: str) -> bool:
        if user is None:
            return False
        if user.via == "token":
            return bool(scope_allows(user.token_scopes, permission))
        return True

    def require(self, user: CurrentUser | None, permission: str, org_id: int | None) -> None:
        """Raise :class:`Forbidden` unless :meth:`can` (the org is required)."""
        if not self.can(user, permission, org_id):
            self._forbidden(permission, org_id)

    def require_anywhere(self, user: CurrentUser | None, permission: str) -> None:
        """Raise :class:`Forbidden` unless :meth:`can_anywhere` (route guards)."""
        if not self.can_anywhere(user, permission):
            self._forbidden(permission)

    def _forbidden(self, permission: str, org_id: int | None = None) -> None:
        audit_refusals.note(permission=permission, org_id=org_id)
        name = self.catalog.localize(self.permissions.get(permission, {}).get("name", permission))
        raise Forbidden(f"没有权限: {name}", f"permission denied: {permission}")

    def menus_for(self, user: CurrentUser | None) -> list[dict[str, Any]]:
        """Menu tree of enabled plugins: the entries whose page this user may
        open (the guard of the route each url leads to; see core/menus.py)."""
        items: list[dict[str, Any]] = []
        for info in self.all_infos:
            items.extend(info.menus)
        items.extend(self.hook_list("ccms_register_menu_items", user=user))
        return self.menu.build(user, items)

    # -- HTTP --------------------------------------------------------------

    def is_public(self, path: str) -> bool:
        """May ``path`` be requested without a session (a route marked ``public``, static files)?"""
        return path in self.public_paths or path.startswith(self.public_prefixes) or \
            any(p.match(path) for p in self.public_patterns)

    def error_response(self, scope: Scope, status: int, code: str, zh: str, en: str,
                       fields: dict[str, Any] | None = None) -> Response:
        if status == 403:
            audit_refusals.note(code=code, reason=en, reason_zh=zh)
        if is_api(scope):
            return json_error(status, code, zh, en, fields)
        request = Request(scope)
        template = {403: "403.html", 404: "404.html"}.get(status, "error.html")
        return render(request, template, {"status": status, "code": code, "message": zh, "message_en": en},
                      status_code=status)

    def gettext(self, key: str, **kw: Any) -> str:
        return self.catalog.gettext(key, self.deployment.locale, **kw)


def _routes(ctx: App) -> list[BaseRoute]:
    """Core's and the plugins' routes, checked (route_guards), then static files."""
    owned = route_guards.owned_routes(ctx)
    for path in route_guards.check_routes(ctx, owned):
        if "{" in path:
            ctx.public_patterns.append(compile_path(path)[0])
        else:  # a fixed path: a set look-up on every request
            ctx.public_paths.add(path)
    route_guards.check_menus(ctx)
    # endpoints run in worker threads so blocking database work never holds the event loop
    routes: list[BaseRoute] = offload_routes([route for _, route in owned], ctx.db.engine)
    for info in reversed(ctx.plugins):
        if (info.folder / "static").is_dir():
            routes.append(Mount(f"/static/{info.id}", StaticFiles(directory=str(info.folder / "static")),
                                name=f"static-{info.id}"))
    # /static/ serves the deployment's theme first, then the default theme
    # (so a theme overrides ccms.css but still gets htmx).
    static = StaticFiles(directory=str(THEMES_DIR / "default" / "static"))
    theme_static = THEMES_DIR / ctx.deployment.theme / "static"
    if ctx.deployment.theme != "default" and theme_static.is_dir():
        static.all_directories.insert(0, str(theme_static))
    routes.append(Mount("/static", static, name="static"))
    return routes


def _number_out_of_range(exc: Exception) -> bool:
    """SQLite's driver raises OverflowError for integers beyond 64 bits;
    PostgreSQL answers SQLSTATE 22003 (numeric_value_out_of_range)."""
    if isinstance(exc, OverflowError):
        return True
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) == "22003"


def create_app(deployment: Deployment, **kwargs: Any) -> Starlette:
    """Build the ASGI app of one deployment. ``app.state.ccms`` is its :class:`App`."""
    ctx = App(deployment, **kwargs)

    async def on_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, CcmsError):
            return ctx.error_response(request.scope, exc.status, exc.code, exc.zh, exc.en, exc.fields or None)
        if isinstance(exc, StaleDataError):
            return ctx.error_response(request.scope, 409, "conflict", "该记录已被他人修改，请刷新后重试",
                                      "the record was changed by someone else: reload and try again")
        if isinstance(exc, HTTPException):
            if exc.status_code == 404:
                return ctx.error_response(request.scope, 404, "not_found", "页面不存在", "not found")
            if exc.status_code == 405:
                resp = ctx.error_response(request.scope, 405, "method_not_allowed", "不支持的请求方法",
                                          "method not allowed")
                resp.headers["Allow"] = ", ".join(allowed_methods(request.app.routes, request.scope))
                return resp
            return ctx.error_response(request.scope, exc.status_code, "http_error", str(exc.detail), str(exc.detail))
        if _number_out_of_range(exc):  # defect 5: an integer beyond the column's type
            if any(isinstance(v, int) and v > 2**31 - 1 for v in request.path_params.values()):
                # an id in the path too large for an INTEGER key (PostgreSQL) names nothing
                return ctx.error_response(request.scope, 404, "not_found", "页面不存在", "not found")
            return ctx.error_response(request.scope, 422, "validation_error", "数值超出范围（-2^63 至 2^63-1）",
                                      "number out of range (-2^63 to 2^63-1)")
        log.exception("unhandled error on %s", request.url.path)
        return ctx.error_response(request.scope, 500, "internal_error", "服务器内部错误，已记录，请联系管理员",
                                  "internal server error: it was logged, please contact an administrator")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pii.check_data(ctx.db.engine, ctx.pii_keyring)  # encrypted data but no key: refuse to serve
        await run_in_threadpool(audit_chain.seal, ctx.db.engine)  # entries CLI tools wrote while we were down
        ctx.logs.start()
        ctx.monitor.start()
        ctx.pm.hook.ccms_app_starting(ctx=ctx)
        try:
            yield
        finally:
            ctx.pm.hook.ccms_app_stopping(ctx=ctx)
            ctx.monitor.stop()
            ctx.logs.stop()
            await run_in_threadpool(ctx.audit_sealer.close)
            ctx.db.dispose()

    app = Starlette(
        routes=_routes(ctx),
        middleware=[Middleware(monitor_web.RequestMonitorMiddleware, ctx=ctx),
                    Middleware(audit_refusals.AccessAuditMiddleware, ctx=ctx), Middleware(SecurityHeadersMiddleware),
                    Middleware(AuthMiddleware, ctx=ctx)],
        # OverflowError and DataError (numbers beyond a column's type) are answered
        # here as 404/422, not left to the server-error middleware, which re-raises.
        exception_handlers={Exception: on_error, HTTPException: on_error, CcmsError: on_error,
                            StaleDataError: on_error, OverflowError: on_error, DataError: on_error},
        lifespan=lifespan,
    )
    app.state.ccms = ctx
    ctx.menu.attach(app.routes)
    return app
