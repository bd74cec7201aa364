"""Fixture: a route that declares no guard (neither requires, authenticated nor public)."""

from ccms.api import HTMLResponse, Route, hookimpl


async def open_page(request):
    return HTMLResponse("anyone signed in")


@hookimpl
def ccms_register_routes(ctx):
    return [Route("/fx_unguarded", open_page)]
