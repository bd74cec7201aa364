"""行政区划 for the region picker: levels of GB/T 2260 codes, the regions a
deployment knows, names and the existence check.

Where the regions come from (both, the dictionary's names first):

* the 数据字典 dictionary ``gbt2260.region`` — seeded once with the deployment's
  province, city and (for a city we know) its districts. Administrators add
  streets, communities and anything else in 应用维护/数据字典 afterwards
  (create-only seed: their changes survive restarts); so does ``ccms demo``
  for the demo city's streets (:func:`extend`, data in :mod:`ccms.demo`);
* the org tree: active orgs of kind ``region`` and their region codes.

Codes: six digits for province (``XX0000``), city (``XXYY00``) and district
(``XXYYZZ``), nine for a street (乡镇/街道), twelve for a community (村/社区) —
each level prefixes the next. Levels are read from the code's shape, so the
cascade needs no parent links (a dictionary item's parent is only for the
数据字典 screen's tree).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from .. import audit
from ..models import Org
from ..dictionaries.models import Dict
from ..dictionaries.models import DictItem
from ..dictionaries.service import rebuild_paths

REGION_DICT = "gbt2260.region"
LEVELS = ("province", "city", "district", "street", "community")

# GB/T 2260 province-level divisions.
PROVINCES = {
    "110000": "北京市", "120000": "天津市", "130000": "河北省", "140000": "山西省", "150000": "内蒙古自治区",
    "210000": "辽宁省", "220000": "吉林省", "230000": "黑龙江省", "310000": "上海市", "320000": "江苏省",
    "330000": "浙江省", "340000": "安徽省", "350000": "福建省", "360000": "江西省", "370000": "山东省",
    "410000": "河南省", "420000": "湖北省", "430000": "湖南省", "440000": "广东省", "450000": "广西壮族自治区",
    "460000": "海南省", "500000": "重庆市", "510000": "四川省", "520000": "贵州省", "530000": "云南省",
    "540000": "西藏自治区", "610000": "陕西省", "620000": "甘肃省", "630000": "青海省", "640000": "宁夏回族自治区",
    "650000": "新疆维吾尔自治区", "710000": "台湾省", "810000": "香港特别行政区", "820000": "澳门特别行政区",
}
# Cities we ship the districts of (the demo city): code -> (name, {district code: name}).
CITIES = {
    "320500": ("苏州市", {"320505": "虎丘区", "320506": "吴中区", "320507": "相城区", "320508": "姑苏区",
                         "320509": "吴江区", "320581": "常熟市", "320582": "张家港市", "320583": "昆山市",
                         "320585": "太仓市"}),
}


# --- code shapes ----------------------------------------------------------------------------------

def level_of(code: str) -> int:
    """0 province … 4 community, from the code's shape; -1 when it is not a region code."""
    if not isinstance(code, str) or not code.isdigit():
        return -1
    if len(code) == 12:
        return 4
    if len(code) == 9:
        return 3
    if len(code) != 6:
        return -1
    if code[2:] == "0000":
        return 0
    return 1 if code[4:] == "00" else 2


def parent_of(code: str) -> str | None:
    """The code one level up (by shape); None for a province."""
    lv = level_of(code)
    if lv == 4:
        return code[:9]
    if lv == 3:
        return code[:6]
    if lv == 2:
        return code[:4] + "00"
    if lv == 1:
        return code[:2] + "0000"
    return None


def chain(code: str) -> list[str]:
    """The code and its ancestors, province first (by shape)."""
    out: list[str] = []
    c: str | None = code
    while c:
        out.append(c)
        c = parent_of(c)
    return list(reversed(out))


def shape_problem(text: str) -> tuple[str, str] | None:
    """A clear (zh, en) message when ``text`` is not a 6/9/12-digit code."""
    if not text.isdigit() or len(text) not in (6, 9, 12):
        return ("行政区划代码应为6位（省、市、区县）、9位（街道、乡镇）或12位（社区、村）数字",
                "a region code has 6 (province, city, district), 9 (street) or 12 (community) digits")
    if level_of(text) < 0:
        return ("行政区划代码无效", "not a valid region code")
    return None


