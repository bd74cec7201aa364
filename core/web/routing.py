"""Route helpers: permission checks, JSON bodies validated by pydantic, form data.

Every endpoint declares exactly one guard, checked at start-up
(:mod:`ccms.route_guards`): a permission (:func:`requires`, or
:func:`checks_permission` when the endpoint checks it with the org itself),
:func:`authenticated` (any signed-in user) or :func:`public` (no session).
The permission is also published in the OpenAPI document.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, TypeVar

from pydantic import BaseModel
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.routing import Match, Route


# Validation of input lives below the web layer (services and forms use it too); the names stay
# importable from here for route modules.
from ..validation import MAX_DB_INT, _bounded_int, parse_json, pydantic_fields, validate  # noqa: F401

M = TypeVar("M", bound=BaseModel)

"""The largest id (and integer) a database column holds (BIGINT)."""


def _at_most(bound: str) -> str:
    """A regex matching decimal strings from 0 to ``bound`` (leading zeros
    allowed up to ``bound``'s length), built digit by digit."""
    n = len(bound)
    alts = [f"[0-9]{{1,{n - 1}}}"]
    for i, d in enumerate(bound):
        if d != "0":
            rest = n - i - 1
            alts.append(bound[:i] + (f"[0-{int(d) - 1}]" if d != "1" else "0") + (f"[0-9]{{{rest}}}" if rest else ""))
    alts.append(bound)
    return "(?:" + "|".join(alts) + ")"


class BoundedIntConvertor(Convertor[int]):
    """``{name:int}`` in every ccms route: 0 … 2^63-1. A larger number does not
    match the route, so it is a 404 like any unknown id, instead of an
    OverflowError (500) when it reaches SQL. Registered for ``int`` (and
    ``id``) when this module is imported, before any route is built."""

    regex = _at_most(str(MAX_DB_INT))

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        value = int(value)
        if not 0 <= value <= MAX_DB_INT:
            raise ValueError(f"id out of range: {value}")
        return str(value)


register_url_convertor("int", BoundedIntConvertor())
register_url_convertor("id", BoundedIntConvertor())


def requires(permission: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Refuse the request (403 page or JSON) unless the user holds ``permission``
    in some org domain; endpoints check the exact org with ``ctx.require``."""

    def deco(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(endpoint):
            @functools.wraps(endpoint)
            async def async_wrapper(request: Request) -> Any:
                request.scope["ccms"].require_anywhere(request.scope.get("user"), permission)
                return await endpoint(request)
            async_wrapper.permission = permission  # type: ignore[attr-defined]
            return async_wrapper

        @functools.wraps(endpoint)
        def wrapper(request: Request) -> Any:
            request.scope["ccms"].require_anywhere(request.scope.get("user"), permission)
            return endpoint(request)
        wrapper.permission = permission  # type: ignore[attr-defined]
        return wrapper

    return deco


def _mark(endpoint: Callable[..., Any], **attrs: Any) -> Callable[..., Any]:
    for k, v in attrs.items():
        setattr(endpoint, k, v)
    return endpoint


def authenticated(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Any signed-in user may call this endpoint (the middleware already
    refuses anonymous requests); the endpoint itself decides about the object
    (a task's assignee, a job's owner, an attachment's uploader...). The
    explicit marker lets tests tell such routes from ones that forgot
    :func:`requires` (tests/test_authz_matrix.py)."""
    return _mark(endpoint, access="authenticated")


def public(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Anyone may call this endpoint, signed in or not: the authentication
    middleware lets requests to its path through without a session (the user
    is still resolved when a cookie or token is presented).

    CSRF: the middleware checks the CSRF token on every unsafe request
    (POST/PUT/PATCH/DELETE) that is not made with a bearer token, public or
    not, so a public form (the login page) must render ``csrf_token``. A
    public GET must change nothing. A public POST meant for machines must not
    rely on cookies: it authenticates the caller itself (a token or a
    signature, issue 14) and the caller sends ``Authorization: Bearer``.
    """
    return _mark(endpoint, access="public")


def checks_permission(spec: str | list[str] | dict[str, str | list[str]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the permission an endpoint checks in its own code because it
    depends on the path, e.g. ``"form.{form}.list"`` (path parameters in
    braces); per HTTP method as a dict; a list means any one of them. Only a
    declaration (the endpoint enforces it, with the org); tests read it as
    ``endpoint.permission_template``."""
    return lambda endpoint: _mark(endpoint, permission_template=spec)


def declared_access(endpoint: Any, path: str, method: str, path_params: dict[str, Any] | None = None,
                    is_public: Callable[[str], bool] | None = None) -> tuple[str, list[str]]:
    """What a route declares for ``method``: ``("public", [])``,
    ``("authenticated", [])``, ``("permission", [perm, ...])`` (any one of
    them suffices), or ``("undeclared", [])``."""
    if getattr(endpoint, "access", None) == "public" or (is_public is not None and is_public(path)):
        return "public", []
    spec = getattr(endpoint, "permission_template", None)
    if isinstance(spec, dict):
        spec = spec.get(method) or (spec.get("GET") if method == "HEAD" else None)
    perm = getattr(endpoint, "permission", None)
    if perm and not spec:  # a method-specific declaration is the more precise one
        return "permission", [perm]
    if spec:
        perms = [spec] if isinstance(spec, str) else list(spec)
        return "permission", [p.format(**(path_params or {})) if path_params is not None else p for p in perms]
    if getattr(endpoint, "access", None) == "authenticated":
        return "authenticated", []
    return "undeclared", []


def allowed_methods(routes: list[Any], scope: dict[str, Any]) -> list[str]:
    """Every method some route serves at this path, for a 405's ``Allow``
    header (starlette names only the first route's when several routes share
    a path, one per method)."""
    methods: set[str] = set()
    for r in routes:
        if isinstance(r, Route) and r.matches({**scope, "type": "http"})[0] != Match.NONE:
            methods |= set(r.methods or {"GET", "HEAD"})
    return sorted(methods)



async def request_json(request: Request) -> Any:
    return parse_json(await request.body())


async def json_body(request: Request, model: type[M]) -> M:
    """Parse and validate a JSON body; malformed input is a 400/422 with fields."""
    return validate(model, await request_json(request))


async def form_data(request: Request) -> dict[str, Any]:
    """Form fields as a dict of strings (lists for repeated names), CSRF token dropped."""
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form.keys():
        if key == "csrf_token":
            continue
        values = form.getlist(key)
        out[key] = values if len(values) > 1 else values[0]
    return out
