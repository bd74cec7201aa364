"""Defect 13: common and leaked passwords, the user name and the person's name
in pinyin are refused, with bilingual messages naming the rule."""

from __future__ import annotations

import pytest
from test_cli import empty_db_url, migrated  # noqa: F401  (fixtures)
from test_orgs import PASSWORD, make_person, tree  # noqa: F401  (tree: fixture)

from ccms import auth, password_rules
from ccms.config import SecurityPolicy

COMMON = "常见"
NAME = "姓名的拼音"


def _zh(password: str, username: str = "someone", name: str = "", **policy) -> str:
    return "；".join(zh for zh, _ in auth.password_problems(password, SecurityPolicy(**policy), username, name))


def test_the_shipped_list_is_large_and_lower_case():
    words = password_rules.common_passwords()
    assert len(words) >= 10_000
    assert {"password123", "qwerty12345", "woaini1314", "5201314"} <= words


@pytest.mark.parametrize("password", ["Password123", "Qwerty12345", "PASSWORD123", "Woaini1314!",
                                      "Qwertyuiop!2024", "!!Password2024", "Admin@123456"])
def test_common_passwords_and_their_digit_symbol_variants_are_refused(password):
    assert COMMON in _zh(password)
    en = "; ".join(en for _, en in auth.password_problems(password, SecurityPolicy(), "someone"))
    assert "too common" in en


def test_the_common_list_can_be_switched_off():
    assert _zh("Password123", refuse_common_passwords=False) == ""


@pytest.mark.parametrize("password,name", [
    ("zhangsan2024!A", "张三"), ("ZHANGSAN#2024x", "张三"), ("Wxm-8842#tide", "王小明"),
    ("Xy7#wangxiaoming", "王小明"), ("Zeng-guofan#88", "曾国藩"), ("Kq#7john-smith", "John Smith")])
def test_the_name_in_pinyin_or_its_initials_is_refused(password, name):
    assert NAME in _zh(password, name=name)


def test_short_initials_do_not_count():
    # 张三 → "zs" is shorter than three letters: a password holding it is fine.
    assert _zh("Zs-9f!kQ2#tLw", name="张三") == ""


def test_user_name_is_refused():
    assert "不能包含用户名" in _zh("Xq#lisi-7788", username="lisi")


@pytest.mark.parametrize("password", ["Quiet#Harbor-2291", "Tm9!vK2#pLw7", "Str0ng#Passw0rd"])
def test_strong_passwords_pass(password):
    assert _zh(password, username="zhangsan", name="张三") == ""


def test_generated_passwords_are_never_common():
    policy = SecurityPolicy()
    assert all(not password_rules.is_common(auth.generate_password(policy)) for _ in range(20))


def test_creating_a_person_with_a_common_password_is_refused_with_the_rule(admin, ctx, tree):
    r = admin.api("POST", "/api/people", json={"username": "zhangsan", "display_name": "张三",
                                               "org_id": tree["a1"], "password": "Password123"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert COMMON in err["message"] and "too common" in err["message_en"]
    r = admin.api("POST", "/api/people", json={"username": "zhangsan", "display_name": "张三",
                                               "org_id": tree["a1"], "password": "zhangsan2024!A"})
    assert r.status_code == 422
    # The user name rule and the name rule both apply here; both are named.
    assert "用户名" in r.json()["error"]["message"] and NAME in r.json()["error"]["message"]
    r = admin.api("POST", "/api/people", json={"username": "zhangsan", "display_name": "张三",
                                               "org_id": tree["a1"], "password": "Quiet#Harbor-2291"})
    assert r.status_code == 201


def test_changing_your_own_password_to_your_name_is_refused(ctx, tree, client_for):
    make_person(ctx, "zs01", tree["a1"], display_name="张三")
    c = client_for("zs01", PASSWORD)
    r = c.form("/account/password", {"current": PASSWORD, "new": "zhangsan2024!A", "confirm": "zhangsan2024!A"})
    assert r.status_code == 422 and NAME in r.text
    r = c.form("/account/password", {"current": PASSWORD, "new": "Qwerty12345", "confirm": "Qwerty12345"})
    assert r.status_code == 422 and COMMON in r.text
    r = c.form("/account/password", {"current": PASSWORD, "new": "Quiet#Harbor-2291", "confirm": "Quiet#Harbor-2291"},
               follow_redirects=False)
    assert r.status_code == 303


@pytest.mark.parametrize("password,expected", [
    ("Password123!", "too common"),
    ("Laoban#2024xyz", "pinyin"),  # 老板 → laoban
])
def test_cli_user_create_refuses_common_and_name_passwords(password, expected, migrated, capsys, monkeypatch):
    from test_cli import cli, count

    from ccms.models import AuditLog, Person
    before = count(migrated, Person), count(migrated, AuditLog)
    code, out, err = cli(capsys, "user", "create", "--config", str(migrated), "--username", "boss",
                         "--name", "老板", "--admin", "--password-stdin", stdin=password + "\n",
                         monkeypatch=monkeypatch)
    assert code == 2 and out == "" and expected in err
    assert (count(migrated, Person), count(migrated, AuditLog)) == before
