"""The reporter's contact on a case (举报人联系方式), masked by role.

``reporter_phone`` is personal information: shown in full only to holders of
``core.pii.view`` or ``command.case.pii`` in the org that owns the case — the
district org (a ``region`` org with the case's district code), else the
deployment's root org; others read
``138****5678``. The person who entered the report (``reporter_id``) sees what
they typed. The column itself is a ``PiiString`` (encrypted at rest when
the deployment names a ``[pii]`` key).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ccms.api import org_info, pii_may_unmask, pii_shown

from .models import Case

PERMISSION = "command.case.pii"


def case_org_id(session: Session, case: Case) -> int | None:
    """The org that owns a case's personal data: its district's org, else the root org."""
    orgs = org_info(session)
    district = [o.id for o in orgs.values() if o.kind == "region" and o.region_code == case.district_code]
    if district:
        return min(district)  # the district itself was created before its streets and communities
    return min(orgs) if orgs else None


def sees_phone(ctx: Any, user: Any, session: Session, case: Case) -> bool:
    if user is not None and case.reporter_id == user.id:
        return True  # who entered the report saw the number anyway
    return pii_may_unmask(ctx, user, case_org_id(session, case), PERMISSION)


def contact(ctx: Any, user: Any, session: Session, case: Case, *, page: bool = False) -> dict[str, Any]:
    """``reporter_name`` and ``reporter_phone`` as this reader may see them. On the case page
    (``page``) a holder of the unmask right sees the masked number and a button that shows it in
    full (:func:`core.pii.reveal`, audited); the API answers holders in full."""
    full = sees_phone(ctx, user, session, case)
    own = user is not None and case.reporter_id == user.id
    out = {"reporter_name": case.reporter_name or "",
           "reporter_phone": pii_shown(case.reporter_phone, full and (own or not page))}
    if page:
        out["reveal_url"] = f"/command/cases/{case.id}/reporter-phone" if full and not own else None
    return out
