"""The side menu: only what the user may open, findable by name or pinyin initials.

A menu entry's visibility is not taken from what its manifest says but from
the guard of the route its url leads to (``@requires``, ``@checks_permission``,
``@authenticated``; see :func:`ccms.web.routing.declared_access`), so a menu
can never offer a page that then answers 403. The entry's own ``permission``
(optional) narrows the audience further: e.g. 任务派遣 is guarded by
``command.view`` but is meant for those who may see every case. An entry
whose url matches no GET route is left out (and logged once at start-up):
a link to a 404 helps nobody.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from pypinyin import Style, lazy_pinyin
from starlette.routing import Route

from .errors import StartupError
from .web.routing import declared_access

log = logging.getLogger("ccms")

Guard = tuple[str, list[str]]
"""What a route declares: ``("public"|"authenticated"|"permission", perms)``."""


def route_guard(routes: Iterable[Any], url: str, is_public: Callable[[str], bool]) -> Guard | None:
    """The guard of the GET route ``url`` resolves to, or None when none serves it."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    for r in routes:
        if not isinstance(r, Route) or (r.methods and "GET" not in r.methods):
            continue
        m = r.path_regex.match(path)
        if m is None:
            continue
        params = {k: r.param_convertors[k].convert(v) for k, v in m.groupdict().items()}
        kind, perms = declared_access(r.endpoint, path, "GET", params, is_public=is_public)
        return kind, perms
    return None


@functools.lru_cache(maxsize=4096)
def search_keys(title: str) -> str:
    """What the menu search matches besides the title: pinyin initials and
    full pinyin, lower case, without spaces (``案件管理`` → ``ajgl anjianguanli``)."""
    initials = "".join(lazy_pinyin(title, style=Style.FIRST_LETTER)).replace(" ", "").lower()
    full = "".join(lazy_pinyin(title)).replace(" ", "").lower()
    return f"{initials} {full}"


class MenuBuilder:
    """Builds one user's menu tree for an :class:`ccms.app.App`; caches the
    guard of each url (the route table is fixed once the app is built)."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.routes: list[Any] | None = None
        self._guards: dict[str, Guard | None] = {}

    def attach(self, routes: list[Any]) -> None:
        """Called by ``create_app`` with the route table; warns once about
        manifest menu entries that lead nowhere."""
        self.routes = routes
        self._guards.clear()
        for info in self.ctx.all_infos:
            if info.manifest.get("planned") and info.menus:
                raise StartupError(f"插件 {info.id} 标记为尚未建设（planned），不能声明菜单：建成后再加菜单",
                                   f"plugin {info.id} is planned (not built yet) and must declare no menus",
                                   plugin=info.id, file=str(info.manifest_file), field="menus")
            for item in _walk(info.menus):
                if item.get("url") and self.guard(item["url"]) is None:
                    log.warning("menu entry %s of plugin %s: no GET route serves %s; the entry is hidden "
                                "/ 菜单项指向的地址没有页面，已隐藏", item["id"], info.id, item["url"])

    def guard(self, url: str) -> Guard | None:
        if url not in self._guards:
            assert self.routes is not None
            self._guards[url] = route_guard(self.routes, url, self.ctx.is_public)
        return self._guards[url]

    def may_open(self, user: Any, item: dict[str, Any]) -> bool:
        """May ``user`` open this entry's page (its route's guard) and is the
        entry meant for them (its own ``permission``, if any)?"""
        ctx = self.ctx
        own = item.get("permission")
        if own and not ctx.can_anywhere(user, own):
            return False
        url = item.get("url")
        if not url:
            return True
        if self.routes is None:  # an App without HTTP routes (tools): nothing to derive from
            return user is not None
        g = self.guard(url)
        if g is None:
            return False
        kind, perms = g
        if kind == "permission":
            return any(ctx.can_anywhere(user, p) for p in perms)
        return kind in ("public", "authenticated") and user is not None

    def build(self, user: Any, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ctx = self.ctx
        loc = ctx.deployment.locale

        def visible(item: dict[str, Any]) -> dict[str, Any] | None:
            children = [c for c in (visible(x) for x in item.get("children", [])) if c]
            if item.get("children") and not children and not item.get("url"):
                return None
            if not self.may_open(user, item):
                return None
            title = ctx.catalog.localize(item["title"], loc)
            zh = ctx.catalog.localize(item["title"], "zh-CN")
            return {"id": item["id"], "title": title, "url": item.get("url"), "order": item.get("order", 500),
                    "search": " ".join(dict.fromkeys([title.lower(), zh.lower(), search_keys(zh)])),
                    "children": sorted(children, key=lambda c: c["order"])}

        merged: dict[str, dict[str, Any]] = {}
        for item in items:  # plugins may add children to an existing group by id
            v = visible(item)
            if v is None:
                continue
            if v["id"] in merged:
                merged[v["id"]]["children"] = sorted(merged[v["id"]]["children"] + v["children"],
                                                     key=lambda c: c["order"])
            else:
                merged[v["id"]] = v
        return sorted(merged.values(), key=lambda m: m["order"])


def _walk(items: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for item in items:
        yield item
        yield from _walk(item.get("children", []))


def links(menus: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every entry of a built menu that has a url, in display order."""
    return [m for m in _walk(menus) if m.get("url")]
