"""Field types of configurable forms: coercion, schema fragment, display, checks.

A form definition's data part is plain JSON Schema (draft 2020-12); the
``x-ccms-type`` extension keyword names a ccms field type where the JSON type
alone does not say enough (money, dictionary, org, person, region, ...).

Each :class:`FieldType` knows four things:

* :meth:`FieldType.coerce` — a form-post string (or list of strings, or dict
  of sub-field strings) into a JSON value; ``ABSENT`` when nothing was typed;
  raises :class:`CoerceError` with a bilingual message when it cannot;
* :meth:`FieldType.schema` — the JSON Schema fragment a designer puts in a
  definition for this type;
* :meth:`FieldType.display` — a value as text for lists and detail pages;
* :meth:`FieldType.check` — checks JSON Schema cannot express (two decimals
  of money, a geo point's range) run after schema validation; and
  ``reference`` — the name of a caller-given lookup that confirms the value
  exists (org and person ids, dictionary codes), called once per validation
  with every value of that kind.

Registries are per app (:class:`FieldTypes`, no module globals) so a plugin's
types never leak into another deployment. A plugin hands its ``FieldType``
objects to ``FieldTypes.register`` (through a ``ccms_register_field_types``
hook returning a list of them).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Mapping

from ccms.errors import ConfigError
from ccms.mask import mask_idcard, mask_phone

from .widgets_region import parent_of, shape_problem

Msg = dict[str, str]
#: ``label(kind, scope, value) -> text | None`` — names of referenced things (org, person, dictionary entry).
LabelLookup = Callable[[str, "str | None", Any], "str | None"]


class _Absent:
    """Marks a field the user left empty (so ``required`` and defaults apply)."""

    _instance: "_Absent | None" = None

    def __new__(cls) -> "_Absent":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Any = _Absent()


def msg(zh: str, en: str) -> Msg:
    return {"message": zh, "message_en": en}


class CoerceError(ValueError):
    """A submitted value that cannot become the field's JSON value."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en

    def as_msg(self) -> Msg:
        return msg(self.zh, self.en)


def localize(text: Any, lang: str = "zh-CN") -> str:
    """Plain text or ``{"zh-CN": ..., "en": ...}`` to one language (zh-CN when missing)."""
    if isinstance(text, Mapping):
        return str(text.get(lang) or text.get("zh-CN") or next(iter(text.values()), ""))
    return "" if text is None else str(text)


def _text(raw: Any) -> str:
    """The last submitted string of a field (browsers may send a name twice)."""
    if isinstance(raw, (list, tuple)):
        raw = raw[-1] if raw else ""
    return "" if raw is None else str(raw)


def _norm(raw: Any) -> str:
    """Full-width digits and letters (common with Chinese input methods) to ASCII, trimmed."""
    return unicodedata.normalize("NFKC", _text(raw)).strip()


def _json_text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


# --------------------------------------------------------------------------- base


class FieldType:
    """One kind of field. Subclass and override what differs; instances are stateless."""

    name: str = ""
    label: tuple[str, str] = ("", "")  # zh, en — shown in the designer's type picker
    json_type: str = "string"
    reference: str | None = None  # lookup name for existence checks ("org", "person", "dictionary")
    sensitive: bool = False  # masked in lists for roles without the right to see it
    readonly: bool = False  # computed: submitted values are ignored

    def schema(self, **options: Any) -> dict[str, Any]:
        """The JSON Schema fragment for a new field of this type (options: title, required limits...)."""
        out: dict[str, Any] = {"type": self.json_type}
        if self.name and self.name not in _PLAIN:
            out["x-ccms-type"] = self.name
        out.update(options)
        return out

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        """Form-post value(s) to a JSON value; ``ABSENT`` for an empty input."""
        text = _text(raw)
        return ABSENT if text == "" else text

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        """The value as text for lists and detail pages (escaping is the renderer's job)."""
        if value is None or value is ABSENT:
            return ""
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False)
        return str(value)

    def check(self, value: Any, prop: Mapping[str, Any]) -> Msg | None:
        """A check beyond JSON Schema, run on values that passed it; ``None`` when fine."""
        return None

    def reference_scope(self, prop: Mapping[str, Any]) -> str | None:
        """Which set a reference lives in (a dictionary's code); ``None`` for one global set."""
        return None

    def reference_values(self, value: Any) -> list[Any]:
        """The referenced ids/codes inside a value (one for scalars)."""
        return [value]

    def mask(self, value: Any) -> str:
        """The value for someone without the right to read it in full."""
        return self.display(value, {})


