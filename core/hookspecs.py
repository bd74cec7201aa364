"""The plugin contract: every hook a ccms plugin may implement.

Read this file and one example plugin (``plugins/example_notice``) and you know
how to extend ccms. Rules that hold for every hook:

* Implement a hook with ``@hookimpl`` from :mod:`ccms.api` and a function of
  the same name. A misspelt ``ccms_*`` name stops start-up with an error
  naming the plugin.
* Hooks are called with keyword arguments; an implementation may accept any
  subset of them, so new arguments never break old plugins.
* ``ctx`` is the :class:`ccms.api.PluginContext` of the running deployment: a
  closed object with named methods only (``ctx.session()``, ``ctx.settings(id)``,
  ``ctx.can(user, perm, org_id)``, ``ctx.grant_orgs(user, perm)``, ``ctx.gettext``,
  ``ctx.locale`` ... listed at the top of :mod:`ccms.api`), never the kernel's App;
  with :mod:`ccms.api`'s functions it is the only door into the core.
* The core registers its own features through these same hooks
  (:mod:`ccms.builtin`), so every core feature is also a worked example.
* ``ccms plugins hooks`` lists which plugin implements which hook; set
  ``CCMS_TRACE_HOOKS=1`` to log every hook call (name, arguments, duration).

Names say what a hook returns (one scheme, four families):

* ``ccms_register_<things>`` — returns a list (or a dict keyed by name) of
  things the plugin contributes: routes, API docs, field types, commands,
  template folders, flow actions, menu items, dashboard panels. The core
  concatenates the answers of all enabled plugins, core first, then plugins in
  dependency order. Most are asked once at start-up; those taking ``user``
  (menu items, dashboard panels) are asked per request.
* ``ccms_<subject>_<event>`` in the past or progressive tense — a
  notification that returns nothing: ``ccms_audit_recorded``,
  ``ccms_settings_changed``, ``ccms_flow_event_occurred``,
  ``ccms_app_starting``, ``ccms_app_stopping``.
* ``ccms_check_<thing>`` — a validator: returns errors or ``None``
  (``ccms_check_settings``).
* ``ccms_<noun>`` / ``ccms_<verb>_<object>`` — asks one question or one job of
  the plugin, named for the answer (``ccms_task_screen``, ``ccms_task_links``)
  or the job (``ccms_seed_demo``).

Renamed in issue 12 (no vendor depended on them yet): ``ccms_menu_items`` →
``ccms_register_menu_items``, ``ccms_template_dirs`` →
``ccms_register_template_dirs``, ``ccms_dashboard_panels`` →
``ccms_register_dashboard_panels``, ``ccms_flow_actions`` →
``ccms_register_flow_actions``, ``ccms_audit_event`` →
``ccms_audit_recorded``, ``ccms_flow_event`` → ``ccms_flow_event_occurred``,
``ccms_startup`` → ``ccms_app_starting``, ``ccms_shutdown`` →
``ccms_app_stopping``.

The flow engine's hooks (``ccms_register_flow_actions``,
``ccms_flow_event_occurred``, ``ccms_task_screen``, ``ccms_task_links``) are at
the end of this file. Hooks for form records (validation, save events) arrive
with that part; no hook is declared before something calls it.

Everything a plugin can say as data (menus, permissions, settings schema,
forms, flows, migrations) belongs in ``plugin.json``, not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # ccms.api imports hookimpl from here: a run-time import would be a circle
    from .api import PluginContext

PROJECT = "ccms"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def ccms_register_routes(ctx: PluginContext) -> list[Any] | None:
    """Starlette ``Route``/``Mount`` objects for screens and ``/api/`` endpoints.

    Every endpoint declares exactly one guard: ``@requires("plugin.perm")``
    (or ``@checks_permission(...)`` when it checks the org itself),
    ``@authenticated`` (any signed-in user) or ``@public`` (no session; see
    :func:`ccms.api.public` for the CSRF rule), all from :mod:`ccms.api`.
    Start-up refuses a route without one, a method and path another plugin or
    core already serves (naming both), and a permission no enabled manifest
    declares. Routes of a disabled plugin are never mounted, so they answer 404.
    """


@hookspec
def ccms_register_api_docs(ctx: PluginContext) -> list[dict[str, Any]] | None:
    """OpenAPI path items for the plugin's JSON endpoints, each built with
    :func:`ccms.api.api_doc` (path, method, summary, permission, request and
    response pydantic models, query parameters, tag)."""


@hookspec
def ccms_register_menu_items(ctx: PluginContext, user: Any) -> list[dict[str, Any]] | None:
    """Extra menu items computed at request time (static ones go in
    ``plugin.json``). Same shape as a manifest menu entry."""


@hookspec
def ccms_register_template_dirs(ctx: PluginContext) -> list[str] | None:
    """Folders of Jinja2 templates. A plugin's own ``templates/`` folder is
    added automatically; deployment themes still override any name."""


@hookspec
def ccms_register_field_types(ctx: PluginContext) -> list[Any] | None:
    """Form field types (:class:`ccms.forms.fields.FieldType` objects) beyond the
    built-in ones; a name already taken stops start-up unless it is meant to
    replace (``FieldType.replaces = True``)."""


@hookspec
def ccms_audit_recorded(ctx: PluginContext, entry: dict[str, Any]) -> None:
    """An audit entry was committed (actor, client_ip, action, object_type,
    object_id, summary, before, after, success); e.g. forward it to a SIEM.
    Runs after the commit: an exception is logged and changes nothing."""


@hookspec
def ccms_settings_changed(ctx: PluginContext, plugin_id: str, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Settings of ``plugin_id`` were saved by an administrator."""


