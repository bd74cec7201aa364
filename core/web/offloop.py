"""Run route endpoints off the server's event loop.

Endpoints are ``async def`` but do blocking work: SQLAlchemy on SQLite or
PostgreSQL, Jinja2, openpyxl. On the event loop, one slow page (统计分析, an
export) stalls every other request of that worker. :func:`offload_routes`
wraps each function endpoint at app assembly so that:

- a small body (``Content-Length`` up to :data:`PRELOAD_BYTES`) is read on the
  event loop first; Starlette caches it in the request, so ``request.body()``,
  ``form()`` and ``json()`` later parse from memory and the endpoint's own size
  checks still apply to the same bytes;
- the endpoint coroutine then runs to completion in a worker thread, on that
  thread's own event loop (one per thread, reused), with a
  copy of the request's contextvars;
- a larger or chunked body is not buffered: the thread's ``receive`` asks the
  server's loop for each message (``run_coroutine_threadsafe``), so uploads
  stream into their temporary files as before and ``request.is_disconnected()``
  still works;
- the response object comes back to the server's loop, which sends it
  (a ``StreamingResponse`` over a sync generator is iterated in Starlette's
  thread pool, as before).

How many endpoints run at once is bounded per event loop by a capacity limiter
sized from the database pool (:func:`endpoint_threads`), so a burst waits for a
thread rather than timing out on a pool checkout. ``CCMS_OFFLOOP=off`` keeps
endpoints on the loop (for the benchmark's comparison only). An endpoint that
must stay on the loop (waits a long time and touches no database, e.g. server-
sent events) is marked with :func:`on_loop`.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import functools
import inspect
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, Router, request_response
from starlette._utils import is_async_callable
from starlette.types import Message, Receive

ENV = "CCMS_OFFLOOP"
PRELOAD_BYTES = 1024 * 1024  # at most this much body is buffered on the loop before the thread takes over
RESERVED_CONNECTIONS = 3  # pool connections left for sign-in look-ups, the audit sealer and the monitor
NON_POOL_THREADS = 8  # endpoint threads when the pool has no fixed size (SQLite :memory:, NullPool)
ON_LOOP = "ccms_on_loop"

Endpoint = Callable[[Request], Awaitable[Response]]
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def on_loop(endpoint: F) -> F:
    """Keep this endpoint on the event loop (it must not block: no database)."""
    setattr(endpoint, ON_LOOP, True)
    return endpoint


def enabled() -> bool:
    """False when ``CCMS_OFFLOOP`` is ``off``/``0``/``false`` (benchmark comparison only)."""
    return os.environ.get(ENV, "").strip().lower() not in ("off", "0", "false", "no")


def endpoint_threads(engine: Engine) -> int:
    """Endpoints allowed to run at once: the pool's capacity (size + overflow)
    less the connections kept for work outside endpoints. More threads than
    connections would only queue on the pool's checkout (and fail after its
    timeout); under the GIL more threads do not add CPU either."""
    pool = engine.pool
    if isinstance(pool, QueuePool):
        return max(2, pool.size() + max(pool._max_overflow, 0) - RESERVED_CONNECTIONS)
    return NON_POOL_THREADS


class _ThreadLoop:
    """A worker thread's own event loop, reused for every endpoint that thread
    runs; closed with the thread's locals when the thread ends (anyio retires
    idle workers), so its selector does not leak."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Awaitable[T], context: contextvars.Context) -> T:
        return self.loop.run_until_complete(self.loop.create_task(coro, context=context))  # type: ignore[arg-type]

    def __del__(self) -> None:
        if not self.loop.is_running():
            self.loop.close()


_local = threading.local()


def _thread_loop() -> _ThreadLoop:
    tl = getattr(_local, "loop", None)
    if tl is None:
        tl = _local.loop = _ThreadLoop()
    return tl


def _bridged(receive: Receive, loop: asyncio.AbstractEventLoop) -> Receive:
    """``receive`` for the worker thread: each message is awaited on the server's loop."""

    async def thread_receive() -> Message:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(receive(), loop))  # type: ignore[arg-type]

    return thread_receive


