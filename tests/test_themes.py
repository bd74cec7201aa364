"""Themes: a deployment overrides any template by name; dates shown in Asia/Shanghai."""

from __future__ import annotations

import datetime as dt



def test_deployment_theme_overrides_a_template_by_name(make_app, client_for, tmp_path):
    (tmp_path / "404.html").write_text(
        '{% extends "base.html" %}{% block content %}<p data-testid="custom-404">本市定制的404页面</p>{% endblock %}',
        encoding="utf-8")
    app = make_app(theme_dirs=[str(tmp_path)])
    c = client_for("root", "Str0ng#Passw0rd", app_=app)
    r = c.get("/nowhere")
    assert r.status_code == 404 and "本市定制的404页面" in r.text
    assert "应用维护" in r.text  # the rest of the default layout still renders


def test_named_theme_folder_is_searched_before_default(make_app, client_for, tmp_path, monkeypatch):
    from ccms.web import render as render_mod
    themes = tmp_path / "themes"
    (themes / "default" / "templates").mkdir(parents=True)
    (themes / "default" / "static").mkdir()
    (themes / "suzhou" / "templates").mkdir(parents=True)
    for f in (render_mod.THEMES_DIR / "default" / "templates").iterdir():
        (themes / "default" / "templates" / f.name).write_bytes(f.read_bytes()) if f.is_file() else None
    (themes / "suzhou" / "templates" / "login.html").write_text("<h1>苏州主题登录</h1>", encoding="utf-8")
    monkeypatch.setattr(render_mod, "THEMES_DIR", themes)
    app = make_app(theme="suzhou")
    assert "苏州主题登录" in client_for(app_=app).get("/login").text


def test_times_render_in_the_deployment_timezone(ctx):
    env = ctx.templates
    utc_noon = dt.datetime(2026, 1, 1, 4, 0, tzinfo=dt.timezone.utc)
    assert env.from_string("{{ t | localtime }}").render(t=utc_noon) == "2026-01-01 12:00"


def test_error_pages_are_bilingual(admin):
    r = admin.get("/api/orgs/999999")
    body = r.json()["error"]
    assert r.status_code == 404 and body["message"] and body["message_en"]


def test_named_theme_static_overrides_but_default_assets_remain(make_app, client_for, tmp_path, monkeypatch):
    import ccms.app as app_mod
    themes = tmp_path / "themes"
    (themes / "green" / "static").mkdir(parents=True)
    (themes / "green" / "static" / "ccms.css").write_text("body{background:green}", encoding="utf-8")
    default = app_mod.THEMES_DIR / "default"
    (themes / "default").symlink_to(default)
    monkeypatch.setattr(app_mod, "THEMES_DIR", themes)
    c = client_for(app_=make_app(theme="green"))
    assert c.get("/static/ccms.css").text == "body{background:green}"
    assert c.get("/static/vendor/htmx/htmx.min.js").status_code == 200


def test_generic_list_and_detail_partials(ctx):
    tpl = ctx.templates.from_string(
        '{% from "_macros.html" import table, detail %}'
        '{% call(r) table(["名称"], rows, testid="t") %}<td>{{ r.name }}</td>{% endcall %}'
        '{{ detail([("名称", "<b>x</b>"), ("备注", none)]) }}')
    html = tpl.render(rows=[{"id": 7, "name": "市城管局"}])
    assert 'data-testid="t-row-7"' in html and "<td>市城管局</td>" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<dd>—</dd>" in html  # escaped; empty shown as a dash
    empty = ctx.templates.from_string(
        '{% from "_macros.html" import table %}{% call(r) table(["名称"], []) %}{% endcall %}').render()
    assert "暂无数据" in empty
