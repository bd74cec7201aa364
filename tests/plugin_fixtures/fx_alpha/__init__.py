"""Fixture: a page behind its permission, a home panel and a start-up hook
that records which deployment started it (to prove per-app hook managers)."""

from ccms.api import HTMLResponse, Request, Response, Route, hookimpl, requires

STARTED: list[str] = []


@requires("fx_alpha.view")
async def page(request: Request) -> Response:
    return HTMLResponse('<p data-testid="fx-alpha-page">fx_alpha page</p>')


@hookimpl
def ccms_register_routes(ctx):
    return [Route("/fx_alpha", page)]


@hookimpl
def ccms_register_dashboard_panels(ctx, user):
    return [{"title": "fx_alpha panel", "text": f"fx_alpha panel of {ctx.identity}"}]


@hookimpl
def ccms_app_starting(ctx):
    STARTED.append(ctx.identity)
