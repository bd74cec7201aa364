"""Record validation for configurable forms: one compiled validator per definition version.

:class:`RecordValidator` compiles a definition's data schema once (jsonschema's
``Draft202012Validator`` with a format checker that also knows ``phone``,
``idcard`` and a strict RFC 3339 ``date-time``), plus a small plan of the
checks JSON Schema cannot express (money decimals, geo ranges, attachment
limits, region codes) and of the references that must exist (orgs, people,
dictionary codes — looked up in one batch per kind through caller-given
callbacks). It then answers:

* :meth:`RecordValidator.validate` — ``{field path: {"message", "message_en"}}``,
  empty when valid. Paths read ``address.city`` and ``items[2].qty``; ``_``
  is the record itself. It never raises on any data;
* :meth:`RecordValidator.coerce_post` — a form post (strings, repeated names,
  ``items[0].qty`` names) into JSON values plus field errors;
* :meth:`RecordValidator.compute` — computed fields evaluated, submitted
  values for them dropped;
* :meth:`RecordValidator.clean` / :meth:`RecordValidator.from_post` — the
  three together, as a save does them.

Text is never altered: HTML typed into a field is stored as typed and the
renderer escapes it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from ccms.errors import ConfigError
from ccms.forms import compose
from ccms.forms.expr import Expr, ExprError, compile_expr
from ccms.forms.fields import (
    ABSENT,
    CoerceError,
    FieldType,
    FieldTypes,
    Msg,
    idcard_problem,
    localize,
    msg,
    parse_date,
    parse_datetime,
    phone_ok,
)
from jsonschema.exceptions import SchemaError, ValidationError, best_match

log = logging.getLogger(__name__)

FieldErrors = dict[str, Msg]
#: ``lookup(scope, values) -> the values that exist``; scope is a dictionary's code or ``None``.
Lookup = Callable[["str | None", frozenset], Collection[Any]]
Path = tuple[Any, ...]  # keys and row indexes; "*" stands for every row in a plan entry

_POST_TREE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("ccms_post_tree", default=None)
MAX_ROWS = 1000  # rows of a repeating group accepted from one form post


def variant_input(path: Iterable[Any], k: int) -> str:
    """The form input naming the variant picked for chooser ``k`` of the object at ``path``."""
    where = "~".join(str(p) for p in path) or "_"  # no "." nor "[": the post's name parser splits on them
    return f"_variant:{where}:{k}"


def kv_input(path: Iterable[Any]) -> str:
    """The form inputs of the key/value editor of the object at ``path`` (``<name>[i].k`` / ``.v``)."""
    where = "~".join(str(p) for p in path) or "_"
    return f"_kv:{where}"


def kv_schema(node: Mapping[str, Any], key: str) -> Any:
    """The schema a free key's value must meet: the first matching patternProperties entry,
    else additionalProperties (``True`` when the object allows anything)."""
    for pattern, sub in (node.get("patternProperties") or {}).items():
        if _search(pattern, key):
            return sub
    ap = node.get("additionalProperties", True)
    return ap


def has_kv(node: Any) -> bool:
    """Does the object take free keys through a key/value editor (a schema for additional or
    pattern properties)?"""
    return isinstance(node, Mapping) and (isinstance(node.get("additionalProperties"), Mapping)
                                          or bool(node.get("patternProperties")))


def _used_formats(node: Any, out: set[str]) -> set[str]:
    if isinstance(node, Mapping):
        if isinstance(node.get("format"), str):
            out.add(node["format"])
        for v in node.values():
            _used_formats(v, out)
    elif isinstance(node, list):
        for v in node:
            _used_formats(v, out)
    return out


def _fast_validator(schema: Mapping[str, Any], fc: jsonschema.FormatChecker) -> Any:
    """jsonschema-rs for the same schema (``None`` when unavailable or it cannot compile it).
    Every format the schema uses is decided by the same Python checker as jsonschema's
    (so both agree on formats: our phone/idcard, and formats jsonschema does not check)."""
    try:
        import jsonschema_rs  # lazy: optional accelerator; jsonschema alone when it is missing
    except ImportError:
        return None

    def check(name: str) -> Callable[[Any], bool]:
        return lambda v: fc.conforms(v, name)

    try:
        return jsonschema_rs.Draft202012Validator(
            dict(schema), formats={f: check(f) for f in _used_formats(schema, set())}, validate_formats=True)
    except Exception:  # a schema jsonschema-rs refuses: jsonschema alone validates it
        return None


class InvalidSchema(ConfigError):
    code = "invalid_schema"


class _FormatProblem(Exception):
    def __init__(self, m: Msg) -> None:
        super().__init__(m["message_en"])
        self.msg = m


def format_checker() -> jsonschema.FormatChecker:
    """jsonschema's draft 2020-12 formats plus ours; a new checker per call (no shared state)."""
    fc = jsonschema.FormatChecker(formats=())
    fc.checkers = dict(jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers)

    def _str_or(check: Callable[[str], bool]) -> Callable[[Any], bool]:
        return lambda v: not isinstance(v, str) or check(v)

    fc.checks("date")(_str_or(lambda v: parse_date(v) is not None))
    fc.checks("date-time")(_str_or(lambda v: parse_datetime(v) is not None))
    fc.checks("phone")(_str_or(phone_ok))

    @fc.checks("idcard", raises=_FormatProblem)
    def _idcard(v: Any) -> bool:
        if not isinstance(v, str):
            return True
        problem = idcard_problem(v)
        if problem:
            raise _FormatProblem(problem)
        return True

    return fc


