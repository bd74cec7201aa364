"""Typed errors with bilingual messages (zh-CN first, English second).

Staff see both languages on screens; machines get ``code`` plus both messages.
"""

from __future__ import annotations

from typing import Any


class CcmsError(Exception):
    """Base error: ``code`` is stable for machines, messages are for people."""

    status = 400
    code = "error"

    def __init__(self, zh: str, en: str, *, code: str | None = None,
                 fields: dict[str, Any] | None = None, status: int | None = None) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en
        if code:
            self.code = code
        if status:
            self.status = status
        self.fields = fields or {}

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.zh, "message_en": self.en}
        if self.fields:
            body["fields"] = self.fields
        return {"error": body}


class StartupError(CcmsError):
    """The deployment cannot start: bad manifest, profile or dependency.

    The message always names the plugin, the file and the field at fault.
    """

    code = "startup_error"

    def __init__(self, zh: str, en: str, *, plugin: str = "", file: str = "", field: str = "") -> None:
        super().__init__(zh, en)
        self.plugin, self.file, self.field = plugin, file, field

    def __str__(self) -> str:
        where = f"plugin={self.plugin or '-'} file={self.file or '-'} field={self.field or '-'}"
        return f"{self.zh} / {self.en} [{where}]"


class ConfigError(CcmsError):
    code = "config_error"


class ValidationFailed(CcmsError):
    """Input failed validation; ``fields`` maps field name -> bilingual message."""

    status = 422
    code = "validation_error"


class NotFound(CcmsError):
    status = 404
    code = "not_found"


class Forbidden(CcmsError):
    status = 403
    code = "forbidden"


class Conflict(CcmsError):
    """Someone else changed the record first, or a rule forbids the change."""

    status = 409
    code = "conflict"