@hookspec
def ccms_check_settings(ctx: PluginContext, plugin_id: str, values: dict[str, Any]) -> dict[str, dict[str, str]] | None:
    """Rules about a plugin's settings that its JSON Schema cannot say (e.g.
    weights that must add up to 100). ``values`` is the complete object about
    to be saved, already valid against the schema. Return field errors
    ``{field: {"message": zh, "message_en": en}}`` to refuse the save (shown
    under those fields, nothing written), or ``None``. Called for every save:
    answer only for your own ``plugin_id``."""


@hookspec
def ccms_register_commands(ctx: PluginContext) -> list[Any] | None:
    """Extra CLI commands: objects with ``name``, ``help``, ``configure(parser)``
    and ``run(args, ctx)`` (``ctx`` the PluginContext); they appear as ``ccms <name>``."""


@hookspec
def ccms_register_dashboard_panels(ctx: PluginContext, user: Any) -> list[dict[str, Any]] | None:
    """Panels for the home page (工作台) of ``user``: a list of dicts.

    Every panel has a ``title`` (already localized), an optional ``order``
    (smaller first; core's own are 10–30, default 100) and a ``kind`` the
    home template draws, with its ``data``:

    * ``counts`` — ``{"items": [{"key", "label", "value", "url", "tone"}]}``: numbers that
      each link to the list they count, filtered the same way (``tone``: ``""``, ``warn``,
      ``bad``). Drawn across the page.
    * ``figures`` — like ``counts`` plus ``"value_text"`` per item (e.g. a rate ``93.72%``)
      and a ``"caption"`` (scope and day): a leader's key figures. Drawn across the page.
    * ``tasks`` — ``{"items": [{"title", "step", "url", "due_at", "level", "level_text"}],
      "more_url", "empty"}``: the next things to do, soonest deadline first.
    * ``notices`` — ``{"items": [{"text", "url", "level"}], "empty"}``, or a ``template``
      rendered with the panel as ``p`` (the first form of this contract; a panel with no
      known ``kind`` is drawn this way, or by its ``text``, among the notices).

    Counts must be the user's own (their tasks, the cases of their org scope) and
    cheap: a few aggregate queries, no query per row. Return nothing for ``user``
    ``None`` or a user the panel is not for."""


