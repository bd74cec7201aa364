"""Automatic actions (自动任务) provided by plugins through ``ccms_register_flow_actions``.

An action is called as ``fn(call)`` with an :class:`ActionCall` while the
engine moves a token through an ``auto`` node, inside the step's
transaction: it may read and write through ``call.session``; it returns
``None`` or a dict of variables to set on the instance. An exception refuses
the whole step (nothing of it is kept).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import StartupError


@dataclass
class ActionCall:
    """What an automatic action gets."""

    ctx: Any  # the PluginContext (a plugin's action never gets the kernel's App)
    session: Any
    instance: Any  # ccms.flows.models.FlowInstance
    node_id: str
    params: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)  # a copy; return changes instead
    record: Any = None  # ccms.forms.models.FormRecord or None
    actor: Any = None  # core.audit.Actor of the step


def available(ctx: Any) -> dict[str, Callable[[ActionCall], Any]]:
    """Name -> callable of every action enabled plugins provide (cached per app)."""
    key = len(ctx.pm.get_plugins())  # a plugin registered later refreshes the cache
    cached = getattr(ctx, "_ccms_flow_actions", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    out: dict[str, Callable[[ActionCall], Any]] = {}
    for result in reversed(ctx.pm.hook.ccms_register_flow_actions(ctx=ctx)):  # core first
        for name, fn in (result or {}).items():
            if name in out:
                raise StartupError(f"自动动作 {name} 被重复提供", f"flow action {name} is provided twice",
                                   field="ccms_register_flow_actions")
            if not callable(fn):
                raise StartupError(f"自动动作 {name} 不可调用", f"flow action {name} is not callable",
                                   field="ccms_register_flow_actions")
            out[name] = fn
    try:
        ctx._ccms_flow_actions = (key, out)
    except AttributeError:
        pass
    return out
