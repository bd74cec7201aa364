"""No raw codes reach a reader (issue 11, item 13).

A small demo city (the ``ccms demo`` seeding with fewer cases) is opened as
every demo role through the in-process client: every screen of the role's
menu, and as the administrator a case page, a task page, a flow instance
(diagram and timeline), the audit log and 权限配置. The visible text — without
scripts, styles, attributes, tooltips and the ``<code>`` a page deliberately
shows to administrators and auditors — must hold no dotted identifier
(``flow.task.complete``), no snake_case word (``need_verify``, ``zbz_1``), no
bracketed key (``[need_verify]``), no ``flow_instance · 201`` object
reference and no untranslated i18n key (the catalog's fallback shows the key).
"""

from __future__ import annotations

import contextlib
import html
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from ccms import demo
from ccms.app import create_app
from ccms.cli import main
from ccms.config import load_deployment
from ccms.flows.models import FlowTask

# Pages of the whole demo deployment (core + the command plugin): skipped without it.
demo_cases = pytest.importorskip("ccms.plugins.command.demo_cases", reason="需要 command 插件 / needs the command plugin")
Case = pytest.importorskip("ccms.plugins.command.models", reason="需要 command 插件 / needs the command plugin").Case

HIDDEN = re.compile(r"(?is)<(script|style|code|pre|template|title|textarea|select)\b.*?</\1\s*>|<!--.*?-->")
TAG = re.compile(r"(?s)<[^>]*>")
PATTERNS = {
    "dotted identifier": re.compile(r"(?<![\w./:@-])[a-z][a-z0-9_]+(?:\.[a-z][a-z0-9_]+)+(?![\w/@-])"),
    "snake_case word": re.compile(r"(?<![\w./:@-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/@-])"),
    "bracketed key": re.compile(r"\[[a-z_][a-z0-9_. ]*\]"),
    "object reference": re.compile(r"\b[a-z_]+ · \d+"),
}
# words a page may show as they are: a product's name; examples of a code's format in the help text of
# the fields where administrators type one (a flow id, an audit action to search for)
ALLOWED = {"bpmn.io", "leave_approval", "login_failed"}
# account screens (人员配置, 日志分析) show log-in names on purpose: that is what is typed and logged
USERNAME_SCREENS = ("/admin/people", "/admin/logs")


def visible_text(page: str) -> str:
    return html.unescape(TAG.sub(" ", HIDDEN.sub(" ", page)))


def raw_codes(page: str, extra_allowed: set[str] = frozenset()) -> list[tuple[str, str]]:
    text = visible_text(page)
    return [(kind, m.group(0)) for kind, rx in PATTERNS.items() for m in rx.finditer(text)
            if m.group(0) not in ALLOWED and m.group(0) not in extra_allowed]


def test_the_checker_finds_what_it_should_and_ignores_what_a_page_may_show():
    page = ('<p>时限 limit_hours 工时</p><p>当 [need_verify]</p><td>flow.task.complete</td><td>flow_instance · 201</td>'
            '<td>操作人 zbz_1</td><script>var a_b = "x.y";</script><code>flow.start</code>'
            '<a href="/admin/x_y" title="a.b">张伟</a><p>2024-05 E0101 私搭乱建 13:00 a.m. bpmn.io</p>')
    found = {v for _, v in raw_codes(page)}
    assert found == {"limit_hours", "[need_verify]", "need_verify", "flow.task.complete", "flow_instance · 201",
                     "zbz_1", "flow_instance"}


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, Any], list[Any]]]:
    data = tmp_path_factory.mktemp("rawcodes") / "data"
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        mp.setattr(demo_cases, "HISTORY", 300)  # the screens, not the volume: a few hundred cases do
        mp.setattr(demo_cases, "OPEN", 40)
        assert main(["demo", "--no-serve", "--data-dir", str(data)]) == 0
    app = create_app(load_deployment(Path(data) / "demo.toml"))
    logins: dict[str, Any] = {}
    everyone = demo.read_logins(data / "demo-logins.txt")
    for x in everyone:
        logins.setdefault(x.role, x)  # one person per role
    yield app, logins, everyone
    app.state.ccms.db.dispose()


def _client(app: Any, login: Any) -> TestClient:
    c = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": login.username, "password": login.password, "csrf_token": token})
    assert r.status_code in (200, 302, 303), r.text[:300]
    return c


def _menu_links(page: str) -> list[str]:
    nav = re.search(r'(?s)<nav class="sidebar".*?</nav>', page)
    return sorted({u for u in re.findall(r'href="(/[^"]*)"', nav.group(0) if nav else "")})


def test_no_raw_codes_on_any_screen_of_any_demo_role(city):
    app, logins, everyone = city
    usernames = {x.username for x in everyone}
    found: dict[str, list[tuple[str, str]]] = {}
    for role, login in logins.items():
        c = _client(app, login)
        home = c.get("/")
        for url in ["/", *_menu_links(home.text)]:
            r = c.get(url)
            if r.status_code != 200 or "text/html" not in r.headers.get("content-type", ""):
                continue
            allowed = usernames if url.startswith(USERNAME_SCREENS) else set()
            hits = raw_codes(r.text, allowed)
            if hits:
                found[f"{role} {url}"] = hits[:6]
    assert not found, found


def test_no_raw_codes_on_the_case_task_flow_audit_and_roles_pages(city):
    app, logins, people = city
    ctx = app.state.ccms
    with ctx.db.session() as s:
        tasks = list(s.execute(select(FlowTask.id, FlowTask.instance_id, FlowTask.node_id)
                               .where(FlowTask.status == "open").order_by(FlowTask.id.desc())).all())
        picked: dict[str, tuple[int, int]] = {}
        for tid, inst, node in tasks:
            picked.setdefault(node, (tid, inst))
        cases = dict(s.execute(select(Case.instance_id, Case.id)
                               .where(Case.instance_id.in_([i for _, i in picked.values()]))).all())
    assert {"dispatch", "dispose", "check"} <= set(picked), picked
    urls = ["/admin/audit", "/admin/roles", "/admin/roles/admin", "/admin/grants"]
    for node in ("dispatch", "dispose", "check"):
        tid, inst = picked[node]
        urls += [f"/command/cases/{cases[inst]}", f"/tasks/{tid}", f"/flows/instances/{inst}"]
    c = _client(app, logins["admin"])
    found = {}
    for url in urls:
        r = c.get(url)
        assert r.status_code == 200, (url, r.status_code)
        hits = raw_codes(r.text)
        if hits:
            found[url] = hits[:8]
    assert not found, found
    # the timeline names people, the audit log names actions and objects
    page = c.get(f"/command/cases/{cases[picked['dispose'][1]]}").text
    timeline = " ".join(visible_text(li) for li in re.findall(r'(?s)<li data-testid="case-tl-\d+".*?</li>', page))
    assert timeline and any(p.name in timeline for p in people), timeline
    assert not any(re.search(rf"(?<![\w]){re.escape(p.username)}(?![\w])", timeline) for p in people), timeline
    audit = c.get("/admin/audit").text
    assert "办理任务" in audit or "发起流程" in audit
    # 权限配置 lists roles by name (the code is the small secondary text)
    roles = c.get("/admin/roles").text
    assert re.search(r'data-testid="role-link-command_supervisor">监督员</a>', roles)
