"""JSON Schema (draft 2020-12) to HTML form fields, and back.

The seed of the form engine: settings screens use it today, configurable
forms will grow from it. Three steps, each usable alone:

* :func:`form_fields` turns an object schema plus current values (and field
  errors) into :class:`FormField` descriptions that the ``_jsonform.html``
  macro renders;
* :func:`coerce_form` turns submitted form strings back into typed JSON
  values (integers, numbers, booleans, enum members), collecting field errors
  for what cannot be converted, so the user's input is kept and shown again;
* :func:`validate` checks a value against the schema and maps every error to
  its field with a Chinese and an English message.

Supported property types: string (``maxLength``, ``minLength``, ``pattern``,
``format`` email/uri/date), integer and number (``minimum``, ``maximum``,
exclusive bounds, ``multipleOf``), boolean, ``enum`` (a select; labels from
``x-enumNames``), arrays of enum members (checkboxes). Anything else is edited
as JSON text. ``title`` and ``description`` may be plain text or
``{"zh-CN": ..., "en": ...}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import jsonschema

Localize = Callable[[Any], str]
FieldErrors = dict[str, dict[str, str]]

_INPUT_TYPES = {"email": "email", "uri": "url", "date": "date", "date-time": "datetime-local", "time": "time"}


@dataclass
class FormField:
    """Everything a template needs to render one input."""

    name: str
    label: str
    widget: str  # text | textarea | number | checkbox | select | checkboxes | json
    value: Any = ""
    help: str = ""
    required: bool = False
    input_type: str = "text"
    options: list[tuple[str, str]] = field(default_factory=list)
    selected: list[str] = field(default_factory=list)  # for checkboxes
    attrs: dict[str, Any] = field(default_factory=dict)
    error: dict[str, str] | None = None


def _plain(value: Any) -> str:
    return "" if value is None else str(value)


def _kind(prop: Mapping[str, Any]) -> str:
    """The widget family of a property schema."""
    t = prop.get("type")
    if isinstance(t, list):  # ["string", "null"] and the like
        t = next((x for x in t if x != "null"), None)
    if "enum" in prop:
        return "select"
    if t == "array" and isinstance(prop.get("items"), Mapping) and "enum" in prop["items"]:
        return "checkboxes"
    if t == "boolean":
        return "checkbox"
    if t in ("integer", "number"):
        return t
    if t == "string":
        return "textarea" if prop.get("format") == "textarea" or (prop.get("maxLength") or 0) > 200 else "text"
    return "json"


def _enum_options(prop: Mapping[str, Any], localize: Localize) -> list[tuple[str, str]]:
    values = prop.get("enum", [])
    names = prop.get("x-enumNames") or []
    out = []
    for i, v in enumerate(values):
        label = localize(names[i]) if i < len(names) else _plain(v)
        out.append((_json_text(v) if not isinstance(v, str) else v, label))
    return out


def _json_text(v: Any) -> str:
    """The string a form submits for a non-string enum member (``1``, ``true``, ``null``)."""
    return json.dumps(v, ensure_ascii=False)


def properties(schema: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return dict(schema.get("properties") or {})


def defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema's default values (top-level ``default`` first, then each property's)."""
    out: dict[str, Any] = dict(schema.get("default") or {}) if isinstance(schema.get("default"), Mapping) else {}
    for name, prop in properties(schema).items():
        if "default" in prop and name not in out:
            out[name] = prop["default"]
    return out


