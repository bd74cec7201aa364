"""Field types: what a form post becomes, how values are shown, masked and checked."""

from __future__ import annotations

import pytest

from ccms.errors import ConfigError
from ccms.forms.fields import (ABSENT, CoerceError, FieldType, FieldTypes, GeoBounds, idcard_check_digit,
                               idcard_problem, phone_ok)
from ccms.mask import mask_idcard, mask_phone


def valid_id(prefix17: str = "11010519900307123") -> str:
    return prefix17 + idcard_check_digit(prefix17)


@pytest.fixture(scope="module")
def types() -> FieldTypes:
    return FieldTypes.default()


def coerce(types: FieldTypes, name: str, raw, prop=None):
    return types.get(name).coerce(raw, prop or {})


# -- coercion of form-post strings


@pytest.mark.parametrize("raw,want", [("12.50", 12.5), ("12", 12), ("1,234.56", 1234.56), ("￥8", 8),
                                      ("１２.５", 12.5), ("", ABSENT), ("  ", ABSENT)])
def test_money_coerces_posted_amounts(types, raw, want):
    assert coerce(types, "money", raw) == want


@pytest.mark.parametrize("raw,zh", [("12.345", "两位小数"), ("abc", "请输入金额"), ("-1", "不能为负数"),
                                    ("1e20", "超出范围"), ("NaN", "超出范围")])
def test_money_refuses_bad_amounts_with_chinese_message(types, raw, zh):
    with pytest.raises(CoerceError) as exc:
        coerce(types, "money", raw)
    assert zh in exc.value.zh and exc.value.en


def test_money_allows_negative_only_when_declared(types):
    assert coerce(types, "money", "-3.20", {"x-ccms-allow-negative": True}) == -3.2
    assert types.get("money").schema()["minimum"] == 0
    assert "minimum" not in types.get("money").schema(**{"x-ccms-allow-negative": True})


@pytest.mark.parametrize("raw,want", [("on", True), ("1", True), ("true", True), ("是", True),
                                      ("", False), ("0", False), ("off", False), (["0", "1"], True)])
def test_boolean_coerces_checkbox_values(types, raw, want):
    assert coerce(types, "boolean", raw) is want


def test_boolean_refuses_nonsense(types):
    with pytest.raises(CoerceError):
        coerce(types, "boolean", "maybe")


@pytest.mark.parametrize("name,raw,want", [("integer", "42", 42), ("integer", "42.0", 42), ("number", "3.5", 3.5),
                                           ("number", "7", 7), ("integer", "", ABSENT),
                                           ("text", "", ABSENT), ("text", "你好", "你好")])
def test_numbers_and_text(types, name, raw, want):
    assert coerce(types, name, raw) == want


@pytest.mark.parametrize("name,raw", [("integer", "4.5"), ("integer", "x"), ("number", "1,2,x"), ("number", "inf")])
def test_numbers_refuse_bad_input(types, name, raw):
    with pytest.raises(CoerceError):
        coerce(types, name, raw)


def test_text_keeps_html_verbatim(types):
    raw = '<script>alert("x")</script><b>粗体</b>'
    assert coerce(types, "text", raw) == raw
    assert coerce(types, "textarea", "a\r\nb") == "a\nb"


def test_dates(types):
    assert coerce(types, "date", "2024/05/01") == "2024-05-01"
    assert coerce(types, "datetime", "2024-05-01T09:30") == "2024-05-01T09:30:00+08:00"
    assert coerce(types, "datetime", "2024-05-01T09:30:00Z") == "2024-05-01T09:30:00Z"
    for bad in ("2024-02-30", "01/05/2024", "tomorrow"):
        with pytest.raises(CoerceError) as exc:
            coerce(types, "date", bad)
        assert "YYYY-MM-DD" in exc.value.zh
    with pytest.raises(CoerceError):
        coerce(types, "datetime", "2024-05-01 25:00")
    assert types.get("datetime").display("2024-05-01T09:30:00+08:00", {}) == "2024-05-01 09:30"


ENUM = {"oneOf": [{"const": "open", "title": {"zh-CN": "待处理", "en": "Open"}}, {"const": 2, "title": "二"}]}


