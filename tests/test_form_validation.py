"""Record validation: field-level Chinese messages, form posts, computed fields, never an exception."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccms.errors import ConfigError
from ccms.forms.fields import FieldTypes, idcard_check_digit
from ccms.forms.validate import RecordValidator

TYPES = FieldTypes.default()
ID17 = "11010519900307123"
GOOD_ID = ID17 + idcard_check_digit(ID17)
ATTACH = {"id": "f1", "name": "现场.jpg", "size": 1000, "sha256": "a" * 64, "content_type": "image/jpeg"}

CASE = {
    "type": "object",
    "required": ["title", "category", "amount"],
    "additionalProperties": False,
    "properties": {
        "title": {"type": "string", "title": "标题", "minLength": 2, "maxLength": 20},
        "code": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{4}$",
                 "x-ccms-messages": {"pattern": {"zh-CN": "编号应为两位大写字母加四位数字",
                                                 "en": "two capital letters and four digits"}}},
        "category": {"oneOf": [{"const": "road", "title": "道路"}, {"const": "green", "title": "绿化"}]},
        "tags": {"type": "array", "uniqueItems": True, "minItems": 1, "maxItems": 2,
                 "items": {"enum": ["a", "b", "c"]}},
        "amount": {"type": "number", "x-ccms-type": "money", "minimum": 0, "maximum": 1000000},
        "count": {"type": "integer", "exclusiveMinimum": 0, "multipleOf": 2},
        "found": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "date-time"},
        "email": {"type": "string", "format": "email"},
        "phone": {"type": "string", "x-ccms-type": "phone", "format": "phone"},
        "idno": {"type": "string", "x-ccms-type": "idcard", "format": "idcard"},
        "urgent": {"type": "boolean"},
        "note": {"type": "string", "x-ccms-type": "textarea"},
        "kind": {"type": "string", "x-ccms-type": "dictionary", "x-ccms-dictionary": "case_class"},
        "dept": {"type": "integer", "x-ccms-type": "org"},
        "watchers": {"type": "array", "items": {"type": "integer", "x-ccms-type": "person"}},
        "region": {"$ref": "#/$defs/region"},
        "where": {"type": "object", "x-ccms-type": "geo_point", "required": ["lng", "lat"],
                  "properties": {"lng": {"type": "number"}, "lat": {"type": "number"}}},
        "photos": {"type": "array", "x-ccms-type": "image", "maxItems": 3, "x-ccms-max-size": 5_000_000,
                   "items": {"$ref": "#/$defs/attachment"}},
        "address": {"type": "object", "additionalProperties": False, "required": ["city"],
                    "properties": {"city": {"type": "string", "minLength": 2},
                                   "street": {"type": "string", "maxLength": 50}}},
        "items": {"type": "array", "maxItems": 50, "items": {
            "type": "object", "required": ["qty"], "additionalProperties": False,
            "properties": {"qty": {"type": "integer", "minimum": 1},
                           "price": {"type": "number", "x-ccms-type": "money"},
                           "line": {"type": "number", "x-ccms-type": "computed", "x-ccms-expr": "qty * price",
                                    "x-ccms-decimals": 2}}}},
        "total": {"type": "number", "x-ccms-type": "computed", "x-ccms-expr": "sum(items, 'line')",
                  "x-ccms-decimals": 2},
    },
    "$defs": {
        "region": {"type": "object", "x-ccms-type": "region", "required": ["code"],
                   "properties": {"code": {"type": "string", "pattern": "^[0-9]{6}$"},
                                  "street": {"type": "string"}, "community": {"type": "string"}}},
        "attachment": {"type": "object", "required": ["id", "name", "size", "sha256", "content_type"],
                       "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                                      "size": {"type": "integer", "minimum": 0},
                                      "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                                      "content_type": {"type": "string"}}},
    },
}

GOOD = {"title": "井盖缺失", "category": "road", "amount": 12.5}


class Lookups:
    """Stands in for the database; counts calls so batching is visible."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object, frozenset]] = []

    def make(self, kind: str, existing: set):
        def lookup(scope, values):
            self.calls.append((kind, scope, values))
            return existing & values
        return lookup


@pytest.fixture(scope="module")
def rv() -> RecordValidator:
    return RecordValidator(CASE, TYPES)


