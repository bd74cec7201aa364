"""Jinja2 environment of one deployment: theme overrides, i18n, helpers."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

if TYPE_CHECKING:
    from ..app import App

THEMES_DIR = Path(__file__).resolve().parent.parent / "themes"  # package data of ccms


def template_dirs(ctx: "App") -> list[Path]:
    """Search order: deployment theme dirs, named theme, plugins (reverse
    dependency order so dependants override dependencies), core default."""
    dep = ctx.deployment
    dirs = [dep.resolve(d) for d in dep.theme_dirs]
    if dep.theme != "default":
        dirs.append(THEMES_DIR / dep.theme / "templates")
    for extra in reversed(ctx.hook_list("ccms_register_template_dirs")):
        dirs.append(Path(extra))
    for info in reversed(ctx.plugins):
        if info.templates_dir.is_dir():
            dirs.append(info.templates_dir)
    dirs.append(THEMES_DIR / "default" / "templates")
    return dirs


# dotted or snake_case identifiers (permission ids, action codes, file names) and [config] sections
CODE_RE = re.compile(r"\[[a-z_][a-z0-9_.]*\]|(?<![\w./:@-])(?:[A-Za-z][\w-]*(?:\.[A-Za-z0-9][\w-]*)+"
                     r"|[a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?![\w/@-])")


def mark_codes(text: Any) -> Markup:
    """Free text (an audit summary, a log line) with its codes set as ``<code>``: a reader sees
    them as codes for auditors, not as words (issue 11 item 13)."""
    text = "" if text is None else str(text)
    out, pos = [], 0
    for m in CODE_RE.finditer(text):
        out += [escape(text[pos:m.start()]), Markup('<code class="muted">'), escape(m.group(0)), Markup("</code>")]
        pos = m.end()
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def make_env(ctx: "App") -> Environment:
    env = Environment(loader=ChoiceLoader([FileSystemLoader(str(d)) for d in template_dirs(ctx)]),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True,
                      # Templates change with a deploy, not while serving: no stat() per render.
                      auto_reload=False)
    tz = ZoneInfo(ctx.deployment.timezone)

    def localtime(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if value is None:
            return ""
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(tz).strftime(fmt)

    env.filters["localtime"] = localtime
    env.filters["codes"] = mark_codes
    env.filters["l10n"] = lambda v: ctx.catalog.localize(v, ctx.deployment.locale)
    env.globals["_"] = ctx.catalog.translator(ctx.deployment.locale)
    env.globals["deployment"] = ctx.deployment
    env.globals["locale"] = ctx.deployment.locale
    return env


def render(request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render a template with the request's user, menus, CSRF token and flash."""
    ctx: "App" = request.scope["ccms"]
    user = request.scope.get("user")
    flash = request.query_params.get("flash", "")
    data: dict[str, Any] = {
        "request": request,
        "user": user,
        "csrf_token": request.scope.get("csrf_token", ""),
        "menus": ctx.menus_for(user) if user else [],
        "htmx": bool(request.headers.get("hx-request")),
        # a notice named in the address (?flash=saved): shown only when it has a text
        "flash": flash if ctx.catalog.has(f"flash.{flash}", ctx.deployment.locale) else "",
        "can": (lambda perm, org_id: ctx.can(user, perm, org_id)) if user else (lambda *a, **k: False),
        "can_anywhere": (lambda perm: ctx.can_anywhere(user, perm)) if user else (lambda *a, **k: False),
    }
    if context:
        data.update(context)
    html = ctx.templates.get_template(template).render(data)
    return HTMLResponse(html, status_code=status_code, headers=headers)