def deepest(value: Any) -> str | None:
    """The finest code of a stored region value ``{"code", "street"?, "community"?}`` (or a plain code)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        for k in ("community", "street", "code"):
            if isinstance(value.get(k), str) and value[k]:
                return value[k]
    return None


# --- reading --------------------------------------------------------------------------------------

def _dict_id(s: Session) -> int | None:
    return s.scalar(select(Dict.id).where(Dict.code == REGION_DICT))


def names(s: Session, codes: Iterable[str]) -> dict[str, str]:
    """Names of the given codes (active or not: old records still show them)."""
    wanted = {c for c in codes if isinstance(c, str) and c}
    if not wanted:
        return {}
    out: dict[str, str] = {}
    rows = s.execute(select(Org.region_code, Org.name).where(Org.kind == "region", Org.region_code.in_(wanted))
                     .order_by(func.length(Org.path).desc(), Org.id.desc())).all()
    for code, name in rows:  # the shallowest org of a code wins (streets in the demo carry their district's code)
        out[code] = name
    did = _dict_id(s)
    if did is not None:
        out.update(dict(s.execute(select(DictItem.code, DictItem.name)
                                  .where(DictItem.dict_id == did, DictItem.code.in_(wanted))).all()))
    return out


def path_names(s: Session, codes: Iterable[str], sep: str = " / ") -> dict[str, str]:
    """``{code: "江苏省 / 苏州市 / 姑苏区"}``: the full name path of each code (unknown levels left out)."""
    codes = [c for c in codes if isinstance(c, str) and c]
    known = names(s, {a for c in codes for a in chain(c)})
    out = {}
    for c in codes:
        parts = [known[a] for a in chain(c) if a in known]
        out[c] = sep.join(parts) if parts else c
    return out


def existing(s: Session, codes: Collection[str]) -> set[str]:
    """The codes that exist and are active (dictionary or org tree) — the validator's lookup."""
    wanted = {c for c in codes if isinstance(c, str)}
    if not wanted:
        return set()
    found = set(s.scalars(select(Org.region_code).where(Org.kind == "region", Org.active.is_(True),
                                                        Org.region_code.in_(wanted))))
    did = _dict_id(s)
    if did is not None:
        found |= set(s.scalars(select(DictItem.code).where(DictItem.dict_id == did, DictItem.active.is_(True),
                                                           DictItem.code.in_(wanted))))
    return found


def _codes_like(s: Session, patterns: list[str]) -> dict[str, str]:
    """Active codes matching LIKE patterns (``_`` = one digit), with names."""
    out: dict[str, str] = {}
    rows = s.execute(select(Org.region_code, Org.name).where(
        Org.kind == "region", Org.active.is_(True), or_(*[Org.region_code.like(p) for p in patterns]))
        .order_by(func.length(Org.path).desc(), Org.id.desc())).all()
    out.update({c: n for c, n in rows if c})
    did = _dict_id(s)
    if did is not None:
        out.update(dict(s.execute(select(DictItem.code, DictItem.name).where(
            DictItem.dict_id == did, DictItem.active.is_(True), or_(*[DictItem.code.like(p) for p in patterns]))
        ).all()))
    return out


def children(s: Session, parent: str | None) -> list[tuple[str, str]]:
    """``[(code, name)]`` one level below ``parent`` (provinces for None), by code.

    A province without city-level entries (a municipality whose ``XX0100`` is
    not listed) offers its districts directly."""
    lv = level_of(parent) if parent else -1
    if parent is None:
        found = {c: n for c, n in _codes_like(s, ["__0000"]).items() if level_of(c) == 0}
    elif lv == 0:
        found = {c: n for c, n in _codes_like(s, [parent[:2] + "__00"]).items() if level_of(c) == 1}
        if not found:
            found = {c: n for c, n in _codes_like(s, [parent[:2] + "____"]).items() if level_of(c) == 2}
    elif lv == 1:
        found = {c: n for c, n in _codes_like(s, [parent[:4] + "__"]).items() if level_of(c) == 2}
    elif lv in (2, 3):
        found = {c: n for c, n in _codes_like(s, [parent + "___"]).items() if level_of(c) == lv + 1}
    else:
        found = {}
    return sorted(found.items())


