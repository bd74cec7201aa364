"""China's public holidays and make-up working days (调休) from the
``chinesecalendar`` package (State Council notices, one package release per year).

Only this module imports the package, so a deployment could swap the source.
"""

from __future__ import annotations

import datetime as dt

import chinese_calendar
from chinese_calendar import constants

# The package names holidays in English; staff read Chinese.
NAMES_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}


def version() -> str:
    return str(getattr(chinese_calendar, "__version__", ""))


def known_years() -> list[int]:
    """Years the installed package has State Council data for."""
    return sorted({d.year for d in constants.holidays} | {d.year for d in constants.workdays})


def year_days(year: int) -> dict[dt.date, tuple[str, str]]:
    """``date -> (kind, name)`` of one year: ``holiday`` or ``workday`` (调休上班)."""
    out: dict[dt.date, tuple[str, str]] = {}
    for d, name in constants.holidays.items():
        if d.year == year:
            out[d] = ("holiday", NAMES_ZH.get(name, name))
    for d, name in constants.workdays.items():
        if d.year == year:
            out[d] = ("workday", f"{NAMES_ZH.get(name, name)}调休上班")
    return out