def form_fields(schema: Mapping[str, Any], values: Mapping[str, Any], errors: FieldErrors | None = None,
                localize: Localize = _plain, raw: Mapping[str, Any] | None = None) -> list[FormField]:
    """Describe the inputs of an object schema, in property order.

    ``values`` are typed JSON values; ``raw`` (submitted form strings, if any)
    wins over them so a refused submission shows exactly what was typed.
    """
    errors = errors or {}
    required = set(schema.get("required") or [])
    out = []
    for name, prop in properties(schema).items():
        kind = _kind(prop)
        f = FormField(name=name, label=localize(prop.get("title")) or name, widget=kind,
                      help=localize(prop.get("description")), required=name in required,
                      error=errors.get(name))
        value = values.get(name)
        typed = raw is None or name not in raw
        if kind == "select":
            f.options = _enum_options(prop, localize)
            if not f.required and prop.get("default") is None:
                f.options.insert(0, ("", "—"))
            f.value = (value if isinstance(value, str) else ("" if value is None else _json_text(value))) \
                if typed else _plain(raw[name])
        elif kind == "checkboxes":
            f.options = _enum_options(prop["items"], localize)
            chosen = (value or []) if typed else raw[name]
            chosen = chosen if isinstance(chosen, list) else [chosen]
            f.selected = [c if isinstance(c, str) else _json_text(c) for c in chosen]
        elif kind == "checkbox":
            f.value = bool(value) if typed else raw[name] not in ("", "0", "false", None)
        elif kind in ("integer", "number"):
            f.widget, f.input_type = "text", "number"
            f.attrs["step"] = "1" if kind == "integer" else (_plain(prop["multipleOf"]) if "multipleOf" in prop else "any")
            for key, attr in (("minimum", "min"), ("maximum", "max")):
                if key in prop:
                    f.attrs[attr] = _plain(prop[key])
            f.attrs["inputmode"] = "numeric" if kind == "integer" else "decimal"
            f.value = _plain(value) if typed else _plain(raw[name])
        elif kind in ("text", "textarea"):
            f.input_type = _INPUT_TYPES.get(prop.get("format", ""), "text")
            if "maxLength" in prop:
                f.attrs["maxlength"] = _plain(prop["maxLength"])
            if prop.get("minLength"):
                f.attrs["minlength"] = _plain(prop["minLength"])
            pattern = prop.get("pattern")
            # HTML anchors its pattern, JSON Schema does not: only copy patterns anchored both ends.
            if kind == "text" and isinstance(pattern, str) and pattern.startswith("^") and pattern.endswith("$"):
                f.attrs["pattern"] = pattern
            f.value = _plain(value) if typed else _plain(raw[name])
        else:
            f.widget = "json"
            f.value = (json.dumps(value, ensure_ascii=False, indent=2) if value is not None else "") \
                if typed else _plain(raw[name])
        out.append(f)
    return out


def coerce_form(schema: Mapping[str, Any], form: Mapping[str, Any]) -> tuple[dict[str, Any], FieldErrors]:
    """Submitted strings to typed values; unconvertible fields become errors (the rest still convert).

    An empty number field is left out so the default applies; an unchecked
    checkbox is ``False`` (browsers do not send it).
    """
    values: dict[str, Any] = {}
    errors: FieldErrors = {}
    required = set(schema.get("required") or [])
    for name, prop in properties(schema).items():
        kind = _kind(prop)
        raw = form.get(name)
        if kind == "checkbox":
            values[name] = raw not in (None, "", "0", "false")
            continue
        if kind == "checkboxes":
            chosen = raw if isinstance(raw, list) else ([] if raw in (None, "") else [raw])
            members = {(_json_text(v) if not isinstance(v, str) else v): v for v in prop["items"].get("enum", [])}
            bad = [c for c in chosen if c not in members]
            if bad:
                errors[name] = _msg("不是允许的取值", "is not one of the allowed values")
            else:
                values[name] = [members[c] for c in chosen]
            continue
        if isinstance(raw, list):
            raw = raw[-1]
        text = "" if raw is None else str(raw)
        if kind == "select":
            members = {(_json_text(v) if not isinstance(v, str) else v): v for v in prop.get("enum", [])}
            if text in members:
                values[name] = members[text]
            elif text == "" and name not in required:
                continue
            else:
                errors[name] = _msg("请从列表中选择", "choose one of the listed values")
        elif kind in ("integer", "number"):
            text = text.strip()
            if text == "":
                if name in required:
                    errors[name] = _msg("必填项", "required")
                continue
            try:
                num: float | int = float(text) if kind == "number" else int(text)
            except ValueError:
                errors[name] = _msg("请输入整数", "enter a whole number") if kind == "integer" \
                    else _msg("请输入数字", "enter a number")
                continue
            if kind == "number" and num != num or num in (float("inf"), float("-inf")):
                errors[name] = _msg("请输入数字", "enter a number")
                continue
            values[name] = num
        elif kind in ("text", "textarea"):
            values[name] = text
        else:
            if text.strip() == "":
                continue
            try:
                values[name] = json.loads(text)
            except json.JSONDecodeError as exc:
                errors[name] = _msg(f"JSON 格式错误（第{exc.lineno}行）", f"not valid JSON (line {exc.lineno})")
    return values, errors