# --------------------------------------------------------------------------- messages

_TYPE_ZH = {"integer": "整数", "number": "数字", "string": "文本", "boolean": "是或否", "array": "列表",
            "object": "对象", "null": "空值"}
_FORMAT_MSG = {
    "date": ("日期格式应为 YYYY-MM-DD", "date must be YYYY-MM-DD"),
    "date-time": ("日期时间格式应为 YYYY-MM-DDTHH:MM:SS+08:00", "date and time must be RFC 3339, e.g. "
                  "2024-05-01T09:30:00+08:00"),
    "time": ("时间格式应为 HH:MM:SS", "time must be HH:MM:SS"),
    "email": ("电子邮箱格式不正确", "not a valid email address"),
    "idn-email": ("电子邮箱格式不正确", "not a valid email address"),
    "phone": ("电话号码格式不正确（手机号11位，座机号需带区号）",
              "not a valid phone number (11-digit mobile, or landline with area code)"),
    "idcard": ("身份证号码格式不正确", "not a valid citizen ID number"),
    "ipv4": ("IPv4 地址格式不正确", "not a valid IPv4 address"),
    "ipv6": ("IPv6 地址格式不正确", "not a valid IPv6 address"),
    "uuid": ("UUID 格式不正确", "not a valid UUID"),
    "regex": ("正则表达式无效", "not a valid regular expression"),
}
_PRIORITY = {"type": 0, "required": 1, "const": 2, "enum": 2, "format": 3}


def _short(v: Any) -> str:
    text = str(v)
    return text if len(text) <= 40 else text[:37] + "…"