# --------------------------------------------------------------------------- scalars


class TextType(FieldType):
    name, label = "text", ("单行文本", "Text")

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        text = _text(raw)  # kept verbatim: HTML stays text, escaping is the renderer's job
        return ABSENT if text.strip() == "" else text


class TextareaType(TextType):
    name, label = "textarea", ("多行文本", "Long text")

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        text = _text(raw).replace("\r\n", "\n")
        return ABSENT if text.strip() == "" else text


class IntegerType(FieldType):
    name, label, json_type = "integer", ("整数", "Integer"), "integer"

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        text = _norm(raw).replace(",", "")
        if text == "":
            return ABSENT
        try:
            d = Decimal(text)
            if not d.is_finite() or d != d.to_integral_value():
                raise InvalidOperation
            if abs(d) > 10 ** 15:
                raise CoerceError("数值过大", "number too large")
            return int(d)
        except (InvalidOperation, ValueError):
            raise CoerceError("请输入整数", "enter a whole number") from None

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        return "" if value is None else str(value)


class NumberType(FieldType):
    name, label, json_type = "number", ("数字", "Number"), "number"

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        text = _norm(raw).replace(",", "")
        if text == "":
            return ABSENT
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise CoerceError("请输入数字", "enter a number") from None
        if not d.is_finite() or abs(d) > Decimal(10) ** 15:
            raise CoerceError("请输入有效的数字", "enter a finite number")
        return int(d) if d == d.to_integral_value() and "." not in text and "e" not in text.lower() else float(d)

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return "" if value is None else str(value)


class MoneyType(NumberType):
    """Yuan with at most two decimals; negative only with ``x-ccms-allow-negative``."""

    name, label = "money", ("金额", "Money")

    def schema(self, **options: Any) -> dict[str, Any]:
        out = super().schema(**options)
        if not out.get("x-ccms-allow-negative"):
            out.setdefault("minimum", 0)
        return out

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        text = _norm(raw).replace(",", "").lstrip("¥￥").strip()
        if text == "":
            return ABSENT
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise CoerceError("请输入金额，如 12.50", "enter an amount such as 12.50") from None
        if not d.is_finite() or abs(d) >= Decimal(10) ** 13:
            raise CoerceError("金额超出范围", "amount out of range")
        if d.as_tuple().exponent < -2 and d != d.quantize(Decimal("0.01")):
            raise CoerceError("金额最多两位小数", "at most two decimal places")
        if d < 0 and not prop.get("x-ccms-allow-negative"):
            raise CoerceError("金额不能为负数", "amount cannot be negative")
        return int(d) if d == d.to_integral_value() else float(d)

    def check(self, value: Any, prop: Mapping[str, Any]) -> Msg | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if isinstance(value, float):
            d = Decimal(repr(value))
            if d != d.quantize(Decimal("0.01")):
                return msg("金额最多两位小数", "at most two decimal places")
        if value < 0 and not prop.get("x-ccms-allow-negative"):
            return msg("金额不能为负数", "amount cannot be negative")
        return None

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return super().display(value, prop, lang, label)
        return f"{Decimal(repr(value)).quantize(Decimal('0.01')):,}"


_TRUE = {"on", "1", "true", "yes", "y", "是", "t"}
_FALSE = {"", "off", "0", "false", "no", "n", "否", "f"}


class BooleanType(FieldType):
    name, label, json_type = "boolean", ("是/否", "Yes/No"), "boolean"

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        text = _norm(raw).lower()  # an unchecked checkbox is not posted at all: ""
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise CoerceError("请选择是或否", "choose yes or no")

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        if value is None:
            return ""
        return ("是" if value else "否") if lang.startswith("zh") else ("Yes" if value else "No")


class DateType(FieldType):
    name, label = "date", ("日期", "Date")

    def schema(self, **options: Any) -> dict[str, Any]:
        return {"type": "string", "format": "date", **options}

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        text = _norm(raw).replace("/", "-")
        if text == "":
            return ABSENT
        if not parse_date(text):
            raise CoerceError("日期格式应为 YYYY-MM-DD", "date must be YYYY-MM-DD")
        return text


