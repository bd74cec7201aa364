"""Screens (/notices) and JSON API (/api/notices) of the example plugin.

The pattern every plugin screen follows: ``@requires`` guards the route,
the context comes from the request (several deployments can share a
process), writes go through the service in one session, a failed form is
re-rendered with its errors and the user's input, and lists answer htmx
requests with the ``#list`` fragment alone.
"""

from __future__ import annotations

import math

from ccms.api import (
    JSONResponse, Request, Response, Route, ValidationFailed, actor_of, api_doc, ctx_of,
    form_data, json_body, org_names, render, requires, user_of,
)
from ccms.api import page_number, page_or_fragment, redirect

from .service import PAGE_SIZE, NoticeIn, NoticeOut, as_out, create_notice, list_notices


@requires("example_notice.view")
async def notice_list(request: Request) -> Response:
    ctx, user = ctx_of(request), user_of(request)
    q = request.query_params.get("q", "").strip()[:100]
    page = page_number(request)
    with ctx.session() as s:
        items, total = list_notices(ctx, s, user, q, page)
        names = org_names(s, [n.org_id for n in items])
    data = {"items": items, "total": total, "q": q, "page": page, "names": names,
            "pages": max(math.ceil(total / PAGE_SIZE), 1),
            "breadcrumbs": [(ctx.gettext("notice.title"), None)]}
    return page_or_fragment(request, "example_notice/list.html", "example_notice/_list.html", data)


@requires("example_notice.edit")
async def notice_new(request: Request) -> Response:
    ctx, user = ctx_of(request), user_of(request)
    crumbs = [(ctx.gettext("notice.title"), "/notices"), (ctx.gettext("notice.new"), None)]
    if request.method == "GET":
        return render(request, "example_notice/form.html", {"values": {}, "errors": {}, "breadcrumbs": crumbs})
    values = await form_data(request)
    try:
        with ctx.session() as s:
            create_notice(ctx, s, actor_of(request), user,
                          {k: v for k, v in values.items() if k in ("title", "body")})
    except ValidationFailed as exc:
        return render(request, "example_notice/form.html",
                      {"values": values, "errors": exc.fields, "error": exc, "breadcrumbs": crumbs},
                      status_code=422)
    return redirect(request, "/notices", flash="notice_created")


@requires("example_notice.view")
async def api_list(request: Request) -> Response:
    ctx, user = ctx_of(request), user_of(request)
    with ctx.session() as s:
        items, total = list_notices(ctx, s, user, request.query_params.get("q", "").strip()[:100], page_number(request))
        names = org_names(s, [n.org_id for n in items])
        return JSONResponse({"items": [as_out(n, names) for n in items], "total": total})


@requires("example_notice.edit")
async def api_create(request: Request) -> Response:
    ctx, user = ctx_of(request), user_of(request)
    body = await json_body(request, NoticeIn)
    with ctx.session() as s:
        item = create_notice(ctx, s, actor_of(request), user, body)
        out = as_out(item, org_names(s, [item.org_id]))
    return JSONResponse(out, status_code=201)


routes = [
    Route("/notices", notice_list, name="notice-list"),
    Route("/notices/new", notice_new, methods=["GET", "POST"], name="notice-new"),
    Route("/api/notices", api_list, methods=["GET"], name="api-notice-list"),
    Route("/api/notices", api_create, methods=["POST"], name="api-notice-create"),
]

api_docs = [
    api_doc("/api/notices", "get", "通知公告列表 / list notices", permission="example_notice.view",
            response=NoticeOut, response_list=True, query={"q": "标题包含 / title contains", "page": "页码 / page"},
            tag="example_notice"),
    api_doc("/api/notices", "post", "发布通知 / publish a notice", permission="example_notice.edit",
            request=NoticeIn, response=NoticeOut, tag="example_notice", status=201),
]
