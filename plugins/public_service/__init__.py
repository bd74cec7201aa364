"""公众服务 (Public service) — not built yet (`"planned": true` in plugin.json).

Declares its manifest and permission only: no menu and no pages until it is
built, so nobody meets an empty screen (应用维护 → 插件 lists it as 尚未建设).
A later issue fills it in.
"""
