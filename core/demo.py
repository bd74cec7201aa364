"""The demo deployment behind ``ccms demo``: a city platform with a small org
tree, people in every core role and random, policy-compliant passwords.

Files in the data folder (all created on first run, kept afterwards):

* ``demo.toml``        — the deployment (profile city, region 320500, SQLite,
  a random secret key); mode 0600 because it holds the key.
* ``demo.db``          — the SQLite database.
* ``demo-logins.txt``  — the demo accounts and their passwords (mode 0600),
  printed at every start. ``ccms demo --reset`` deletes all three.

Demo passwords are made to be typed from the printed table: three groups of
three letters and a digit, none that can be confused (no 0/O, 1/l/I), joined by
``-`` (``Kp7m-Rx4t-Wq9z``, about 65 bits), and each still passes the
deployment's password policy (common passwords, the user name, the person's
name in pinyin).

Region codes: GB/T 2260 stops at the county level (six digits) and the org
screens accept six-digit codes only, so the districts carry their real codes
(苏州市 320500: 姑苏区 320508, 吴中区 320506, 相城区 320507) and their streets,
communities and 城管执法大队 carry the district's code; city departments
carry the city's. Finer codes (street + community + grid, GB/T 30428) belong
to the grid data of the plugins that need them.

Keys of the ``orgs`` mapping handed to plugins' ``ccms_seed_demo`` hooks:
``root``; ``dept.cgj`` 市城管局, ``dept.szgy`` 市政公用局, ``dept.ylh`` 园林绿化局,
``dept.srhw`` 市容环卫处; ``district.<d>`` for d in gusu/wuzhong/xiangcheng;
``brigade.<d>`` (the district's 城管执法大队); ``street.<d>.<n>`` and
``community.<d>.<n>`` for n in 1, 2. A hook may return a list of
``{"username", "password", "role", "scope", "name"}`` dicts for demo accounts
it created; they are added to the printed logins.

Seeding takes a while (about 20 s): ``session.info[PROGRESS]`` holds a
:class:`Progress` a hook may call as ``progress(zh, en, done, total)`` to say
what it is doing (one line each time, on stderr; call it a few times per
step, not per row).
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, audit_chain, auth, seed
from .config import new_secret_key
from .forms import widgets_region as regions
from .models import Org, Person, Role
from .services import orgs as orgs_service
from .services import roles as roles_service

DEMO_REGION = "320500"
DEMO_NAME = "示范市城市综合管理服务平台"
CONFIG_FILE = "demo.toml"
DB_FILE = "demo.db"
LOGINS_FILE = "demo-logins.txt"
ACTOR = audit.Actor(None, "ccms demo")
PROGRESS = "ccms_demo_progress"  # session.info key of the seeding's Progress
# Letters and digits nobody mixes up when reading them off a screen (no 0/O, 1/l/I).
EASY_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz"
EASY_DIGITS = "23456789"

# key, name, GB/T 2260 code, streets (street name, one community of it)
DISTRICTS = [
    ("gusu", "姑苏区", "320508", [("平江街道", "平江新村社区"), ("沧浪街道", "南环新村社区")]),
    ("wuzhong", "吴中区", "320506", [("长桥街道", "龙桥社区"), ("越溪街道", "吴山社区")]),
    ("xiangcheng", "相城区", "320507", [("元和街道", "御窑社区"), ("黄桥街道", "占上社区")]),
]


def region_entries() -> dict[str, str]:
    """The demo districts' streets and communities for the 行政区划 dictionary (region pickers),
    with illustrative codes: street n of a district is district + ``00n``, its community
    street + ``001``."""
    out: dict[str, str] = {}
    for _key, district_name, dcode, streets in DISTRICTS:
        out[dcode] = district_name
        for n, (street, community) in enumerate(streets, start=1):
            out[f"{dcode}{n:03d}"] = street
            out[f"{dcode}{n:03d}001"] = community
    return out


CITY_DEPARTMENTS = [("cgj", "市城管局"), ("szgy", "市政公用局"), ("ylh", "园林绿化局"), ("srhw", "市容环卫处")]

# username, display name, post, org key, role, grant org key
PEOPLE = [
    ("auditor", "陈静", "安全审计员", "root", "auditor", "root"),
    ("gusu_admin", "李明", "人员管理员", "district.gusu", "org_admin", "district.gusu"),
    ("cgj_staff", "张伟", "业务科员", "dept.cgj", "staff", "dept.cgj"),
    ("szgy_staff", "刘洋", "业务科员", "dept.szgy", "staff", "dept.szgy"),
    ("ylh_staff", "赵丽", "业务科员", "dept.ylh", "staff", "dept.ylh"),
    ("srhw_staff", "孙强", "业务科员", "dept.srhw", "staff", "dept.srhw"),
    ("gusu_zf", "周磊", "执法队员", "brigade.gusu", "staff", "brigade.gusu"),
    ("wuzhong_zf", "吴敏", "执法队员", "brigade.wuzhong", "staff", "brigade.wuzhong"),
    ("xiangcheng_zf", "郑浩", "执法队员", "brigade.xiangcheng", "staff", "brigade.xiangcheng"),
]
ADMIN = ("admin", "王建国")


@dataclass
class DemoLogin:
    """One demo account as printed at start-up."""

    username: str
    name: str
    role: str
    scope: str
    password: str
    role_name: str = ""  # the role's name in the role table (zh-CN), for people to read


@dataclass
class DemoFiles:
    data_dir: Path

    @property
    def config(self) -> Path:
        return self.data_dir / CONFIG_FILE

    @property
    def database(self) -> Path:
        return self.data_dir / DB_FILE

    @property
    def logins(self) -> Path:
        return self.data_dir / LOGINS_FILE

    def reset(self) -> None:
        """Forget the demo: database (with its WAL files), logins and config."""
        for p in (self.database, Path(f"{self.database}-wal"), Path(f"{self.database}-shm"),
                  Path(f"{self.database}-journal"), self.logins, self.config):
            p.unlink(missing_ok=True)


def _write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (it holds secrets)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)


def write_config(files: DemoFiles) -> bool:
    """Write ``demo.toml`` unless it exists; True when written."""
    if files.config.exists():
        return False
    files.data_dir.mkdir(parents=True, exist_ok=True)
    _write_private(files.config, (
        "# ccms 演示部署 / ccms demo deployment.\n"
        "# 由 `ccms demo` 生成；`ccms demo --reset` 会删除并重建 / written by `ccms demo`; --reset recreates it.\n"
        'profile = "city"\n'
        f'region_code = "{DEMO_REGION}"\n'
        f'name = "{DEMO_NAME}"\n'
        "# 相对于本文件所在目录 / relative to this file's folder\n"
        f'database_url = "sqlite:///{DB_FILE}"\n'
        f'secret_key = "{new_secret_key()}"\n'
        "demo = true\n"
        "\n"
        "# 示例插件：演示插件如何扩展平台 / the worked-example plugin, to show an extension at work\n"
        "[plugins]\n"
        'enable = ["example_notice"]\n'
        "\n"
        "# 演示不运行流程定时器进程，/readyz 不等待它 / the demo runs no timer worker: /readyz does not wait for one\n"
        "[monitoring]\n"
        "workers = []\n"))
    return True


# --- seeding ------------------------------------------------------------------

def is_seeded(session: Session) -> bool:
    return session.scalar(select(Person.id).where(Person.username == ADMIN[0])) is not None


def _org_tree(ctx: Any, session: Session, root: Org) -> dict[str, Org]:
    """The demo tree, through the orgs service (validated and audited)."""

    def org(parent: Org, name: str, kind: str, code: str, sort: int) -> Org:
        return orgs_service.create(session, ACTOR, ctx, {"parent_id": parent.id, "name": name, "kind": kind,
                                                         "region_code": code, "sort": sort})

    orgs: dict[str, Org] = {"root": root}
    for i, (key, name) in enumerate(CITY_DEPARTMENTS):
        orgs[f"dept.{key}"] = org(root, name, "department", root.region_code or DEMO_REGION, 10 + i)
    for i, (key, name, code, streets) in enumerate(DISTRICTS):
        district = org(root, name, "region", code, 100 + i)
        orgs[f"district.{key}"] = district
        orgs[f"brigade.{key}"] = org(district, f"{name}城管执法大队", "department", code, 1)
        for n, (street_name, community_name) in enumerate(streets, start=1):
            street = org(district, street_name, "region", code, 10 + n)
            orgs[f"street.{key}.{n}"] = street
            orgs[f"community.{key}.{n}"] = org(street, community_name, "region", code, 1)
    return orgs


class Progress:
    """What seeding is doing, one bilingual line per call (on stderr by default),
    so ``ccms demo`` is not silent for the twenty seconds it takes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()

    def __call__(self, zh: str, en: str, done: int | None = None, total: int | None = None) -> None:
        count = "" if done is None else f": {done:,}" if total is None else f": {done:,}/{total:,}"
        print(f"  {zh} / {en}{count}", file=self.stream, flush=True)

    def seconds(self) -> float:
        return time.monotonic() - self.started


