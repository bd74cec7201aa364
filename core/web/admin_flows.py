"""流程配置 (flow designer): list flows, create, edit nodes and transitions in
ordinary forms (htmx swaps the editor; everything works without script),
raw JSON for experts, live validation, diagram, versions, diff, publish,
export/import.

Edits land in the flow's working copy (:mod:`ccms.flows.store`: may be
incomplete, its faults listed live); "保存为新版本" checks it in full and stores
a draft version; publishing makes new instances start on that version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from markupsafe import Markup
from pydantic import BaseModel, ConfigDict
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..audit import actor_of
from ..errors import CcmsError, Conflict, NotFound, ValidationFailed
from ..flows import bpmn, designer, store
from ..flows.bpmn_draft import (
    ELEMENT_ZH,
    import_bpmn_draft,
    name_task_actions,
    save_imported,
)
from ..flows.def_models import FlowDef
from ..flows.definition import (
    ASSIGNEE_RULES,
    NODE_TYPES,
    OPERATIONS,
    PLACEHOLDER,
    TIME_UNITS,
    FlowDefinitionError,
    check_flow,
)
from ..forms.definition import DefinitionError, localize, parse_json
from . import definition_admin as shared
from .definition_admin import DefinitionKind
from .definition_admin import bad as _bad
from .openapi import DEFINITION_BODY, api_doc
from .render import render
from .routing import form_data, requires

VIEW, EDIT = "core.flow.view", "core.flow.edit"
BASE = "/admin/flows"


# --- errors shown next to inputs ----------------------------------------------------------------

_ASSIGNEE_INPUT = {"rule": "assignee_rule", "role": "assignee_role", "scope": "assignee_scope",
                   "field": "assignee_field", "username": "assignee_username"}


def input_of(path: str, panel: str) -> str:
    """The designer input that holds the value at a JSON path (for inline errors)."""
    tokens = [t for t in path.replace("[", ".[").split(".") if t and t != "$" and not t.startswith("[")]
    if not tokens:
        return "_"
    last = tokens[-1]
    if panel.startswith("t") or panel == "add_t":
        if "timer" in tokens:
            return "timer_" + last if last in ("amount", "unit") else "timer_amount"
        return {"from": "from", "to": "to", "action": "action", "label": "label", "condition": "condition",
                "default": "default", "rework": "rework", "comment_required": "comment_required"}.get(last, "_")
    if "operations" in tokens:
        op = tokens[tokens.index("operations") + 1] if len(tokens) > tokens.index("operations") + 1 else ""
        if "approval" in tokens:
            return f"{op}_approval_role"
        return {"to": "return_to", "max_times": "extend_max_times", "outcome": "void_outcome",
                "role": "urge_role"}.get(last, f"op_{op}" if op else "_")
    if "assignee" in tokens:
        return _ASSIGNEE_INPUT.get(last, "assignee_rule")
    if "time_limit" in tokens:
        return "limit_" + last if last in ("amount", "unit") else "limit_amount"
    if "multi" in tokens:
        return "multi_field"
    if "bulk" in tokens:
        return "bulk"
    if tokens[0] == "variables":
        return "variables"
    return {"title": "title", "id": "id", "type": "type", "action": "action", "params": "params", "flow": "flow",
            "outcome": "outcome", "view": "view", "editable": "editable", "form": "form", "calendar": "calendar",
            "warn_ratio": "warn_ratio", "required_attachments": "required_attachments"}.get(last, "_")


def inline_errors(exc: CcmsError | None, panel: str) -> dict[str, Any]:
    if exc is None:
        return {}
    if isinstance(exc, DefinitionError):
        return {input_of(exc.path, panel): {"message": exc.reason_zh, "message_en": exc.reason_en}}
    return dict(exc.fields or {})


def _problem_owner(path: str) -> tuple[str, int] | None:
    """("n", index) or ("t", index) of the node or transition a fault is in."""
    for kind, key in (("n", "$.nodes["), ("t", "$.transitions[")):
        if path.startswith(key):
            try:
                return kind, int(path[len(key):].split("]", 1)[0])
            except ValueError:
                return None
    return None


# --- rendering ---------------------------------------------------------------------------------

def _diagram(ctx: Any, d: Mapping[str, Any]) -> Any:
    """The rendered diagram (SVG made on the server), or None to show a plain list."""
    try:
        from ..flows.diagram import render_svg  # lazy: optional: a plain list without the diagram module
    except ImportError:
        return None
    try:
        return Markup(render_svg(dict(d), set()))  # the renderer escapes the text it draws
    except Exception:  # noqa: BLE001 — a picture must never break the designer
        return None


def _options(ctx: Any, prefix: str, keys: tuple[str, ...] | list[str], blank: bool = False) -> list[tuple[str, str]]:
    out = [("", ctx.gettext("flows.choose"))] if blank else []
    return out + [(k, ctx.gettext(f"{prefix}{k}")) for k in keys]


def _bulk_options(d: Mapping[str, Any], node_id: str) -> list[tuple[str, str]]:
    """(action, its button label) the 批量办理 chooser offers for a node."""
    labels: dict[str, str] = {}
    for t in d.get("transitions", []):
        if t.get("from") == node_id and t.get("action"):
            labels.setdefault(t["action"], localize(t.get("label")) or t["action"])
    return [(a, labels[a]) for a in designer.bulk_choices(d, node_id)]


def _bpmn_kind(ctx: Any, origin: Any) -> str:
    """A placeholder's BPMN element as a person reads it: 脚本任务（scriptTask）."""
    if not isinstance(origin, Mapping):
        return ""
    element = str(origin.get("element") or "")
    return f"{ELEMENT_ZH[element]}（{element}）" if element in ELEMENT_ZH else element