class DatetimeType(FieldType):
    """RFC 3339 with an offset; a browser's ``datetime-local`` input gets the deployment's offset."""

    name, label = "datetime", ("日期时间", "Date and time")
    default_offset = "+08:00"

    def schema(self, **options: Any) -> dict[str, Any]:
        return {"type": "string", "format": "date-time", **options}

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        text = _norm(raw)
        if text == "":
            return ABSENT
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", text):
            text += ":00"
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?", text):
            text = text.replace(" ", "T") + self.default_offset
        if not parse_datetime(text):
            raise CoerceError("日期时间格式应为 YYYY-MM-DD HH:MM", "date and time must be YYYY-MM-DD HH:MM")
        return text

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        parsed = parse_datetime(value) if isinstance(value, str) else None
        return parsed.strftime("%Y-%m-%d %H:%M") if parsed else super().display(value, prop, lang, label)


# --------------------------------------------------------------------------- choices


def enum_options(prop: Mapping[str, Any], lang: str = "zh-CN") -> list[tuple[Any, str]]:
    """``(value, label)`` of an enum: ``oneOf`` of ``{"const", "title"}`` or plain ``enum``."""
    for key in ("oneOf", "anyOf"):  # labelled enums: [{"const": v, "title": "标签"}]
        if isinstance(prop.get(key), list):
            return [(o["const"], localize(o.get("title"), lang) or _json_text(o["const"]))
                    for o in prop[key] if isinstance(o, Mapping) and "const" in o]
    names = prop.get("x-enumNames") or []
    return [(v, localize(names[i], lang) if i < len(names) else _json_text(v))
            for i, v in enumerate(prop.get("enum") or [])]


def _member(text: str, prop: Mapping[str, Any]) -> Any:
    for value, _ in enum_options(prop):
        if _json_text(value) == text:
            return value
    raise CoerceError("请从列表中选择", "choose one of the listed values")


class EnumType(FieldType):
    name, label = "enum", ("单选", "Single choice")

    def schema(self, options: Iterable[tuple[Any, Any]] = (), **extra: Any) -> dict[str, Any]:
        return {"oneOf": [{"const": v, "title": t} for v, t in options], **extra}

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        text = _text(raw)
        return ABSENT if text == "" else _member(text, prop)

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        for v, title in enum_options(prop, lang):
            if v == value and type(v) is type(value):
                return title
        return super().display(value, prop, lang, label)


class MultiSelectType(FieldType):
    name, label, json_type = "multiselect", ("多选", "Multiple choice"), "array"

    def schema(self, options: Iterable[tuple[Any, Any]] = (), **extra: Any) -> dict[str, Any]:
        return {"type": "array", "uniqueItems": True,
                "items": {"oneOf": [{"const": v, "title": t} for v, t in options]}, **extra}

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        chosen = raw if isinstance(raw, (list, tuple)) else ([] if raw in (None, "") else [raw])
        items = prop.get("items") if isinstance(prop.get("items"), Mapping) else {}
        out: list[Any] = []
        for c in chosen:
            if c in ("", None):
                continue
            v = _member(str(c), items)
            if v not in out:
                out.append(v)
        return out

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        if not isinstance(value, list):
            return super().display(value, prop, lang, label)
        items = prop.get("items") if isinstance(prop.get("items"), Mapping) else {}
        return "、".join(EnumType().display(v, items, lang) for v in value)


class DictionaryType(FieldType):
    """A 数据字典 entry: the value is its code; ``x-ccms-dictionary`` names the dictionary."""

    name, label, reference = "dictionary", ("数据字典", "Dictionary entry"), "dictionary"

    def schema(self, dictionary: str = "", **options: Any) -> dict[str, Any]:
        return {"type": "string", "x-ccms-type": "dictionary", "x-ccms-dictionary": dictionary, **options}

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        text = _norm(raw)
        return ABSENT if text == "" else text

    def reference_scope(self, prop: Mapping[str, Any]) -> str | None:
        return str(prop.get("x-ccms-dictionary") or "")

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        name = label("dictionary", self.reference_scope(prop), value) if label and value is not None else None
        return name or super().display(value, prop, lang, label)