def test_enum_coerces_and_displays_labels(types):
    assert coerce(types, "enum", "open", ENUM) == "open"
    assert coerce(types, "enum", "2", ENUM) == 2
    assert types.get("enum").display("open", ENUM) == "待处理"
    assert types.get("enum").display("open", ENUM, lang="en") == "Open"
    with pytest.raises(CoerceError) as exc:
        coerce(types, "enum", "closed", ENUM)
    assert exc.value.zh == "请从列表中选择"


def test_multiselect_coerces_lists_without_duplicates(types):
    prop = {"type": "array", "uniqueItems": True, "items": ENUM}
    assert types.resolve(prop).name == "multiselect"
    assert coerce(types, "multiselect", ["open", "2", "open"], prop) == ["open", 2]
    assert coerce(types, "multiselect", "", prop) == []
    assert types.get("multiselect").display(["open", 2], prop) == "待处理、二"
    with pytest.raises(CoerceError):
        coerce(types, "multiselect", ["open", "nope"], prop)


def test_references_coerce_to_ids_and_display_names(types):
    assert coerce(types, "person", "12") == 12
    assert coerce(types, "org", "") is ABSENT
    with pytest.raises(CoerceError):
        coerce(types, "org", "12abc")
    label = lambda kind, scope, v: {("person", None, 12): "张三", ("dictionary", "case_class", "0101"): "市容环境"}.get(
        (kind, scope, v))
    assert types.get("person").display(12, {}, label=label) == "张三"
    assert types.get("person").display(99, {}, label=label) == "99"
    assert types.get("dictionary").display("0101", {"x-ccms-dictionary": "case_class"}, label=label) == "市容环境"


def test_region_codes(types):
    region = types.get("region")
    assert coerce(types, "region", "110105") == {"code": "110105"}
    assert coerce(types, "region", "110105001002") == {"code": "110105", "street": "110105001",
                                                       "community": "110105001002"}
    assert coerce(types, "region", {"code": ["110105"], "street": ["110105001"]}) == {"code": "110105",
                                                                                      "street": "110105001"}
    with pytest.raises(CoerceError):
        coerce(types, "region", "1101")
    assert region.check({"code": "110105", "street": "110105001"}, {}) is None
    assert "GB/T 2260" in region.check({"code": "990105"}, {})["message"]
    assert "街道" in region.check({"code": "110105", "street": "120105001"}, {})["message"]
    assert "社区" in region.check({"code": "110105", "street": "110105001", "community": "110105002001"}, {})["message"]


def test_geo_point_range_is_configurable(types):
    geo = types.get("geo_point")
    assert coerce(types, "geo_point", "116.397,39.908") == {"lng": 116.397, "lat": 39.908}
    assert coerce(types, "geo_point", {"lng": ["116.4"], "lat": ["39.9"]}) == {"lng": 116.4, "lat": 39.9}
    with pytest.raises(CoerceError):
        coerce(types, "geo_point", "116.4")
    with pytest.raises(CoerceError):
        coerce(types, "geo_point", "east,north")
    assert geo.check({"lng": 116.4, "lat": 39.9}, {}) is None
    m = geo.check({"lng": 2.35, "lat": 48.85}, {})
    assert m["message"] == "经度2.35超出范围（应在73至136之间）" and "longitude" in m["message_en"]
    assert "纬度" in geo.check({"lng": 116.4, "lat": 60}, {})["message"]
    assert geo.check({"lng": 2.35, "lat": 48.85}, {"x-ccms-bounds": {"lng_min": -180, "lng_max": 180,
                                                                      "lat_min": -90, "lat_max": 90}}) is None
    world = FieldTypes.default(geo_bounds=GeoBounds(-180, 180, -90, 90))
    assert world.get("geo_point").check({"lng": 2.35, "lat": 48.85}, {}) is None


