"""Page and htmx helpers every screen uses: one version each.

- :func:`is_htmx` / :func:`wants_fragment`: is this an htmx request (for a
  given ``hx-target``)?
- :func:`page_or_fragment`: render the fragment for htmx, the whole page otherwise.
- :func:`redirect`: after a POST, ``303 See Other`` for a browser, or an
  ``HX-Redirect`` header for htmx (which does not follow a 303 into a full page);
  ``flash`` names a notice shown on the next page (``?flash=saved``).
- :func:`page_number`, :func:`query_int`, :func:`paging`: pagination arguments.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..errors import ValidationFailed
from .render import render

__all__ = ["MAX_PAGE", "is_htmx", "page_number", "page_or_fragment", "paging", "query_int", "redirect",
           "wants_fragment", "with_flash"]

MAX_PAGE = 100_000  # beyond this an OFFSET costs more than anyone will page


def is_htmx(request: Request) -> bool:
    """True for a request htmx sent (header ``HX-Request``)."""
    return bool(request.headers.get("hx-request"))


def wants_fragment(request: Request, *targets: str) -> bool:
    """An htmx request, and (if ``targets`` are given) one that swaps the element with one of those ids."""
    return is_htmx(request) and (not targets or request.headers.get("hx-target") in targets)


def page_or_fragment(request: Request, page: str, fragment: str, context: Mapping[str, Any], *,
                     target: str | None = None, status_code: int = 200) -> Response:
    """``fragment`` for htmx (swapping ``target`` when given), the whole ``page`` otherwise."""
    template = fragment if wants_fragment(request, *([target] if target else [])) else page
    return render(request, template, dict(context), status_code=status_code)


def with_flash(url: str, flash: str | None) -> str:
    """``url`` with ``?flash=<name>`` (or ``&flash=``) added, keeping a ``#fragment`` last."""
    if not flash:
        return url
    base, hash_, frag = url.partition("#")
    return base + ("&" if "?" in base else "?") + urlencode({"flash": flash}) + hash_ + frag


def redirect(request: Request, url: str, *, flash: str | None = None) -> Response:
    """Where to go after a POST: ``HX-Redirect`` for htmx, else ``303 See Other``."""
    url = with_flash(url, flash)
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def page_number(request: Request, name: str = "page") -> int:
    """The 1-based page asked for; junk or out of range reads as the nearest page
    (a hand-edited address should still show a list, not an error)."""
    try:
        return min(max(int(request.query_params.get(name, "1")), 1), MAX_PAGE)
    except ValueError:
        return 1


def query_int(request: Request, name: str, default: int | None = None, lo: int = 0,
              hi: int = 10**9) -> int | None:
    """An integer query parameter in ``lo..hi``; junk is a 422 naming the parameter, never a 500."""
    raw = request.query_params.get(name, "").strip()
    if raw == "":
        return default
    try:
        value: int | None = int(raw)
    except ValueError:
        value = None
    if value is None or not lo <= value <= hi:
        zh, en = f"参数 {name} 应为 {lo}–{hi} 之间的整数", f"parameter {name} must be an integer in {lo}..{hi}"
        raise ValidationFailed(zh, en, fields={name: {"message": zh, "message_en": en}})
    return value


def paging(total: int, page: int, per_page: int) -> dict[str, int]:
    """``{"page", "pages", "per_page", "total"}`` with ``page`` clamped to the last page."""
    pages = max(1, -(-total // per_page))
    return {"page": min(page, pages), "pages": pages, "per_page": per_page, "total": total}