def _progress(session: Session) -> Any:
    return session.info.get(PROGRESS) or (lambda *_a, **_k: None)


def _easy_group() -> str:
    """Three letters and a digit somewhere among them (``Kp7m``): about 22 bits."""
    chars = [secrets.choice(EASY_LETTERS) for _ in range(3)]
    chars.insert(secrets.randbelow(4), secrets.choice(EASY_DIGITS))
    return "".join(chars)


def easy_password(policy: Any, username: str = "", display_name: str = "") -> str:
    """A random password that is easy to type (``Kp7m-Rx4t-Wq9z``: groups of three letters
    and a digit joined by ``-``) and passes ``policy`` for this user (name, pinyin, common lists)."""
    groups = max(3, -(-(policy.password_min_length + 1) // 5))  # 4 characters + "-" per group
    while True:
        pw = "-".join(_easy_group() for _ in range(groups))
        if not auth.password_problems(pw, policy, username, display_name):
            return pw


def _password(ctx: Any, username: str, display_name: str = "") -> str:
    return easy_password(ctx.deployment.security, username, display_name)


def _person(ctx: Any, session: Session, username: str, name: str, post: str, org: Org,
            role: str, scope: Org) -> DemoLogin:
    """A demo account that may log in at once (people.create would force a password change)."""
    password = _password(ctx, username, name)
    person = Person(username=username, display_name=name, org_id=org.id, post=post)
    auth.set_password(person, password)
    session.add(person)
    session.flush()
    audit.record(session, ACTOR, "person_create", "person", person.id,
                 after={"username": username, "display_name": name, "org_id": org.id, "post": post},
                 summary="demo person")
    roles_service.grant(session, ACTOR, ctx, {"person_id": person.id, "role": role, "org_id": scope.id})
    return DemoLogin(username, name, role, scope.name, password)


def role_names(session: Session) -> dict[str, str]:
    """Role code -> the role's name as the role table has it (what people read)."""
    return {code: name for code, name in session.execute(select(Role.code, Role.name))}


def seed_demo(ctx: Any, files: DemoFiles, progress: Progress | None = None) -> list[DemoLogin] | None:
    """Seed the demo city once, in one transaction; None if it was seeded before.

    The logins file is written inside the transaction, so a failed seeding
    leaves no half-written demo behind (the next run simply seeds again).
    ``progress`` hears of each step (and is handed to plugins' hooks).
    """
    say = progress or (lambda *_a, **_k: None)
    with ctx.db.session() as s:
        if is_seeded(s):
            return None
        s.info[PROGRESS] = say
        root = seed.ensure_root_org(ctx, s)
        orgs = _org_tree(ctx, s, root)
        if ctx.deployment.region_code == DEMO_REGION:  # the streets belong to this city only
            regions.extend(s, region_entries())
        say("机构", "orgs", len(orgs))
        admin_pw = _password(ctx, ADMIN[0], ADMIN[1])
        seed.create_admin(ctx, s, ADMIN[0], ADMIN[1], admin_pw, org_id=root.id)
        logins = [DemoLogin(ADMIN[0], ADMIN[1], "admin", root.name, admin_pw)]
        for username, name, post, org_key, role, scope_key in PEOPLE:
            logins.append(_person(ctx, s, username, name, post, orgs[org_key], role, orgs[scope_key]))
        say("人员", "people", len(logins))
        _demo_staff_permissions(ctx, s)
        results = ctx.pm.hook.ccms_seed_demo(ctx=ctx, session=s, orgs={k: o.id for k, o in orgs.items()})
        for extra in reversed(results):
            for item in extra or []:
                if isinstance(item, dict) and item.get("username") and item.get("password"):
                    logins.append(DemoLogin(str(item["username"]), str(item.get("name", "")),
                                            str(item.get("role", "")), str(item.get("scope", "")),
                                            str(item["password"])))
        s.flush()
        names = role_names(s)
        for x in logins:
            x.role_name = names.get(x.role, x.role)
        write_logins(files.logins, logins)
    audit_chain.seal(ctx.db.engine)  # this process may exit before the background sealer runs
    return logins


def _demo_staff_permissions(ctx: Any, session: Session) -> None:
    """In the demo, staff may open every enabled business module (the
    ``*.view`` permissions of plugins), so their logins show real menus."""
    perms = sorted({p for p in ctx.permissions if p.endswith(".view") and not p.startswith("core.")}
                   | {"core.flow.start"})
    before = sorted(ctx.authz.role_permissions("staff"))
    ctx.authz.set_role_permissions(session, "staff", perms)
    audit.record(session, None, "role_permissions", "role", "staff", before={"permissions": before},
                 after={"permissions": perms}, summary="demo: staff may view business modules")


# --- the logins file --------------------------------------------------------------

HEADER = ("# ccms 演示账号（首次初始化时随机生成；ccms demo --reset 重新生成）\n"
          "# demo logins (random, made at first seeding; ccms demo --reset makes new ones)\n"
          "# username\tname\trole\tscope\tpassword\trole name\n")


def write_logins(path: Path, logins: list[DemoLogin]) -> None:
    lines = [f"{x.username}\t{x.name}\t{x.role}\t{x.scope}\t{x.password}\t{x.role_name}" for x in logins]
    _write_private(path, HEADER + "\n".join(lines) + "\n")


def read_logins(path: Path) -> list[DemoLogin]:
    """The accounts in a logins file; empty if the file is missing. (Files written before
    the role name was added have five columns.)"""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) in (5, 6):
            out.append(DemoLogin(*parts))
    return out
