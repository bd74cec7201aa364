"""Helpers shared by the ``ccms`` command modules: bilingual failures, plain-text tables,
loading a deployment's app, the operator's name, the version.

Command modules (``cli_audit``, ``cli_backup``, ``cli_pii``, new ``cli_<area>`` modules) import
these from here, not from :mod:`ccms.cli`, which imports them (no import circle).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import unicodedata
from importlib.metadata import version
from pathlib import Path
from typing import Any, Sequence

from .errors import ConfigError


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table whose columns line up with Chinese text too."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "  ".join(v + " " * (widths[i] - _width(v)) for i, v in enumerate(r)).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])


def _fail(zh: str, en: str) -> int:
    print(f"错误：{zh}\nerror: {en}", file=sys.stderr)
    return 2


def _version() -> str:
    try:
        return version("ccms")
    except Exception:  # not installed as a distribution (running from a checkout)
        return json.loads((Path(__file__).parent / "core.json").read_text(encoding="utf-8"))["version"]


def _config_path(args: argparse.Namespace) -> str:
    path = getattr(args, "config", None)
    if not path:
        raise ConfigError("请用 --config 指定部署配置文件（或设置环境变量 CCMS_CONFIG）",
                          "give the deployment file with --config (or set CCMS_CONFIG)")
    return str(path)


def load_app(config: str) -> Any:
    """The ASGI app of a deployment file; database errors become ConfigError."""
    # lazy: the whole app only for commands that open a deployment (``ccms --help`` stays fast)
    from sqlalchemy.exc import ArgumentError
    from .app import create_app
    from .config import load_deployment

    deployment = load_deployment(config)
    try:
        return create_app(deployment, deployment_file=config)
    except ArgumentError as exc:
        raise ConfigError(f"database_url 无效: {exc}", f"database_url is invalid: {exc}") from None
    except ModuleNotFoundError as exc:  # e.g. psycopg missing for a PostgreSQL URL
        raise ConfigError(f"缺少数据库驱动 {exc.name}（PostgreSQL 请安装 ccms[postgres]）",
                          f"database driver {exc.name} is not installed (for PostgreSQL install ccms[postgres])"
                          ) from None


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return "unknown"


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2