class _IdType(FieldType):
    json_type = "integer"

    def schema(self, **options: Any) -> dict[str, Any]:
        return {"type": "integer", "minimum": 1, "x-ccms-type": self.name, **options}

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        text = _norm(raw)
        if text == "":
            return ABSENT
        if not text.isdigit() or len(text) > 18:
            raise CoerceError("请从列表中选择", "choose one from the list")
        return int(text)

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        name = label(self.name, None, value) if label and value is not None else None
        return name or super().display(value, prop, lang, label)


class OrgType(_IdType):
    name, label, reference = "org", ("组织机构", "Organisation"), "org"


class PersonType(_IdType):
    name, label, reference = "person", ("人员", "Person"), "person"


# --------------------------------------------------------------------------- places

# First two digits of GB/T 2260 codes: provinces, autonomous regions, municipalities, HK/MO/TW.
PROVINCE_PREFIXES = frozenset({"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35",
                               "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54",
                               "61", "62", "63", "64", "65", "71", "81", "82"})


def region_code_ok(code: Any) -> bool:
    """A GB/T 2260 six-digit code of plausible shape (known province prefix)."""
    return isinstance(code, str) and len(code) == 6 and code.isdigit() and code[:2] in PROVINCE_PREFIXES


class RegionType(FieldType):
    """``{"code": 6 digits (GB/T 2260), "street"?: 9 digits, "community"?: 12 digits}``, each prefixing the next."""

    name, label, json_type, reference = "region", ("行政区划", "Region"), "object", "region"

    def schema(self, **options: Any) -> dict[str, Any]:
        return {"type": "object", "x-ccms-type": "region", "required": ["code"], "additionalProperties": False,
                "properties": {"code": {"type": "string", "pattern": "^[0-9]{6}$"},
                               "street": {"type": "string", "pattern": "^[0-9]{9}$"},
                               "community": {"type": "string", "pattern": "^[0-9]{12}$"}}, **options}

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        if isinstance(raw, Mapping):  # region.code / region.street / region.community
            out = {k: _norm(raw.get(k)) for k in ("code", "street", "community") if _norm(raw.get(k))}
            return out or ABSENT
        # the cascade posts one code per level (province first); the deepest chosen one is the value
        posted = [_norm(x) for x in (raw if isinstance(raw, (list, tuple)) else [raw])]
        posted = [x for x in posted if x]
        if not posted:
            return ABSENT
        for x in posted:
            problem = shape_problem(x)
            if problem:
                raise CoerceError(*problem)
        for upper, lower in itertools.pairwise(posted):
            up = lower
            while up and up != upper:
                up = parent_of(up)
            if up != upper:
                raise CoerceError("所选的各级行政区划不一致，请重新选择", "the chosen region levels do not match; choose again")
        text = posted[-1]
        out = {"code": text[:6]}
        if len(text) >= 9:
            out["street"] = text[:9]
        if len(text) == 12:
            out["community"] = text
        return out

    def reference_values(self, value: Any) -> list[Any]:
        if not isinstance(value, Mapping):
            return []
        deepest = value.get("community") or value.get("street") or value.get("code")
        return [deepest] if isinstance(deepest, str) else []

    def check(self, value: Any, prop: Mapping[str, Any]) -> Msg | None:
        if not isinstance(value, Mapping):
            return None
        code, street, community = value.get("code"), value.get("street"), value.get("community")
        if not region_code_ok(code):
            return msg("不是有效的行政区划代码（GB/T 2260）", "not a valid GB/T 2260 region code")
        if street is not None and not (isinstance(street, str) and street.startswith(code)):
            return msg("街道（乡镇）代码与区县不符", "street code does not belong to the district")
        if community is not None and not (isinstance(street, str) and isinstance(community, str)
                                          and community.startswith(street)):
            return msg("社区（村）代码与街道不符", "community code does not belong to the street")
        return None

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        if not isinstance(value, Mapping):
            return super().display(value, prop, lang, label)
        deepest = value.get("community") or value.get("street") or value.get("code")
        name = label("region", None, deepest) if label else None
        return name or str(deepest or "")


@dataclass(frozen=True)
class GeoBounds:
    """Allowed coordinates; the default is mainland China's bounding box (WGS-84/GCJ-02 degrees)."""

    lng_min: float = 73.0
    lng_max: float = 136.0
    lat_min: float = 3.0
    lat_max: float = 54.0


