"""Fixture: registers /fx_alpha, the page of fx_alpha, under its own permission."""

from ccms.api import HTMLResponse, Route, hookimpl, requires


@requires("fx_same_route.view")
async def page(request):
    return HTMLResponse("fx_same_route")


@hookimpl
def ccms_register_routes(ctx):
    return [Route("/fx_alpha", page)]
