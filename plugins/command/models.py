"""Tables of the 指挥协调 plugin's base data (GB/T 30428.1/.2/.3).

They live on a metadata of their own (created by the plugin's migrations,
never by core's) and are prefixed ``command_``. Class codes are the
4-digit small classes of the core dictionaries ``gbt30428.component`` /
``gbt30428.event``; since both lists reuse the same codes, every row that
names a class also says its ``kind`` (``component`` or ``event``).
Coordinates are CGCS2000 (≈ WGS84) longitude/latitude in degrees.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (JSON, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint,
                        text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ccms.api import PiiString, UTCDateTime, utcnow


class CommandBase(DeclarativeBase):
    pass


KINDS = ("component", "event")
AREA_CLASSES = ("A", "B", "C")


class Standard(CommandBase):
    """One filing/closing rule of a small class (立案条件 → 结案条件, time limit).

    A class has one or more conditions (``condition_code``); each condition
    has a time limit per area class (``area_class`` empty = every class) and
    urgency. The row is the unit an administrator edits and imports.
    """

    __tablename__ = "command_standard"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    class_code: Mapped[str] = mapped_column(String(8))
    condition_code: Mapped[str] = mapped_column(String(8), default="01")
    filing_condition: Mapped[str] = mapped_column(Text, default="")
    closing_condition: Mapped[str] = mapped_column(Text, default="")
    area_class: Mapped[str] = mapped_column(String(1), default="")
    urgency: Mapped[str] = mapped_column(String(10), default="normal")
    time_limit: Mapped[float] = mapped_column(Float)
    time_unit: Mapped[str] = mapped_column(String(10), default="work_hours")
    dept_org_id: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __table_args__ = (UniqueConstraint("kind", "class_code", "condition_code", "area_class", "urgency",
                                       name="uq_command_standard_rule"),)
    __mapper_args__ = {"version_id_col": version}


class Region(CommandBase):
    """A street (街道, code area 6 + street 3) or community (社区, + community 3)
    with an optional boundary; grids must lie inside their community."""

    __tablename__ = "command_region"
    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[str] = mapped_column(String(10))  # street | community
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    parent_code: Mapped[str | None] = mapped_column(String(20), index=True)
    org_id: Mapped[int | None] = mapped_column(Integer)
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}


class Grid(CommandBase):
    """A unit grid (单元网格): a polygon with its code, community and street."""

    __tablename__ = "command_grid"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    street_code: Mapped[str] = mapped_column(String(20), index=True)
    community_code: Mapped[str] = mapped_column(String(20), index=True)
    area_class: Mapped[str] = mapped_column(String(1), default="B")
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    area_m2: Mapped[float] = mapped_column(Float)
    supervisor_id: Mapped[int | None] = mapped_column(Integer)  # 责任监督员 (a person id)
    min_x: Mapped[float] = mapped_column(Float)
    min_y: Mapped[float] = mapped_column(Float)
    max_x: Mapped[float] = mapped_column(Float)
    max_y: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}


class Component(CommandBase):
    """A component (部件) with its 16-digit identifier (GB/T 30428.2)."""

    __tablename__ = "command_component"
    id: Mapped[int] = mapped_column(primary_key=True)
    ident: Mapped[str] = mapped_column(String(16), unique=True)
    class_code: Mapped[str] = mapped_column(String(4), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    area_code: Mapped[str] = mapped_column(String(6))
    dept_supervise_id: Mapped[int | None] = mapped_column(Integer)
    dept_owner_id: Mapped[int | None] = mapped_column(Integer)
    dept_maintain_id: Mapped[int | None] = mapped_column(Integer, index=True)
    grid_code: Mapped[str | None] = mapped_column(String(20), index=True)
    state: Mapped[str] = mapped_column(String(16), default="normal")
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(200), default="")
    initial_date: Mapped[dt.date | None] = mapped_column()
    source: Mapped[str] = mapped_column(String(50), default="")
    remarks: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}


class ComponentHistory(CommandBase):
    """One change of a component: who, when, what (before/after of the changed fields)."""

    __tablename__ = "command_component_history"
    id: Mapped[int] = mapped_column(primary_key=True)
    component_id: Mapped[int] = mapped_column(ForeignKey("command_component.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    __table_args__ = (Index("ix_command_component_history_component", "component_id", "at"),)


class Serial(CommandBase):
    """Next free serial per scope (e.g. ``component:320508:0101``); taken with
    an atomic ``UPDATE ... SET next = next + n`` so concurrent writers never
    get the same number."""

    __tablename__ = "command_serial"
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_value: Mapped[int] = mapped_column(Integer, default=1)


class Place(CommandBase):
    """A geocoded place (地理编码): road, door plate or point of interest."""

    __tablename__ = "command_place"
    id: Mapped[int] = mapped_column(primary_key=True)
    ident: Mapped[str] = mapped_column(String(24), unique=True)
    kind: Mapped[str] = mapped_column(String(12))  # road | doorplate | poi
    name: Mapped[str] = mapped_column(String(200), index=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    grid_code: Mapped[str | None] = mapped_column(String(20), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}


class PlaceName(CommandBase):
    """A name a place has carried (地名沿革): the current one has ``valid_to`` null."""

    __tablename__ = "command_place_name"
    id: Mapped[int] = mapped_column(primary_key=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("command_place.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    valid_to: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class MatrixRule(CommandBase):
    """责任矩阵: class (small class, big class or any) × scope → department.

    ``scope_type``: ``any``, ``area_class`` (A/B/C), ``street`` (street code)
    or ``grid`` (grid code); the most specific matching rule wins.
    """

    __tablename__ = "command_matrix"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    class_code: Mapped[str] = mapped_column(String(8), default="")
    scope_type: Mapped[str] = mapped_column(String(12), default="any")
    scope_value: Mapped[str] = mapped_column(String(20), default="")
    dept_org_id: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __table_args__ = (UniqueConstraint("kind", "class_code", "scope_type", "scope_value",
                                       name="uq_command_matrix_rule"),)
    __mapper_args__ = {"version_id_col": version}


class ImportJob(CommandBase):
    """An uploaded import file, its check report and its outcome.

    Kept so that "skip the bad rows and import the rest" needs no second
    upload, and so the report can be read again later.
    """

    __tablename__ = "command_import"
    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(String(20))  # grids | regions | components | standards | places | matrix
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(12), default="checked")  # checked | done | failed
    total: Mapped[int] = mapped_column(Integer, default=0)
    bad: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- the case loop (CJJ/T 106) ------------------------------------------------------

CASE_KINDS = ("C", "E")  # C = 部件 component, E = 事件 event
CASE_SOURCES = ("supervisor", "hotline", "public", "media", "superior")
CASE_STATUSES = ("reported", "verifying", "not_filed", "filed", "dispatched", "disposing", "checking",
                 "closed", "voided", "suspended", "merged")
OPEN_STATUSES = ("reported", "verifying", "filed", "dispatched", "disposing", "checking", "suspended")


class Case(CommandBase):
    """One case (案件) of the loop; its columns mirror the flow instance.

    The flow engine is the source of truth for who may act; these typed
    columns are kept in sync by the ``ccms_flow_event_occurred`` listener in the same
    transaction, so statistics (GB/T 30428.4) are plain GROUP BY queries.

    ``status``: reported → (verifying) → filed | not_filed → dispatched →
    disposing → checking → closed; ``voided`` (作废), ``suspended`` (挂账), and
    ``merged`` (a duplicate merged into ``merged_into_id``; counts as neither
    filed nor closed). Timestamps are UTC; ``disposed_on_time`` /
    ``closed_on_time`` are null until the step happens. ``dispatch_count`` is
    the number of dispatches (派遣 done; > 1 = sent again after 回退), ``cooperative``
    says one dispatch went to several departments at once (协同). The disposal columns
    describe the current round: ``round_started_at`` is when the open round's dispose
    tasks were created (派遣 or 返工), ``disposed_at`` / ``disposed_on_time`` are null
    while a round is open (a failed 核查 reopens the disposal).
    """

    __tablename__ = "command_case"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_no: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(1))  # C | E
    class_code: Mapped[str] = mapped_column(String(8))  # e.g. E0101
    big_class: Mapped[str] = mapped_column(String(8))  # e.g. E01
    source: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(12), default="reported")
    urgency: Mapped[str] = mapped_column(String(10), default="normal")
    area_class: Mapped[str] = mapped_column(String(1), default="")
    district_code: Mapped[str] = mapped_column(String(12), default="", index=True)
    street_code: Mapped[str] = mapped_column(String(20), default="", index=True)
    community_code: Mapped[str] = mapped_column(String(20), default="")
    grid_code: Mapped[str] = mapped_column(String(20), default="")
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    component_ident: Mapped[str] = mapped_column(String(16), default="")
    dept_id: Mapped[int | None] = mapped_column(Integer)  # main department (org id)
    dept_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # every department of a 协同 dispatch
    reporter_id: Mapped[int | None] = mapped_column(Integer)  # person id (None for public reports)
    filer_id: Mapped[int | None] = mapped_column(Integer)  # shift leader who filed (person id)
    dispatcher_id: Mapped[int | None] = mapped_column(Integer)
    handler_id: Mapped[int | None] = mapped_column(Integer)  # department person who disposed
    checker_id: Mapped[int | None] = mapped_column(Integer)  # supervisor who checked
    verifier_id: Mapped[int | None] = mapped_column(Integer)  # supervisor who verified a public report (核实)
    reporter_name: Mapped[str] = mapped_column(String(100), default="")
    reporter_phone: Mapped[str] = mapped_column(PiiString(255), default="")  # ciphertext with a [pii] key
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    filed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    disposed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    voided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # disposal deadline
    round_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # start of the current disposal round
    time_limit: Mapped[float | None] = mapped_column(Float)  # from the filing standard
    time_unit: Mapped[str] = mapped_column(String(12), default="")
    disposed_on_time: Mapped[bool | None] = mapped_column(Boolean)
    closed_on_time: Mapped[bool | None] = mapped_column(Boolean)
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    extend_count: Mapped[int] = mapped_column(Integer, default=0)
    suspend_count: Mapped[int] = mapped_column(Integer, default=0)
    return_count: Mapped[int] = mapped_column(Integer, default=0)
    dispatch_count: Mapped[int] = mapped_column(Integer, default=0)
    cooperative: Mapped[bool] = mapped_column(Boolean, default=False)  # 协同: one dispatch, several departments
    urge_count: Mapped[int] = mapped_column(Integer, default=0)
    self_disposed: Mapped[bool] = mapped_column(Boolean, default=False)  # 自行处置
    not_filed_reason: Mapped[str] = mapped_column(Text, default="")
    void_reason: Mapped[str] = mapped_column(Text, default="")
    duplicate_of_id: Mapped[int | None] = mapped_column(Integer)  # flagged as a possible duplicate of
    merged_into_id: Mapped[int | None] = mapped_column(Integer)  # merged into this open case
    photos_before: Mapped[list[str]] = mapped_column(JSON, default=list)  # core attachment ids
    photos_after: Mapped[list[str]] = mapped_column(JSON, default=list)
    instance_id: Mapped[int | None] = mapped_column(Integer, index=True)  # flow instance
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __table_args__ = (
        Index("ix_command_case_reported_at", "reported_at", "id"),  # id since 0008_stats_indexes
        Index("ix_command_case_dept_id", "dept_id"),
        Index("ix_command_case_grid_code", "grid_code"),
        Index("ix_command_case_class", "class_code", "status"),
        # 0008_stats_indexes (issue 11, item 7): a period's statistics read index ranges of
        # these columns (stats._activity_ids) instead of scanning the whole history ...
        # (partial: only set values, so "closed_at IS NULL" is never read through them — SQLite's
        # planner would take NULL for a rare value and read every unfinished old case)
        # (with id: PostgreSQL answers the ranges from the index alone)
        *(Index(f"ix_command_case_{c}", c, "id", sqlite_where=text(f"{c} IS NOT NULL"),
                postgresql_where=text(f"{c} IS NOT NULL"))
          for c in ("filed_at", "dispatched_at", "disposed_at", "closed_at", "voided_at", "due_at")),
        # ... and the overdue snapshot reads the live cases only (filed, neither closed nor voided)
        Index("ix_command_case_live_due", "due_at", "id",
              sqlite_where=text("closed_at IS NULL AND voided_at IS NULL AND filed_at IS NOT NULL"),
              postgresql_where=text("closed_at IS NULL AND voided_at IS NULL AND filed_at IS NOT NULL")),
        # lists read one status's or one class's rows newest first (replaces ix_command_case_status)
        Index("ix_command_case_status_reported", "status", "reported_at", "id"),
        Index("ix_command_case_class_reported", "class_code", "reported_at", "id"),
        # case-number prefix search: PostgreSQL's LIKE 'prefix%' needs the pattern operator class
        # under a linguistic collation (on SQLite a plain index; the prefix there is a binary range)
        Index("ix_command_case_case_no_prefix", "case_no", postgresql_ops={"case_no": "varchar_pattern_ops"}),
    )
    __mapper_args__ = {"version_id_col": version}


class MapFeature(CommandBase):
    """A feature of the deployment's own base map, drawn under the grids when no tile service is
    configured: a district outline (``layer='district'``), a road (``'road'``, ``kind`` main or
    minor) or water (``'water'``). ``area_code`` (the district) scopes it to the users of that
    district. Geometry: GeoJSON in CGCS2000/WGS-84 degrees."""

    __tablename__ = "command_map_feature"
    id: Mapped[int] = mapped_column(primary_key=True)
    layer: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20), default="")
    name: Mapped[str] = mapped_column(String(100), default="")
    area_code: Mapped[str] = mapped_column(String(12), default="")
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    __table_args__ = (Index("ix_command_map_feature_layer", "layer", "area_code"),)