def picker_levels(s: Session, code: str | None) -> list[dict[str, Any]]:
    """The selects of a cascade showing ``code``: one per known level of its chain plus the
    next level's choices. Each: ``{"parent", "options": [(code, name)], "selected"}``."""
    selected = [c for c in chain(code)] if code else []
    out: list[dict[str, Any]] = []
    parent: str | None = None
    while True:
        opts = children(s, parent)
        if not opts:
            break
        pick = next((c for c in selected if c in dict(opts)), "")
        if pick == "" and parent is not None and code and level_of(code) > level_of(parent) and any(
                c.startswith(parent) for c in selected):
            # the value's own level is not among the options (unknown code): keep it visible
            pick = next((c for c in selected if level_of(c) > level_of(parent)), "")
            if pick and pick not in dict(opts):
                opts = opts + [(pick, pick)]
        out.append({"parent": parent or "", "options": opts, "selected": pick})
        if not pick:
            break
        parent = pick
    return out


# --- seeding --------------------------------------------------------------------------------------

def _entries(ctx: Any) -> dict[str, str]:
    """Codes and names to seed for this deployment."""
    code = ctx.deployment.region_code
    out: dict[str, str] = {}
    if code == "100000":  # a national deployment: every province
        return dict(PROVINCES)
    prov = code[:2] + "0000"
    if prov in PROVINCES:
        out[prov] = PROVINCES[prov]
    city = code[:4] + "00"
    if city in CITIES:
        name, districts = CITIES[city]
        out[city] = name
        out.update({c: n for c, n in districts.items() if level_of(code) < 2 or c == code})
    if code not in out:
        out[code] = ctx.deployment.name
    return out


def seed_regions(ctx: Any, s: Session) -> bool:
    """Create the region dictionary once (create-only); True when created."""
    if _dict_id(s) is not None:
        return False
    d = Dict(code=REGION_DICT, name="行政区划",
             description="GB/T 2260 行政区划（省、市、区县6位，街道9位，社区12位）；表单的行政区划字段从这里选；"
                         "可在此增补街道、社区", builtin=True)
    s.add(d)
    s.flush()
    add_items(s, d.id, _entries(ctx))
    rebuild_paths(s, d.id)
    audit.record(s, None, "dict_create", "dict", REGION_DICT, after={"name": d.name},
                 summary="seeded 行政区划 (GB/T 2260)")
    return True


def extend(s: Session, entries: dict[str, str]) -> None:
    """Add regions (code -> name) to the seeded dictionary; codes it has are kept as they are."""
    dict_id = _dict_id(s)
    if dict_id is None:
        raise LookupError(f"{REGION_DICT} is not seeded")  # bootstrap seeds it before anything extends it
    add_items(s, dict_id, entries)
    rebuild_paths(s, dict_id)


def add_items(s: Session, dict_id: int, entries: dict[str, str]) -> None:
    """Insert region items (parents first, linked by code shape); existing codes are skipped.
    The caller rebuilds the dictionary's paths."""
    have = dict(s.execute(select(DictItem.code, DictItem.id).where(DictItem.dict_id == dict_id)).all())
    for code in sorted(entries, key=lambda c: (len(c), c)):
        if code in have:
            continue
        parent = next((have[a] for a in reversed(chain(code)[:-1]) if a in have), None)
        item = DictItem(dict_id=dict_id, parent_id=parent, code=code, name=entries[code], sort=0, active=True,
                        extra={}, path="")
        s.add(item)
        s.flush()
        have[code] = item.id