def test_file_refs_limits(types):
    ref = {"id": "a1", "name": "照片.png", "size": 2_000_000, "sha256": "0" * 64, "content_type": "image/png"}
    f, img = types.get("file"), types.get("image")
    assert coerce(types, "file", ['{"id": "a1"}', ""]) == [{"id": "a1"}]
    with pytest.raises(CoerceError):
        coerce(types, "file", ["not json"])
    assert f.check([ref], {}) is None
    assert "大小限制（1 MB）" in f.check([ref], {"x-ccms-max-size": 1 << 20})["message"]
    assert "类型不允许" in f.check([ref], {"x-ccms-accept": ["application/pdf"]})["message"]
    assert f.check([ref], {"x-ccms-accept": ["image/*"]}) is None
    assert "类型不允许" in img.check([{**ref, "content_type": "application/x-msdownload"}], {})["message"]
    assert f.display([ref], {}) == "照片.png"


def test_phone_and_idcard(types):
    assert coerce(types, "phone", "+86 138-1234-5678".replace("-", "")) == "13812345678"
    assert phone_ok("13812345678") and phone_ok("010-62345678") and phone_ok("075523456789")
    assert not phone_ok("12812345678") and not phone_ok("1381234567") and not phone_ok("62345678")
    good = valid_id()
    assert idcard_problem(good) is None
    assert idcard_problem(good[:-1] + ("0" if good[-1] != "0" else "1"))["message"] == "身份证号码校验位错误"
    bad_date = "11010519900230123"
    assert idcard_problem(valid_id(bad_date))["message"] == "身份证号码中的出生日期无效"
    assert "18位" in idcard_problem("1101051990")["message"]
    assert coerce(types, "idcard", good[:-1] + good[-1].lower()) == good
    assert idcard_problem("11010519491231002X") is None  # a real-shaped number ending in X


def test_masks():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("010-62345678") == "010-****5678"
    assert mask_idcard("110105199003071234") == "110105********1234"
    assert mask_phone(None) == "" and mask_idcard("") == ""
    assert mask_idcard("123") == "**3"
    types = FieldTypes.default()
    assert types.get("phone").sensitive and types.get("phone").mask("13812345678") == "138****5678"
    assert types.get("idcard").mask("110105199003071234") == "110105********1234"


def test_money_display_and_check(types):
    money = types.get("money")
    assert money.display(1234.5, {}) == "1,234.50"
    assert money.check(0.1 + 0.2, {}) is not None  # 0.30000000000000004 has more than two decimals
    assert money.check(19.99, {}) is None


def test_registry_is_per_app_and_takes_plugin_types():
    class Plate(FieldType):
        name, label = "plate", ("车牌号", "Licence plate")

    a, b = FieldTypes.default(), FieldTypes.default()
    a.register(Plate())
    assert "plate" in a and "plate" not in b
    assert a.resolve({"type": "string", "x-ccms-type": "plate"}).name == "plate"
    with pytest.raises(ConfigError):
        a.register(Plate())
    a.register(Plate(), replace=True)
    with pytest.raises(ConfigError) as exc:
        b.resolve({"x-ccms-type": "plate"})
    assert "未知的字段类型" in exc.value.zh
    with pytest.raises(ConfigError):
        a.register(object())  # type: ignore[arg-type]


@pytest.mark.parametrize("prop,name", [
    ({"type": "string"}, "text"), ({"type": "string", "format": "date"}, "date"),
    ({"type": "string", "format": "date-time"}, "datetime"), ({"type": "integer"}, "integer"),
    ({"type": ["number", "null"]}, "number"), ({"type": "boolean"}, "boolean"), ({"enum": ["a", "b"]}, "enum"),
    ({"type": "array", "items": {"type": "object", "properties": {}}}, "group"),
    ({"type": "object", "properties": {}}, "object"), ({"type": "string", "format": "phone"}, "phone"),
])
def test_resolve_without_extension_keyword(types, prop, name):
    assert types.resolve(prop).name == name


def test_schema_fragments_are_valid_json_schema(types):
    import jsonschema
    for t in types:
        fragment = t.schema(options=[("a", "甲")]) if t.name in ("enum", "multiselect") else t.schema()
        jsonschema.Draft202012Validator.check_schema(fragment)
        assert types.resolve(fragment).name == t.name
