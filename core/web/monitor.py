"""Probes and metrics: ``/readyz`` (public, ok/fail only), ``/metrics``
(Prometheus text, bearer token from ``[monitoring] metrics_token``), and the
outermost middleware that counts, times and logs every request.

``/healthz`` (liveness) lives with the login screens (``screens_auth``).
"""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..metrics import UNMATCHED
from .middleware import CLIENT_IP_KEY
from .routing import public

if TYPE_CHECKING:
    from ..app import App



class RequestMonitorMiddleware:
    """Counts and times each request by route template and status, and queues
    one JSON access-log line. Outermost, so the time includes authentication;
    the client address is the one :class:`AuthMiddleware` resolved (trusted
    proxies honoured, a forged ``X-Forwarded-For`` ignored)."""

    def __init__(self, app: ASGIApp, ctx: App) -> None:
        self.app = app
        self.monitor = ctx.monitor
        self.logs = ctx.logs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.monitor.observe(route, scope["method"], status, seconds)
            if self.logs.access_on:
                user = scope.get("user")
                client = scope.get(CLIENT_IP_KEY)
                if client is None:
                    c = scope.get("client")
                    client = c[0] if c else ""
                self.logs.access({"ts": time.time(), "method": scope["method"], "route": route,
                                  "path": scope["path"], "status": status, "ms": round(seconds * 1000, 1),
                                  "uid": user.id if user is not None else None,
                                  "user": user.username if user is not None else "", "client": client})


@public
def readyz(request: Request) -> Response:
    """200 ``ok`` or 503 ``fail``: no detail for anonymous callers."""
    ok = all(request.scope["ccms"].monitor.readiness().values())
    return PlainTextResponse("ok" if ok else "fail", status_code=200 if ok else 503)


def _token_ok(ctx: App, headers: Headers) -> bool:
    expected = ctx.deployment.monitoring.metrics_token
    given = headers.get("authorization", "")
    if not expected or not given.lower().startswith("bearer "):
        return False
    return hmac.compare_digest(given[7:].strip().encode(), expected.encode())


@public  # a machine route: it checks its own bearer token (issue 14: token/signature routes)
async def metrics(request: Request) -> Response:
    ctx = request.scope["ccms"]
    if not _token_ok(ctx, request.headers):
        return PlainTextResponse("unauthorized", status_code=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body = await run_in_threadpool(generate_latest, ctx.monitor.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/readyz", readyz, name="readyz"),
    Route("/metrics", metrics, name="metrics"),
]
