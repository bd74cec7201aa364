"""HTTP layer: middleware, rendering, route helpers and core screens."""
