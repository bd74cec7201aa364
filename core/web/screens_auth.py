"""Login, logout, password change, home page and health check."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import audit, auth
from ..errors import ValidationFailed
from ..models import Person
from .middleware import SESSION_COOKIE, client_ip
from .pages import redirect, with_flash
from .render import render
from .routing import authenticated, form_data, public
from .workbench import home_context

REASONS = {
    "session_expired": ("长时间未操作，登录已超时，请重新登录", "session timed out: log in again"),
    "session_invalid": ("登录已失效，请重新登录", "session is no longer valid: log in again"),
}


def _safe_next(value: str | None) -> str:
    """Only same-site relative paths: no open redirect."""
    if not value:
        return "/"
    parsed = urlparse(value)
    if parsed.scheme or parsed.netloc or not value.startswith("/") or value.startswith("//"):
        return "/"
    return value


@public
async def login_page(request: Request) -> Response:
    ctx = request.scope["ccms"]
    if request.method == "GET":
        reason = REASONS.get(request.query_params.get("reason", ""))
        return render(request, "login.html", {"next": _safe_next(request.query_params.get("next")),
                                              "error": reason, "username": ""})
    data = await form_data(request)
    username = str(data.get("username", ""))
    password = str(data.get("password", ""))
    nxt = _safe_next(str(data.get("next", "")))
    # argon2 and the database in a worker thread: failed logins must not stall other requests.
    result = await run_in_threadpool(auth.login, ctx.db, username, password, ctx.deployment.security,
                                     client_ip(request.scope), request.headers.get("user-agent", ""))
    if not result.ok:
        status = {"locked": 423, "throttled": 429}.get(result.code, 401)
        resp = render(request, "login.html", {"next": nxt, "error": (result.zh, result.en), "username": username},
                      status_code=status)
        if result.retry_after:
            resp.headers["Retry-After"] = str(result.retry_after)
        return resp
    target = "/account/password?expired=1" if result.password_expired else nxt
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(SESSION_COOKIE, result.session_token, httponly=True, samesite="lax", path="/",
                    secure=request.url.scheme == "https")
    return resp


@authenticated
async def logout(request: Request) -> Response:
    ctx = request.scope["ccms"]
    user = request.scope.get("user")
    token = request.cookies.get(SESSION_COOKIE)
    if user and token:
        with ctx.db.session() as s:
            auth.logout(s, token, audit.Actor(user.id, user.username, user.client_ip))
    # a 303 even for htmx (as before; tests/test_auth.py holds it): logging out leaves the page
    resp = RedirectResponse(with_flash("/login", "logged_out"), status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@authenticated
async def change_password(request: Request) -> Response:
    ctx = request.scope["ccms"]
    user = request.scope["user"]
    if request.method == "GET":
        return render(request, "password.html", {"expired": request.query_params.get("expired"), "errors": {}})
    data = await form_data(request)
    # argon2 twice plus a hash: off the event loop, or every other request waits.
    errors = await run_in_threadpool(_change_password, ctx, user, data)
    if errors:
        return render(request, "password.html", {"expired": data.get("expired"), "errors": errors},
                      status_code=422)
    return redirect(request, "/", flash="password_changed")


def _change_password(ctx: Any, user: Any, data: Any) -> dict[str, tuple[str, str]]:
    """Check and set a new own password; end the person's other sessions (this one stays)."""
    errors: dict[str, tuple[str, str]] = {}
    with ctx.db.session() as s:
        person = s.get(Person, user.id)
        if not auth.verify_password(person.password_hash, str(data.get("current", ""))):
            errors["current"] = ("当前密码不正确", "current password is wrong")
        new = str(data.get("new", ""))
        if new != str(data.get("confirm", "")):
            errors["confirm"] = ("两次输入的新密码不一致", "the two new passwords differ")
        if new and auth.verify_password(person.password_hash, new):
            errors["new"] = ("新密码不能与当前密码相同", "new password must differ from the current one")
        try:
            auth.check_password_policy(new, ctx.deployment.security, person.username, "new",
                                       display_name=person.display_name)
        except ValidationFailed as exc:
            errors.setdefault("new", (exc.zh, exc.en))
        if errors:
            s.rollback()
            return errors
        auth.set_password(person, new)
        # Sessions opened elsewhere (perhaps by whoever learnt the old password) end;
        # API tokens stay: the owner made them and is the one changing the password.
        ended = auth.revoke_sessions(s, person.id, keep=user.session_id)
        audit.record(s, audit.Actor(user.id, user.username, user.client_ip), "password_change", "person", person.id,
                     after={"sessions_ended": ended}, summary="changed own password")
    return errors


@authenticated
async def home(request: Request) -> Response:
    ctx = request.scope["ccms"]
    return render(request, "home.html", home_context(ctx, request.scope["user"]))


@public
async def healthz(request: Request) -> Response:
    ctx = request.scope["ccms"]
    with ctx.db.Session() as s:
        s.execute(text("SELECT 1"))
    return JSONResponse({"status": "ok", "deployment": ctx.deployment.identity})


routes = [
    Route("/login", login_page, methods=["GET", "POST"], name="login"),
    Route("/logout", logout, methods=["POST"], name="logout"),
    Route("/account/password", change_password, methods=["GET", "POST"], name="password"),
    Route("/", home, name="home"),
    Route("/healthz", healthz, name="healthz"),
]
