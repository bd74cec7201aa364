"""The screens that forms and flows share in 应用维护: the definition list
with its create/import forms, the editor's version panel (publish, unpublish,
diff, export) and the notices shown after a redirect.

Both designers sit on one versioned store (:mod:`core.versioned`), so their
list, version and import screens are the same but for words, URLs and a few
kind-specific steps (flows also import BPMN, and export it). Each designer
module describes itself with a :class:`DefinitionKind` and keeps only what is
really its own (fields and layout for forms; nodes and transitions for flows).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..audit import actor_of
from ..errors import CcmsError, Conflict, NotFound, ValidationFailed
from ..forms.definition import DefinitionError, localize
from .pages import is_htmx
from .render import render
from .routing import form_data, json_body, requires

Endpoint = Callable[[Request], Any]
#: A version write: ``(ctx, session, def_id, form data, request)`` -> the notice, or (notice, query value).
VersionStep = Callable[[Any, Any, str, dict[str, Any], Request], "str | tuple[str, str]"]


@dataclass(frozen=True)
class DefinitionKind:
    """What tells the form screens from the flow screens.

    ``store`` is the kind's store module (``list_versions``, ``diff_versions``,
    ``export_json``, ``import_json``, ``save_draft``, ``publish``, ``unpublish``);
    ``store_ctx`` says its writes take ``ctx=``. ``prefix`` is both the i18n
    prefix and the template stem (``admin/<prefix>.html``, ``admin/<prefix>_diff.html``).
    """

    store: Any
    model: Any
    id_field: str  # "form_id" / "flow_id": the model column and the create form's input
    path_param: str  # "form" / "flow" in the URL
    base: str
    view: str
    edit: str
    prefix: str
    zh: str  # 表单 / 流程
    en: str  # form / flow
    new_document: Callable[[str, str], dict[str, Any]]  # (id, title) -> a new definition; DefinitionError if bad
    render_editor: Callable[..., Response]
    publish_version: Callable[[Mapping[str, Any]], int]  # the posted ``version`` (ValidationFailed if bad)
    diff_version: Callable[[Mapping[str, Any], str], int]  # ``from`` / ``to`` of the diff query
    export_version: Callable[[Mapping[str, Any]], int | None]
    notices: tuple[str, ...] = ("saved", "published", "unpublished")
    count_versions: bool = False  # the list (and its API) also tells how many versions each has
    diff_error_key: str = "error"
    store_ctx: bool = False
    publish_echo_version: bool = False  # redirect to ?published=<version> rather than ?published=1
    import_error_on_file: bool = False  # any import error shows on the file input
    prepare_import: Callable[[str, bytes], tuple[bytes, str]] | None = None  # (filename, content) -> (JSON, note)
    export_other: Callable[[Request, str, str, str], Response | None] | None = None  # (request, id, suffix, JSON)

    def ctx_kw(self, ctx: Any) -> dict[str, Any]:
        return {"ctx": ctx} if self.store_ctx else {}


def bad(field: str, zh: str, en: str) -> ValidationFailed:
    """A refusal shown next to one input."""
    return ValidationFailed(zh, en, fields={field: {"message": zh, "message_en": en}})


# --- the list of definitions ----------------------------------------------------------------

def summaries(kind: DefinitionKind, s: Any) -> list[dict[str, Any]]:
    """One row per definition: id, title, published and latest version, latest status (and count)."""
    m = kind.model
    id_col = getattr(m, kind.id_field)
    rows = s.execute(select(id_col, m.version, m.status, m.definition).order_by(id_col, m.version)).all()
    out: dict[str, dict[str, Any]] = {}
    for def_id, version, status, definition in rows:
        item = out.setdefault(def_id, {kind.id_field: def_id, "published_version": None,
                                       **({"versions": 0} if kind.count_versions else {})})
        item.update(latest_version=version, status=status, title=localize(definition.get("title")))
        if kind.count_versions:
            item["versions"] += 1
        if status == "published":
            item["published_version"] = version
    return list(out.values())


def render_list(kind: DefinitionKind, request: Request, exc: CcmsError | None = None, status: int = 200,
                values: dict[str, Any] | None = None, which: str = "") -> Response:
    """The list page; ``which`` ("new" / "import") names the form an error belongs to."""
    ctx, user = request.scope["ccms"], request.scope["user"]
    with ctx.db.session() as s:
        items = summaries(kind, s)
    errors: dict[str, Any] = {}
    if exc is not None:
        if kind.import_error_on_file:
            errors = ({"file": {"message": exc.zh, "message_en": exc.en}} if which == "import"
                      else dict(exc.fields or {}))
        elif not isinstance(exc, DefinitionError):  # a faulty definition file is told in the flash alone
            errors = dict(exc.fields or {})
    return render(request, f"admin/{kind.prefix}.html", {
        kind.prefix: items, "can_edit": ctx.can_anywhere(user, kind.edit),
        "values": values or {kind.id_field: "", "title": ""},
        "error": exc, "errors": errors, "which": which,
        "breadcrumbs": [(ctx.gettext(f"{kind.prefix}.title"), None)]}, status_code=status)


def list_page(kind: DefinitionKind) -> Endpoint:
    @requires(kind.view)
    async def list_page(request: Request) -> Response:
        return render_list(kind, request)

    return list_page


def create_action(kind: DefinitionKind) -> Endpoint:
    """A new definition from an id and a title, stored as version 1 (a draft)."""

    @requires(kind.edit)
    async def create_action(request: Request) -> Response:
        ctx = request.scope["ccms"]
        data = await form_data(request)
        values = {kind.id_field: str(data.get(kind.id_field, "")).strip(), "title": str(data.get("title", "")).strip()}
        try:
            if not values["title"]:
                raise bad("title", f"请填写{kind.zh}标题", "a title is required")
            try:
                d = kind.new_document(values[kind.id_field], values["title"])
            except DefinitionError:
                raise bad(kind.id_field, f"{kind.zh}编码应以小写字母开头，只含小写字母、数字和下划线（2–64 个字符）",
                          f"the {kind.en} id is 2-64 lowercase letters, digits or underscores, "
                          "starting with a letter") from None
            with ctx.db.session() as s:
                id_col = getattr(kind.model, kind.id_field)
                if s.scalar(select(kind.model.id).where(id_col == d["id"]).limit(1)) is not None:
                    raise bad(kind.id_field, f"{kind.zh}编码 {d['id']} 已被使用", f"{kind.en} id {d['id']} is taken")
                kind.store.save_draft(s, actor_of(request), d, note="新建 / created", **kind.ctx_kw(ctx))
        except (ValidationFailed, Conflict) as exc:
            return render_list(kind, request, exc, exc.status, values, "new")
        return RedirectResponse(f"{kind.base}/{values[kind.id_field]}", status_code=303)

    return create_action


def import_action(kind: DefinitionKind) -> Endpoint:
    """An uploaded definition file stored as a new draft version (``prepare_import`` may convert it first)."""

    @requires(kind.edit)
    async def import_action(request: Request) -> Response:
        ctx = request.scope["ccms"]
        form = await request.form()
        upload = form.get("file")
        try:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise bad("file", "请选择要导入的 JSON 文件", "choose a JSON file to import")
            content = await upload.read()
            note = f"导入 / imported {upload.filename}"
            if kind.prepare_import is not None:
                content, note = kind.prepare_import(upload.filename, content)
            with ctx.db.session() as s:
                row = kind.store.import_json(s, actor_of(request), content, note=note[:500],
                                             source=f"import:{upload.filename}"[:300], **kind.ctx_kw(ctx))
                def_id = getattr(row, kind.id_field)
        except (ValidationFailed, Conflict) as exc:
            return render_list(kind, request, exc, exc.status, which="import")
        finally:
            await form.close()
        return RedirectResponse(f"{kind.base}/{def_id}", status_code=303)

    return import_action


# --- the editor's version panel ---------------------------------------------------------------

def editor_page(kind: DefinitionKind) -> Endpoint:
    """The editor; a redirect after a write names its notice in the query (``?published=1``)."""

    @requires(kind.view)
    async def editor_page(request: Request) -> Response:
        q = request.query_params
        notice = next((k for k in kind.notices if k in q), "")
        return kind.render_editor(request, request.path_params[kind.path_param], notice=notice)

    return editor_page


def versions_context(kind: DefinitionKind, s: Any, def_id: str,
                     diff_range: tuple[int, int] | None) -> dict[str, Any]:
    """The version panel: versions (newest first), the published one, and the
    differences shown (by default the newest two); an old version that no
    longer loads gives ``diff_error`` rather than locking the editor."""
    versions = kind.store.list_versions(s, def_id)
    published = next((v["version"] for v in versions if v["status"] == "published"), None)
    changes, diff_error = None, None
    if diff_range is None and len(versions) > 1:
        diff_range = (versions[1]["version"], versions[0]["version"])
    if diff_range is not None:
        try:
            changes = kind.store.diff_versions(s, def_id, *diff_range)
        except CcmsError as exc:
            diff_error = exc
    return {"versions": versions, "published": published, "changes": changes, "diff_range": diff_range,
            "diff_error": diff_error}


def editor_response(kind: DefinitionKind, request: Request, context: dict[str, Any], status: int) -> Response:
    """htmx swaps only 2xx, so an htmx request gets the editor alone with errors inline."""
    if is_htmx(request):
        return render(request, f"admin/{kind.prefix}_editor.html", context)
    return render(request, f"admin/{kind.prefix}_edit.html", context, status_code=status)


def after_write(kind: DefinitionKind, request: Request, def_id: str, notice: str, value: str = "1") -> Response:
    """The editor with a notice (htmx), else a redirect to it (``?<notice>=<value>``)."""
    if is_htmx(request):
        return kind.render_editor(request, def_id, notice=notice)
    return RedirectResponse(f"{kind.base}/{def_id}?{notice}={value}", status_code=303)


def version_action(kind: DefinitionKind, step: VersionStep) -> Endpoint:
    """One version write (publish, unpublish, save, discard), then the editor with a notice."""

    @requires(kind.edit)
    async def endpoint(request: Request) -> Response:
        ctx = request.scope["ccms"]
        def_id = request.path_params[kind.path_param]
        data = await form_data(request)
        try:
            with ctx.db.session() as s:
                result = step(ctx, s, def_id, data, request)
        except (ValidationFailed, Conflict, NotFound) as exc:
            return kind.render_editor(request, def_id, exc, exc.status)
        notice, value = (result, "1") if isinstance(result, str) else result
        return after_write(kind, request, def_id, notice, value)

    endpoint.__name__ = endpoint.__qualname__ = step.__name__.lstrip("_")
    return endpoint


def publish_step(kind: DefinitionKind) -> VersionStep:
    def _publish(ctx: Any, s: Any, def_id: str, data: dict[str, Any], request: Request) -> str | tuple[str, str]:
        version = kind.publish_version(data)
        kind.store.publish(s, actor_of(request), def_id, version, **kind.ctx_kw(ctx))
        return ("published", str(version)) if kind.publish_echo_version else "published"

    return _publish


def unpublish_step(kind: DefinitionKind) -> VersionStep:
    def _unpublish(ctx: Any, s: Any, def_id: str, data: dict[str, Any], request: Request) -> str:
        kind.store.unpublish(s, actor_of(request), def_id)
        return "unpublished"

    return _unpublish


def diff_page(kind: DefinitionKind) -> Endpoint:
    """The differences between two versions: the fragment for htmx, else the whole editor."""

    @requires(kind.view)
    async def diff_page(request: Request) -> Response:
        ctx = request.scope["ccms"]
        def_id = request.path_params[kind.path_param]
        template = f"admin/{kind.prefix}_diff.html"
        try:
            a, b = kind.diff_version(request.query_params, "from"), kind.diff_version(request.query_params, "to")
            with ctx.db.session() as s:
                changes = kind.store.diff_versions(s, def_id, a, b)
        except (ValidationFailed, NotFound) as exc:
            if is_htmx(request):
                return render(request, template, {"changes": None, kind.diff_error_key: exc, kind.id_field: def_id})
            return kind.render_editor(request, def_id, exc, exc.status)
        if is_htmx(request):
            return render(request, template, {"changes": changes, "diff_range": (a, b), kind.diff_error_key: None,
                                              kind.id_field: def_id})
        return kind.render_editor(request, def_id, diff_range=(a, b))

    return diff_page


def export(kind: DefinitionKind) -> Endpoint:
    """A version (else the published, else the newest) as a file to download."""

    @requires(kind.view)
    async def export(request: Request) -> Response:
        ctx = request.scope["ccms"]
        def_id = request.path_params[kind.path_param]
        version = kind.export_version(request.query_params)
        with ctx.db.session() as s:
            text = kind.store.export_json(s, def_id, version)
        suffix = f"-v{version}" if version else ""
        other = kind.export_other(request, def_id, suffix, text) if kind.export_other else None
        if other is not None:
            return other
        return Response(text.encode("utf-8"), media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{def_id}{suffix}.json"'})

    return export


# --- JSON API ------------------------------------------------------------------------------------

def detail_out(kind: DefinitionKind, row: Any) -> dict[str, Any]:
    """One version as the API returns it."""
    return {kind.id_field: getattr(row, kind.id_field), "version": row.version, "status": row.status,
            "lock_version": row.lock_version, "definition": row.definition}


def api_import(kind: DefinitionKind) -> Endpoint:
    @requires(kind.edit)
    async def api_import(request: Request) -> Response:
        """The body is the definition itself: checked in full, stored as a new draft."""
        ctx = request.scope["ccms"]
        raw = await request.body()
        with ctx.db.session() as s:
            row = kind.store.import_json(s, actor_of(request), raw, note="API 导入 / imported through the API",
                                         source="api", **kind.ctx_kw(ctx))
            body = detail_out(kind, row)
        return JSONResponse(body, status_code=201)

    return api_import


def api_publish(kind: DefinitionKind, model: type[BaseModel]) -> Endpoint:
    """Publish ``{"version", "lock_version"?}`` (``model`` names the body in the API docs)."""

    @requires(kind.edit)
    async def api_publish(request: Request) -> Response:
        ctx = request.scope["ccms"]
        data: Any = await json_body(request, model)
        with ctx.db.session() as s:
            row = kind.store.publish(s, actor_of(request), request.path_params[kind.path_param], data.version,
                                     lock_version=data.lock_version, **kind.ctx_kw(ctx))
            s.flush()
            body = detail_out(kind, row)
        return JSONResponse(body)

    return api_publish
