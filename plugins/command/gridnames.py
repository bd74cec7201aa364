"""Grid names for people: 「平江新村社区第3网格」 instead of ``32050800100103``.

Lists and pages show a grid by its name; when a grid has none, by its
community's name and the grid's serial number (「平江新村社区 3号网格」);
when the grid is unknown, by its code. The code stays available as the
tooltip (``title``) and as secondary text where codes are worked with.

One query per page of rows (grids and their communities in one join), never
one per row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from .models import Grid, Region


@dataclass(frozen=True)
class GridLabel:
    """What a person reads (``text``) and the code behind it (``code``)."""

    code: str
    text: str

    def __str__(self) -> str:
        return self.text


def _serial(code: str, community_code: str) -> str:
    rest = code[len(community_code):] if community_code and code.startswith(community_code) else ""
    return str(int(rest)) if rest.isdigit() else ""


def label_text(code: str, name: str, community_name: str, community_code: str) -> str:
    """The grid's name; else community + serial (「…社区 3号网格」); else the code."""
    if name.strip():
        return name.strip()
    serial = _serial(code, community_code)
    if community_name and serial:
        return f"{community_name} {serial}号网格"
    return code


def grid_labels(session: Session, codes: Iterable[str | None]) -> dict[str, GridLabel]:
    """Labels of the given grid codes (unknown codes label themselves)."""
    wanted = sorted({c for c in codes if c})
    if not wanted:
        return {}
    community = aliased(Region)
    rows = session.execute(
        select(Grid.code, Grid.name, Grid.community_code, community.name)
        .outerjoin(community, community.code == Grid.community_code)
        .where(Grid.code.in_(wanted))).all()
    out = {code: GridLabel(code, label_text(code, name or "", comm_name or "", comm or ""))
           for code, name, comm, comm_name in rows}
    for code in wanted:
        out.setdefault(code, GridLabel(code, code))
    return out


def grid_label(session: Session, code: str | None) -> GridLabel | None:
    """The label of one grid (``None`` for no grid)."""
    return grid_labels(session, [code]).get(code or "") if code else None
