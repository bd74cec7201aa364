"""Names for ids: what a reader sees instead of an org or person id (lists, timelines, pickers).

Kernel functions (forms and the flow inbox use them); the facade ``ccms.api`` re-exports them
for plugins.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Org, Person


def org_names(session: Session, org_ids: Any) -> dict[int, str]:
    """Names of the given orgs that exist (missing ids are left out)."""
    ids = {int(i) for i in org_ids if i is not None}
    if not ids:
        return {}
    return {oid: name for oid, name in session.execute(select(Org.id, Org.name).where(Org.id.in_(ids)))}


def person_names(session: Session, person_ids: Any) -> dict[int, str]:
    """People's names (``display_name``) for the given ids that exist, in one query: what a
    reader sees instead of a user name (timelines, lists)."""
    ids = {int(i) for i in person_ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(Person.id, Person.display_name).where(Person.id.in_(ids))).all())
