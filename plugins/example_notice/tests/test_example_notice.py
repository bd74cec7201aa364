"""The worked example plugin ``example_notice``: its screens, JSON API, permissions, settings,
migrations, demo data and locales, end to end (run by the README's test command; the shared
fixtures come from the repository's conftest.py and :mod:`ccms.testing`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, select

from conftest import deployment_data
from ccms import migrate
from ccms.api import get_settings
from ccms.app import create_app
from ccms.config import parse_deployment
from ccms.models import AuditLog
from ccms.seed import ensure_root_org
from ccms.testing import ADMIN_PASSWORD, ADMIN_USER, add_user, login_client

NO_PROFILE_PLUGINS = {"national": [], "province": [], "city": [], "county": []}


def start(**overrides: Any) -> Any:
    """Start a deployment (no database work) with no profile plugins, as production does."""
    overrides.setdefault("database_url", "sqlite:///:memory:")
    return create_app(parse_deployment(deployment_data(**overrides)), profiles=NO_PROFILE_PLUGINS)


NOTICE = {"plugins": {"enable": ["example_notice"]}}


def _tables(url: str) -> set[str]:
    eng = create_engine(url)
    try:
        return set(inspect(eng).get_table_names())
    finally:
        eng.dispose()


def test_example_notice_migrations_only_when_enabled(make_app, new_db_url, db_url):
    plain = make_app()
    assert "example_notice_item" not in _tables(db_url)
    owners = [h[0] for h in migrate.current(plain.state.ccms.db.engine, plain.state.ccms.plugins)]
    assert owners[0] == "core" and "example_notice" not in owners  # (the city's command plugin has its own)

    url = new_db_url()
    app = make_app(db_url=url, **NOTICE)
    ctx = app.state.ccms
    tables = _tables(url)
    assert "example_notice_item" in tables and "example_notice_alembic_version" in tables
    current = migrate.current(ctx.db.engine, ctx.plugins)
    assert ("example_notice", "0001_example_notice", "0001_example_notice") in current
    assert current[0][0] == "core" and current[0][1] == current[0][2]  # core's own history untouched (at its head)
    assert migrate.histories(ctx.plugins)[-1][2] == "example_notice_alembic_version"


@pytest.mark.parametrize("profile,region", [("national", "110000"), ("province", "320000"), ("city", "320500"),
                                            ("county", "320506")])
def test_example_notice_can_be_enabled_on_every_tier(profile, region):
    ctx = start(profile=profile, region_code=region, **NOTICE).state.ccms
    assert ctx.enabled("example_notice") and "example_notice.edit" in ctx.permissions


def test_example_notice_screens_end_to_end(make_app, client_for):
    app = make_app(**NOTICE)
    ctx = app.state.ccms
    admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=app)
    home = admin.get("/").text
    assert 'data-menu="publishing.notices"' in home and "信息发布" in home
    assert 'data-testid="notice-panel"' in home and "暂无通知" in home

    listing = admin.get("/notices")
    assert listing.status_code == 200 and 'data-testid="notice-empty"' in listing.text
    form = admin.get("/notices/new")
    assert form.status_code == 200 and 'name="csrf_token"' in form.text

    bad = admin.form("/notices/new", {"title": "   ", "body": "保留我的输入"})
    assert bad.status_code == 422
    assert 'data-testid="error-title"' in bad.text and "标题不能为空" in bad.text and "保留我的输入" in bad.text
    long = admin.form("/notices/new", {"title": "长" * 201})
    assert long.status_code == 422 and "最多允许200个字符" in long.text

    ok = admin.form("/notices/new", {"title": "停水通知", "body": "明日停水"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/notices?flash=notice_created"
    listing = admin.get(ok.headers["location"])
    assert "通知已发布" in listing.text and "停水通知" in listing.text and "明日停水" in listing.text

    admin.form("/notices/new", {"title": "道路施工公告"})
    fragment = admin.get("/notices?q=施工", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "道路施工公告" in fragment.text and "停水通知" not in fragment.text
    assert "共 1 条" in fragment.text
    assert "停水通知" in admin.get("/").text  # the home panel shows the latest notices

    with ctx.db.session() as s:
        entries = s.scalars(select(AuditLog).where(AuditLog.action == "notice_create")).all()
    assert len(entries) == 2 and entries[0].actor_name == ADMIN_USER
    assert entries[0].after == {"title": "停水通知", "org_id": entries[0].after["org_id"]}


def test_example_notice_form_without_csrf_writes_nothing(make_app, client_for):
    app = make_app(**NOTICE)
    admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=app)
    r = admin.post("/notices/new", data={"title": "伪造"})
    assert r.status_code == 403 and "CSRF" in r.text
    assert admin.get("/api/notices").json()["total"] == 0


def test_example_notice_api_end_to_end(make_app, client_for):
    app = make_app(**NOTICE)
    admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=app)
    r = admin.api("POST", "/api/notices", json={"title": "接口通知", "body": "正文"})
    assert r.status_code == 201
    item = r.json()
    assert item["title"] == "接口通知" and item["org_name"] == "测试市城市综合管理服务平台"
    listed = admin.get("/api/notices").json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == item["id"]
    assert admin.get("/api/notices?q=没有").json() == {"items": [], "total": 0}

    for body, field in (({"title": ""}, "title"), ({"title": "x", "org_id": 999999}, "org_id"),
                        ({"title": "x", "colour": "red"}, "colour"), ({"body": "no title"}, "title")):
        r = admin.api("POST", "/api/notices", json=body)
        assert r.status_code == 422, body
        err = r.json()["error"]
        assert field in err["fields"] and err["message"] and err["message_en"]
    r = admin.api("POST", "/api/notices", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    assert admin.get("/api/notices").json()["total"] == 1  # nothing written by refused requests

    doc = admin.get("/api/openapi.json").json()
    ops = doc["paths"]["/api/notices"]
    assert ops["get"]["x-permission"] == "example_notice.view" and ops["post"]["x-permission"] == "example_notice.edit"
    assert "NoticeIn" in doc["components"]["schemas"]


def test_example_notice_permissions(make_app, client_for):
    app = make_app(**NOTICE)
    add_user(app, "reader", permissions=["example_notice.view"])
    add_user(app, "nobody", permissions=[])
    reader = login_client(app, "reader")
    nobody = login_client(app, "nobody")
    assert reader.get("/notices").status_code == 200
    assert 'data-testid="notice-new"' not in reader.get("/notices").text
    assert reader.get("/notices/new").status_code == 403
    r = reader.api("POST", "/api/notices", json={"title": "越权"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert nobody.get("/notices").status_code == 403
    assert nobody.get("/api/notices").status_code == 403
    assert 'data-testid="notice-panel"' not in nobody.get("/").text
    assert 'data-menu="publishing"' not in nobody.get("/").text


def test_example_notice_is_404_when_not_enabled(admin, ctx):
    assert not ctx.enabled("example_notice")
    assert admin.get("/notices").status_code == 404
    r = admin.get("/api/notices")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert "example_notice.view" not in ctx.permissions
    assert 'data-menu="publishing"' not in admin.get("/").text


def test_example_notice_settings_drive_the_home_panel(make_app, client_for):
    app = make_app(**NOTICE)
    ctx = app.state.ccms
    assert get_settings(ctx, "example_notice") == {"banner": "", "max_items": 5}
    admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=app)
    for i in range(4):
        admin.api("POST", "/api/notices", json={"title": f"通知{i}"})
    r = admin.api("PUT", "/api/settings/example_notice",
                  json={"values": {"banner": "防汛期间请保持通讯畅通", "max_items": 2}, "version": 0})
    assert r.status_code == 200, r.text
    bad = admin.api("PUT", "/api/settings/example_notice", json={"values": {"max_items": 99}, "version": 1})
    assert bad.status_code == 422  # the manifest's settings schema is enforced
    home = admin.get("/").text
    assert "防汛期间请保持通讯畅通" in home
    assert home.count('data-testid="notice-panel-item"') == 2
    assert "通知3" in home and "通知0" not in home


def test_example_notice_seeds_demo_data(make_app):
    app = make_app(**NOTICE)
    ctx = app.state.ccms
    with ctx.db.session() as s:
        org_id = ensure_root_org(ctx, s).id
        ctx.pm.hook.ccms_seed_demo(ctx=ctx, session=s, orgs={"root": org_id})
    client = login_client(app)
    listed = client.get("/api/notices").json()
    assert listed["total"] == 2 and all(i["org_id"] == org_id for i in listed["items"])


def test_example_notice_locales_have_the_same_keys():
    base = Path(__file__).resolve().parent.parent / "locales"
    zh = json.loads((base / "zh-CN" / "example_notice.json").read_text(encoding="utf-8"))
    en = json.loads((base / "en" / "example_notice.json").read_text(encoding="utf-8"))
    assert set(zh) == set(en) and all(zh.values()) and all(en.values())


def test_example_notice_in_english(make_app, client_for):
    app = make_app(locale="en", **NOTICE)
    admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=app)
    page = admin.get("/notices").text
    assert "Notices" in page and "No notices yet" in page


def test_example_notice_rows_are_scoped_to_the_users_org_subtree(make_app, client_for):
    from ccms.models import Org
    app = make_app(**NOTICE)
    ctx = app.state.ccms
    with ctx.db.session() as s:
        root = ensure_root_org(ctx, s)
        child = Org(parent_id=root.id, name="市城管局", kind="department", path="")
        s.add(child)
        s.flush()
        child.path = f"{root.path}{child.id}/"
        ctx.authz.bump(s)
        root_id, child_id = root.id, child.id
    admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=app)
    assert admin.api("POST", "/api/notices", json={"title": "全市通知", "org_id": root_id}).status_code == 201
    assert admin.api("POST", "/api/notices", json={"title": "城管局通知", "org_id": child_id}).status_code == 201
    add_user(app, "bureau", permissions=["example_notice.view", "example_notice.edit"], org_id=child_id)
    bureau = login_client(app, "bureau")
    titles = [i["title"] for i in bureau.get("/api/notices").json()["items"]]
    assert titles == ["城管局通知"]
    assert "全市通知" not in bureau.get("/notices").text
    assert bureau.api("POST", "/api/notices", json={"title": "发到上级", "org_id": root_id}).status_code == 403
    mine = bureau.api("POST", "/api/notices", json={"title": "本局通知"})
    assert mine.status_code == 201 and mine.json()["org_id"] == child_id  # defaults to the author's org
    assert admin.get("/api/notices").json()["total"] == 3
