"""The variant chooser and an if/then conditional field in Chromium at 1366 and 390 px: choosing
投诉 shows 被投诉单位, choosing 邮箱 swaps the contact fields, and the saved record holds only the
chosen variant; no CSP violation, no sideways scrolling."""

from __future__ import annotations

from typing import Any

import pytest
from browserkit import logged_in, shot
from browserkit import sqlite_only as backend  # noqa: F401
from test_form_records import publish
from test_forms_schema_widgets import DEFINITION, FORM
from test_orgs import districts

from ccms.forms.models import FormRecord
from ccms.testing import ADMIN_PASSWORD, ADMIN_USER

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1366, 390])
def test_variant_chooser_and_conditional_field(app: Any, browser: Any, width: int) -> None:
    from browserkit import LiveServer
    ctx = app.state.ccms
    publish(ctx, DEFINITION)
    orgs = districts(ctx)
    server = LiveServer(app).start()
    context, page, errors = logged_in(browser, server.url, ADMIN_USER, ADMIN_PASSWORD,
                                      viewport={"width": width, "height": 900})
    try:
        page.goto(server.url + f"/forms/{FORM}/new")
        target = page.locator("[data-testid=cond-target]")
        phone, email = page.locator("input[name='contact.phone']"), page.locator("input[name='contact.email']")
        assert not target.is_visible() and phone.is_visible() and not email.is_visible()
        page.select_option("#f-_org", str(orgs["a"]))
        page.fill("input[name=name]", "张三")
        page.select_option("select[name=kind]", "complaint")
        assert target.is_visible()  # the if/then field appears when 投诉 is chosen
        page.fill("input[name=target]", "某物业公司")
        page.fill("input[name='contact.phone']", "13800000000")
        page.select_option("select[name='_variant:contact:0']", "1")
        assert email.is_visible() and not phone.is_visible() and phone.is_disabled()
        page.fill("input[name='contact.email']", "zhang@example.cn")
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
        shot(page, f"forms-schema-variant-{width}")
        page.select_option("select[name=kind]", "advice")
        assert not target.is_visible()
        page.select_option("select[name=kind]", "complaint")
        page.click("[data-testid=record-save]")
        page.wait_for_url("**/forms/" + FORM + "/*?flash=saved")
        shot(page, f"forms-schema-saved-{width}")
        body = page.locator("main").inner_text()  # conditional and variant fields are the form's own, not archived
        assert "被投诉单位" in body and "zhang@example.cn" in body and "已归档字段" not in body
        with ctx.db.session() as s:
            data = s.query(FormRecord).filter_by(form_id=FORM).one().data
        assert data["contact"] == {"email": "zhang@example.cn"} and data["target"] == "某物业公司"
        assert errors == []
    finally:
        context.close()
        server.stop()
