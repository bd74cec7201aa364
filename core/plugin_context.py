"""The object plugins receive as ``ctx``: a closed view of one deployment.

:class:`PluginContext` wraps the kernel's :class:`ccms.app.App` and exposes named
methods only (session scope, settings, permission checks that name an org,
grants as data, i18n, locale and time zone). It has no ``db``, ``authz``,
``deployment`` or ``catalog`` attribute, and no attribute can be added to it,
so a plugin cannot come to depend on the kernel's internals.

The methods live in :class:`ContextApi`, which the App inherits too: the kernel
and tests that hold an App may call a plugin's functions with it. The facade
:mod:`ccms.api` re-exports :class:`PluginContext` and the data types; this module
is kernel-side so the App can build the context without importing the facade.
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .services.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from .app import App
    from .web.user import CurrentUser


@dataclass(frozen=True, slots=True)
class OrgInfo:
    """An org as plugins see it (cheap to build for many orgs)."""

    id: int
    name: str
    kind: str
    region_code: str | None
    active: bool
    parent_id: int | None = None
    path: str | None = None


@dataclass(frozen=True, slots=True)
class PersonInfo:
    """A person as plugins see it: what a reader sees instead of a user name."""

    id: int
    username: str
    display_name: str
    org_id: int | None
    active: bool


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """A flow task (``core_flow_task``) as plugins read it; steps go through ``flow_act`` and friends."""

    id: int
    instance_id: int
    flow_id: str
    node_id: str
    kind: str
    status: str
    org_id: int | None
    assignee_id: int | None
    action: str | None
    created_at: dt.datetime | None
    claimed_at: dt.datetime | None
    completed_at: dt.datetime | None
    completed_by: int | None
    due_at: dt.datetime | None
    warn_at: dt.datetime | None
    limit_unit: str | None
    prev_task_id: int | None
    op: str | None
    title: str
    version: int


@dataclass(frozen=True, slots=True)
class FlowInstanceInfo:
    """A flow instance (``core_flow_instance``) as plugins read it."""

    id: int
    flow_id: str
    def_version: int
    status: str
    outcome: str | None
    org_id: int | None
    record_id: int | None
    variables: dict[str, Any]
    started_at: dt.datetime | None
    suspended_at: dt.datetime | None
    ended_at: dt.datetime | None
    rework_count: int
    extend_count: int
    suspend_count: int
    return_count: int
    urge_count: int


@dataclass(frozen=True, slots=True)
class HistoryInfo:
    """One entry of a flow instance's timeline (``core_flow_history``)."""

    id: int
    instance_id: int
    task_id: int | None
    at: dt.datetime
    actor_id: int | None
    actor_name: str
    kind: str
    node_id: str | None
    to_node: str | None
    action: str | None
    comment: str
    data: dict[str, Any] | None


def task_info(row: Any) -> TaskInfo:
    """Kernel-side: the data of a ``core_flow_task`` row as plugins see it."""
    return TaskInfo(**{f: getattr(row, f) for f in TaskInfo.__dataclass_fields__})


def instance_info(row: Any) -> FlowInstanceInfo:
    """Kernel-side: the data of a ``core_flow_instance`` row as plugins see it."""
    return FlowInstanceInfo(**{f: getattr(row, f) for f in FlowInstanceInfo.__dataclass_fields__})