class GeoPointType(FieldType):
    """``{"lng", "lat"}`` within bounds (registry-wide, or per field with ``x-ccms-bounds``)."""

    name, label, json_type = "geo_point", ("地理位置", "Geo point"), "object"

    def __init__(self, bounds: GeoBounds | None = None) -> None:
        self.bounds = bounds or GeoBounds()

    def schema(self, **options: Any) -> dict[str, Any]:
        return {"type": "object", "x-ccms-type": "geo_point", "required": ["lng", "lat"],
                "additionalProperties": False,
                "properties": {"lng": {"type": "number"}, "lat": {"type": "number"}}, **options}

    def _bounds(self, prop: Mapping[str, Any]) -> GeoBounds:
        b = prop.get("x-ccms-bounds")
        if isinstance(b, Mapping):
            try:
                return GeoBounds(**{k: float(b[k]) for k in ("lng_min", "lng_max", "lat_min", "lat_max") if k in b})
            except (TypeError, ValueError):
                pass
        return self.bounds

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        if isinstance(raw, Mapping):
            lng, lat = _norm(raw.get("lng")), _norm(raw.get("lat"))
        else:
            text = _norm(raw)
            if text == "":
                return ABSENT
            parts = [p.strip() for p in text.replace("，", ",").split(",")]
            if len(parts) != 2:
                raise CoerceError("坐标格式应为“经度,纬度”", "coordinates must be 'longitude,latitude'")
            lng, lat = parts
        if lng == "" and lat == "":
            return ABSENT
        try:
            point = {"lng": float(Decimal(lng)), "lat": float(Decimal(lat))}
        except (InvalidOperation, ValueError):
            raise CoerceError("经纬度应为数字", "longitude and latitude must be numbers") from None
        if point["lng"] != point["lng"] or point["lat"] != point["lat"]:
            raise CoerceError("经纬度应为数字", "longitude and latitude must be numbers")
        return point

    def check(self, value: Any, prop: Mapping[str, Any]) -> Msg | None:
        if not isinstance(value, Mapping):
            return None
        lng, lat = value.get("lng"), value.get("lat")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lng, lat)):
            return None
        b = self._bounds(prop)
        if not b.lng_min <= lng <= b.lng_max:
            return msg(f"经度{lng:g}超出范围（应在{b.lng_min:g}至{b.lng_max:g}之间）",
                       f"longitude {lng:g} out of range ({b.lng_min:g} to {b.lng_max:g})")
        if not b.lat_min <= lat <= b.lat_max:
            return msg(f"纬度{lat:g}超出范围（应在{b.lat_min:g}至{b.lat_max:g}之间）",
                       f"latitude {lat:g} out of range ({b.lat_min:g} to {b.lat_max:g})")
        return None

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        if isinstance(value, Mapping) and "lng" in value and "lat" in value:
            return f"{value['lng']:.6f},{value['lat']:.6f}" if all(
                isinstance(value[k], (int, float)) for k in ("lng", "lat")) else f"{value['lng']},{value['lat']}"
        return super().display(value, prop, lang, label)


# --------------------------------------------------------------------------- attachments

ATTACHMENT_REF = {
    "type": "object",
    "required": ["id", "name", "size", "sha256", "content_type"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "minLength": 1, "maxLength": 64},
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "size": {"type": "integer", "minimum": 0},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "content_type": {"type": "string", "pattern": "^[a-z0-9.+-]+/[a-zA-Z0-9.+-]+$"},
    },
}


