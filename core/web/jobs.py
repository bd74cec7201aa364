"""后台任务 screens: a job's progress (polled by htmx every second), its
result, and its error report as XLSX. Only the job's owner, or someone
holding ``core.jobs.view_all`` (administrators), sees a job; for anyone else
it does not exist.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import jobs
from ..errors import Forbidden, NotFound
from .forms_list import table_file
from .openapi import api_doc
from .pages import page_or_fragment
from .routing import authenticated

VIEW_ALL = "core.jobs.view_all"
STATUS_KEYS = {"queued": "jobs.status_queued", "running": "jobs.status_running", "done": "jobs.status_done",
               "failed": "jobs.status_failed"}
#: error report columns in order: key -> locale key of the header
REPORT_COLUMNS = {"row": "jobs.col_row", "label": "jobs.col_field", "field": "jobs.col_path",
                  "message": "jobs.col_message", "message_en": "jobs.col_message_en"}


def _job(request: Request) -> tuple[Any, jobs.JobState]:
    ctx, user = request.scope["ccms"], request.scope.get("user")
    if user is None:
        raise Forbidden("请先登录", "log in first")
    state = jobs.get(ctx, request.path_params["id"])
    if state.owner != user.id and not ctx.can(user, VIEW_ALL, None):  # jobs belong to no org: a grant at the root
        raise NotFound("任务不存在", "no such job")
    return ctx, state


@authenticated
async def job_page(request: Request) -> Response:
    ctx, state = _job(request)
    context = {"job": state, "status_text": ctx.gettext(STATUS_KEYS[state.status]), "kind": ctx.gettext(f"jobs.kind_{state.kind}") if f"jobs.kind_{state.kind}"
               in ctx.catalog.messages["zh-CN"] else state.kind,
               "result_url": state.result.get("url") if isinstance(state.result, dict)
               and str(state.result.get("url", "")).startswith("/") else "",
               "breadcrumbs": [(ctx.gettext("jobs.title"), None)]}
    return page_or_fragment(request, "jobs/job.html", "jobs/_job.html", context)


@authenticated
async def error_report(request: Request) -> Response:
    ctx, state = _job(request)
    if not state.errors:
        raise NotFound("此任务没有错误报告", "this job has no error report")
    keys = [k for k in REPORT_COLUMNS if any(k in e for e in state.errors)]
    keys += [k for k in dict.fromkeys(k for e in state.errors for k in e) if k not in keys]
    rows: list[list[Any]] = [[ctx.gettext(REPORT_COLUMNS[k]) if k in REPORT_COLUMNS else k for k in keys]]
    rows += [[e.get(k, "") for k in keys] for e in state.errors]
    return table_file(rows, "xlsx", f"job-{state.id[:8]}-errors")


@authenticated
async def api_job(request: Request) -> Response:
    _ctx, state = _job(request)
    return JSONResponse(state.to_json())


routes = [
    Route("/jobs/{id}", job_page, name="job"),
    Route("/jobs/{id}/errors.xlsx", error_report, name="job-errors"),
    Route("/api/jobs/{id}", api_job, name="api-job"),
]

api_docs = [
    api_doc("/api/jobs/{id}", "get", "后台任务进度与结果 / a background job's progress and result "
            "(own jobs; all with core.jobs.view_all)", permission="owner | core.jobs.view_all", tag="core"),
]