class ContextApi:
    """The named methods of a plugin context, written against the kernel App."""

    __slots__ = ()

    def _kernel(self) -> App:  # overridden by App and PluginContext
        raise NotImplementedError

    # -- data ----------------------------------------------------------------

    def session(self) -> AbstractContextManager[Session]:
        """A unit of work: ``with ctx.session() as s:`` commits on success, rolls back on any error."""
        return self._kernel().db.session()

    def settings(self, plugin_id: str, session: Session | None = None) -> dict[str, Any]:
        """The effective settings of an enabled plugin (schema defaults merged with saved values)."""
        return get_settings(self._kernel(), plugin_id, session)

    def plugin_enabled(self, plugin_id: str) -> bool:
        """Whether ``plugin_id`` is enabled in this deployment."""
        return self._kernel().enabled(plugin_id)

    # -- grants as data ------------------------------------------------------

    def grant_orgs(self, user: CurrentUser | None, permission: str) -> list[int]:
        """Org ids whose subtrees ``user`` may use ``permission`` in (minimal: no org lies inside
        another listed one); empty for no user, or a token whose scopes do not allow it."""
        app = self._kernel()
        if user is None or not app.can_anywhere(user, permission):
            return []
        return app.authz.grant_orgs(user.id, permission)

    def org_path(self, org_id: int) -> str | None:
        """The materialised path of an org (``/1/4/9/``): ``a`` lies in ``b``'s subtree when
        ``path(a).startswith(path(b))``. None for an unknown org."""
        return self._kernel().authz.path_of(org_id)

    def org_within(self, org_id: int, ancestor_id: int) -> bool:
        """Whether org ``org_id`` lies in the subtree of ``ancestor_id`` (itself included)."""
        path, top = self.org_path(org_id), self.org_path(ancestor_id)
        return path is not None and top is not None and path.startswith(top)

    def people_with_role(self, role_code: str) -> list[tuple[int, int]]:
        """(person id, org id) pairs of everyone granted ``role_code``."""
        return self._kernel().authz.people_with_role(role_code)

    # -- deployment ----------------------------------------------------------

    @property
    def locale(self) -> str:
        """The deployment's language (``zh-CN`` or ``en``)."""
        return self._kernel().deployment.locale

    @property
    def timezone(self) -> str:
        """The deployment's IANA time zone name (``Asia/Shanghai``)."""
        return self._kernel().deployment.timezone

    @property
    def region_code(self) -> str:
        """The GB/T 2260 code of the region this deployment serves."""
        return self._kernel().deployment.region_code

    @property
    def tier(self) -> str:
        """The deployment's tier (``national``, ``province``, ``city``, ``county``)."""
        return self._kernel().deployment.tier

    @property
    def platform_name(self) -> str:
        """The platform's display name (the deployment's ``name``, e.g. ``苏州市城市综合管理服务平台``)."""
        return self._kernel().deployment.name

    @property
    def identity(self) -> str:
        """This platform's identity towards peers (``profile:region`` unless configured)."""
        return self._kernel().deployment.identity

    def localize(self, value: Any) -> str:
        """A ``{"zh-CN": ..., "en": ...}`` text (or plain string) in the deployment's language."""
        app = self._kernel()
        return app.catalog.localize(value, app.deployment.locale)


class PluginContext(ContextApi):
    """What a plugin receives as ``ctx`` from hooks and :func:`ccms.api.ctx_of`.

    One per deployment; never keep one in a module global (several deployments
    may run in one process). Only the names documented here exist.
    """

    __slots__ = ("__app",)

    def __init__(self, app: App) -> None:
        self.__app = app

    def _kernel(self) -> App:
        return self.__app

    def __repr__(self) -> str:
        return f"<PluginContext {self.__app.deployment.name}>"

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"PluginContext has no attribute {name!r}: plugins use the named methods of ccms.api "
            f"(ctx.session(), ctx.can(...), ctx.grant_orgs(...), ...) / 插件上下文没有 {name}，请使用 ccms.api 的方法")

    # -- permissions: every check on an object names its org -------------------

    def can(self, user: CurrentUser | None, permission: str, org_id: int | None) -> bool:
        """May ``user`` use ``permission`` on an object of org ``org_id`` (None: an object of no
        org, covered only by a grant at a root org)?"""
        return self.__app.can(user, permission, org_id)

    def require(self, user: CurrentUser | None, permission: str, org_id: int | None) -> None:
        """Raise ``Forbidden`` unless :meth:`can`."""
        self.__app.require(user, permission, org_id)

    def can_anywhere(self, user: CurrentUser | None, permission: str) -> bool:
        """Does ``user`` hold ``permission`` in some org? For menus, guards and buttons only."""
        return self.__app.can_anywhere(user, permission)

    def require_anywhere(self, user: CurrentUser | None, permission: str) -> None:
        """Raise ``Forbidden`` unless :meth:`can_anywhere` (route guards)."""
        self.__app.require_anywhere(user, permission)

    # -- i18n ---------------------------------------------------------------

    def gettext(self, key: str, **kw: Any) -> str:
        """A message of the enabled plugins' and core's locale files, in the deployment's language."""
        return self.__app.gettext(key, **kw)


def kernel_app(ctx: Any) -> App:
    """Kernel-only: the App behind a plugin context (an App is returned as is).
    Plugins never call this (the architecture test forbids importing it)."""
    if isinstance(ctx, ContextApi):  # the App itself, or its PluginContext
        return ctx._kernel()
    raise TypeError(f"expected a PluginContext, got {type(ctx).__name__}")
