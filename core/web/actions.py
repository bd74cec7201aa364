"""One-button screen actions (deactivate, activate, unlock ...) of the admin screens.

Each is a POST carrying the ``version`` the page showed: the service runs in
one transaction after the object is loaded with the user's permission; a
refusal or a stale version re-renders the detail page with the reason.
"""

from __future__ import annotations

from typing import Any, Callable

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm.exc import StaleDataError
from starlette.requests import Request
from starlette.responses import Response

from ..audit import Actor, actor_of
from ..errors import Conflict, ValidationFailed
from .pages import redirect
from .routing import form_data, requires, validate


class VersionIn(BaseModel):
    """Body of an action: the version the caller saw (optional)."""

    model_config = ConfigDict(extra="forbid")
    version: int | None = None


STALE = Conflict("该记录已被他人修改，您的修改未保存，请刷新后重试",
                 "the record was changed by someone else; nothing was saved: reload and try again")


def one_button_action(service_fn: Callable[..., Any], *, permission: str, id_param: str,
                      load: Callable[..., Any], render_detail: Callable[..., Response],
                      done_url: str, name: str) -> Callable[[Request], Any]:
    """``service_fn(session, actor, ctx, object_id, version)`` behind a form button.

    ``load(ctx, session, user, object_id, permission)`` must raise when the
    object is missing or outside the user's domain; ``done_url`` is formatted
    with the object id and receives ``?flash=<name>``.
    """

    @requires(permission)
    async def endpoint(request: Request) -> Response:
        ctx, user = request.scope["ccms"], request.scope["user"]
        object_id = request.path_params[id_param]
        data = await form_data(request)
        try:
            raw = {"version": data["version"]} if str(data.get("version", "")).strip() else {}
            version = validate(VersionIn, raw).version
            with ctx.db.session() as s:
                load(ctx, s, user, object_id, permission)
                actor: Actor = actor_of(request)
                service_fn(s, actor, ctx, object_id, version)
        except (ValidationFailed, Conflict) as exc:
            return render_detail(request, object_id, exc, exc.status)
        except StaleDataError:
            return render_detail(request, object_id, STALE, 409)
        return redirect(request, done_url.format(object_id), flash=name)

    endpoint.__name__ = f"action_{name}"
    return endpoint


__all__ = ["STALE", "VersionIn", "one_button_action"]
