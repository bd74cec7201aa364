"""Fixture: requires a permission its manifest does not declare (view/veiw)."""

from ccms.api import HTMLResponse, Route, hookimpl, requires


@requires("fx_misspelt_perm.veiw")
async def page(request):
    return HTMLResponse("nobody but the administrator")


@hookimpl
def ccms_register_routes(ctx):
    return [Route("/fx_misspelt_perm", page)]
