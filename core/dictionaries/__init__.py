"""数据字典 (应用维护): hierarchical code lists such as the GB/T 30428.2 classes.

For the forms engine and plugins, two read functions (no permission check:
dictionaries are deployment-wide reference data):

``options(ctx, dict_code, parent_code=None, active_only=True) -> list[(code, name, depth)]``
    Choices in tree order (parents first, siblings by sort then code);
    ``depth`` 0 is the top level (or the children of ``parent_code``).
    Raises :class:`ccms.errors.NotFound` for an unknown dictionary or parent.

``lookup(ctx, dict_code, code) -> Entry | None``
    One item (``code, name, parent_code, depth, active, extra``), also when
    deactivated, so old records keep their label; ``None`` if unknown.

Writes go through :mod:`ccms.dictionaries.service` (audited, optimistic locking).
"""

from .service import Entry, lookup, options

__all__ = ["Entry", "lookup", "options"]
