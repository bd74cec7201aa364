"""Deployment configuration: one TOML file per deployment.

A deployment picks a profile (national/province/city/county), its GB/T 2260
region code, its identity, database, secret key, plugin overrides and theme.
"""

from __future__ import annotations

import ipaddress

import re
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from .errors import ConfigError
from .monitor_config import LoggingSettings, MonitoringSettings
from .pii import PiiConfig

TIERS = ("national", "province", "city", "county")
REGION_CODE_RE = re.compile(r"^\d{6}$")
# GB/T 2260 has no code for the whole country; 100000 is the customary one
# (national statistics and map services) and only a national deployment may use it.
NATIONAL_REGION_CODE = "100000"


def check_region_code(code: str) -> str:
    """GB/T 2260 administrative division code: six digits, province part 11..82."""
    if not isinstance(code, str) or not REGION_CODE_RE.match(code):
        raise ValueError("行政区划代码必须是6位数字 (GB/T 2260) / region code must be six digits (GB/T 2260)")
    if code == NATIONAL_REGION_CODE:
        return code
    if not 11 <= int(code[:2]) <= 82:
        raise ValueError("行政区划代码的省级部分无效 / region code has an invalid province part")
    return code


class SecurityPolicy(BaseModel):
    """等保二级 knobs, all configurable per deployment."""

    model_config = ConfigDict(extra="forbid")
    password_min_length: int = Field(10, ge=8, le=128)
    password_classes: int = Field(3, ge=1, le=4, description="lower/upper/digit/symbol classes required")
    password_max_age_days: int = Field(90, ge=0, description="0 = never expires")
    refuse_common_passwords: bool = Field(
        True, description="refuse passwords on the shipped list of common and leaked ones (core/passwords)")
    lockout_threshold: int = Field(5, ge=1, description="wrong passwords that lock an account")
    lockout_minutes: int = Field(15, ge=1)
    lockout_per_source: int = Field(
        2, ge=1, description="wrong passwords one client address may add to an account's count in a window: "
                             "below lockout_threshold, one address alone cannot lock anyone out")
    login_window_minutes: int = Field(
        15, ge=1, description="failure counters forget an address or account after this long without failures; "
                              "also the period of one aggregated audit entry per address")
    throttle_free_attempts: int = Field(
        5, ge=1, description="failed logins an address may make in a window before it must wait")
    throttle_delay_seconds: int = Field(2, ge=1, description="first wait; doubles with every further failure")
    throttle_max_delay_seconds: int = Field(300, ge=1)
    session_idle_minutes: int = Field(30, ge=1)
    session_absolute_hours: int = Field(12, ge=1)
    trusted_proxies: list[str] = Field(
        [], description="addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For is believed")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for item in v:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"不是有效的地址或网段: {item} / not an address or network: {item}") from None
        return v


class AuditPolicy(BaseModel):
    """Audit chain and retention (``[audit]``)."""

    model_config = ConfigDict(extra="forbid")
    retention_days: int = Field(180, ge=180, description="entries kept online at least this long (等保: >= 6 months)")
    seal_delay_seconds: float = Field(
        1.0, ge=0, le=3600, description="the app seals new entries this long after a commit; 0 = never in the app "
                                        "(run `ccms audit seal` from cron instead)")


class PluginSwitches(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enable: list[str] = []
    disable: list[str] = []


class Deployment(BaseModel):
    """A parsed deployment file. Unknown keys are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")
    profile: Literal["national", "province", "city", "county"]
    region_code: str
    name: str = Field(min_length=1)
    tier_id: str = Field("", description="identity of this platform towards peers; defaults to profile:region")
    database_url: str = "sqlite:///data/ccms.db"
    secret_key: str = Field(min_length=16)
    theme: str = "default"
    theme_dirs: list[str] = []
    locale: Literal["zh-CN", "en"] = "zh-CN"
    timezone: str = "Asia/Shanghai"
    plugins: PluginSwitches = PluginSwitches()
    security: SecurityPolicy = SecurityPolicy()
    monitoring: MonitoringSettings = MonitoringSettings()
    logging: LoggingSettings = LoggingSettings()
    pii: PiiConfig = PiiConfig()
    audit: AuditPolicy = AuditPolicy()
    form_defs_dir: str | None = None
    flow_defs_dir: str | None = None
    attachments_dir: str = Field("attachments", description="uploaded files, relative to base_dir")
    demo: bool = False
    base_dir: str = Field(".", description="folder relative paths resolve against (the TOML file's folder)")

    @field_validator("region_code")
    @classmethod
    def _region(cls, v: str, info: ValidationInfo) -> str:
        code = check_region_code(v)
        if code == NATIONAL_REGION_CODE and info.data.get("profile", "national") != "national":
            raise ValueError(f"行政区划代码 {NATIONAL_REGION_CODE} 仅用于国家级部署 / "
                             f"region code {NATIONAL_REGION_CODE} is for a national deployment only")
        return code

    @property
    def tier(self) -> str:
        return self.profile

    @property
    def identity(self) -> str:
        return self.tier_id or f"{self.profile}:{self.region_code}"

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else Path(self.base_dir) / p

    @property
    def resolved_database_url(self) -> str:
        """Relative SQLite paths resolve against the deployment file's folder."""
        url = self.database_url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.resolve(url[len(prefix):]).absolute())
        return url


def load_deployment(path: str | Path) -> Deployment:
    """Read and validate a deployment TOML file; errors name the file and key."""
    path = Path(path)
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"找不到部署配置文件: {path}", f"deployment file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"部署配置文件 {path} 不是有效的 TOML: {exc}",
                          f"deployment file {path} is not valid TOML: {exc}") from None
    data.setdefault("base_dir", str(path.parent.absolute()))
    return parse_deployment(data, source=str(path))


# Chinese texts of the pydantic errors a deployment file commonly hits.
_ZH_ERRORS = {
    "extra_forbidden": "未知的配置项（请检查拼写）", "missing": "缺少必填项", "literal_error": "取值必须是 {expected}",
    "string_too_short": "至少需要{min_length}个字符", "string_type": "必须是字符串", "int_parsing": "必须是整数",
    "int_type": "必须是整数", "bool_parsing": "必须是 true 或 false", "bool_type": "必须是 true 或 false",
    "list_type": "必须是列表", "model_type": "必须是表 (table)", "dict_type": "必须是表 (table)",
    "greater_than_equal": "不能小于{ge}", "less_than_equal": "不能大于{le}",
}


def _error_texts(err: Any) -> tuple[str, str]:
    """(zh, en) of one pydantic error; our validators raise "zh / en" texts."""
    if err["type"] == "value_error":
        text = str(err.get("ctx", {}).get("error", err["msg"]))
        zh, _, en = text.partition(" / ")
        return zh, en or zh
    template = _ZH_ERRORS.get(err["type"])
    zh = template.format(**{k: v for k, v in (err.get("ctx") or {}).items()}) if template else err["msg"]
    return zh, err["msg"]


def parse_deployment(data: dict[str, Any], source: str = "<deployment>") -> Deployment:
    try:
        return Deployment.model_validate(data)
    except ValidationError as exc:
        zh_parts, en_parts = [], []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "-"
            zh, en = _error_texts(err)
            zh_parts.append(f"{loc}: {zh}")
            en_parts.append(f"{loc}: {en}")
        raise ConfigError(f"部署配置 {source} 有误: {'；'.join(zh_parts)}",
                          f"deployment {source} is invalid: {'; '.join(en_parts)}") from None


def new_secret_key() -> str:
    return secrets.token_urlsafe(32)
