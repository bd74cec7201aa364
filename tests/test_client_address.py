"""The client address that audit, throttling and logs use: the peer, or the
forwarded address when — and only when — the peer is a configured proxy."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from ccms.config import SecurityPolicy
from ccms.web.middleware import real_client_ip


def scope(peer: str, xff: str | None = None) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", xff.encode())] if xff else []
    return {"type": "http", "client": (peer, 5555), "headers": headers}


def nets(*items: str) -> tuple[Any, ...]:
    return tuple(ipaddress.ip_network(i, strict=False) for i in items)


def test_forged_header_from_untrusted_peer_is_ignored() -> None:
    assert real_client_ip(scope("203.0.113.9", "1.2.3.4"), nets("10.0.0.0/8")) == "203.0.113.9"
    assert real_client_ip(scope("203.0.113.9", "1.2.3.4"), ()) == "203.0.113.9"


def test_trusted_proxy_chain_yields_nearest_untrusted_hop() -> None:
    # The client may prepend anything; only hops added by our proxies count.
    s = scope("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.1")
    assert real_client_ip(s, nets("10.0.0.0/8")) == "198.51.100.7"


def test_all_hops_trusted_gives_leftmost() -> None:
    assert real_client_ip(scope("10.0.0.2", "10.0.0.5"), nets("10.0.0.0/8")) == "10.0.0.5"


def test_bad_proxy_setting_is_refused_in_both_languages() -> None:
    with pytest.raises(ValueError) as exc:
        SecurityPolicy(trusted_proxies=["not-an-ip"])
    assert "不是有效的地址或网段" in str(exc.value) and "not an address" in str(exc.value)


@pytest.mark.parametrize("trusted, expected", [(["127.0.0.0/8"], "198.51.100.7"), ([], "127.0.0.1")])
def test_audit_records_forwarded_address_only_from_trusted_proxy(make_app: Any, trusted: list[str],
                                                                 expected: str) -> None:
    from sqlalchemy import select

    from ccms.models import AuditLog
    from ccms.testing import ADMIN_PASSWORD, ADMIN_USER, Client
    app = make_app(security={"trusted_proxies": trusted})
    with Client(app, client=("127.0.0.1", 40000)) as c:
        c.refresh_csrf()
        r = c.form("/login", {"username": ADMIN_USER, "password": ADMIN_PASSWORD},
                   headers={"X-Forwarded-For": "198.51.100.7"}, follow_redirects=False)
        assert r.status_code == 303
    with app.state.ccms.db.session() as s:
        ips = s.scalars(select(AuditLog.client_ip).where(AuditLog.action == "login")).all()
    assert ips == [expected]
