"""HTTP layer: middleware, rendering, route helpers and core screens."""

# Registers the bounded ``{name:int}`` route convertor before any route is built.
from . import routing as _routing  # noqa: E402,F401
