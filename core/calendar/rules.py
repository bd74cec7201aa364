"""Statutory holidays computed from the rules, for years the ``chinesecalendar``
package does not know yet (the State Council announces each year's plan late
in the year before; the package follows some weeks later).

《全国年节及纪念日放假办法》 as amended by State Council decree No. 795 (2024),
in force 2025-01-01, article 2 — holidays for all citizens:

* 元旦 1 day (1 January);
* 春节 4 days (农历除夕 and 正月初一 to 初三);
* 清明节 1 day (the day of the 清明 solar term);
* 劳动节 2 days (1 and 2 May);
* 端午节 1 day (农历五月初五);
* 中秋节 1 day (农历八月十五);
* 国庆节 3 days (1 to 3 October).

Article 6: a holiday of all citizens that falls on a Saturday or Sunday is
made up (补假) on a working day. The notice says which; the State Council has
always taken the first working day(s) after the holiday, so that is what is
computed here, named "…（补假）".

Not computed: the 调休 make-up working days (weekends worked to bridge a
holiday) and any bridging days off. Only the State Council's yearly notice
fixes those, so such a year stays *provisional* until an administrator enters
them and confirms the year, or a package release brings the official plan.

Lunar dates and the 清明 solar term come from ``lunar_python`` (MIT); only
this module imports it.
"""

from __future__ import annotations

import datetime as dt

from lunar_python import Lunar

MAKE_UP = "（补假）"


def _solar(lunar: Lunar) -> dt.date:
    s = lunar.getSolar()
    return dt.date(s.getYear(), s.getMonth(), s.getDay())


def statutory_days(year: int) -> dict[dt.date, str]:
    """``date -> holiday name`` of article 2 for one Gregorian year, without 补假."""
    new_year = Lunar.fromYmd(year, 1, 1)  # 正月初一 always falls in January or February
    qingming = Lunar.fromYmd(year, 3, 1).getJieQiTable()["清明"]
    groups = [
        ("元旦", [dt.date(year, 1, 1)]),
        ("春节", [_solar(new_year.next(n)) for n in (-1, 0, 1, 2)]),
        ("清明节", [dt.date(qingming.getYear(), qingming.getMonth(), qingming.getDay())]),
        ("劳动节", [dt.date(year, 5, 1), dt.date(year, 5, 2)]),
        ("端午节", [_solar(Lunar.fromYmd(year, 5, 5))]),
        ("中秋节", [_solar(Lunar.fromYmd(year, 8, 15))]),
        ("国庆节", [dt.date(year, 10, d) for d in (1, 2, 3)]),
    ]
    out: dict[dt.date, str] = {}
    for name, days in groups:
        for d in days:
            out[d] = f"{out[d]}、{name}" if d in out else name  # 中秋 can fall on 1–3 October
    return out


def _groups(year: int) -> list[tuple[str, list[dt.date]]]:
    """Runs of consecutive statutory days, each with its first holiday's name, in date order."""
    days = statutory_days(year)
    runs: list[tuple[str, list[dt.date]]] = []
    for d in sorted(days):
        if runs and (d - runs[-1][1][-1]).days == 1:
            runs[-1][1].append(d)
        else:
            runs.append((days[d].split("、")[0], [d]))
    return runs


def year_days(year: int) -> dict[dt.date, tuple[str, str]]:
    """``date -> ("holiday", name)``: article 2's days and article 6's 补假 days
    (the first Monday–Friday days after a run that are not holidays already)."""
    days = statutory_days(year)
    out: dict[dt.date, tuple[str, str]] = {d: ("holiday", n) for d, n in days.items()}
    for name, run in _groups(year):
        owed = sum(1 for d in run if d.isoweekday() >= 6)
        d = run[-1]
        while owed:
            d += dt.timedelta(days=1)
            if d.isoweekday() < 6 and d not in out:
                out[d] = ("holiday", f"{name}{MAKE_UP}")
                owed -= 1
    return {d: v for d, v in out.items() if d.year == year}
