"""Pure ASGI middleware: security headers, authentication, CSRF.

Pure ASGI (not BaseHTTPMiddleware) keeps the per-request cost small; the
benchmark in ``bench/`` holds the full stack to 1.5x a bare endpoint.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from sqlalchemy import bindparam, select, update
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import auth
from ..audit import CLIENT_IP_KEY, client_ip  # noqa: F401  (the audit layer reads the address too)
from ..db import utcnow
from ..models import AuthzState, LoginSession, Person
from .user import CurrentUser
from . import offloop

if TYPE_CHECKING:
    from ..app import App

SESSION_COOKIE = "ccms_session"
CSRF_COOKIE = "ccms_csrf"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
MAX_FORM_BYTES = 64 * 1024 * 1024
LAST_SEEN_EVERY = dt.timedelta(seconds=30)

IMG_SRC = "img-src 'self' data: blob:"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; " + IMG_SRC + "; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; "
       "base-uri 'self'; form-action 'self'")
CSP_IMG_KEY = "ccms.csp_img_src"
_ORIGIN = re.compile(r"https?://[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?(?::[0-9]{1,5})?")


def allow_images_from(scope: Scope, origins: list[str]) -> None:
    """Let this one response's page load images from ``origins`` (e.g. a configured map tile
    server): each must be a plain ``scheme://host[:port]`` — no wildcard, path or quote can widen
    or break the policy. Other pages keep the default ``img-src``."""
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ValueError(f"not an image origin for the CSP: {origin!r}")
    extra = scope.setdefault(CSP_IMG_KEY, [])
    extra.extend(o for o in origins if o not in extra)


def csp_for(scope: Scope) -> str:
    """The Content-Security-Policy of this response (:func:`allow_images_from` widens img-src)."""
    extra = scope.get(CSP_IMG_KEY)
    return CSP.replace(IMG_SRC, IMG_SRC + " " + " ".join(extra), 1) if extra else CSP


# Built once: constructing this statement cost as much as running it (bench/, 0.13 ms a request).
# Plain columns on a Core connection: the hot path of every request needs no ORM objects.
SESSION_QUERY = (
    select(LoginSession.revoked, LoginSession.created_at, LoginSession.last_seen_at,
           Person.id, Person.username, Person.display_name, Person.org_id, Person.active,
           Person.must_change_password, Person.password_changed_at,
           select(AuthzState.version).where(AuthzState.id == 1).scalar_subquery().label("authz_version"))
    .join(Person, Person.id == LoginSession.person_id)
    .where(LoginSession.id == bindparam("sid")))


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def real_client_ip(scope: Scope, trusted: tuple[Any, ...]) -> str:
    """Walk ``X-Forwarded-For`` from the right while hops are trusted proxies;
    a forged header from an untrusted peer is ignored."""
    c = scope.get("client")
    peer = c[0] if c else ""
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for v in Headers(scope=scope).getlist("x-forwarded-for") for h in v.split(",") if h.strip()]
    addr = peer
    for hop in reversed(hops):
        addr = hop
        if not _trusted(hop, trusted):
            break
    return addr


def _trusted(addr: str, trusted: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def is_api(scope: Scope) -> bool:
    return scope["path"].startswith("/api/")


def wants_html(scope: Scope) -> bool:
    return not is_api(scope)


class SecurityHeadersMiddleware:
    """CSP allowing only our own static files, frame denial, nosniff, no caching of pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        https = scope.get("scheme") == "https"

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                h["Content-Security-Policy"] = csp_for(scope)
                h["X-Frame-Options"] = "DENY"
                h["X-Content-Type-Options"] = "nosniff"
                h["Referrer-Policy"] = "same-origin"
                h["Permissions-Policy"] = "camera=(self), geolocation=(self), microphone=()"
                if https:
                    h["Strict-Transport-Security"] = "max-age=31536000"
                if not scope["path"].startswith("/static/"):
                    h.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_wrapper)


