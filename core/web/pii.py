"""Showing a masked personal number in full: audited, answered as an HTML fragment.

Above the kernel's ``ccms.pii`` (which stores and masks) because it writes the audit log and
renders markup.
"""

from __future__ import annotations

from typing import Any

from markupsafe import escape

from .. import audit


def reveal(session: Any, actor: Any, object_type: str, object_id: Any, field: str, value: str,
           testid: str) -> str:
    """Audit that ``actor`` asked to see ``field`` of an object in full; the HTML fragment that
    replaces the masked text (see the ``pii_value`` macro). The log names the field, never the value."""
    audit.record(session, actor, "pii_reveal", object_type, object_id, after={"field": field},
                 summary=f"查看完整个人信息 / saw in full: {object_type} {object_id} {field}")
    return f'<span id="{escape(testid)}" data-testid="{escape(testid)}">{escape(value or "—")}</span>'
