"""``ccms plugins hooks``: which plugin implements which hook, in call order.

Reads the deployment's enabled plugins and builds its pluggy manager exactly
as start-up does (no database is opened). Every hook of :mod:`ccms.hookspecs`
is listed, implemented or not, so a vendor sees at once whether a hook is
reached. ``CCMS_TRACE_HOOKS=1`` then logs every call at run time.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import pluggy

from . import hookspecs
from . import plugin_loader as loader
from .cli_common import table
from .config import load_deployment
from .route_guards import owner_of


def hook_table(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """One row per hook of the contract: its implementers in call order (core
    is ``core``; pluggy calls the last registered first, we show the order the
    results are combined in, core first)."""
    rows = []
    for name in sorted(n for n in dir(hookspecs) if n.startswith("ccms_")):
        impls = getattr(pm.hook, name).get_hookimpls()
        owners = list(dict.fromkeys(owner_of(i.plugin_name) for i in impls))
        rows.append({"hook": name, "plugins": owners})
    return rows


def manager_for(config: str) -> pluggy.PluginManager:
    """The pluggy manager of the deployment in ``config`` (enabled plugins only)."""
    # lazy: builtin imports every screen module; only this command needs them
    from . import builtin
    dep = load_deployment(config)
    plugins = loader.resolve(loader.discover(), dep.profile, dep.tier, dep.plugins.enable, dep.plugins.disable,
                             deployment_file=config)
    return loader.make_manager(plugins, core_modules=[builtin])


def cmd_plugins_hooks(args: argparse.Namespace) -> int:
    rows = hook_table(manager_for(args.config))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    print(table(["hook 钩子", "implemented by 实现者"], [[r["hook"], ", ".join(r["plugins"]) or "-"] for r in rows]))
    print(f"\n调用跟踪 / trace calls: {loader.TRACE_ENV}=1 ccms serve ... (logger ccms.hooks)")
    return 0


def add_commands(plugins_sub: Any, add_config: Callable[..., None]) -> None:
    """Add ``hooks`` to the ``ccms plugins`` sub-commands."""
    p = plugins_sub.add_parser("hooks", help="各钩子由哪些插件实现 / which plugin implements which hook")
    add_config(p)
    p.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    p.set_defaults(func=cmd_plugins_hooks)
