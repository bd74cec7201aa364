"""Personal information (issue 10, Deliver 6): phone and ID numbers masked by role
everywhere they appear, and encrypted at rest with rotatable keys (core/pii.py)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select, text
from starlette.testclient import TestClient
from conftest import without_uninstalled
from test_form_records import publish
from test_orgs import PASSWORD, districts, make_person
from test_roles import make_role

from ccms import pii
from ccms.app import create_app
from ccms.cli import main
from ccms.config import parse_deployment
from ccms.errors import ConfigError
from ccms.forms.fields import idcard_check_digit
from ccms.models import AuditLog, Person
from ccms.services import people as people_svc

PHONE_A, PHONE_B = "13812345678", "13900001111"
IDCARD = "11010519900101123" + idcard_check_digit("11010519900101123")
FORM = "t_pii"
FORM_DEF: dict[str, Any] = {
    "id": FORM, "version": 1, "title": {"zh-CN": "个人信息登记", "en": "Personal data"},
    "schema": {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
        "name": {"type": "string", "title": "姓名"},
        "phone": {"type": "string", "format": "phone", "title": "电话"},
        "idcard": {"type": "string", "format": "idcard", "title": "身份证号"}}},
    "list": {"columns": ["name", "phone", "idcard"]},
}


def key_line(kid: str = "k1", suite: str = "aes-256-gcm") -> str:
    return pii.new_key_line(kid, suite)


def all_audit_text(ctx: Any) -> str:
    with ctx.db.session() as s:
        return json.dumps([[e.before, e.after, e.summary] for e in s.scalars(select(AuditLog))], ensure_ascii=False)


def raw_phone(ctx: Any, person_id: int) -> str:
    with ctx.db.engine.connect() as c:
        return c.execute(text("SELECT phone FROM core_person WHERE id = :i"), {"i": person_id}).scalar()


def person_with_phone(ctx: Any, username: str, org_id: int, phone: str) -> int:
    pid = make_person(ctx, username, org_id)
    with ctx.db.session() as s:
        people_svc.edit(s, pii_actor(), ctx, pid, {"version": s.get(Person, pid).version, "phone": phone})
    return pid


def pii_actor() -> Any:
    from ccms.audit import Actor
    return Actor(None, "test")


# --- masking rules ------------------------------------------------------------------------------

def test_mask_shapes() -> None:
    assert pii.mask("13812345678") == "138****5678"
    assert pii.mask(IDCARD, "idcard") == "110105********" + IDCARD[-4:]
    assert pii.mask("") == "" and pii.shown(None, False) == ""
    assert pii.shown(PHONE_A, True) == PHONE_A
    assert pii.mask_snapshot({"phone": PHONE_A, "post": "x"}, {"phone": "phone"}) == {"phone": "138****5678",
                                                                                       "post": "x"}


# --- Person.phone ------------------------------------------------------------------------------

def test_person_phone_masked_unless_pii_view_in_the_persons_org(ctx: Any, client_for: Any) -> None:
    orgs = districts(ctx)
    x = person_with_phone(ctx, "xiao_a", orgs["a"], PHONE_A)
    y = person_with_phone(ctx, "xiao_b", orgs["b"], PHONE_B)
    make_role(ctx, "pviewer", ["core.person.view"])
    make_role(ctx, "pii_a", ["core.pii.view"])
    make_person(ctx, "low", orgs["root"], role="pviewer")
    make_person(ctx, "high", orgs["root"], role="pviewer")
    with ctx.db.session() as s:
        ctx.authz.grant(s, s.scalar(select(Person.id).where(Person.username == "high")), "pii_a", orgs["a"])
    low, high = client_for("low", PASSWORD), client_for("high", PASSWORD)
    # low privilege: masked in the API list, the API detail and the detail page
    items = {p["username"]: p["phone"] for p in low.api("GET", "/api/people").json()["items"]}
    assert items["xiao_a"] == "138****5678" and items["xiao_b"] == "139****1111"
    assert low.api("GET", f"/api/people/{x}").json()["phone"] == "138****5678"
    page = low.get(f"/admin/people/{x}")
    assert page.status_code == 200 and "138****5678" in page.text and PHONE_A not in page.text
    assert 'data-testid="person-phone-reveal"' not in page.text
    assert low.form(f"/admin/people/{x}/phone", {}).status_code == 403
    # core.pii.view granted at district A: A's people in full (the page asks first, audited), B's masked
    assert high.api("GET", f"/api/people/{x}").json()["phone"] == PHONE_A
    page = high.get(f"/admin/people/{x}").text
    assert PHONE_A not in page and 'data-testid="person-phone-reveal"' in page
    r = high.form(f"/admin/people/{x}/phone", {}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and PHONE_A in r.text and 'data-testid="person-phone"' in r.text
    with ctx.db.session() as s:
        seen = s.scalars(select(AuditLog).where(AuditLog.action == "pii_reveal")).all()
        assert [(e.actor_name, e.object_type, e.object_id, e.after) for e in seen] == \
            [("high", "person", str(x), {"field": "phone"})]
    assert high.api("GET", f"/api/people/{y}").json()["phone"] == "139****1111"
    assert PHONE_B not in high.get(f"/admin/people/{y}").text
    assert high.form(f"/admin/people/{y}/phone", {}).status_code == 403
    # one's own number in full
    me = client_for("xiao_a", PASSWORD)
    assert PHONE_A in me.get(f"/admin/people/{x}").text
    # the audit log never holds the numbers in clear
    audit = all_audit_text(ctx)
    assert PHONE_A not in audit and PHONE_B not in audit and "138****5678" in audit


def test_edit_form_shows_masked_phone_and_keeps_it_when_sent_back(ctx: Any, client_for: Any) -> None:
    orgs = districts(ctx)
    x = person_with_phone(ctx, "xiao_a", orgs["a"], PHONE_A)
    make_role(ctx, "padmin", ["core.person.view", "core.person.edit"])
    make_person(ctx, "padmin", orgs["root"], role="padmin")
    c = client_for("padmin", PASSWORD)
    form = c.get(f"/admin/people/{x}/edit")
    assert form.status_code == 200 and 'value="138****5678"' in form.text and PHONE_A not in form.text
    with ctx.db.session() as s:
        version = s.get(Person, x).version
    r = c.form(f"/admin/people/{x}/edit", {"display_name": "小A", "org_id": str(orgs["a"]), "post": "队长",
                                           "phone": "138****5678", "email": "", "version": str(version)},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    with ctx.db.session() as s:
        p = s.get(Person, x)
        assert (p.phone, p.post) == (PHONE_A, "队长")
    # a new number replaces it
    r = c.form(f"/admin/people/{x}/edit", {"display_name": "小A", "org_id": str(orgs["a"]), "post": "队长",
                                           "phone": PHONE_B, "email": "", "version": str(version + 1)},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    with ctx.db.session() as s:
        assert s.get(Person, x).phone == PHONE_B
    # the API likewise: a PATCH of the object as read (masked number included) keeps the number
    got = c.api("GET", f"/api/people/{x}").json()
    assert got["phone"] == "139****1111"
    r = c.api("PATCH", f"/api/people/{x}", json={"version": got["version"], "post": "副队长", "phone": got["phone"]})
    assert r.status_code == 200, r.text
    assert r.json()["phone"] == "139****1111" and r.json()["post"] == "副队长"
    with ctx.db.session() as s:
        assert s.get(Person, x).phone == PHONE_B
    assert c.api("PATCH", f"/api/people/{x}", json={"version": r.json()["version"], "phone": "139**"}
                 ).status_code == 422  # other stars are still no phone number
    assert PHONE_B not in all_audit_text(ctx)


# --- form fields of phone / ID-card type ---------------------------------------------------------

def test_form_phone_and_idcard_masked_in_detail_api_and_xlsx_unless_pii_view(ctx: Any, client_for: Any) -> None:
    publish(ctx, FORM_DEF)
    orgs = districts(ctx)
    make_role(ctx, "fclerk", [f"form.{FORM}.{a}" for a in ("list", "read", "create", "update", "export")])
    make_role(ctx, "pii", ["core.pii.view"])
    make_person(ctx, "clerk", orgs["root"], role="fclerk")
    for name, where in (("full_a", orgs["a"]), ("full_b", orgs["b"])):
        make_person(ctx, name, orgs["root"], role="fclerk")
        with ctx.db.session() as s:
            ctx.authz.grant(s, s.scalar(select(Person.id).where(Person.username == name)), "pii", where)
    clerk = client_for("clerk", PASSWORD)
    r = clerk.api("POST", f"/api/forms/{FORM}/records",
                  json={"org_id": orgs["a"], "data": {"name": "张三", "phone": PHONE_A, "idcard": IDCARD}})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    masked_id = "110105********" + IDCARD[-4:]

    def seen(c: Any) -> dict[str, Any]:
        detail = c.api("GET", f"/api/forms/{FORM}/records/{rid}").json()["data"]
        page = c.get(f"/forms/{FORM}/{rid}").text
        wb = openpyxl.load_workbook(io.BytesIO(c.get(f"/forms/{FORM}/export.xlsx").content))
        cells = [str(v) for row in wb.active.iter_rows(values_only=True) for v in row]
        return {"api": (detail["phone"], detail["idcard"]), "page": page, "xlsx": cells}

    low = seen(clerk)
    assert low["api"] == ("138****5678", masked_id)
    assert PHONE_A not in low["page"] and IDCARD not in low["page"] and masked_id in low["page"]
    assert "138****5678" in low["xlsx"] and PHONE_A not in low["xlsx"] and IDCARD not in low["xlsx"]
    full = seen(client_for("full_a", PASSWORD))  # core.pii.view in the record's org
    assert full["api"] == (PHONE_A, IDCARD) and PHONE_A in full["page"] and IDCARD in full["xlsx"]
    other = seen(client_for("full_b", PASSWORD))  # core.pii.view elsewhere
    assert other["api"] == ("138****5678", masked_id) and IDCARD not in other["xlsx"]
    # the edit form shows the masked values; saving them unchanged keeps the numbers
    form = clerk.get(f"/forms/{FORM}/{rid}/edit").text
    assert PHONE_A not in form and "138****5678" in form
    version = clerk.api("GET", f"/api/forms/{FORM}/records/{rid}").json()["version"]
    r = clerk.form(f"/forms/{FORM}/{rid}/edit", {"_org_id": str(orgs["a"]), "name": "张三丰", "phone": "138****5678",
                                                 "idcard": masked_id, "version": str(version)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert client_for("full_a", PASSWORD).api("GET", f"/api/forms/{FORM}/records/{rid}").json()["data"] == \
        {"name": "张三丰", "phone": PHONE_A, "idcard": IDCARD}
    audit = all_audit_text(ctx)
    assert PHONE_A not in audit and IDCARD not in audit


@pytest.mark.needs_plugins("command")
def test_numbers_inside_repeating_groups_are_masked_too(ctx: Any, client_for: Any) -> None:
    form = {**FORM_DEF, "id": "t_pii_rows", "schema": {**FORM_DEF["schema"], "properties": {
        **FORM_DEF["schema"]["properties"],
        "contacts": {"type": "array", "title": "联系人", "items": {"type": "object", "properties": {
            "who": {"type": "string", "title": "称呼"},
            "phone": {"type": "string", "format": "phone", "title": "电话"}}}}}}}
    publish(ctx, form)
    orgs = districts(ctx)
    make_role(ctx, "rclerk", [f"form.t_pii_rows.{a}" for a in ("list", "read", "create", "update")])
    make_role(ctx, "pii", ["core.pii.view"])
    make_person(ctx, "clerk", orgs["a"], role="rclerk")
    make_person(ctx, "full", orgs["a"], role="rclerk")
    with ctx.db.session() as s:
        ctx.authz.grant(s, s.scalar(select(Person.id).where(Person.username == "full")), "pii", orgs["a"])
    clerk, full = client_for("clerk", PASSWORD), client_for("full", PASSWORD)
    data = {"name": "李四", "contacts": [{"who": "本人", "phone": PHONE_A}, {"who": "家属", "phone": PHONE_B}]}
    rid = clerk.api("POST", "/api/forms/t_pii_rows/records", json={"org_id": orgs["a"], "data": data}).json()["id"]
    got = clerk.api("GET", f"/api/forms/t_pii_rows/records/{rid}").json()
    assert [c["phone"] for c in got["data"]["contacts"]] == ["138****5678", "139****1111"]
    assert full.api("GET", f"/api/forms/t_pii_rows/records/{rid}").json()["data"] == data
    page = clerk.get(f"/forms/t_pii_rows/{rid}/edit").text
    assert PHONE_A not in page and PHONE_B not in page
    r = clerk.form(f"/forms/t_pii_rows/{rid}/edit", {
        "_org_id": str(orgs["a"]), "name": "李四", "version": str(got["version"]),
        "contacts[0].who": "本人", "contacts[0].phone": "138****5678",
        "contacts[1].who": "家属", "contacts[1].phone": "13700002222"}, follow_redirects=False)
    assert r.status_code == 303, r.text[:2000]
    after = full.api("GET", f"/api/forms/t_pii_rows/records/{rid}").json()["data"]["contacts"]
    assert [c["phone"] for c in after] == [PHONE_A, "13700002222"]
    audit = all_audit_text(ctx)
    assert PHONE_A not in audit and PHONE_B not in audit and "13700002222" not in audit


# --- command_case.reporter_phone ---------------------------------------------------------------

@pytest.mark.needs_plugins("command")
def test_reporter_phone_masked_on_case_page_and_api_unless_unmask_in_the_cases_district(ctx: Any,
                                                                                         client_for: Any) -> None:
    from flow_engine_kit import person
    from test_command_base import city
    from test_command_cases import ok, report
    ids = city(ctx)
    make_role(ctx, "looker", ["command.view", "command.case.view_all"])
    make_role(ctx, "caller_pii", ["command.case.pii"])
    person(ctx, "sup", roles=["command_supervisor"])
    person(ctx, "leader", roles=["command_shift_leader"])  # the flow's 立案 step needs a holder
    person(ctx, "disp", roles=["looker"])
    person(ctx, "intake_here", roles=["looker"])
    person(ctx, "intake_there", roles=["looker"])
    with ctx.db.session() as s:
        for name, org in (("intake_here", ids["district"]), ("intake_there", ids["szgy"])):
            ctx.authz.grant(s, s.scalar(select(Person.id).where(Person.username == name)), "caller_pii", org)
    c = {n: client_for(n, "x-Secret-123456") for n in ("sup", "disp", "intake_here", "intake_there")}
    case = ok(report(c["sup"], reporter_name="王先生", reporter_phone=PHONE_A), 201)
    assert case["reporter_phone"] == PHONE_A  # who entered it

    def seen(name: str) -> tuple[str, str]:
        api = ok(c[name].api("GET", f"/api/command/cases/{case['id']}"))["reporter_phone"]
        return api, c[name].get(f"/command/cases/{case['id']}").text

    reveal = f"/command/cases/{case['id']}/reporter-phone"
    api, page = seen("disp")
    assert api == "138****5678" and "138****5678" in page and PHONE_A not in page and "王先生" in page
    assert 'data-testid="case-reporter-phone-reveal"' not in page and c["disp"].form(reveal, {}).status_code == 403
    api, page = seen("intake_here")  # the API in full; the page on request, audited
    assert api == PHONE_A and PHONE_A not in page and 'data-testid="case-reporter-phone-reveal"' in page
    r = c["intake_here"].form(reveal, {})
    assert r.status_code == 200 and PHONE_A in r.text
    api, page = seen("intake_there")
    assert api == "138****5678" and PHONE_A not in page and c["intake_there"].form(reveal, {}).status_code == 403
    audit = all_audit_text(ctx)
    assert PHONE_A not in audit and '"reporter_phone"' in audit  # the reveal names the field, not the number


# --- encryption at rest ------------------------------------------------------------------------

@pytest.fixture
def keyfile(tmp_path: Path) -> Path:
    f = tmp_path / "pii.keys"
    f.write_text("# test keys\n" + key_line("k1") + "\n", encoding="utf-8")
    return f


@pytest.mark.needs_plugins("command")
def test_encrypted_at_rest_and_read_back(make_app: Any, keyfile: Path, client_for: Any) -> None:
    from conftest import ADMIN_PASSWORD, ADMIN_USER
    app = make_app(pii={"key_file": str(keyfile)})
    ctx = app.state.ccms
    admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app)
    orgs = districts(ctx)
    x = person_with_phone(ctx, "xiao_a", orgs["a"], PHONE_A)
    raw = raw_phone(ctx, x)
    assert raw.startswith("pii1:k1:") and not any(PHONE_A[i:i + 6] in raw for i in range(6))  # no run of its digits
    with ctx.db.session() as s:
        assert s.get(Person, x).phone == PHONE_A
    assert admin.api("GET", f"/api/people/{x}").json()["phone"] == PHONE_A  # read back through the API
    # every PII column is known, plugins' included
    assert {"core_person": {"phone"}, "command_case": {"reporter_phone"}}.items() <= \
        {k: v for k, v in pii.PII_COLUMNS.items()}.items()


def _toml(path: Path, db_url: str, keyfile: Path | None) -> Path:
    lines = ['profile = "city"', 'region_code = "320500"', 'name = "测试市"', 'secret_key = "s3cret-s3cret-s3cret"',
             f'database_url = "{db_url}"']
    missing = without_uninstalled("city", {}).get("plugins", {}).get("disable", [])
    if missing:  # core without plugins/: what an operator writes for plugins they did not install
        lines += ["[plugins]", "disable = [" + ", ".join(f'"{pid}"' for pid in missing) + "]"]
    if keyfile is not None:
        lines += ["[pii]", f'key_file = "{keyfile}"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.needs_plugins("command")
def test_encrypt_existing_rows_then_rotate_keys(make_app: Any, db_url: str, tmp_path: Path, keyfile: Path,
                                                capsys: Any) -> None:
    from flow_engine_kit import person
    from test_command_base import city
    from test_command_cases import INSIDE, png

    from ccms.plugins.command import cases
    ctx = make_app().state.ccms  # encryption off: rows are stored as given
    orgs = districts(ctx)
    x = person_with_phone(ctx, "xiao_a", orgs["a"], PHONE_A)
    city(ctx)
    sup = person(ctx, "sup", roles=["command_supervisor"])
    person(ctx, "leader", roles=["command_shift_leader"])
    with ctx.db.session() as s:
        photo = cases.save_photo(ctx, s, sup, "p.png", png()).id
        case_id = cases.report(ctx, s, sup, cases.ReportIn(class_code="E0102", lon=INSIDE[0], lat=INSIDE[1],
                                                           photos=[photo], reporter_phone=PHONE_B)).id

    def raw_case() -> str:
        with ctx.db.engine.connect() as c:
            return c.execute(text("SELECT reporter_phone FROM command_case WHERE id = :i"), {"i": case_id}).scalar()

    assert raw_phone(ctx, x) == PHONE_A and raw_case() == PHONE_B
    conf = _toml(tmp_path / "d.toml", db_url, keyfile)
    assert main(["pii", "encrypt", "--config", str(conf)]) == 0
    assert raw_phone(ctx, x).startswith("pii1:k1:") and raw_case().startswith("pii1:k1:")
    assert PHONE_B not in raw_case()
    assert main(["pii", "rotate-key", "--config", str(conf), "--id", "k2"]) == 0
    assert raw_phone(ctx, x).startswith("pii1:k2:") and raw_case().startswith("pii1:k2:")
    assert [ln.split()[0] for ln in keyfile.read_text().splitlines() if ln and not ln.startswith("#")] == ["k2", "k1"]
    assert main(["pii", "status", "--config", str(conf)]) == 0
    assert "k2" in capsys.readouterr().out
    assert main(["pii", "rotate-key", "--config", str(conf), "--id", "k3", "--prune"]) == 0
    assert [ln.split()[0] for ln in keyfile.read_text().splitlines() if ln and not ln.startswith("#")] == ["k3"]
    fresh = create_app(parse_deployment({"profile": "city", "region_code": "320500", "name": "t",
                                         "secret_key": "s3cret-s3cret-s3cret", "database_url": db_url,
                                         "pii": {"key_file": str(keyfile)}})).state.ccms
    from ccms.plugins.command.models import Case
    with fresh.db.session() as s:
        assert s.get(Person, x).phone == PHONE_A and s.get(Case, case_id).reporter_phone == PHONE_B
    fresh.db.dispose()
    with ctx.db.session() as s:  # rotations are audited, without the numbers
        actions = [a for (a,) in s.execute(select(AuditLog.action).where(AuditLog.object_type == "pii"))]
    assert actions == ["pii_encrypt", "pii_rotate_key", "pii_rotate_key"]
    assert main(["pii", "decrypt", "--config", str(conf)]) == 0
    assert raw_phone(ctx, x) == PHONE_A and raw_case() == PHONE_B


def test_wrong_or_missing_key_stops_start_up_in_both_languages(make_app: Any, db_url: str, tmp_path: Path,
                                                               keyfile: Path, capsys: Any) -> None:
    ctx = make_app(pii={"key_file": str(keyfile)}).state.ccms
    x = person_with_phone(ctx, "xiao_a", districts(ctx)["a"], PHONE_A)

    def start(pii_conf: dict[str, Any] | None) -> Any:
        data = {"profile": "city", "region_code": "320500", "name": "t", "secret_key": "s3cret-s3cret-s3cret",
                "database_url": db_url}
        if pii_conf is not None:
            data["pii"] = pii_conf
        app = create_app(parse_deployment(without_uninstalled("city", data)))
        with TestClient(app):
            pass
        app.state.ccms.db.dispose()

    with pytest.raises(ConfigError) as e:  # the key file is gone
        start({"key_file": str(tmp_path / "nowhere.keys")})
    assert "找不到个人信息加密密钥文件" in e.value.zh and "key file not found" in e.value.en
    wrong = tmp_path / "wrong.keys"
    wrong.write_text(key_line("k1") + "\n", encoding="utf-8")  # same id, other bytes
    with pytest.raises(ConfigError) as e:
        start({"key_file": str(wrong)})
    assert "无法解密" in e.value.zh and "does not decrypt" in e.value.en
    other = tmp_path / "other.keys"
    other.write_text(key_line("k9") + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        start({"key_file": str(other)})
    assert "k1" in e.value.zh and "k1" in e.value.en
    with pytest.raises(ConfigError) as e:  # [pii] removed while the data is encrypted
        start(None)
    assert "k1" in e.value.zh and "does not have" in e.value.en
    with pytest.raises(ConfigError) as e:
        start({"key_env": "CCMS_TEST_NO_SUCH_VARIABLE"})
    assert "CCMS_TEST_NO_SUCH_VARIABLE" in e.value.zh and "not set" in e.value.en
    # the CLI says it in both languages too, exit status 2
    conf = _toml(tmp_path / "bad.toml", db_url, wrong)
    assert main(["pii", "status", "--config", str(conf)]) == 2
    err = capsys.readouterr().err
    assert "错误" in err and "error:" in err and "k1" in err
    assert raw_phone(ctx, x).startswith("pii1:k1:")  # nothing was touched


def test_a_key_file_others_may_read_is_warned_about(tmp_path: Path, caplog: Any) -> None:
    f = tmp_path / "k.keys"
    f.write_text(key_line() + "\n", encoding="utf-8")
    f.chmod(0o644)
    with caplog.at_level("WARNING", logger="ccms.pii"):
        assert pii.load_keyring(pii.PiiConfig(key_file="k.keys"), tmp_path) is not None
    assert "chmod 600" in caplog.text
    caplog.clear()
    f.chmod(0o600)
    with caplog.at_level("WARNING", logger="ccms.pii"):
        pii.load_keyring(pii.PiiConfig(key_file=str(f)))
    assert caplog.text == ""


@pytest.mark.parametrize("text, zh, en", [
    ("k1 aes-256-gcm " + base64.b64encode(b"short").decode(), "字节", "bytes"),
    ("k1 des " + base64.b64encode(bytes(32)).decode(), "不支持", "not supported"),
    ("k1 aes-256-gcm not*base64", "base64", "base64"),
    ("k1 aes-256-gcm", "编号 算法", "<id> <suite>"),
    ("# only a comment", "没有密钥", "no key"),
])
def test_bad_key_lines_are_named(text: str, zh: str, en: str) -> None:
    with pytest.raises(ConfigError) as e:
        pii.parse_keys(text, "pii.keys")
    assert zh in e.value.zh and en in e.value.en and "pii.keys" in e.value.en


@pytest.mark.parametrize("suite", sorted(pii.SUITES))
def test_both_suites_round_trip_and_old_keys_still_decrypt(suite: str) -> None:
    old = pii.Keyring(pii.parse_keys(key_line("k1", suite), "t"))
    stored = old.encrypt(PHONE_A)
    assert stored.startswith("pii1:k1:") and PHONE_A not in stored and old.decrypt(stored) == PHONE_A
    assert old.encrypt(PHONE_A) != stored  # a fresh nonce each time
    k1 = key_line("k1", suite)
    old = pii.Keyring(pii.parse_keys(k1, "t"))
    stored = old.encrypt(PHONE_A)
    both = pii.Keyring(pii.parse_keys(key_line("k2", suite) + "\n" + k1, "t"))  # during a rotation
    assert both.current.kid == "k2" and both.decrypt(stored) == PHONE_A and both.encrypt(PHONE_A).startswith("pii1:k2:")
    tampered = stored[:-2] + ("A" if stored[-2] != "A" else "B") + stored[-1]
    with pytest.raises(ConfigError):
        old.decrypt(tampered)


@pytest.mark.needs_plugins("command")
def test_migrations_widen_the_columns_for_ciphertext(ctx: Any) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ccms.db import Base
    from ccms.plugins.command.models import CommandBase
    with ctx.db.engine.connect() as conn:
        diffs = [*compare_metadata(MigrationContext.configure(conn), Base.metadata),
                 *compare_metadata(MigrationContext.configure(conn), CommandBase.metadata)]
    changes = [c for d in diffs if isinstance(d, list) for c in d]  # column changes (tables come as tuples)
    assert not [c for c in changes if c[3] in ("phone", "reporter_phone")]
    with ctx.db.engine.begin() as conn:  # a ciphertext-sized value fits (PostgreSQL enforces VARCHAR lengths)
        conn.execute(text("UPDATE core_person SET phone = :v"), {"v": "p" * 255})


def test_flow_task_page_and_api_mask_the_records_numbers(ctx: Any, client_for: Any) -> None:
    from flow_engine_kit import flow, open_tasks, person, task
    from flow_engine_kit import publish as publish_flow

    from ccms.flows import engine
    from ccms.forms import records
    form = {**FORM_DEF, "schema": {**FORM_DEF["schema"], "properties": {
        **FORM_DEF["schema"]["properties"], "opinion": {"type": "string", "title": "意见"}}}}
    publish(ctx, form)
    publish_flow(ctx, flow("pii_flow", [
        {"id": "start", "type": "start"}, task("review", "head", editable=["phone", "opinion"]),
        {"id": "end", "type": "end"}],
        [{"from": "start", "to": "review"}, {"from": "review", "to": "end", "action": "agree"}], form=FORM))
    emp, _head = person(ctx, "emp"), person(ctx, "head")
    with ctx.db.session() as s:
        rid = records.create(s, emp, ctx, FORM, {"name": "张三", "phone": PHONE_A, "idcard": IDCARD}, 1).id
        iid = engine.start(s, ctx, emp, "pii_flow", record_id=rid, title="核实").id
    [t] = open_tasks(ctx, iid)
    head = client_for("head", "x-Secret-123456")
    page = head.get(f"/tasks/{t.id}").text
    assert PHONE_A not in page and IDCARD not in page and "138****5678" in page
    record = head.api("GET", f"/api/tasks/{t.id}").json()["record"]
    assert (record["phone"], record["idcard"]) == ("138****5678", "110105********" + IDCARD[-4:])
    r = head.form(f"/tasks/{t.id}/act", {"action": "agree", "phone": "138****5678", "opinion": "属实",
                                         "version": str(t.version)}, follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    with ctx.db.session() as s:
        assert records.get(s, FORM, rid).data == {"name": "张三", "phone": PHONE_A, "idcard": IDCARD,
                                                  "opinion": "属实"}