@hookspec
def ccms_seed_demo(ctx: PluginContext, session: Any, orgs: dict[str, Any]) -> list[dict[str, str]] | None:
    """Add demo data (``ccms demo`` only, once, in the seeding transaction).
    ``orgs`` maps demo org keys to ids (the keys are listed in :mod:`ccms.demo`).
    Demo accounts the plugin creates may be returned as ``{"username",
    "password", "name", "role", "scope"}`` dicts to be printed with the others."""


@hookspec
def ccms_app_starting(ctx: PluginContext) -> None:
    """The app is starting (ASGI lifespan start): open connections to peers,
    start background workers. Raising stops the start-up."""


@hookspec
def ccms_app_stopping(ctx: PluginContext) -> None:
    """The app is stopping (ASGI lifespan end): stop workers, flush buffers.
    Called even when serving ended with an error."""


@hookspec
def ccms_register_flow_actions(ctx: PluginContext) -> dict[str, Any] | None:
    """Automatic actions for flow ``auto`` nodes: ``{"plugin.action_name": fn}``.
    ``fn(call)`` gets a :class:`ccms.flows.actions.ActionCall` (ctx, session,
    instance, node_id, params, variables, record, actor) inside the step's
    transaction and returns ``None`` or a dict of instance variables to set;
    raising refuses the whole step. Names are checked when a definition is
    loaded with an app context; a name provided twice stops start-up."""


@hookspec
def ccms_flow_event_occurred(ctx: PluginContext, session: Any, event: dict[str, Any]) -> None:
    """A flow event happened (``event["topic"]``: ``instance.started``,
    ``instance.ended``, ``task.created``, ``task.completed``, ``task.claimed``,
    ``task.urged``, ``task.warning``, ``task.overdue``, ``operation.requested``,
    ``operation.decided``, ``instance.suspended`` ... with ``instance_id``,
    ``flow_id``, ``task_id``, ``node_id``, ``actor_id``, ``at``). Runs INSIDE
    the step's transaction with its ``session``: write your own rows there
    (they commit with the step); raising rolls the whole step back. The
    step's history, outbox and audit rows are batched: they are written before
    any ORM query of the session, so read them through ``session`` (a raw
    ``session.connection()`` read may not see them yet). The same event is
    also written to the outbox table ``core_flow_outbox``."""


@hookspec
def ccms_task_screen(ctx: PluginContext, session: Any, instance: Any, task: Any) -> dict[str, Any] | None:
    """Where a task of your flow is really handled, when your plugin has its own
    page for it (one that asks for what the generic task page cannot, e.g.
    departments or after photos). Return ``{"url": "/command/cases/12",
    "actions": ["dispatch"]}``: core's task page links to ``url`` and leaves out
    the buttons of ``actions`` (those steps would be refused there anyway; refuse
    them yourself in ``ccms_flow_event_occurred``, the API does not ask this hook).
    Add ``"redirect": True`` when everything about the task is on your page (e.g.
    a check that must be done looking at photos): the task page then sends
    whoever may see the task there instead of showing its own buttons.
    Return ``None`` for tasks that are not yours. ``instance`` and ``task`` are
    ``FlowInstanceInfo`` / ``TaskInfo`` data (:mod:`ccms.api`), not rows. Called for
    every task page view with its ``session``: keep it to one cheap query."""


@hookspec
def ccms_task_links(ctx: PluginContext, session: Any, tasks: list[dict[str, Any]]) -> dict[int, str] | None:
    """Where the task lists (我的待办 / 已办 / 超期 / 我发起的, ``/api/tasks``) should open
    tasks of your flow, when your plugin has its own page for them: ``{task_id: "/path"}``.
    Called ONCE per listed page with every task on it (mappings with ``id``,
    ``instance_id``, ``flow_id``, ``node_id``, ``kind``): answer with one query for the
    whole page, never one per task. Leave out tasks that are not yours; only local
    addresses (``/...``) are used, the first plugin's answer wins."""
