"""The authenticated user of a request."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CurrentUser:
    id: int
    username: str
    display_name: str
    org_id: int
    via: str = "session"  # "session" or "token"
    session_id: str = ""
    token_scopes: list[str] = field(default_factory=list)
    password_expired: bool = False
    client_ip: str = ""

    @property
    def is_authenticated(self) -> bool:
        return True