def error_message(err: ValidationError) -> Msg:
    """A zh + en message for one jsonschema error (custom ones from ``x-ccms-messages`` first)."""
    kind, v = err.validator, err.validator_value
    custom = err.schema.get("x-ccms-messages") if isinstance(err.schema, Mapping) else None
    if isinstance(custom, Mapping) and kind in custom:
        c = custom[kind]
        return msg(localize(c, "zh-CN"), localize(c, "en"))
    if kind == "type":
        types = v if isinstance(v, list) else [v]
        return msg(f"应为{'或'.join(_TYPE_ZH.get(t, str(t)) for t in types)}",
                   f"must be of type {' or '.join(map(str, types))}")
    if kind == "required":
        return msg("必填项", "required")
    if kind == "minLength":
        return msg("必填项", "required") if v == 1 else msg(f"至少需要{v}个字符", f"at least {v} characters")
    if kind == "maxLength":
        return msg(f"最多允许{v}个字符", f"at most {v} characters")
    if kind == "pattern":
        return msg("格式不正确", f"does not match the pattern {_short(v)}")
    if kind == "format":
        if isinstance(err.cause, _FormatProblem):
            return dict(err.cause.msg)
        zh, en = _FORMAT_MSG.get(v, (f"格式不正确（应为 {v}）", f"is not a valid {v}"))
        return msg(zh, en)
    if kind in ("enum", "const"):
        return msg("不是允许的取值", "is not one of the allowed values")
    if kind == "minimum":
        return msg(f"不能小于{v}", f"must be at least {v}")
    if kind == "maximum":
        return msg(f"不能大于{v}", f"must be at most {v}")
    if kind == "exclusiveMinimum":
        return msg(f"必须大于{v}", f"must be greater than {v}")
    if kind == "exclusiveMaximum":
        return msg(f"必须小于{v}", f"must be less than {v}")
    if kind == "multipleOf":
        return msg(f"必须是{v}的倍数", f"must be a multiple of {v}")
    if kind == "minItems":
        return msg(f"至少需要{v}项", f"at least {v} items")
    if kind == "maxItems":
        return msg(f"最多允许{v}项", f"at most {v} items")
    if kind == "uniqueItems":
        return msg("不能有重复项", "items must be unique")
    if kind in ("additionalProperties", "unevaluatedProperties"):
        return msg("不允许的字段", "unknown field")
    if kind in ("items", "prefixItems", "unevaluatedItems"):
        return msg("不允许多余的项", "too many items")
    if kind == "contains" or kind == "minContains":
        return msg("缺少符合要求的项", "no item meets the requirement")
    if kind == "maxContains":
        return msg("符合条件的项过多", "too many items meet the condition")
    if kind == "minProperties":
        return msg(f"至少需要{v}项内容", f"at least {v} entries")
    if kind == "maxProperties":
        return msg(f"最多允许{v}项内容", f"at most {v} entries")
    if kind == "propertyNames":
        return msg("字段名不符合要求", "a field name is not allowed")
    if kind in ("dependentRequired", "dependencies"):
        return msg("必填项", "required")
    if kind == "oneOf":
        return msg("只能符合一种情况", "must match exactly one option")
    if kind in ("anyOf", "allOf"):
        return msg("不符合要求", "does not meet the requirements")
    if kind == "not":
        return msg("不允许的取值", "value not allowed")
    if kind == "false":
        return msg("不允许的字段", "not allowed here")
    return msg("输入无效", f"invalid ({kind})")


def format_path(path: Iterable[Any]) -> str:
    """``("items", 2, "qty")`` -> ``items[2].qty``; the empty path is ``_``."""
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out or "_"


def _enum_like(schema: Any) -> bool:
    return isinstance(schema, list) and bool(schema) and all(isinstance(s, Mapping) and "const" in s
                                                             for s in schema)


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class FieldSpec:
    """One field of the definition, found by walking properties and items."""

    path: Path  # "*" for every row of a repeating group
    prop: Mapping[str, Any]
    type: FieldType


@dataclass(frozen=True)
class _Computed:
    group: Path | None  # rows of this group, or None for the record itself
    name: str
    expr: Expr
    decimals: int | None