def _run(endpoint: Endpoint, request: Request) -> Response:
    # anyio runs us in a copy of the request's context (contextvars set by middleware,
    # e.g. the refusal audit); the endpoint's task runs in a copy of that
    return _thread_loop().run(endpoint(request), contextvars.copy_context())


def offloaded(endpoint: Endpoint, limiter_for: Callable[[], anyio.CapacityLimiter]) -> Endpoint:
    """``endpoint`` run in a worker thread on that thread's own event loop."""

    @functools.wraps(endpoint)
    async def run_off_loop(request: Request) -> Response:
        length = request.headers.get("content-length", "")
        if request.method not in ("GET", "HEAD") and length.isdigit() and int(length) <= PRELOAD_BYTES:
            await request.body()
        # never the server's receive from the thread (its events belong to this loop)
        request._receive = _bridged(request.receive, asyncio.get_running_loop())
        return await anyio.to_thread.run_sync(_run, endpoint, request, limiter=limiter_for())

    return run_off_loop


_limiters: weakref.WeakKeyDictionary[Engine, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                                                    anyio.CapacityLimiter]] = weakref.WeakKeyDictionary()


def limiter(engine: Engine) -> anyio.CapacityLimiter:
    """The running loop's limiter of threads doing database work on ``engine``
    (one per loop: a limiter is bound to the loop that first waits on it)."""
    by_loop = _limiters.setdefault(engine, weakref.WeakKeyDictionary())
    loop = asyncio.get_running_loop()
    lim = by_loop.get(loop)
    if lim is None:
        lim = by_loop[loop] = anyio.CapacityLimiter(endpoint_threads(engine))
    return lim


async def run_sync(engine: Engine, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` (blocking database work outside an endpoint, e.g. the sign-in
    look-up of a middleware) in a worker thread under ``engine``'s limiter;
    inline when off-loading is switched off."""
    if not enabled():
        return fn(*args)
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter(engine))


def _rewrap(app: Any, inner: Any) -> Any:
    """``app`` with its innermost application replaced by ``inner`` (route
    middleware such as a body limit is copied, not shared)."""
    if callable(app) and hasattr(app, "app") and not isinstance(app, Router):
        outer = copy.copy(app)
        outer.app = _rewrap(app.app, inner)
        return outer
    return inner


def offload_routes(routes: Sequence[BaseRoute], engine: Engine) -> list[BaseRoute]:
    """Copies of ``routes`` whose ``async def`` endpoints run off the event loop.

    The route objects of plugin modules are shared by every app of the process,
    so they are copied, never changed; ``route.endpoint`` stays the original
    (guards and the menu read it). Plain ``def`` endpoints already run in
    Starlette's thread pool and are left as they are."""
    if not enabled():
        return list(routes)
    return [_offload(r, functools.partial(limiter, engine)) for r in routes]


def _offload(route: BaseRoute, limiter_for: Callable[[], anyio.CapacityLimiter]) -> BaseRoute:
    if isinstance(route, Route):
        handler = route.endpoint
        while isinstance(handler, functools.partial):
            handler = handler.func
        if not (inspect.isfunction(handler) or inspect.ismethod(handler)) or not is_async_callable(route.endpoint) \
                or getattr(route.endpoint, ON_LOOP, False):
            return route  # an ASGI class, a plain def (already in the thread pool) or marked on_loop
        new = copy.copy(route)
        new.app = _rewrap(route.app, request_response(offloaded(route.endpoint, limiter_for)))
        return new
    if isinstance(route, Mount) and isinstance(getattr(route, "_base_app", None), Router):
        base = copy.copy(route._base_app)
        base.routes = [_offload(r, limiter_for) for r in route._base_app.routes]
        new_mount = copy.copy(route)
        new_mount._base_app = base
        new_mount.app = _rewrap(route.app, base)
        return new_mount
    return route
