"""Fixture: a slow page that blocks its thread (as a long SQL query does) until
the test releases it, next to fast pages, to prove that a slow endpoint does
not hold the server's event loop (tests/test_offloop.py)."""

import threading
import time

from ccms.api import HTMLResponse, JSONResponse, Request, Response, Route, hookimpl, requires

SLOW_STARTED = threading.Event()
RELEASE = threading.Event()


@requires("fx_slow.view")
async def slow(request: Request) -> Response:
    SLOW_STARTED.set()
    deadline = time.monotonic() + 15
    while not RELEASE.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)  # blocking on purpose, like a slow query through a sync driver
    return HTMLResponse("released" if RELEASE.is_set() else "gave up")


@requires("fx_slow.view")
async def fast(request: Request) -> Response:
    return HTMLResponse("fast")


@requires("fx_slow.view")
async def echo(request: Request) -> Response:
    """A form with an uploaded file: the body is read inside the endpoint."""
    form = await request.form()
    upload = form["file"]
    data = await upload.read()
    return JSONResponse({"note": form["note"], "size": len(data), "tail": data[-8:].decode()})


@requires("fx_slow.view")
async def alive(request: Request) -> Response:
    """Reads its body, then asks whether the client is still there."""
    body = await request.body()
    return JSONResponse({"size": len(body), "disconnected": await request.is_disconnected()})


@hookimpl
def ccms_register_routes(ctx):
    return [Route("/fx_slow/slow", slow), Route("/fx_slow/fast", fast),
            Route("/fx_slow/echo", echo, methods=["POST"]), Route("/fx_slow/alive", alive, methods=["GET", "POST"])]
