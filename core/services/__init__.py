"""Kernel services: every write to orgs, people and tokens goes through here.

A service function takes the caller's SQLAlchemy session (so the change and
its audit entry commit together), the acting :class:`core.audit.Actor` and,
where it needs deployment knowledge, the app context ``ctx``. Services check
business rules and raise :mod:`ccms.errors` types with bilingual messages;
they do not check permissions — the web layer does that with
``ctx.require(user, perm, org_id)`` because it knows who is asking and how.
"""

from __future__ import annotations

# The shared input helpers live in ccms.validation (below every layer that validates);
# services re-export them for their modules.
from ..validation import check_version, coerce, field_error, stripped_name, validate  # noqa: F401
