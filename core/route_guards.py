"""Start-up checks of the route table: every route guarded, no route shadowed,
every permission named by a route or a menu declared by an enabled manifest.

Each route declares exactly one guard (:mod:`ccms.web.routing`): a permission
(``requires`` / ``checks_permission``), ``authenticated`` or ``public``.
Static file mounts are public by nature. A fault stops start-up with a
:class:`StartupError` naming the plugin (both owners for a clash), the path
and the method.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from .errors import StartupError
from .web.routing import declared_access

if TYPE_CHECKING:
    from .app import App

CORE = "core"


def owner_of(plugin_name: str) -> str:
    """Core registers its modules as ``core:<module>``; plugins by their id."""
    return CORE if plugin_name.startswith(CORE + ":") else plugin_name


def hook_results(ctx: App, name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """``(owner, result)`` of every implementation of hook ``name``, core first,
    then plugins in dependency order (the order of :meth:`App.hook_list`)."""
    caller = getattr(ctx.pm.hook, name)
    # called one implementation at a time (to know each route's owner), so the hook monitor that
    # hands plugins their closed context is bypassed: hand it here (core's own hooks unwrap it)
    given = {"ctx": ctx.plugin_context, **kwargs}
    out = []
    for impl in caller.get_hookimpls():  # registration order: core, then plugins
        out.append((owner_of(impl.plugin_name), impl.function(**{a: given[a] for a in impl.argnames})))
    return out


def owned_routes(ctx: App) -> list[tuple[str, BaseRoute]]:
    """Every registered route with the plugin (or ``core``) that registered it."""
    return [(owner, route) for owner, result in hook_results(ctx, "ccms_register_routes") for route in result or []]


def walk(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """``(full path, route)`` of every route, descending into mounts (a static
    files mount is yielded itself: it has no endpoints to declare)."""
    for route in routes:
        if isinstance(route, Mount) and not isinstance(route.app, StaticFiles) and route.routes:
            yield from walk(route.routes, prefix + route.path)
        else:
            yield prefix + getattr(route, "path", ""), route


def guards_of(endpoint: Any, method: str) -> list[str]:
    """Every guard ``endpoint`` declares for ``method`` (exactly one is right)."""
    found = []
    if getattr(endpoint, "access", None) in ("public", "authenticated"):
        found.append(endpoint.access)
    spec = getattr(endpoint, "permission_template", None)
    if isinstance(spec, dict):
        spec = spec.get(method) or (spec.get("GET") if method == "HEAD" else None)
    if getattr(endpoint, "permission", None) or spec:
        found.append("permission")
    return found


def _shape(path: str) -> str:
    """A path with its parameter names dropped: ``/x/{id:int}`` and
    ``/x/{pk:int}`` match the same requests, so they clash."""
    return re.sub(r"{[^}:]+(:[^}]+)?}", lambda m: "{" + (m.group(1) or ":str") + "}", path)


def _path_error(zh: str, en: str, owner: str, path: str, method: str) -> StartupError:
    return StartupError(f"{zh}: {method} {path}", f"{en}: {method} {path}", plugin=owner,
                        file=f"ccms_register_routes ({owner})", field=f"{method} {path}")


def check_routes(ctx: App, owned: list[tuple[str, BaseRoute]]) -> list[str]:
    """Refuse start-up on an unguarded, doubly guarded or shadowing route, or
    one requiring an undeclared permission; return the public paths (route
    templates such as ``/p/{id:int}``; the authentication middleware lets
    those through)."""
    seen: dict[tuple[str, str], str] = {}
    access_of_path: dict[str, tuple[str, str, str]] = {}  # path -> (public?, owner, method)
    public: list[str] = []
    for owner, top in owned:
        for path, route in walk([top]):
            if isinstance(route, Mount):
                if isinstance(route.app, StaticFiles) or getattr(route.app, "access", None) == "public":
                    continue
                raise _path_error("挂载的应用未声明访问规则（需 public 或改用路由）",
                                  "mounted app declares no guard (mark it public or use routes)", owner, path, "*")
            if not isinstance(route, Route):
                raise _path_error("不支持的路由类型", f"unsupported route type {type(route).__name__}",
                                  owner, path, "*")
            for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                key = (method, _shape(path))
                if key in seen:
                    first = seen[key]
                    raise StartupError(
                        f"路由重复: {method} {path} 同时由 {first} 和 {owner} 注册",
                        f"duplicate route {method} {path}: registered by {first} and by {owner}",
                        plugin=owner, file=f"ccms_register_routes ({first}, {owner})", field=f"{method} {path}")
                seen[key] = owner
                guards = guards_of(route.endpoint, method)
                if not guards:
                    raise _path_error("路由未声明访问规则（requires、authenticated 或 public 之一）",
                                      "route declares no guard (one of requires, authenticated, public)",
                                      owner, path, method)
                if len(guards) > 1:
                    raise _path_error(f"路由声明了多个访问规则 ({', '.join(guards)})，只能有一个",
                                      f"route declares several guards ({', '.join(guards)}): exactly one allowed",
                                      owner, path, method)
                kind, perms = declared_access(route.endpoint, path, method)
                for perm in perms:
                    if "{" not in perm and perm not in ctx.permissions:
                        raise _unknown_permission(ctx, perm, owner, f"{method} {path}",
                                                  f"ccms_register_routes ({owner})")
                is_pub = "public" if kind == "public" else "guarded"
                other = access_of_path.setdefault(path, (is_pub, owner, method))
                if other[0] != is_pub:  # the middleware decides by path: all methods or none
                    raise _path_error(f"同一路径的 {other[2]} 与 {method} 访问规则不一致（public 须适用于全部方法）",
                                      f"{other[2]} and {method} of one path differ in being public "
                                      f"(public applies to every method of a path)", owner, path, method)
                if kind == "public" and path not in public:
                    public.append(path)
    return public


def _unknown_permission(ctx: App, perm: str, owner: str, field: str, file: str) -> StartupError:
    close = difflib.get_close_matches(perm, sorted(ctx.permissions), n=1)
    hint_zh = f"，是否应为 {close[0]}?" if close else ""
    hint_en = f"; did you mean {close[0]}?" if close else ""
    return StartupError(f"权限 {perm} 未在任何已启用插件的清单中声明{hint_zh}",
                        f"permission {perm} is not declared by any enabled manifest{hint_en}",
                        plugin=owner, file=file, field=field)


def check_menus(ctx: App) -> None:
    """Every ``permission`` of a manifest menu entry is declared by an enabled manifest."""
    for info in ctx.all_infos:
        stack = [(f"menus[{i}]", m) for i, m in enumerate(info.menus)]
        while stack:
            where, item = stack.pop()
            perm = item.get("permission")
            if perm and perm not in ctx.permissions:
                raise _unknown_permission(ctx, perm, info.id, f"{where}.permission", ctx.manifest_file_of(info))
            stack.extend((f"{where}.children[{i}]", c) for i, c in enumerate(item.get("children", [])))