def _editor_context(request: Request, s: Any, flow_id: str, exc: CcmsError | None, posted: dict[str, Any] | None,
                    notice: str, diff_range: tuple[int, int] | None) -> dict[str, Any]:
    ctx, user = request.scope["ccms"], request.scope["user"]
    d, work, latest = store.work_doc(s, flow_id)
    problems = check_flow(d, "", ctx, session=s)
    by_owner: dict[tuple[str, int], list[FlowDefinitionError]] = {}
    for p in problems:
        owner = _problem_owner(p.path)
        if owner:
            by_owner.setdefault(owner, []).append(p)
    nodes = []
    node_ids = [n["id"] for n in d.get("nodes", [])]
    for i, n in enumerate(d.get("nodes", [])):
        nodes.append({"i": i, "id": n["id"], "type": n["type"], "title": localize(n.get("title")) or n["id"],
                      "vals": designer.node_form_values(n), "problems": by_owner.get(("n", i), []), "node": n,
                      "bulk_choices": _bulk_options(d, n["id"]), "bpmn": n.get("bpmn"),
                      "bpmn_kind": _bpmn_kind(ctx, n.get("bpmn"))})
    transitions = []
    for k, t in enumerate(d.get("transitions", [])):
        transitions.append({"i": k, "t": t, "label": localize(t.get("label")) or t.get("action", ""),
                            "vals": designer.transition_form_values(t), "problems": by_owner.get(("t", k), [])})
    title = d.get("title")
    variables = d.get("variables") or {}
    panel = (posted or {}).get("panel", "")
    return {
        "flow_id": flow_id, "d": d, "work": work, "latest": latest, "title": localize(title) or flow_id,
        "settings": {"title": title.get("zh-CN", "") if isinstance(title, Mapping) else (title or ""),
                     "title_en": title.get("en", "") if isinstance(title, Mapping) else "",
                     "form": d.get("form", ""), "calendar": d.get("calendar", ""),
                     "warn_ratio": "" if d.get("warn_ratio") is None else str(d["warn_ratio"]),
                     "variables": "\n".join(f"{k}:{v.get('type', 'string')}" for k, v in variables.items())},
        "lock": work.lock_version if work is not None else 0,
        "nodes": nodes, "transitions": transitions, "node_ids": node_ids,
        "node_options": [("", ctx.gettext("flows.choose"))] + [(n["id"], f"{n['title']}（{n['id']}）") for n in nodes],
        "problems": problems, **shared.versions_context(KIND, s, flow_id, diff_range),
        "can_edit": ctx.can_anywhere(user, EDIT), "error": exc, "errors": inline_errors(exc, panel),
        "posted": posted or {}, "panel": panel, "notice": notice,
        "placeholders": [n for n in nodes if n["type"] == PLACEHOLDER], "import_notes": d.get("import_notes") or [],
        "diagram": _diagram(ctx, d),
        "type_options": _options(ctx, "flows.type.", NODE_TYPES),
        "rule_options": _options(ctx, "flows.rule.", ASSIGNEE_RULES, blank=True),
        "scope_options": [("", ctx.gettext("flows.scope_default"))]
        + _options(ctx, "flows.scope.", ("record_org", "record_region", "initiator_org")),
        "unit_options": _options(ctx, "flows.unit.", TIME_UNITS),
        "operations": OPERATIONS,
        "breadcrumbs": [(ctx.gettext("flows.title"), BASE), (localize(title) or flow_id, None)],
    }