def test_valid_record_has_no_errors(rv):
    full = {**GOOD, "code": "AB1234", "tags": ["a"], "count": 4, "found": "2024-05-01",
            "at": "2024-05-01T09:30:00+08:00", "email": "a@b.cn", "phone": "13812345678", "idno": GOOD_ID,
            "urgent": True, "note": "多行\n文本", "kind": "0101", "dept": 3, "watchers": [1, 2],
            "region": {"code": "110105", "street": "110105001"}, "where": {"lng": 116.4, "lat": 39.9},
            "photos": [ATTACH], "address": {"city": "北京"}, "items": [{"qty": 1, "price": 2}]}
    assert rv.validate(full) == {}
    assert rv.is_valid(GOOD)


@pytest.mark.parametrize("patch,path,zh", [
    ({"title": 5}, "title", "应为文本"),
    ({"title": "x"}, "title", "至少需要2个字符"),
    ({"title": "长" * 21}, "title", "最多允许20个字符"),
    ({"code": "ab12"}, "code", "编号应为两位大写字母加四位数字"),
    ({"category": "sky"}, "category", "不是允许的取值"),
    ({"tags": []}, "tags", "至少需要1项"),
    ({"tags": ["a", "b", "c"]}, "tags", "最多允许2项"),
    ({"tags": ["a", "a"]}, "tags", "不能有重复项"),
    ({"tags": ["z"]}, "tags[0]", "不是允许的取值"),
    ({"amount": -1}, "amount", "不能小于0"),
    ({"amount": 2000000}, "amount", "不能大于1000000"),
    ({"amount": "12"}, "amount", "应为数字"),
    ({"amount": 1.005}, "amount", "金额最多两位小数"),
    ({"count": 0}, "count", "必须大于0"),
    ({"count": 3}, "count", "必须是2的倍数"),
    ({"count": 2.5}, "count", "应为整数"),
    ({"found": "2024/05/01"}, "found", "日期格式应为 YYYY-MM-DD"),
    ({"found": "2024-02-30"}, "found", "日期格式应为 YYYY-MM-DD"),
    ({"at": "2024-05-01 09:30"}, "at", "日期时间格式"),
    ({"email": "not-an-email"}, "email", "电子邮箱格式不正确"),
    ({"phone": "12345"}, "phone", "电话号码格式不正确"),
    ({"idno": "110105199003071230" if GOOD_ID[-1] != "0" else "110105199003071231"}, "idno", "校验位错误"),
    ({"idno": "123"}, "idno", "18位"),
    ({"urgent": "yes"}, "urgent", "应为是或否"),
    ({"extra": 1}, "extra", "不允许的字段"),
    ({"region": {"code": "990000"}}, "region", "GB/T 2260"),
    ({"region": {"code": "11"}}, "region.code", "格式不正确"),
    ({"where": {"lng": 200, "lat": 30}}, "where", "经度200超出范围"),
    ({"where": {"lng": 116}}, "where.lat", "必填项"),
    ({"photos": [{**ATTACH, "size": 9_000_000}]}, "photos", "超过大小限制"),
    ({"photos": [{**ATTACH, "content_type": "text/html"}]}, "photos", "类型不允许"),
    ({"photos": [{**ATTACH, "sha256": "xyz"}]}, "photos[0].sha256", "格式不正确"),
    ({"address": {}}, "address.city", "必填项"),
    ({"address": {"city": "北京", "zip": "1"}}, "address.zip", "不允许的字段"),
    ({"items": [{"qty": 1}, {"qty": 0}]}, "items[1].qty", "不能小于1"),
    ({"items": [{"qty": 1}, {}]}, "items[1].qty", "必填项"),
    ({"items": [{"qty": 1, "price": 0.001}]}, "items[0].price", "两位小数"),
    ({"items": "many"}, "items", "应为列表"),
])
def test_bad_value_gives_field_error(rv, patch, path, zh):
    errors = rv.validate({**GOOD, **patch})
    assert path in errors, errors
    assert zh in errors[path]["message"]
    assert errors[path]["message_en"]


def test_missing_required_fields_each_named(rv):
    errors = rv.validate({})
    assert set(errors) == {"title", "category", "amount"}
    assert all(e == {"message": "必填项", "message_en": "required"} for e in errors.values())


def test_data_that_is_not_an_object(rv):
    assert rv.validate([1, 2])["_"]["message"] == "应为对象"
    assert "_" in rv.validate(None)


def test_html_and_script_stay_text(rv):
    text = '<script>alert(1)</script><img src=x onerror=alert(2)>&amp;'
    data, errors = rv.from_post({"title": text[:20], "category": "road", "amount": "1", "note": text})
    assert errors == {}
    assert data["note"] == text and data["title"] == text[:20]
    assert rv.validate({**GOOD, "note": text}) == {}