class FileType(FieldType):
    """A list of attachment refs; ``x-ccms-max-size`` (bytes) and ``x-ccms-accept`` (MIME types,
    ``image/*`` allowed) are checked on the refs. Storing the bytes is the upload store's job."""

    name, label, json_type = "file", ("附件", "Attachments"), "array"

    def schema(self, **options: Any) -> dict[str, Any]:
        return {"type": "array", "x-ccms-type": self.name, "items": json.loads(json.dumps(ATTACHMENT_REF)),
                **options}

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        items = raw if isinstance(raw, (list, tuple)) else ([] if raw in (None, "") else [raw])
        out = []
        for item in items:  # the upload widget posts one hidden input per ref, as JSON
            if item in ("", None):
                continue
            if isinstance(item, Mapping):
                out.append(dict(item))
                continue
            try:
                ref = json.loads(str(item))
            except json.JSONDecodeError:
                raise CoerceError("附件信息无效，请重新上传", "invalid attachment, upload it again") from None
            if not isinstance(ref, dict):
                raise CoerceError("附件信息无效，请重新上传", "invalid attachment, upload it again")
            out.append(ref)
        return out

    def check(self, value: Any, prop: Mapping[str, Any]) -> Msg | None:
        if not isinstance(value, list):
            return None
        limit = prop.get("x-ccms-max-size")
        accept = prop.get("x-ccms-accept")
        for ref in value:
            if not isinstance(ref, Mapping):
                continue
            if isinstance(limit, int) and isinstance(ref.get("size"), int) and ref["size"] > limit:
                return msg(f"附件“{ref.get('name')}”超过大小限制（{_size(limit)}）",
                           f"attachment '{ref.get('name')}' is larger than {_size(limit)}")
            ct = ref.get("content_type")
            if isinstance(accept, list) and isinstance(ct, str) and not _accepted(ct, accept):
                return msg(f"附件“{ref.get('name')}”的类型不允许（{ct}）",
                           f"attachment '{ref.get('name')}' has a forbidden type ({ct})")
        return None

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        if isinstance(value, list):
            return "、".join(str(r.get("name", "")) for r in value if isinstance(r, Mapping))
        return super().display(value, prop, lang, label)


class ImageType(FileType):
    name, label = "image", ("图片", "Images")
    default_accept = ["image/jpeg", "image/png", "image/gif", "image/webp"]

    def check(self, value: Any, prop: Mapping[str, Any]) -> Msg | None:
        if "x-ccms-accept" not in prop:
            prop = {**prop, "x-ccms-accept": self.default_accept}
        return super().check(value, prop)


def _accepted(ct: str, accept: list[Any]) -> bool:
    ct = ct.lower()
    return any(isinstance(a, str) and (a.lower() == ct or (a.endswith("/*") and ct.startswith(a[:-1].lower())))
               for a in accept)


def _size(n: int) -> str:
    for unit, k in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= k:
            return f"{n / k:g} {unit}"
    return f"{n} B"


# --------------------------------------------------------------------------- structure


class ObjectType(FieldType):
    """A nested object; its properties are fields of their own (``address.city``)."""

    name, label, json_type = "object", ("嵌套对象", "Nested object"), "object"

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        raise CoerceError("输入无效", "invalid input")  # the validator coerces sub-fields one by one


class GroupType(FieldType):
    """A repeating group: an array of objects (``items[2].qty``)."""

    name, label, json_type = "group", ("重复表格", "Repeating group"), "array"

    def schema(self, **options: Any) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "object", "properties": {}}, **options}

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        raise CoerceError("输入无效", "invalid input")

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        n = len(value) if isinstance(value, list) else 0
        return f"{n}行" if lang.startswith("zh") else f"{n} rows"


class ListType(FieldType):
    """An array of plain values of one type (several people, several phone numbers)."""

    name, label, json_type = "list", ("多值", "List of values"), "array"

    def schema(self, items: Mapping[str, Any] | None = None, **options: Any) -> dict[str, Any]:
        return {"type": "array", "items": dict(items or {"type": "string"}), **options}

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        if isinstance(value, list) and isinstance(prop.get("items"), Mapping):
            return "、".join(str(v) for v in value)
        return super().display(value, prop, lang, label)


class ComputedType(FieldType):
    """Read-only: ``x-ccms-expr`` (ccms.forms.expr) computes it; submitted values are ignored."""

    name, label, readonly = "computed", ("计算字段", "Computed"), True

    def schema(self, expr: str = "", result_type: str = "number", **options: Any) -> dict[str, Any]:
        return {"type": result_type, "x-ccms-type": "computed", "x-ccms-expr": expr, "readOnly": True, **options}

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        return ABSENT

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        if isinstance(value, float) and isinstance(prop.get("x-ccms-decimals"), int):
            return f"{value:.{prop['x-ccms-decimals']}f}"
        return NumberType().display(value, prop) if isinstance(value, (int, float)) and not isinstance(
            value, bool) else super().display(value, prop, lang, label)