def _render_editor(request: Request, flow_id: str, exc: CcmsError | None = None, status: int = 200,
                   posted: dict[str, Any] | None = None, notice: str = "",
                   diff_range: tuple[int, int] | None = None) -> Response:
    ctx = request.scope["ccms"]
    with ctx.db.session() as s:
        context = _editor_context(request, s, flow_id, exc, posted, notice, diff_range)
    return shared.editor_response(KIND, request, context, status)


def _is_bpmn(filename: str, content: bytes) -> bool:
    """A BPMN 2.0 file from a modeler (by extension, or XML content) rather than our JSON."""
    return filename.lower().endswith((".bpmn", ".xml")) or content.lstrip()[:1] == b"<"


@requires(EDIT)
async def import_action(request: Request) -> Response:
    """A JSON file as :func:`definition_admin.import_action` stores it; a BPMN file from any modeler
    becomes an editable draft version (:mod:`ccms.flows.bpmn_draft`) that the designer opens with
    its placeholders and missing assignee rules listed; publishing refuses it until it is finished."""

    ctx = request.scope["ccms"]
    form = await request.form()
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise _bad("file", "请选择要导入的 JSON 或 BPMN 文件", "choose a JSON or BPMN file to import")
        content = await upload.read()
        with ctx.db.session() as s:
            if _is_bpmn(upload.filename, content):
                definition, _notes = import_bpmn_draft(content)
                flow_id, _complete = save_imported(s, actor_of(request), definition, filename=upload.filename, ctx=ctx)
            else:
                row = store.import_json(s, actor_of(request), content, note=f"导入 / imported {upload.filename}"[:500],
                                       source=f"import:{upload.filename}"[:300], ctx=ctx)
                flow_id = row.flow_id
    except (ValidationFailed, Conflict) as exc:
        return shared.render_list(KIND, request, exc, exc.status, which="import")
    finally:
        await form.close()
    return RedirectResponse(f"{BASE}/{flow_id}", status_code=303)


_api_import_json = None  # set below: the shared JSON import endpoint