def test_references_checked_in_one_batch_per_kind():
    lk = Lookups()
    rv = RecordValidator(CASE, TYPES, lookups={"org": lk.make("org", {3}), "person": lk.make("person", {1, 2}),
                                               "dictionary": lk.make("dict", {"0101"})})
    errors = rv.validate({**GOOD, "dept": 4, "watchers": [1, 2, 7], "kind": "9999"})
    assert errors["dept"]["message"] == "所选组织机构不存在或已停用"
    assert errors["watchers[2]"]["message"] == "所选人员不存在或已停用"
    assert errors["kind"]["message"] == "所选数据字典不存在或已停用"
    assert "watchers[0]" not in errors
    assert sorted((k, s) for k, s, _ in lk.calls) == [("dict", "case_class"), ("org", None), ("person", None)]
    assert [v for k, _, v in lk.calls if k == "person"] == [frozenset({1, 2, 7})]
    lk.calls.clear()
    assert rv.validate(GOOD) == {} and lk.calls == []  # nothing to look up, no query


def test_form_post_is_coerced_and_validated(rv):
    post = [("title", "井盖缺失"), ("category", "road"), ("amount", "1,234.50"), ("urgent", "on"),
            ("tags", "a"), ("tags", "b"), ("found", "2024/05/01"), ("phone", "+86 13812345678"),
            ("where.lng", "116.4"), ("where.lat", "39.9"), ("region", "110105001002"),
            ("address.city", "北京"), ("address.street", ""), ("watchers", "1"), ("watchers", "2"),
            ("items[0].qty", "2"), ("items[0].price", "3.10"), ("items[0].line", "999"),
            ("items[5].qty", "1"), ("items[5].price", "0.20"), ("items[7].qty", ""),
            ("total", "1"), ("csrf_token", "t"), ("version", "3"), ("bogus[", "x")]
    data, errors = rv.from_post(post)
    assert errors == {}
    assert data["amount"] == 1234.5 and data["urgent"] is True and data["tags"] == ["a", "b"]
    assert data["found"] == "2024-05-01" and data["phone"] == "13812345678"
    assert data["where"] == {"lng": 116.4, "lat": 39.9}
    assert data["region"] == {"code": "110105", "street": "110105001", "community": "110105001002"}
    assert data["address"] == {"city": "北京"} and data["watchers"] == [1, 2]
    assert data["items"] == [{"qty": 2, "price": 3.1, "line": 6.2}, {"qty": 1, "price": 0.2, "line": 0.2}]
    assert data["total"] == 6.4  # computed; the posted 1 and 999 are ignored
    assert "csrf_token" not in data and "version" not in data


def test_form_post_errors_keep_paths_and_do_not_double_report(rv):
    data, errors = rv.from_post({"title": "x", "category": "sky", "amount": "12.345", "count": "abc",
                                 "items[0].qty": "two", "items[1].qty": "0", "where": "116"})
    assert errors["title"]["message"] == "至少需要2个字符"
    assert errors["category"]["message"] == "请从列表中选择"
    assert errors["amount"]["message"] == "金额最多两位小数"
    assert errors["count"]["message"] == "请输入整数"
    assert errors["items[0].qty"]["message"] == "请输入整数"
    assert errors["items[1].qty"]["message"] == "不能小于1"
    assert "经度,纬度" in errors["where"]["message"]


def test_unchecked_checkbox_is_false_and_empty_inputs_are_absent(rv):
    data, errors = rv.coerce_post({"title": "", "amount": "", "note": "   "})
    assert data == {"urgent": False}
    _, errors = rv.from_post({"title": ""})
    assert errors["title"]["message"] == "必填项"


def test_computed_values_are_never_taken_from_input(rv):
    data, errors = rv.clean({**GOOD, "items": [{"qty": 3, "price": 1.1, "line": 1}], "total": 1e9})
    assert errors == {}
    assert data["items"][0]["line"] == 3.3 and data["total"] == 3.3
    data, _ = rv.clean({**GOOD, "items": [{"qty": 3}], "total": 5})
    assert "line" not in data["items"][0] and data["total"] == 0  # no price yet: no line total


def test_definition_errors_are_refused_with_clear_messages():
    with pytest.raises(ConfigError) as exc:
        RecordValidator({"type": "object", "properties": {"a": {"type": "string", "x-ccms-type": "laser"}}}, TYPES)
    assert "未知的字段类型：laser" in exc.value.zh
    with pytest.raises(ConfigError) as exc:
        RecordValidator({"type": "object", "properties": {"a": {"type": "number", "x-ccms-type": "computed",
                                                                "x-ccms-expr": "b * 2"}}}, TYPES)
    assert "计算字段 a" in exc.value.zh and "不存在的字段“b”" in exc.value.zh
    with pytest.raises(ConfigError) as exc:
        RecordValidator({"type": "object", "properties": {"a": {"type": "strnig"}}}, TYPES)
    assert "表单数据结构无效" in exc.value.zh and "properties/a/type" in exc.value.zh
    with pytest.raises(ConfigError):
        RecordValidator(["not", "a", "schema"], TYPES)  # type: ignore[arg-type]


