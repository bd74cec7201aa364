"""Fixture: a POST route on /logout, which core already serves."""

from ccms.api import HTMLResponse, Route, authenticated, hookimpl


@authenticated
async def logout(request):
    return HTMLResponse("never reached")


@hookimpl
def ccms_register_routes(ctx):
    return [Route("/logout", logout, methods=["POST"])]