@requires(EDIT)
async def api_import(request: Request) -> Response:
    """The body is a definition (JSON: checked in full, a new draft version) or a BPMN 2.0 file
    (``Content-Type: application/xml`` or a body starting with ``<``): an editable draft as the
    designer's import makes it. A BPMN answer adds ``complete``, ``problems`` (JSON path, Chinese
    and English reason: what blocks publishing) and ``notes``; the draft version is stored either
    way (``version``), and publishing it is refused until it is finished."""

    raw = await request.body()
    if "xml" not in request.headers.get("content-type", "") and not _is_bpmn("", raw):
        return await _api_import_json(request)
    ctx = request.scope["ccms"]
    definition, notes = import_bpmn_draft(raw)
    with ctx.db.session() as s:
        flow_id, complete = save_imported(s, actor_of(request), definition, filename="API", ctx=ctx)
        problems = [] if complete else check_flow(dict(definition), "", ctx, session=s)
        body = {**shared.detail_out(KIND, store.latest_row(s, flow_id)), "complete": complete,
                "problems": [{"path": p.path, "message": p.reason_zh, "message_en": p.reason_en} for p in problems],
                "notes": notes}
    return JSONResponse(body, status_code=201)


def _lock(data: Mapping[str, Any]) -> int | None:
    raw = str(data.get("lock", "") or "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise _bad("lock", "请刷新后重试", "reload and try again") from None


Edit = Callable[[Any, dict[str, Any], dict[str, Any], Request], dict[str, Any]]


def _edit(op: Edit, panel: Callable[[Request], str], name: str) -> Callable[[Request], Any]:
    """An editor change: ``op(ctx, document, form data, request)`` -> new document, kept in the working copy."""

    @requires(EDIT)
    async def endpoint(request: Request) -> Response:
        ctx = request.scope["ccms"]
        flow_id = request.path_params["flow"]
        data = await form_data(request)
        try:
            with ctx.db.session() as s:
                d, _work, _latest = store.work_doc(s, flow_id)
                new = op(ctx, d, data, request)
                if new != d:
                    store.save_work(s, actor_of(request), flow_id, new, lock=_lock(data))
        except (ValidationFailed, Conflict) as exc:
            return _render_editor(request, flow_id, exc, exc.status, posted={"panel": panel(request), "vals": data})
        return shared.after_write(KIND, request, flow_id, "saved")

    endpoint.__name__ = f"edit_{name}"
    return endpoint


def _float(data: Mapping[str, Any], key: str) -> float | None:
    raw = str(data.get(key, "") or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise _bad(key, "请输入数字", "enter a number") from None


def _op_settings(ctx: Any, d: dict[str, Any], data: dict[str, Any], request: Request) -> dict[str, Any]:
    if not str(data.get("title", "")).strip():
        raise _bad("title", "请填写流程标题", "a title is required")
    return designer.set_settings(d, title=str(data.get("title", "")), title_en=str(data.get("title_en", "")),
                                 form=str(data.get("form", "")), calendar=str(data.get("calendar", "")),
                                 warn_ratio=_float(data, "warn_ratio"),
                                 variables=designer.parse_variables(str(data.get("variables", ""))))


def _op_add_node(ctx: Any, d: dict[str, Any], data: dict[str, Any], request: Request) -> dict[str, Any]:
    return designer.add_node(d, str(data.get("id", "")), str(data.get("type", "")), str(data.get("title", "")),
                             str(data.get("title_en", "")))


def _node(d: Mapping[str, Any], node_id: str) -> dict[str, Any]:
    for n in d.get("nodes", []):
        if n.get("id") == node_id:
            return n
    raise NotFound(f"节点 {node_id} 不存在", f"node {node_id} does not exist")


def _op_node(ctx: Any, d: dict[str, Any], data: dict[str, Any], request: Request) -> dict[str, Any]:
    node_id = request.path_params["node"]
    old = _node(d, node_id)
    node_type = str(data.get("type", "") or old["type"])
    if node_type not in NODE_TYPES:
        raise _bad("type", "请选择节点类型", "choose a node type")
    new = designer.set_node(d, node_id, designer.node_from_form(node_type, data, old if old["type"] == node_type else {},
                                                                designer.bulk_choices(d, node_id)))
    if old["type"] == PLACEHOLDER:  # a BPMN placeholder replaced: its flows out become buttons of the new task
        new = name_task_actions(new, node_id)
    return new


def _op_move_node(ctx: Any, d: dict[str, Any], data: dict[str, Any], request: Request) -> dict[str, Any]:
    _node(d, request.path_params["node"])
    return designer.move_node(d, request.path_params["node"], str(data.get("where", "")))


def _op_remove_node(ctx: Any, d: dict[str, Any], data: dict[str, Any], request: Request) -> dict[str, Any]:
    _node(d, request.path_params["node"])
    return designer.remove_node(d, request.path_params["node"])


def _t_index(d: Mapping[str, Any], request: Request) -> int:
    index = int(request.path_params["index"])
    if not 0 <= index < len(d.get("transitions", [])):
        raise NotFound(f"流转 {index + 1} 不存在", f"transition {index + 1} does not exist")
    return index


def _op_add_transition(ctx: Any, d: dict[str, Any], data: dict[str, Any], request: Request) -> dict[str, Any]:
    return designer.add_transition(d, designer.transition_from_form(data))


def _op_transition(ctx: Any, d: dict[str, Any], data: dict[str, Any], request: Request) -> dict[str, Any]:
    return designer.set_transition(d, _t_index(d, request), designer.transition_from_form(data))


def _op_move_transition(ctx: Any, d: dict[str, Any], data: dict[str, Any], request: Request) -> dict[str, Any]:
    return designer.move_transition(d, _t_index(d, request), str(data.get("where", "")))


def _op_remove_transition(ctx: Any, d: dict[str, Any], data: dict[str, Any], request: Request) -> dict[str, Any]:
    return designer.remove_transition(d, _t_index(d, request))


def _save_version(ctx: Any, s: Any, flow_id: str, data: dict[str, Any], request: Request) -> str:
    note = str(data.get("note", "")).strip()[:500]
    store.save_work_as_version(s, actor_of(request), flow_id, lock=_lock(data), note=note, ctx=ctx)
    return "versioned"


def _discard(ctx: Any, s: Any, flow_id: str, data: dict[str, Any], request: Request) -> str:
    store.discard_work(s, actor_of(request), flow_id, lock=_lock(data))
    return "discarded"


def _publish_version(data: Mapping[str, Any]) -> int:
    raw = str(data.get("version", "")).strip()
    if not raw.isdecimal():
        raise _bad("version", "请选择要发布的版本", "choose the version to publish")
    return int(raw)


# --- raw JSON -------------------------------------------------------------------------------------

def _render_json(request: Request, flow_id: str, text: str | None = None, exc: CcmsError | None = None,
                 status: int = 200, notice: str = "") -> Response:
    ctx, user = request.scope["ccms"], request.scope["user"]
    with ctx.db.session() as s:
        d, work, _latest = store.work_doc(s, flow_id)
        problems = check_flow(d, "", ctx, session=s)
    return render(request, "admin/flows_json.html", {
        "flow_id": flow_id, "title": localize(d.get("title")) or flow_id,
        "text": text if text is not None else json.dumps(d, ensure_ascii=False, indent=2),
        "lock": work.lock_version if work is not None else 0, "error": exc, "notice": notice,
        "problems": problems, "can_edit": ctx.can_anywhere(user, EDIT),
        "breadcrumbs": [(ctx.gettext("flows.title"), BASE), (localize(d.get("title")) or flow_id, f"{BASE}/{flow_id}"),
                        (ctx.gettext("flows.json_tab"), None)]}, status_code=status)


@requires(VIEW)
async def json_page(request: Request) -> Response:
    return _render_json(request, request.path_params["flow"], notice="saved" if "saved" in request.query_params else "")


@requires(EDIT)
async def json_action(request: Request) -> Response:
    """Replace the working copy with posted JSON: it must be JSON and have the
    right structure; other faults are listed (the user's text is kept on error)."""
    ctx = request.scope["ccms"]
    flow_id = request.path_params["flow"]
    data = await form_data(request)
    text = str(data.get("definition", ""))
    try:
        try:
            doc = parse_json(text, "JSON")
        except DefinitionError as exc:
            raise FlowDefinitionError(exc.reason_zh, exc.reason_en, path=exc.path) from None
        with ctx.db.session() as s:
            store.latest_row(s, flow_id)
            current, _work, _latest = store.work_doc(s, flow_id)
            if doc != current:
                store.save_work(s, actor_of(request), flow_id, doc, lock=_lock(data))
    except (ValidationFailed, Conflict) as exc:
        return _render_json(request, flow_id, text, exc, exc.status)
    return RedirectResponse(f"{BASE}/{flow_id}/json?saved=1", status_code=303)


# --- versions ------------------------------------------------------------------------------------

def _int_q(params: Mapping[str, Any], key: str) -> int:
    raw = str(params.get(key, "")).strip()
    if not raw.isdecimal():
        raise _bad(key, "请选择版本", "choose a version")
    return int(raw)


def _export_version(params: Mapping[str, Any]) -> int | None:
    raw = str(params.get("version", "")).strip()
    return int(raw) if raw.isdecimal() else None


def _export_bpmn(request: Request, flow_id: str, suffix: str, text: str) -> Response | None:
    """``?format=bpmn``: the version as BPMN 2.0 for a modeler (else the JSON file)."""
    if request.query_params.get("format") != "bpmn":
        return None
    return Response(bpmn.export_bpmn(json.loads(text)).encode("utf-8"), media_type="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{flow_id}{suffix}.bpmn"'})


# --- JSON API ------------------------------------------------------------------------------------

class FlowSummaryOut(BaseModel):
    flow_id: str
    title: str
    published_version: int | None
    latest_version: int
    status: str
    versions: int


class FlowVersionOut(BaseModel):
    flow_id: str
    version: int
    status: str
    lock_version: int
    definition: dict[str, Any]


class FlowPublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    lock_version: int | None = None


class FlowProblemOut(BaseModel):
    path: str
    message: str
    message_en: str


@requires(VIEW)
async def api_list(request: Request) -> Response:
    ctx = request.scope["ccms"]
    with ctx.db.session() as s:
        items = shared.summaries(KIND, s)
    return JSONResponse({"items": items, "total": len(items)})  # like every other list (and its schema)


@requires(VIEW)
async def api_version(request: Request) -> Response:
    ctx = request.scope["ccms"]
    raw = str(request.path_params["version"])
    if not raw.isdecimal():
        raise NotFound("版本不存在", "no such version")
    with ctx.db.session() as s:
        return JSONResponse(shared.detail_out(KIND, store.get_version(s, request.path_params["flow"], int(raw))))


@requires(VIEW)
async def api_validate(request: Request) -> Response:
    """Every fault of a posted definition (200 with an empty list when it loads)."""
    ctx = request.scope["ccms"]
    raw = await request.body()
    try:
        data = parse_json(raw, "body")
    except DefinitionError as exc:
        return JSONResponse({"problems": [{"path": exc.path, "message": exc.reason_zh, "message_en": exc.reason_en}]})
    with ctx.db.session() as s:
        problems = check_flow(data, "", ctx, session=s)
    return JSONResponse({"problems": [{"path": p.path, "message": p.reason_zh, "message_en": p.reason_en}
                                      for p in problems]})


def _panel_node(request: Request) -> str:
    return "n:" + request.path_params.get("node", "")


def _panel_t(request: Request) -> str:
    return "t:" + str(request.path_params.get("index", ""))


KIND = DefinitionKind(
    store=store, model=FlowDef, id_field="flow_id", path_param="flow", base=BASE, view=VIEW, edit=EDIT,
    prefix="flows", zh="流程", en="flow", new_document=designer.new_flow,
    render_editor=_render_editor, publish_version=_publish_version, diff_version=_int_q,
    export_version=_export_version, notices=("saved", "versioned", "published", "unpublished", "discarded"),
    diff_error_key="diff_error", count_versions=True, store_ctx=True, import_error_on_file=True,
    export_other=_export_bpmn)

_api_import_json = shared.api_import(KIND)

routes = [
    Route(BASE, shared.list_page(KIND), methods=["GET"]),
    Route(f"{BASE}/new", shared.create_action(KIND), methods=["POST"]),
    Route(f"{BASE}/import", import_action, methods=["POST"]),
    Route(BASE + "/{flow}", shared.editor_page(KIND), methods=["GET"]),
    Route(BASE + "/{flow}/settings", _edit(_op_settings, lambda r: "settings", "settings"), methods=["POST"]),
    Route(BASE + "/{flow}/nodes", _edit(_op_add_node, lambda r: "add_node", "add_node"), methods=["POST"]),
    Route(BASE + "/{flow}/nodes/{node}", _edit(_op_node, _panel_node, "node"), methods=["POST"]),
    Route(BASE + "/{flow}/nodes/{node}/move", _edit(_op_move_node, _panel_node, "move_node"), methods=["POST"]),
    Route(BASE + "/{flow}/nodes/{node}/remove", _edit(_op_remove_node, _panel_node, "remove_node"), methods=["POST"]),
    Route(BASE + "/{flow}/transitions", _edit(_op_add_transition, lambda r: "add_t", "add_transition"),
          methods=["POST"]),
    Route(BASE + "/{flow}/transitions/{index:int}", _edit(_op_transition, _panel_t, "transition"), methods=["POST"]),
    Route(BASE + "/{flow}/transitions/{index:int}/move", _edit(_op_move_transition, _panel_t, "move_transition"),
          methods=["POST"]),
    Route(BASE + "/{flow}/transitions/{index:int}/remove",
          _edit(_op_remove_transition, _panel_t, "remove_transition"), methods=["POST"]),
    Route(BASE + "/{flow}/save", shared.version_action(KIND, _save_version), methods=["POST"]),
    Route(BASE + "/{flow}/discard", shared.version_action(KIND, _discard), methods=["POST"]),
    Route(BASE + "/{flow}/publish", shared.version_action(KIND, shared.publish_step(KIND)), methods=["POST"]),
    Route(BASE + "/{flow}/unpublish", shared.version_action(KIND, shared.unpublish_step(KIND)), methods=["POST"]),
    Route(BASE + "/{flow}/json", json_page, methods=["GET"]),
    Route(BASE + "/{flow}/json", json_action, methods=["POST"]),
    Route(BASE + "/{flow}/diff", shared.diff_page(KIND), methods=["GET"]),
    Route(BASE + "/{flow}/export", shared.export(KIND), methods=["GET"]),
    Route("/api/flows", api_list, methods=["GET"]),
    Route("/api/flows/validate", api_validate, methods=["POST"]),
    Route("/api/flows/import", api_import, methods=["POST"]),
    Route("/api/flows/{flow}/versions/{version}", api_version, methods=["GET"]),
    Route("/api/flows/{flow}/publish", shared.api_publish(KIND, FlowPublishIn), methods=["POST"]),
]

api_docs = [
    api_doc("/api/flows", "GET", "流程定义列表 / list flow definitions", permission=VIEW, response=FlowSummaryOut,
            response_list=True, tag="flows"),
    api_doc("/api/flows/validate", "POST", "检查流程定义，列出全部问题 / validate a flow definition", permission=VIEW,
            tag="flows"),
    api_doc("/api/flows/import", "POST", "导入流程定义（JSON 或 BPMN 2.0）为草稿 / import a definition (JSON or BPMN 2.0) "
            "as a draft", permission=EDIT,
            response=FlowVersionOut, tag="flows", status=201, body=DEFINITION_BODY),
    api_doc("/api/flows/{flow}/versions/{version}", "GET", "流程定义的一个版本 / one version", permission=VIEW,
            response=FlowVersionOut, tag="flows"),
    api_doc("/api/flows/{flow}/publish", "POST", "发布一个版本 / publish a version", permission=EDIT,
            request=FlowPublishIn, response=FlowVersionOut, tag="flows"),
]