def test_recursive_ref_does_not_hang():
    schema = {"type": "object", "properties": {"node": {"$ref": "#/$defs/node"}},
              "$defs": {"node": {"type": "object", "properties": {"name": {"type": "string"},
                                                                  "child": {"$ref": "#/$defs/node"}}}}}
    rv = RecordValidator(schema, TYPES)
    assert rv.validate({"node": {"name": "a", "child": {"name": 1}}}) == {
        "node.child.name": {"message": "应为文本", "message_en": "must be of type string"}}


# -- property tests: random data and random posts never raise and always give field errors

SCHEMAS = [
    CASE,
    {"type": "object", "properties": {"n": {"type": "integer", "maximum": 5}, "s": {"type": "string", "maxLength": 3},
                                      "b": {"type": "boolean"}, "e": {"enum": [1, "1", None]}}, "required": ["n"]},
    {"type": "object", "properties": {"rows": {"type": "array", "items": {
        "type": "object", "properties": {"d": {"type": "string", "format": "date"},
                                         "m": {"type": "number", "x-ccms-type": "money"},
                                         "p": {"type": "string", "x-ccms-type": "phone", "format": "phone"}}}},
        "loc": {"type": "object", "x-ccms-type": "geo_point"}, "r": {"type": "object", "x-ccms-type": "region"},
        "f": {"type": "array", "x-ccms-type": "file"}}},
    {"type": "object", "properties": {"a": {"anyOf": [{"type": "string", "format": "idcard"}, {"type": "null"}]},
                                      "o": {"type": "object", "properties": {"x": {"type": "integer"}},
                                            "dependentRequired": {"x": ["y"]}, "minProperties": 1}},
     "unevaluatedProperties": False},
]
VALIDATORS = [RecordValidator(s, TYPES, lookups={"org": lambda s_, v: v, "person": lambda s_, v: set(),
                                                  "dictionary": lambda s_, v: set()}) for s in SCHEMAS]
NAMES = sorted({n for s in SCHEMAS for n in s["properties"]} | {"where", "items", "rows"})

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(NAMES + ["lng", "lat", "code", "qty", "x", "y", "zz"]) | st.text(max_size=4),
        children, max_size=5),
    max_leaves=20)
records = st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=5), json_values, max_size=10)
post_keys = st.one_of(
    st.sampled_from(NAMES),
    st.builds(lambda a, b: f"{a}.{b}", st.sampled_from(NAMES), st.sampled_from(["lng", "lat", "city", "code", "x"])),
    st.builds(lambda a, i, b: f"{a}[{i}].{b}", st.sampled_from(["items", "rows", "tags", "watchers"]),
              st.integers(0, 999_999), st.sampled_from(["qty", "price", "d", "m", "p", "line"])),
    st.builds(lambda a, i: f"{a}[{i}]", st.sampled_from(NAMES), st.integers(0, 20)),
    st.text(max_size=12),
)
post_values = st.one_of(st.text(max_size=30), st.sampled_from(["", "on", "1", "-0", "1e400", "NaN", "12.345",
                                                                 "116.4,39.9", "110105", '{"id": 1}', "２０２４-01-01"]))
posts = st.lists(st.tuples(post_keys, post_values), max_size=25)


def _field_errors(errors) -> None:
    assert isinstance(errors, dict)
    for path, m in errors.items():
        assert isinstance(path, str) and path
        assert set(m) == {"message", "message_en"} and m["message"] and m["message_en"]
        assert m["message"] != "无法校验输入，请检查后重试", "validation crashed"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SCHEMAS))), records)
def test_random_json_never_raises(i, data):
    _field_errors(VALIDATORS[i].validate(data))
    cleaned, errors = VALIDATORS[i].clean(data)
    _field_errors(errors)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SCHEMAS))), json_values)
def test_random_non_object_json_never_raises(i, data):
    _field_errors(VALIDATORS[i].validate(data))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SCHEMAS))), posts)
def test_random_form_posts_never_raise(i, post):
    data, errors = VALIDATORS[i].from_post(post)
    assert isinstance(data, dict)
    _field_errors(errors)
