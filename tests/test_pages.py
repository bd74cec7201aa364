"""core/web/pages.py: one version of the page and htmx helpers, used by core and plugins."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from conftest import ADMIN_PASSWORD, ADMIN_USER
from ccms import api
from ccms.errors import ValidationFailed
from ccms.web.pages import is_htmx, page_number, paging, query_int, redirect, wants_fragment, with_flash

NOTICE = {"plugins": {"enable": ["example_notice"]}}


def req(query: str = "", **headers: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/x", "query_string": query.encode(),
                    "headers": [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]})


def test_htmx_requests_and_their_target() -> None:
    assert not is_htmx(req()) and is_htmx(req(HX_Request="true"))
    assert wants_fragment(req(HX_Request="true"))
    assert wants_fragment(req(HX_Request="true", HX_Target="list"), "list")
    assert not wants_fragment(req(HX_Request="true", HX_Target="detail"), "list")
    assert wants_fragment(req(HX_Request="true", HX_Target="grants"), "list", "grants")
    assert not wants_fragment(req(HX_Target="list"), "list")  # a target without htmx is no htmx request


def test_redirect_is_303_for_a_browser_and_hx_redirect_for_htmx() -> None:
    r = redirect(req(), "/a?x=1", flash="saved")
    assert r.status_code == 303 and r.headers["location"] == "/a?x=1&flash=saved"
    r = redirect(req(HX_Request="true"), "/a", flash="saved")
    assert r.status_code == 200 and r.headers["hx-redirect"] == "/a?flash=saved" and "location" not in r.headers


def test_flash_goes_before_the_fragment() -> None:
    assert with_flash("/p/1#tokens", "token_revoked") == "/p/1?flash=token_revoked#tokens"
    assert with_flash("/p", None) == "/p"
    assert with_flash("/p", "a b&c") == "/p?flash=a+b%26c"


@pytest.mark.parametrize("query,page", [("", 1), ("page=3", 3), ("page=0", 1), ("page=-4", 1), ("page=x", 1),
                                        ("page=99999999999", 100_000)])
def test_page_number_is_lenient(query: str, page: int) -> None:
    assert page_number(req(query)) == page


def test_query_int_names_the_parameter() -> None:
    assert query_int(req("per_page=50"), "per_page", 20, 1, 500) == 50
    assert query_int(req(""), "per_page", 20, 1, 500) == 20
    for bad in ("per_page=0", "per_page=x", "per_page=501"):
        with pytest.raises(ValidationFailed) as e:
            query_int(req(bad), "per_page", 20, 1, 500)
        assert "per_page" in e.value.zh and "per_page" in e.value.en and "per_page" in e.value.fields


def test_paging_clamps_to_the_last_page() -> None:
    assert paging(0, 5, 20) == {"page": 1, "pages": 1, "per_page": 20, "total": 0}
    assert paging(41, 9, 20) == {"page": 3, "pages": 3, "per_page": 20, "total": 41}


def test_the_facade_exports_the_page_helpers() -> None:
    for name in ("is_htmx", "wants_fragment", "page_or_fragment", "redirect", "with_flash", "page_number",
                 "query_int", "paging"):
        assert name in api.__all__ and callable(getattr(api, name))


def test_a_plugin_page_answers_htmx_with_a_fragment_and_an_hx_redirect(make_app: Any, client_for: Any) -> None:
    app = make_app(**NOTICE)
    admin = client_for(ADMIN_USER, ADMIN_PASSWORD, app_=app)
    full, part = admin.get("/notices"), admin.get("/notices", headers={"HX-Request": "true"})
    assert "<html" in full.text and full.status_code == part.status_code == 200 and "<html" not in part.text
    r = admin.form("/notices/new", {"title": "停水通知"}, headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.status_code == 200 and r.headers["hx-redirect"] == "/notices?flash=notice_created"
    r = admin.form("/notices/new", {"title": "施工公告"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/notices?flash=notice_created"
