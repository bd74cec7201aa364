"""What the picker templates (``forms/_widgets.html``) need besides the node itself:
the htmx URLs of :mod:`ccms.web.pickers` (the form, the field's dotted name and
the input's name travel in the query string as ``_form``, ``_field``, ``_name`` —
underscored so they never meet the input's own name, which htmx sends too) and, for regions, the selects of
the cascade."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from . import widgets_region as regions

PERSON_SEARCH = "/pickers/person"
PERSON_PICK = "/pickers/person/pick"
REGION_PICK = "/pickers/region"


def _q(form_id: str, field: str, name: str, **more: Any) -> str:
    return urlencode({"_form": form_id, "_field": field, "_name": name, **{f"_{k}": v for k, v in more.items()}})


def person_extra(form_id: str, field: str, name: str, value: str, display: str) -> dict[str, Any]:
    """Search and clear URLs plus the chosen person's name."""
    return {"display": display, "search_url": f"{PERSON_SEARCH}?{_q(form_id, field, name)}",
            "clear_url": f"{PERSON_PICK}?{_q(form_id, field, name, id='')}",
            "pick_url": f"{PERSON_PICK}?{_q(form_id, field, name)}&_id="}


def region_extra(s: Session, form_id: str, field: str, name: str, code: str) -> dict[str, Any]:
    """One select per level (with its htmx URL) and the chosen region's full name."""
    good = bool(code) and regions.shape_problem(code) is None
    levels = regions.picker_levels(s, code if good else None)
    for lv in levels:
        first = lv["options"][0][0] if lv["options"] else ""
        lv["level"] = regions.LEVELS[max(regions.level_of(first), 0)]
        lv["url"] = f"{REGION_PICK}?{_q(form_id, field, name, parent=lv['parent'])}"
    path = regions.path_names(s, [code]).get(code, code) if good else ""
    return {"levels": levels, "path": path, "bad": code if code and not good else ""}