def _msg(zh: str, en: str) -> dict[str, str]:
    return {"message": zh, "message_en": en}


_TYPE_ZH = {"integer": "整数", "number": "数字", "string": "文本", "boolean": "是或否", "array": "列表",
            "object": "对象", "null": "空值"}


def _error_text(err: jsonschema.ValidationError) -> tuple[str, str]:
    v = err.validator_value
    kind = err.validator
    if kind == "type":
        types = v if isinstance(v, list) else [v]
        return (f"应为{'或'.join(_TYPE_ZH.get(t, t) for t in types)}", f"must be of type {' or '.join(types)}")
    if kind == "maxLength":
        return f"最多允许{v}个字符", f"at most {v} characters"
    if kind == "minLength":
        return (("必填项", "required") if v == 1 else (f"至少需要{v}个字符", f"at least {v} characters"))
    if kind == "pattern":
        return "格式不正确", f"does not match the required pattern {v}"
    if kind == "format":
        return f"格式不正确（应为 {v}）", f"is not a valid {v}"
    if kind == "minimum":
        return f"不能小于{v}", f"must be at least {v}"
    if kind == "maximum":
        return f"不能大于{v}", f"must be at most {v}"
    if kind == "exclusiveMinimum":
        return f"必须大于{v}", f"must be greater than {v}"
    if kind == "exclusiveMaximum":
        return f"必须小于{v}", f"must be less than {v}"
    if kind == "multipleOf":
        return f"必须是{v}的倍数", f"must be a multiple of {v}"
    if kind in ("enum", "const"):
        return "不是允许的取值", "is not one of the allowed values"
    if kind == "required":
        return "必填项", "required"
    if kind == "additionalProperties":
        return "不允许的字段", "unknown field"
    if kind == "minItems":
        return f"至少选择{v}项", f"choose at least {v}"
    if kind == "maxItems":
        return f"最多选择{v}项", f"choose at most {v}"
    if kind == "uniqueItems":
        return "不能有重复项", "items must be unique"
    return "输入无效", err.message


def validate(schema: Mapping[str, Any], data: Any) -> FieldErrors:
    """Field errors of ``data`` against ``schema`` (empty when valid), first error per field."""
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors: FieldErrors = {}
    for err in sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator)):
        zh, en = _error_text(err)
        names: list[str]
        if err.validator == "required" and not err.absolute_path:
            names = [n for n in err.validator_value if not isinstance(data, Mapping) or n not in data]
        elif err.validator == "additionalProperties" and not err.absolute_path and isinstance(data, Mapping):
            known = set(properties(schema))
            pats = err.schema.get("patternProperties") or {}
            names = [k for k in data if k not in known and not pats] or ["_"]
        else:
            names = [".".join(str(p) for p in err.absolute_path) or "_"]
        for n in names:
            errors.setdefault(n, _msg(zh, en))
    return errors


def summary(errors: FieldErrors, labels: Mapping[str, str] | None = None) -> tuple[str, str]:
    """One-line zh and en summaries of field errors, for the error banner and JSON message."""
    labels = labels or {}
    zh = "；".join(f"{labels.get(k, k)}：{v['message']}" for k, v in errors.items())
    en = "; ".join(f"{k}: {v['message_en']}" for k, v in errors.items())
    return f"输入有误：{zh}", f"invalid input: {en}"