class RecordValidator:
    """Compile once per definition version; validate, coerce and compute many times."""

    def __init__(self, schema: Mapping[str, Any], field_types: FieldTypes, *,
                 lookups: Mapping[str, Lookup] | None = None) -> None:
        if not isinstance(schema, Mapping):
            raise InvalidSchema("表单数据结构应为 JSON 对象", "the form's data schema must be a JSON object")
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            where = "/".join(map(str, exc.absolute_path)) or "/"
            raise InvalidSchema(f"表单数据结构无效（{where}）：{exc.message}",
                                f"invalid form data schema at {where}: {exc.message}") from None
        self.source_schema = schema
        schema = compose.normalize(schema)  # draft-07 "dependencies" as its 2020-12 keywords
        self.schema = schema
        self.types = field_types
        self.lookups = dict(lookups or {})
        self._parts_cache: dict[int, tuple[Any, list[compose.Part], list[Any]]] = {}
        fc = format_checker()
        self._validator = jsonschema.Draft202012Validator(schema, format_checker=fc)
        self._fast = _fast_validator(schema, fc)
        self.fields: list[FieldSpec] = []
        self._walk(schema, (), set())
        self._checks = [f for f in self.fields if type(f.type).check is not FieldType.check]
        self._refs = [f for f in self.fields if f.type.reference]
        self._computed = self._compile_computed()
        self._conditional = compose._has_key(schema, "if") or compose._has_key(schema, "dependentSchemas") \
            or compose._has_key(schema, "oneOf") or compose._has_key(schema, "anyOf")

    # -- compile

    def _deref(self, node: Any, seen: set[str]) -> tuple[Any, set[str]]:
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#"):
            ref = node["$ref"]
            if ref in seen:
                return {}, seen  # a cycle: jsonschema follows it lazily, the plan stops here
            seen = seen | {ref}
            target: Any = self.schema
            for part in ref[1:].split("/")[1:]:
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part) if isinstance(target, Mapping) else None
            node = target if isinstance(target, Mapping) else {}
        return node, seen

    def _props(self, node: Any) -> list[tuple[str, Any]]:
        """Fields of an object schema: properties, allOf branches, conditional and variant fields."""
        return [(p.name, p.prop) for p in compose.object_parts(node, self.schema)]

    def _walk(self, node: Any, path: Path, seen: set[str]) -> None:
        node, seen = self._deref(node, seen)
        if not isinstance(node, Mapping) or len(path) > 32:
            return
        for name, prop in self._props(node):
            prop, sub_seen = self._deref(prop, seen)
            if not isinstance(prop, Mapping):
                continue
            ft = self.types.resolve(prop)  # an unknown x-ccms-type stops compilation here
            self.fields.append(FieldSpec(path + (name,), prop, ft))
            if ft.name == "object":
                self._walk(prop, path + (name,), sub_seen)
            elif ft.json_type == "array" and isinstance(prop.get("items"), Mapping):
                items, item_seen = self._deref(prop["items"], sub_seen)
                if ft.name == "group":
                    self._walk(items, path + (name, "*"), item_seen)
                elif ft.name not in ("multiselect", "file", "image") and isinstance(items, Mapping) and items:
                    item_type = self.types.resolve(items)
                    if item_type.name not in ("group", "object"):
                        self.fields.append(FieldSpec(path + (name, "*"), items, item_type))

    def _compile_computed(self) -> list[_Computed]:
        by_parent: dict[Path, list[FieldSpec]] = {}
        for f in self.fields:
            by_parent.setdefault(f.path[:-1], []).append(f)
        out: list[_Computed] = []
        for f in self.fields:
            if not f.type.readonly:
                continue
            parent = f.path[:-1]
            if parent and parent[-1] != "*" or len(parent) > 2:
                raise InvalidSchema(f"计算字段 {format_path(f.path)} 只能位于表单顶层或重复表格的行内",
                                    f"computed field {format_path(f.path)} must be top-level or in a "
                                    "repeating group's rows")
            siblings = {s.path[-1]: s for s in by_parent.get(parent, [])}
            names: dict[str, Any] = {}
            for n, s in siblings.items():
                if n == f.path[-1]:
                    continue
                subs = [c.path[-1] for c in by_parent.get(s.path + ("*",), [])]
                names[n] = subs if s.type.name == "group" else None
            if parent:  # a row may also use the record's top-level fields
                for s in by_parent.get((), []):
                    names.setdefault(s.path[-1], None)
            try:
                expr = compile_expr(f.prop.get("x-ccms-expr"), names)
            except ExprError as exc:
                raise InvalidSchema(f"计算字段 {format_path(f.path)}：{exc.zh}",
                                    f"computed field {format_path(f.path)}: {exc.en}") from None
            dec = f.prop.get("x-ccms-decimals")
            out.append(_Computed(parent[:-1] if parent else None, f.path[-1], expr,
                                 dec if isinstance(dec, int) and not isinstance(dec, bool) else None))
        return sorted(out, key=lambda c: c.group is None)  # rows first, so totals can sum them

    # -- validate

    def validate(self, data: Any) -> FieldErrors:
        """Field errors of ``data`` (empty when valid); first error per field. Never raises."""
        try:
            errors = self._schema_errors(data)
            if self._checks or self._refs:
                self._extra_errors(data, errors)
            return errors
        except RecursionError:
            return {"_": msg("数据嵌套过深", "data nested too deeply")}
        except Exception:  # a bug must not become a 500 on a user's save
            log.exception("record validation failed")
            return {"_": msg("无法校验输入，请检查后重试", "the input could not be validated")}

    def is_valid(self, data: Any) -> bool:
        return not self.validate(data)

    def _schema_errors(self, data: Any) -> FieldErrors:
        errors: FieldErrors = {}
        if self._fast is not None:
            try:
                if self._fast.is_valid(data):
                    return errors  # jsonschema-rs: the common, valid case without Python's walk
            except Exception:  # data jsonschema-rs cannot take (huge ints...): jsonschema decides
                pass
        found = list(self._validator.iter_errors(data))
        if not found:
            return errors
        found.sort(key=lambda e: _PRIORITY.get(str(e.validator), 5))
        for err in found:
            if err.validator in ("oneOf", "anyOf") and err.context and not _enum_like(err.validator_value):
                err = best_match(err.context)
            if err.validator in ("oneOf", "anyOf") and _enum_like(err.validator_value):
                m = msg("不是允许的取值", "is not one of the allowed values")
            else:
                m = error_message(err)
            base = tuple(err.absolute_path)
            instance = err.instance
            if err.validator == "required" and isinstance(instance, Mapping):
                names = [n for n in err.validator_value if n not in instance] or [None]
            elif err.validator == "dependentRequired" and isinstance(instance, Mapping):
                names = [n for deps in err.validator_value.values() for n in deps if n not in instance] or [None]
            elif err.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(instance, Mapping):
                known = set((err.schema.get("properties") or {}) if isinstance(err.schema, Mapping) else ())
                pats = [p for p in (err.schema.get("patternProperties") or {})] if isinstance(
                    err.schema, Mapping) else []
                names = [k for k in instance if k not in known and not any(_search(p, k) for p in pats)] or [None]
            else:
                names = [None]
            for n in names:
                errors.setdefault(format_path(base + ((n,) if n is not None else ())), m)
        return errors

    def _extra_errors(self, data: Any, errors: FieldErrors) -> None:
        for spec in self._checks:
            check, prop = spec.type.check, spec.prop
            if len(spec.path) == 1:  # top-level field: the common case, no path walking
                if not isinstance(data, Mapping) or spec.path[0] not in data:
                    continue
                found: Iterable[tuple[Path, Any]] = ((spec.path, data[spec.path[0]]),)
            else:
                found = _values_at(data, spec.path)
            for path, value in found:
                problem = check(value, prop)
                if problem:
                    key = format_path(path)
                    if key not in errors and not _under_error(key, errors):
                        errors[key] = problem
        wanted: dict[tuple[str, str | None], list[tuple[str, Any, FieldType]]] = {}
        for spec in self._refs:
            lookup_name = spec.type.reference
            if lookup_name not in self.lookups:
                continue
            scope = spec.type.reference_scope(spec.prop)
            for path, value in _values_at(data, spec.path):
                key = format_path(path)
                if key in errors:
                    continue
                for v in spec.type.reference_values(value):
                    if v is not None and isinstance(v, (str, int)) and not isinstance(v, bool):
                        wanted.setdefault((lookup_name, scope), []).append((key, v, spec.type))
        for (lookup_name, scope), items in wanted.items():
            existing = set(self.lookups[lookup_name](scope, frozenset(v for _, v, _ in items)))
            for key, v, ft in items:
                if v not in existing:
                    errors.setdefault(key, msg(f"所选{ft.label[0]}不存在或已停用",
                                               f"the selected {ft.label[1].lower()} does not exist"))

    # -- computed fields

    def compute(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``data`` with computed fields evaluated (submitted values for them dropped).

        A computed field whose expression cannot be evaluated (an operand left
        empty, a division by zero) is left out rather than failing the save.
        """
        if not isinstance(data, Mapping):
            return data  # type: ignore[return-value]
        out = dict(data)
        for c in self._computed:
            if c.group is None:
                out.pop(c.name, None)
                self._eval_into(c, out, out)
                continue
            rows = _get(out, c.group)
            if not isinstance(rows, list):
                continue
            new_rows = []
            for row in rows:
                if isinstance(row, Mapping):
                    row = dict(row)
                    row.pop(c.name, None)
                    self._eval_into(c, row, {**out, **row})
                new_rows.append(row)
            _set(out, c.group, new_rows)
        return out

    @staticmethod
    def _eval_into(c: _Computed, target: dict[str, Any], names: Mapping[str, Any]) -> None:
        try:
            value = c.expr.evaluate(names)
        except ExprError:
            return
        if isinstance(value, float) and c.decimals is not None:
            value = round(value, c.decimals)
        if value is not None:
            target[c.name] = value

    def clean(self, data: Any) -> tuple[Any, FieldErrors]:
        """Computed fields filled in, then validated: what a JSON API save does."""
        data = self.prune(self.compute(data)) if isinstance(data, Mapping) else data
        return data, self.validate(data)

    def prune(self, data: Any, chosen: Mapping[int, int] | None = None) -> Any:
        """``data`` without values of conditional fields whose condition does not hold
        (``if``/``then``/``else``, ``dependentSchemas``): they are dropped, never stored
        unvalidated. See :mod:`ccms.forms.compose`."""
        return compose.prune(self.schema, data, chosen) if self._conditional else data

    # -- form posts

    def coerce_post(self, form: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> tuple[dict[str, Any], FieldErrors]:
        """Form strings to JSON values. ``form`` maps names to a string or a list of strings
        (repeated names), or is a sequence of ``(name, value)`` pairs (Starlette's ``multi_items()``).

        Names follow the data paths: ``address.city``, ``items[0].qty``, ``loc.lng``. Names the
        schema does not know (``csrf_token``, ``version``) are ignored; empty inputs are left out.
        """
        errors: FieldErrors = {}
        try:
            tree = _tree(form)
            token = _POST_TREE.set(tree)  # variant choices, read per object (validators are shared)
            try:
                return self._coerce_object(self.schema, tree, (), errors, set()), errors
            finally:
                _POST_TREE.reset(token)
        except RecursionError:
            return {}, {"_": msg("数据嵌套过深", "data nested too deeply")}

    def from_post(self, form: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> tuple[dict[str, Any], FieldErrors]:
        """Coerce, compute and validate a form post; coercion errors win over schema errors."""
        data, errors = self.coerce_post(form)
        data, schema_errors = self.clean(data)
        for k, v in schema_errors.items():
            if k not in errors and not _under_error(k, errors):
                errors[k] = v
        return data, errors

    def _coerce_object(self, node: Any, tree: Any, path: Path, errors: FieldErrors,
                       seen: set[str]) -> dict[str, Any]:
        node, seen = self._deref(node, seen)
        out: dict[str, Any] = {}
        if not isinstance(node, Mapping) or not isinstance(tree, dict) or len(path) > 32:
            return out
        chosen = self._chosen(node, path)
        for part in self._parts(node):
            name, prop = part.name, part.prop
            if any(c.kind == "variant" and c.owner in chosen and chosen[c.owner] != c.index for c in part.conds):
                continue  # a variant the user did not pick: its inputs are not read
            prop, sub_seen = self._deref(prop, seen)
            if not isinstance(prop, Mapping):
                continue
            ft = self.types.resolve(prop)
            raw = tree.get(name, _MISSING)
            here = path + (name,)
            if ft.readonly:
                continue
            if raw is _MISSING:
                if ft.name == "boolean" and not part.conds:
                    out[name] = False  # an unchecked checkbox is not posted
                continue
            try:
                value = self._coerce_value(ft, prop, raw, here, errors, sub_seen)
            except CoerceError as exc:
                errors[format_path(here)] = exc.as_msg()
                continue
            if value is not ABSENT:
                out[name] = value
        if has_kv(node):
            self._coerce_kv(node, path, out, errors)
        return out

    def _coerce_kv(self, node: Mapping[str, Any], path: Path, out: dict[str, Any], errors: FieldErrors) -> None:
        """Rows of the key/value editor: a key, and a value typed by the schema its key falls under
        (text for a scalar type, JSON text for anything else)."""
        tree = _POST_TREE.get() or {}
        known = {p.name for p in self._parts(node)}
        for i, row in _index_items(tree.get(kv_input(path)) or {}) if isinstance(
                tree.get(kv_input(path)), dict) else []:
            if not isinstance(row, dict):
                continue
            key = str(_leaf_text(row.get("k")) or "").strip()
            text = str(_leaf_text(row.get("v")) or "")
            if key == "":
                continue
            here = format_path(path + (key,))
            if key in known or key in out:
                errors[f"{kv_input(path)}[{i}].k"] = msg("字段名重复", "duplicate field name")
                continue
            sub = compose.deref(kv_schema(node, key), self.schema)
            ft = self.types.resolve(sub) if isinstance(sub, Mapping) else None
            try:
                if ft is not None and ft.json_type in ("string", "integer", "number", "boolean") \
                        and ft.name not in ("object", "group"):
                    value = ft.coerce([text], sub)
                    if value is ABSENT:
                        value = "" if ft.json_type == "string" else ABSENT
                else:
                    value = ABSENT if text.strip() == "" else _json_value(text)
            except CoerceError as exc:
                errors[here] = exc.as_msg()
                continue
            if value is not ABSENT:
                out[key] = value

    def _parts(self, node: Mapping[str, Any]) -> list[compose.Part]:
        """compose.object_parts, remembered per schema node (a bulk import coerces many rows)."""
        hit = self._parts_cache.get(id(node))
        if hit is None or hit[0] is not node:
            hit = (node, compose.object_parts(node, self.schema), compose.variant_groups(node, self.schema))
            if len(self._parts_cache) < 4096:
                self._parts_cache[id(node)] = hit  # the node is kept alive with it: its id stays its own
        return hit[1]

    def _chosen(self, node: Mapping[str, Any], path: Path) -> dict[int, int]:
        """The variants picked in a form post (``_variant:<path>:<k>`` = index), by chooser."""
        self._parts(node)
        groups = self._parts_cache.get(id(node), (None, None, compose.variant_groups(node, self.schema)))[2]
        if not groups:
            return {}
        tree = _POST_TREE.get() or {}
        out = {}
        for k, (_key, branches) in enumerate(groups):
            raw = _leaf_text(tree.get(variant_input(path, k)))
            if isinstance(raw, str) and raw.isdigit() and int(raw) < len(branches):
                out[id(branches)] = int(raw)
        return out

    def _coerce_value(self, ft: FieldType, prop: Mapping[str, Any], raw: Any, here: Path,
                      errors: FieldErrors, seen: set[str]) -> Any:
        if ft.name == "object":
            if not isinstance(raw, dict):
                raise CoerceError("输入无效", "invalid input")
            sub = self._coerce_object(prop, raw, here, errors, seen)
            return sub if sub else ABSENT
        if ft.name == "group":
            items, item_seen = self._deref(prop.get("items"), seen)
            rows = _rows(raw)
            out = []
            for row in rows:
                coerced = self._coerce_object(items, row, here + (len(out),), errors, item_seen) \
                    if isinstance(row, dict) else {}
                if coerced or isinstance(row, dict) and any(_filled(v) for v in row.values()):
                    out.append(coerced)
            return out if out else ABSENT
        if isinstance(raw, dict) and ft.json_type == "array":  # tags[0], tags[1]
            raw = [_leaf_text(v) for _, v in sorted(_index_items(raw))]
        elif isinstance(raw, dict) and ft.json_type != "object":
            raise CoerceError("输入无效", "invalid input")
        if ft.json_type == "array" and ft.name not in ("multiselect", "file", "image"):
            items, _ = self._deref(prop.get("items"), seen)
            item_type = self.types.resolve(items) if isinstance(items, Mapping) and items else None
            values = raw if isinstance(raw, list) else [raw]
            if item_type is None or item_type.name in ("group", "object"):
                return ABSENT
            out = []
            for v in values:
                c = item_type.coerce(v, items)
                if c is not ABSENT:
                    out.append(c)
            return out if out else ABSENT
        return ft.coerce(raw, prop)


# --------------------------------------------------------------------------- helpers

_MISSING = object()
_KEY_RE = re.compile(r"([^.\[\]]+)|\[(\d{1,6})\]")


def _search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def _parse_key(key: str) -> list[Any] | None:
    parts: list[Any] = []
    pos = 0
    for m in _KEY_RE.finditer(key):
        if m.start() != pos and key[pos:m.start()] != ".":
            return None
        pos = m.end()
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    if pos != len(key) or not parts or isinstance(parts[0], int):
        return None
    return parts


def _tree(form: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """``{"items[0].qty": "2"}`` -> ``{"items": {0: {"qty": ["2"]}}}``; leaves are lists of strings."""
    pairs: Iterable[tuple[Any, Any]] = form.items() if isinstance(form, Mapping) else form
    root: dict[Any, Any] = {}
    for key, value in pairs:
        if not isinstance(key, str) or len(key) > 200:
            continue
        parts = _parse_key(key)
        if parts is None:
            continue
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        node: dict[Any, Any] = root
        for p in parts[:-1]:
            nxt = node.get(p)
            if not isinstance(nxt, dict):  # a value posted under a parent's name gives way to the parent
                nxt = {}
                node[p] = nxt
            node = nxt
        last = parts[-1]
        if isinstance(node.get(last), dict):
            continue
        node.setdefault(last, []).extend(v if isinstance(v, str) else ("" if v is None else str(v))
                                         for v in values)
    return root


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CoerceError("JSON 格式错误", f"not valid JSON ({exc})") from None


def _index_items(raw: Mapping[Any, Any]) -> list[tuple[int, Any]]:
    return [(k, v) for k, v in raw.items() if isinstance(k, int)]


def _rows(raw: Any) -> list[Any]:
    """Rows of a repeating group in index order, gaps (deleted rows) closed, at most MAX_ROWS."""
    if not isinstance(raw, dict):
        return []
    return [dict(v) if isinstance(v, dict) else v for _, v in sorted(_index_items(raw))][:MAX_ROWS]


def _leaf_text(v: Any) -> Any:
    return v[-1] if isinstance(v, list) and v else ("" if isinstance(v, list) else v)


def _filled(v: Any) -> bool:
    if isinstance(v, list):
        return any(x not in ("", None) for x in v)
    if isinstance(v, dict):
        return any(_filled(x) for x in v.values())
    return v not in ("", None)


def _values_at(data: Any, path: Path, prefix: Path = ()) -> Iterable[tuple[Path, Any]]:
    """Every (concrete path, value) matching ``path`` ("*" = every row)."""
    if not path:
        yield prefix, data
        return
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(data, list):
            for i, row in enumerate(data):
                yield from _values_at(row, rest, prefix + (i,))
    elif isinstance(data, Mapping) and head in data:
        yield from _values_at(data[head], rest, prefix + (head,))


def _under_error(key: str, errors: FieldErrors) -> bool:
    """Is ``key`` inside a field that already has an error (``items`` for ``items[1].qty``)?"""
    if "_" in errors:
        return True
    for cut in (m.start() for m in re.finditer(r"[.\[]", key)):
        if key[:cut] in errors:
            return True
    return False


def _get(data: Any, path: Path) -> Any:
    for p in path:
        data = data.get(p) if isinstance(data, Mapping) else None
    return data


def _set(data: dict[str, Any], path: Path, value: Any) -> None:
    for p in path[:-1]:
        data = data[p]
    data[path[-1]] = value
