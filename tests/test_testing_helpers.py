"""ccms.testing for vendors and for this suite: template databases copied per
test (the same content as a database built from scratch, and independent of
each other) and temporary plugins written from data."""

from __future__ import annotations

import sys

import pytest
from sqlalchemy import func, inspect, select, text

from ccms.errors import StartupError
from ccms.models import Person
from ccms.testing import add_user, login_client, make_test_app, temporary_plugins


def _row_counts(app) -> dict[str, int]:
    engine = app.state.ccms.db.engine
    with engine.connect() as c:
        return {t: c.execute(text(f'SELECT count(*) FROM "{t}"')).scalar()
                for t in inspect(engine).get_table_names()}


def test_a_templated_database_holds_what_a_fresh_build_holds(make_app, new_db_url):
    copied = make_app(plugins={"enable": ["example_notice"]})  # the first app: a copy of the template
    built = make_app(db_url=new_db_url(), plugins={"enable": ["example_notice"]})  # migrated and seeded here
    assert copied.state.ccms.deployment.database_url != built.state.ccms.deployment.database_url
    for app in (copied, built):
        app.state.ccms.audit_sealer.close()  # the template's audit entries were sealed when it was built
    assert _row_counts(copied) == _row_counts(built)
    for app in (copied, built):
        assert login_client(app).get("/notices").status_code == 200


def test_copies_of_one_template_are_independent(tmp_path):
    first = make_test_app(tmp_path / "a")
    second = make_test_app(tmp_path / "b")
    add_user(first, "only_in_first", ["core.users.view"])
    with second.state.ccms.db.session() as s:
        assert s.scalar(select(func.count()).where(Person.username == "only_in_first")) == 0
    assert login_client(first, "only_in_first").get("/").status_code == 200
    assert login_client(second).get("/").status_code == 200  # the administrator exists in each copy
    for app in (first, second):
        app.state.ccms.close()


def test_a_different_deployment_gets_its_own_template(tmp_path):
    plain = make_test_app(tmp_path / "a")
    notices = make_test_app(tmp_path / "b", enable=["example_notice"])
    tables = {app: set(inspect(app.state.ccms.db.engine).get_table_names()) for app in (plain, notices)}
    assert "example_notice_item" in tables[notices] and "example_notice_item" not in tables[plain]
    for app in (plain, notices):
        app.state.ccms.close()


PROBE = "LOADED_FROM = __file__\n"


def test_a_temporary_plugin_is_enabled_for_one_app_and_gone_afterwards(tmp_path):
    with temporary_plugins(tmp_path, {"acme_probe": {"files": {"__init__.py": PROBE},
                                                     "manifest": {"name": {"zh-CN": "探针", "en": "Probe"}}}}) as av:
        assert "command" in av  # the built-in plugins stay available
        app = make_test_app(tmp_path, enable=["acme_probe"], available=av)
        ctx = app.state.ccms
        assert "acme_probe" in [p.id for p in ctx.plugins]
        assert sys.modules["acme_probe"].LOADED_FROM.startswith(str(tmp_path))
        ctx.close()
    assert "acme_probe" not in sys.modules
    assert not any(str(tmp_path) in p for p in sys.path)


def test_a_temporary_plugin_with_a_bad_manifest_is_refused_naming_it(tmp_path):
    with pytest.raises(StartupError) as exc, temporary_plugins(tmp_path, {"acme_bad": {"manifest": {"version": "one"}}}):
        pass
    assert exc.value.plugin == "acme_bad" and exc.value.field == "version"
    assert not any(str(tmp_path) in p for p in sys.path)


def test_the_temp_plugins_fixture_works_with_make_app(temp_plugins, make_app):
    available = temp_plugins({"acme_fixture": {"files": {"__init__.py": PROBE}}})
    app = make_app(available=available, plugins={"enable": ["acme_fixture"]})
    assert "acme_fixture" in [p.id for p in app.state.ccms.plugins]
    assert login_client(app).get("/").status_code == 200