# --------------------------------------------------------------------------- identity numbers

MOBILE_RE = re.compile(r"1[3-9]\d{9}")
LANDLINE_RE = re.compile(r"0\d{2,3}-?[2-9]\d{6,7}(-\d{1,6})?")


def phone_ok(value: Any) -> bool:
    """A mainland mobile number or a landline with its area code (``010-12345678``)."""
    return isinstance(value, str) and bool(MOBILE_RE.fullmatch(value) or LANDLINE_RE.fullmatch(value))


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def idcard_check_digit(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of GB 11643."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def idcard_problem(value: Any) -> Msg | None:
    """Why ``value`` is not an 18-digit citizen ID number (GB 11643), or ``None``."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{17}[\dX]", value):
        return msg("身份证号码应为18位（最后一位可为X）", "ID number must have 18 characters (the last may be X)")
    if value[:2] not in PROVINCE_PREFIXES:
        return msg("身份证号码的地区码无效", "ID number has an invalid region code")
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return msg("身份证号码中的出生日期无效", "ID number has an invalid birth date")
    if born.year < 1850 or born > dt.date.today():
        return msg("身份证号码中的出生日期无效", "ID number has an invalid birth date")
    if idcard_check_digit(value[:17]) != value[17]:
        return msg("身份证号码校验位错误", "ID number check digit is wrong")
    return None


class PhoneType(FieldType):
    name, label, sensitive = "phone", ("电话号码", "Phone number"), True

    def schema(self, **options: Any) -> dict[str, Any]:
        return {"type": "string", "format": "phone", "x-ccms-type": "phone", **options}

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        text = re.sub(r"[\s()（）]", "", _norm(raw))
        if text.startswith("+86"):
            text = text[3:].lstrip("-")
        elif text.startswith("0086"):
            text = text[4:].lstrip("-")
        return ABSENT if text == "" else text

    def mask(self, value: Any) -> str:
        return mask_phone(value)


class IdcardType(FieldType):
    name, label, sensitive = "idcard", ("身份证号码", "Citizen ID number"), True

    def schema(self, **options: Any) -> dict[str, Any]:
        return {"type": "string", "format": "idcard", "x-ccms-type": "idcard", **options}

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        text = _norm(raw).replace(" ", "").upper()
        return ABSENT if text == "" else text

    def mask(self, value: Any) -> str:
        return mask_idcard(value)


class PasswordType(TextType):
    """``format: password``: a password input; never echoed back on edit (left empty, the stored
    value is kept) and masked wherever it is shown (lists, detail, exports)."""

    name, label, sensitive = "password", ("密码", "Password"), True

    def schema(self, **options: Any) -> dict[str, Any]:
        return {"type": "string", "format": "password", **options}

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        text = _text(raw)
        return ABSENT if text == "" else text

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        return "" if value in (None, "") else "••••••"

    def mask(self, value: Any) -> str:
        return self.display(value, {})


class TimeType(FieldType):
    """``format: time`` (RFC 3339 full-time, as jsonschema checks it): the browser's ``HH:MM``
    gets seconds and the deployment's offset."""

    name, label = "time", ("时间", "Time")
    default_offset = "+08:00"

    def schema(self, **options: Any) -> dict[str, Any]:
        return {"type": "string", "format": "time", **options}

    def coerce(self, raw: Any, prop: Mapping[str, Any]) -> Any:
        text = _norm(raw)
        if text == "":
            return ABSENT
        if re.fullmatch(r"\d{2}:\d{2}", text):
            text += ":00"
        if re.fullmatch(r"\d{2}:\d{2}:\d{2}(\.\d+)?", text):
            text += self.default_offset
        return text

    def display(self, value: Any, prop: Mapping[str, Any], lang: str = "zh-CN",
                label: LabelLookup | None = None) -> str:
        return value[:5] if isinstance(value, str) and re.match(r"\d{2}:\d{2}", value) else \
            super().display(value, prop, lang, label)


# --------------------------------------------------------------------------- dates


def parse_date(text: Any) -> dt.date | None:
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def parse_datetime(text: Any) -> dt.datetime | None:
    """An RFC 3339 date-time (offset required), else ``None``."""
    if not isinstance(text, str) or not _RFC3339.fullmatch(text):
        return None
    try:
        return dt.datetime.fromisoformat(text.upper().replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        return None


# --------------------------------------------------------------------------- registry

_PLAIN = {"text", "integer", "number", "boolean", "enum", "multiselect", "object", "group", "list", "date",
          "datetime", "password", "time"}


class UnknownFieldType(ConfigError):
    code = "unknown_field_type"


class FieldTypes:
    """The field types of one app; plugins add theirs with :meth:`register`."""

    def __init__(self, types: Iterable[FieldType] = ()) -> None:
        self._types: dict[str, FieldType] = {}
        for t in types:
            self.register(t)

    @classmethod
    def default(cls, *, geo_bounds: GeoBounds | None = None) -> "FieldTypes":
        """Every built-in type; ``geo_bounds`` replaces the mainland-China default range."""
        return cls([TextType(), TextareaType(), NumberType(), IntegerType(), MoneyType(), BooleanType(),
                    DateType(), DatetimeType(), EnumType(), MultiSelectType(), DictionaryType(), OrgType(),
                    PersonType(), RegionType(), GeoPointType(geo_bounds), FileType(), ImageType(),
                    ObjectType(), GroupType(), ListType(), ComputedType(), PhoneType(), IdcardType(),
                    PasswordType(), TimeType()])

    def register(self, field_type: FieldType, *, replace: bool = False) -> None:
        """Add a type; a second type of the same name is refused unless ``replace``."""
        name = getattr(field_type, "name", "")
        if not isinstance(field_type, FieldType) or not isinstance(name, str) or not re.fullmatch(
                r"[a-z][a-z0-9_.-]{0,63}", name):
            raise UnknownFieldType(f"字段类型无效：{field_type!r}", f"invalid field type: {field_type!r}")
        if name in self._types and not replace:
            raise UnknownFieldType(f"字段类型重复：{name}", f"duplicate field type: {name}")
        self._types[name] = field_type

    def get(self, name: str) -> FieldType:
        try:
            return self._types[name]
        except KeyError:
            raise UnknownFieldType(f"未知的字段类型：{name}", f"unknown field type: {name}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._types.values())

    def names(self) -> list[str]:
        return list(self._types)

    def resolve(self, prop: Any) -> FieldType:
        """The field type of a property schema: ``x-ccms-type`` first, else from type/format/enum."""
        if not isinstance(prop, Mapping):
            return self._types["text"]
        explicit = prop.get("x-ccms-type")
        if isinstance(explicit, str):
            return self.get(explicit)
        if "enum" in prop or any(isinstance(prop.get(k), list) and prop[k] and all(
                isinstance(o, Mapping) and "const" in o for o in prop[k]) for k in ("oneOf", "anyOf")):
            return self._types["enum"]
        if "const" in prop:
            return self._types["enum"]
        for key in ("oneOf", "anyOf"):  # variants: object schemas (often $ref) to choose from
            branches = prop.get(key)
            if isinstance(branches, list) and branches and all(isinstance(b, Mapping) for b in branches) and any(
                    b.get("type") == "object" or "properties" in b or "$ref" in b for b in branches) \
                    and prop.get("type") in (None, "object"):
                return self._types["object"]
        t = prop.get("type")
        if isinstance(t, list):
            t = next((x for x in t if x != "null"), None)
        if t == "array":
            items = prop.get("items")
            if isinstance(items, Mapping):
                if items.get("type") == "object" or "properties" in items:
                    return self._types["group"]
                item_type = self.resolve(items).name
                if item_type == "enum":
                    return self._types["multiselect"]
                if item_type == "object":  # rows of variants (oneOf of objects)
                    return self._types["group"]
                return self._types["list"]
            return self._types["list"] if items is None else self._types["group"]
        if t == "object" or "properties" in prop:
            return self._types["object"]
        if t == "integer":
            return self._types["integer"]
        if t == "number":
            return self._types["number"]
        if t == "boolean":
            return self._types["boolean"]
        fmt = prop.get("format")
        if fmt == "date":
            return self._types["date"]
        if fmt == "date-time":
            return self._types["datetime"]
        if fmt in ("phone", "idcard", "password", "time") and fmt in self._types:
            return self._types[fmt]
        if fmt == "textarea":
            return self._types["textarea"]
        return self._types["text"]
