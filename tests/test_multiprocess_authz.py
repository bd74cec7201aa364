"""Grants and revocations reach every app process at once (shared database)."""

from __future__ import annotations

from conftest import ADMIN_PASSWORD
from ccms import auth
from ccms.models import Org, Person
from sqlalchemy import select


def test_revocation_in_one_process_is_honoured_by_another(make_app, client_for, db_url):
    app_a = make_app()
    app_b = make_app(db_url=db_url)  # a second "process": own engine, own permission index
    a, b = app_a.state.ccms, app_b.state.ccms
    with a.db.session() as s:
        root = s.scalar(select(Org).where(Org.parent_id.is_(None)))
        p = Person(username="zhangsan", display_name="张三", org_id=root.id)
        auth.set_password(p, ADMIN_PASSWORD)
        s.add(p)
        s.flush()
        a.authz.grant(s, p.id, "org_admin", root.id)
        pid, root_id = p.id, root.id
    c = client_for("zhangsan", ADMIN_PASSWORD, app_=app_b)
    assert "机构配置" in c.get("/").text
    with a.db.session() as s:
        a.authz.revoke(s, pid, "org_admin", root_id)
    home = c.get("/").text
    assert "机构配置" not in home and "人员配置" not in home
    r = c.get("/api/orgs")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
