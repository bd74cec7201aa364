"""Fixture: one page of each guard, a public page with a path parameter."""

from ccms.api import HTMLResponse, Route, authenticated, hookimpl, public, requires


@public
async def hello(request):
    user = request.scope.get("user")
    return HTMLResponse(f"hello {request.path_params['name']} from {user.username if user else 'anonymous'}")


@authenticated
async def mine(request):
    return HTMLResponse("signed in")


@requires("fx_public.view")
async def guarded(request):
    return HTMLResponse("guarded")


@hookimpl
def ccms_register_routes(ctx):
    return [Route("/fx_public/hello/{name}", hello), Route("/fx_public/mine", mine),
            Route("/fx_public/guarded", guarded)]