def _cookies(scope: Scope) -> dict[str, str]:
    return Request(scope).cookies


class AuthMiddleware:
    """Resolves the user (session cookie or ``Authorization: Bearer`` token),
    enforces idle/absolute timeouts and expired passwords, checks CSRF on every
    unsafe cookie-authenticated request, and keeps the permission index fresh.
    """

    def __init__(self, app: ASGIApp, ctx: "App") -> None:
        self.app = app
        self.ctx = ctx
        self.trusted = tuple(ipaddress.ip_network(n, strict=False) for n in ctx.deployment.security.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        ctx = self.ctx
        path = scope["path"]
        headers = Headers(scope=scope)
        cookies = _cookies(scope)
        scope["user"] = None
        scope["ccms"] = ctx
        scope[CLIENT_IP_KEY] = real_client_ip(scope, self.trusted)
        csrf_cookie = cookies.get(CSRF_COOKIE)
        new_csrf = None
        if not csrf_cookie:
            new_csrf = csrf_cookie = secrets.token_urlsafe(24)
        scope["csrf_token"] = auth.csrf_token_for(ctx.deployment.secret_key, csrf_cookie)

        authz = headers.get("authorization", "")
        user: CurrentUser | None = None
        problem: tuple[str, str, str] | None = None
        # look-ups (and last-seen writes, which may wait on a SQLite lock) off the event loop
        if authz.lower().startswith("bearer "):
            user, problem = await offloop.run_sync(ctx.db.engine, self._from_token, authz[7:].strip(), scope)
        elif SESSION_COOKIE in cookies:
            user, problem = await offloop.run_sync(ctx.db.engine, self._from_session, cookies[SESSION_COOKIE], scope)
        scope["user"] = user

        public = ctx.is_public(path)
        if user is None and not public:
            return await self._unauthenticated(scope, receive, send, problem)

        if scope["method"] in UNSAFE and (user is None or user.via == "session"):
            receive, ok = await self._check_csrf(scope, receive, headers, csrf_cookie)
            if not ok:
                resp = ctx.error_response(scope, 403, "csrf_failed", "请求校验失败（CSRF），请刷新页面后重试",
                                          "request verification failed (CSRF): reload the page and try again")
                return await resp(scope, receive, send)

        if user is not None and user.password_expired and not public and path not in ctx.password_change_paths:
            if is_api(scope):
                resp = ctx.error_response(scope, 403, "password_expired", "密码已过期，请先修改密码",
                                          "password expired: change it first")
            else:
                resp = RedirectResponse("/account/password?expired=1", status_code=303)
            return await resp(scope, receive, send)

        if new_csrf is None:
            return await self.app(scope, receive, send)

        https = scope.get("scheme") == "https"

        async def send_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                h.append("set-cookie", f"{CSRF_COOKIE}={new_csrf}; Path=/; HttpOnly; SameSite=Lax"
                         + ("; Secure" if https else ""))
            await send(message)

        await self.app(scope, receive, send_cookie)

    # -- helpers -----------------------------------------------------------

    def _from_session(self, token: str, scope: Scope) -> tuple[CurrentUser | None, tuple[str, str, str] | None]:
        ctx = self.ctx
        sid = auth.session_id_of(token)
        policy = ctx.deployment.security
        now = utcnow()
        with ctx.db.engine.connect() as conn:
            row = conn.execute(SESSION_QUERY, {"sid": sid}).first()
            if row is None:
                return None, ("session_invalid", "登录已失效，请重新登录", "session is no longer valid: log in again")
            ctx.authz.ensure_fresh(row.authz_version)
            if row.revoked or not row.active:
                return None, ("session_invalid", "登录已失效，请重新登录", "session is no longer valid: log in again")
            last_seen, created = _utc(row.last_seen_at), _utc(row.created_at)
            idle = now - last_seen
            if idle > dt.timedelta(minutes=policy.session_idle_minutes) or \
                    now - created > dt.timedelta(hours=policy.session_absolute_hours):
                conn.execute(update(LoginSession).where(LoginSession.id == sid).values(revoked=True))
                conn.commit()
                return None, ("session_expired", "长时间未操作，登录已超时，请重新登录",
                              "session timed out after inactivity: log in again")
            if idle > LAST_SEEN_EVERY:
                conn.execute(update(LoginSession).where(LoginSession.id == sid).values(last_seen_at=now))
                conn.commit()
            return CurrentUser(row.id, row.username, row.display_name, row.org_id, "session", sid,
                               password_expired=auth.password_expired(row, policy, now),
                               client_ip=client_ip(scope)), None

    def _from_token(self, secret: str, scope: Scope) -> tuple[CurrentUser | None, tuple[str, str, str] | None]:
        ctx = self.ctx
        with ctx.db.Session() as s:
            tok = auth.find_token(s, secret)
            person = s.get(Person, tok.person_id) if tok else None
            if tok is None or person is None or not person.active:
                return None, ("token_invalid", "API 令牌无效、已过期或已吊销", "API token is invalid, expired or revoked")
            version = s.scalar(select(AuthzState.version).where(AuthzState.id == 1))
            ctx.authz.ensure_fresh(version)
            now = utcnow()
            if tok.last_used_at is None or now - tok.last_used_at > LAST_SEEN_EVERY:
                tok.last_used_at = now
                s.commit()
            return CurrentUser(person.id, person.username, person.display_name, person.org_id, "token",
                               token_scopes=list(tok.scopes or []), client_ip=client_ip(scope)), None

    async def _unauthenticated(self, scope: Scope, receive: Receive, send: Send,
                               problem: tuple[str, str, str] | None) -> None:
        code, zh, en = problem or ("login_required", "请先登录", "please log in")
        if is_api(scope):
            resp: Response = self.ctx.error_response(scope, 401, code, zh, en)
        else:
            target = scope["path"] + (("?" + scope["query_string"].decode()) if scope.get("query_string") else "")
            url = f"/login?next={quote(target)}" + (f"&reason={code}" if problem else "")
            if Headers(scope=scope).get("hx-request"):
                resp = Response(status_code=204, headers={"HX-Redirect": url})
            else:
                resp = RedirectResponse(url, status_code=303)
            if problem:
                resp.delete_cookie(SESSION_COOKIE, path="/")
        await resp(scope, receive, send)

    async def _check_csrf(self, scope: Scope, receive: Receive, headers: Headers,
                          cookie: str | None) -> tuple[Receive, bool]:
        secret = self.ctx.deployment.secret_key
        presented = headers.get("x-csrf-token")
        if presented:
            return receive, auth.csrf_valid(secret, cookie, presented)
        ctype = headers.get("content-type", "")
        if not (ctype.startswith("application/x-www-form-urlencoded") or ctype.startswith("multipart/form-data")):
            return receive, False
        # Buffer the body, read the token from it, then replay it downstream.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return receive, False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                return receive, False
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if ctype.startswith("application/x-www-form-urlencoded"):
            presented = (parse_qs(body.decode("latin-1")).get("csrf_token") or [None])[0]
        else:
            replay = _replayer(body, receive)
            form = await Request(scope, replay).form()
            value = form.get("csrf_token")
            presented = value if isinstance(value, str) else None
            await form.close()
        return _replayer(body, receive), auth.csrf_valid(secret, cookie, presented)


def _replayer(body: bytes, original: Receive) -> Receive:
    """Hand the buffered body downstream once, then wait on the real channel."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await original()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def json_error(status: int, code: str, zh: str, en: str, fields: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": zh, "message_en": en}
    if fields:
        body["fields"] = fields
    return JSONResponse({"error": body}, status_code=status)
