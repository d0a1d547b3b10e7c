"""Every setting of the bot, read from the environment or `.env` and checked once at start."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.domain.modes import ALL_MODES
from bot.domain.numbers import telegram_user_id
from bot.domain.payments import (
    MAX_CREDITS,
    CreditPack,
    Prices,
    parse_packs,
    parse_prices_by_mode,
)

ProviderName = Literal["kie", "apikley", "segmind", "luma", "sandbox"]

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
_TELEGRAM_WEBHOOK_PORTS = frozenset({443, 80, 88, 8443})
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")

DEFAULT_PROVIDER_URLS: dict[str, str] = {
    "kie": "https://api.kie.ai",
    "apikley": "https://api.apikley.ru",
    "segmind": "https://api.segmind.com",
    "luma": "https://api.lumalabs.ai/dream-machine/v1",
    "sandbox": "",
}
# KIE's File Upload API, where videos users send go when the bot has no public address. Apikley
# has no documented one: set KIE_UPLOAD_URL if it offers the same.
DEFAULT_KIE_UPLOAD_URL = "https://kieai.redpandaai.co"
# What a local Bot API server (--local) takes and gives, instead of 50 MB up and 20 MB down.
LOCAL_SERVER_LIMIT_MB = 2000


class Settings(BaseSettings):
    """The bot's configuration. Names match `.env.example` and README's settings, upper-cased."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    telegram_bot_token: SecretStr = SecretStr("")
    telegram_api_url: str = "https://api.telegram.org"
    telegram_upload_limit_mb: int = Field(default=50, ge=1, le=2000)
    telegram_download_limit_mb: int = Field(default=20, ge=1, le=2000)
    # TELEGRAM_API_URL is a local Bot API server started with --local, on this machine: files
    # up to 2000 MB either way, and users' files are read from its disk.
    telegram_local_mode: bool = False

    provider: ProviderName = "kie"
    provider_api_key: SecretStr = SecretStr("")
    provider_base_url: str = ""
    default_mode: str = "flex_1"
    luma_model: Literal["ray-2", "ray-flash-2"] = "ray-2"
    kie_upload_url: str | None = None  # None: KIE.ai's own for PROVIDER=kie; "": no uploads
    watermark: str = ""

    database_path: Path = Path("data/bot.sqlite3")
    # Unset: SQLite at DATABASE_PATH. sqlite:///path, or postgresql://user:pass@host:port/db.
    database_url: SecretStr = SecretStr("")
    database_pool_size: int = Field(default=5, ge=1, le=200)
    # How long a statement waits for a PostgreSQL that went away before it fails.
    database_retry_seconds: float = Field(default=30.0, ge=0, le=3600)
    # Several instances on one PostgreSQL: one not seen for this long is dead, and what it held
    # is taken over by the others.
    instance_timeout_seconds: float = Field(default=20.0, ge=4, le=600)
    # Uploaded videos, the sandbox's files and temporary downloads; unset: DATABASE_PATH's folder.
    data_dir: Path | None = None
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    access_mode: Literal["open", "allowlist"] = "open"
    max_concurrent_tasks: int = Field(default=10, ge=1, le=1000)
    broadcast_rate: float = Field(default=25.0, gt=0, le=30)

    # The prompt translator (off unless TRANSLATOR_URL is set): an OpenAI-compatible
    # chat-completions endpoint.
    translator_url: str = ""
    translator_api_key: SecretStr = SecretStr("")
    translator_model: str = ""
    translator_timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    translations_per_user_per_hour: int = Field(default=20, ge=1, le=10_000)

    public_url: str = ""
    web_host: str = "0.0.0.0"  # noqa: S104 (the web server must be reachable by a reverse proxy)
    web_port: int = Field(default=8080, ge=1, le=65535)
    webhook_secret: SecretStr = SecretStr("")
    kie_webhook_hmac_key: SecretStr = SecretStr("")
    web_max_connections: int = Field(default=200, ge=1, le=10_000)
    web_header_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    web_body_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    web_send_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # /metrics (Prometheus): on the web server in webhook mode; on a server of its own at
    # METRICS_HOST:METRICS_PORT when the port is set (in either mode). METRICS_TOKEN: a bearer
    # token the scraper must send (none: anyone who reaches it may read it).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    metrics_token: SecretStr = SecretStr("")
    safety_poll_delay_seconds: float = Field(default=600.0, gt=0)
    safety_poll_interval_seconds: float = Field(default=300.0, gt=0)

    poll_interval_seconds: float = Field(default=15.0, gt=0, le=3600)
    task_timeout_seconds: float = Field(default=1800.0, gt=0)
    max_active_tasks_per_user: int = Field(default=2, ge=1)
    daily_task_limit: int = Field(default=10, ge=1)

    # Payments in Telegram Stars (off by default): credits bought in packs, spent on tasks.
    payments: Literal["off", "stars"] = "off"
    task_price: int = Field(default=10, ge=0, le=MAX_CREDITS)
    task_price_by_mode: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    free_tasks_per_day: int = Field(default=0, ge=0, le=1000)
    credit_packs: Annotated[tuple[CreditPack, ...], NoDecode] = ()
    paysupport_text: str = ""  # /paysupport; empty: the bot's own text
    terms_text: str = ""  # /terms; empty: the bot's own text

    status_edit_interval_seconds: float = Field(default=30.0, ge=1)
    media_keep_seconds: float = Field(default=3600.0, ge=0)
    media_max_total_mb: int = Field(default=2048, ge=1)
    allow_loopback_urls: bool = False
    preflight_checks: bool = True
    preflight_timeout_seconds: float = Field(default=8.0, gt=0, le=120)
    link_lookups_in_flight: int = Field(default=4, ge=1, le=64)
    result_download_timeout_seconds: float = Field(default=300.0, gt=0)
    result_min_rate_kbps: float = Field(default=32.0, ge=0)
    tracker_concurrency: int = Field(default=8, ge=1, le=100)
    provider_timeout_seconds: float = Field(default=30.0, gt=0)
    provider_retry_delay_seconds: float = Field(default=1.0, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one object a line (bot.logs.formats)
    # Unexpected errors (logged exceptions, ERROR lines) also go to Sentry; secrets scrubbed.
    sentry_dsn: SecretStr = SecretStr("")

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value().strip()
        bot_id, _, secret = token.partition(":")
        malformed = telegram_user_id(bot_id) is None or not secret
        if token and (malformed or any(c.isspace() for c in token)):
            raise ValueError("must look like 123456789:ABC... (ask @BotFather for it)")
        return SecretStr(token)

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _no_port(cls, value: object) -> object:
        """METRICS_PORT= (empty) leaves it off."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("default_mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ALL_MODES:
            raise ValueError("must be one of " + ", ".join(ALL_MODES))
        return value

    @field_validator(
        "provider_api_key", "kie_webhook_hmac_key", "translator_api_key", "metrics_token"
    )
    @classmethod
    def _no_inner_spaces(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value().strip()
        if any(c.isspace() or not c.isprintable() for c in key):
            raise ValueError("must not contain spaces or line breaks")
        return SecretStr(key)

    @field_validator("telegram_api_url", "provider_base_url", "translator_url", "kie_upload_url")
    @classmethod
    def _http_root(cls, value: str | None) -> str | None:
        if value is None:  # KIE_UPLOAD_URL not given
            return None
        value = value.strip().rstrip("/")
        if value:
            AnyHttpUrl(value)  # raises a ValueError with a clear reason
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value:
            return value
        url = AnyHttpUrl(value)
        if url.host not in _LOOPBACK_HOSTS:
            if url.scheme != "https":
                raise ValueError(
                    "must start with https:// (Telegram pushes updates only over https)"
                )
            if url.port not in _TELEGRAM_WEBHOOK_PORTS:
                raise ValueError("must use port 443, 80, 88 or 8443: Telegram pushes to no other")
        if url.query or url.fragment:
            raise ValueError("must be a plain root URL like https://bot.example.com")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret and not _WEBHOOK_SECRET.fullmatch(secret):
            raise ValueError("must be 1 to 256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value().strip()
        if url and not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(
                "must look like postgresql://user:password@host:5432/dbname "
                "or sqlite:///data/bot.sqlite3"
            )
        return SecretStr(url)

    @field_validator("credit_packs", mode="before")
    @classmethod
    def _parse_packs(cls, value: object) -> object:
        return parse_packs(value) if isinstance(value, str) else value

    @field_validator("task_price_by_mode", mode="before")
    @classmethod
    def _parse_prices(cls, value: object) -> object:
        return parse_prices_by_mode(value) if isinstance(value, str) else value

    @property
    def prices(self) -> Prices:
        return Prices(self.task_price, dict(self.task_price_by_mode))

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
            ids = [telegram_user_id(p) for p in parts]
            if None in ids:
                raise ValueError("must be Telegram user ids separated by commas, e.g. 12345,67890")
            return frozenset(ids)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @property
    def database(self) -> str:
        """Where the database is: DATABASE_URL, else the SQLite file at DATABASE_PATH."""
        return self.database_url.get_secret_value() or str(self.database_path)

    @property
    def data_folder(self) -> Path:
        """DATA_DIR, else the folder of DATABASE_PATH (also when the database is PostgreSQL)."""
        return self.data_dir if self.data_dir is not None else self.database_path.parent

    @property
    def webhook_mode(self) -> bool:
        """Telegram and the provider push to PUBLIC_URL instead of being polled."""
        return bool(self.public_url)

    @property
    def provider_url(self) -> str:
        """The provider's API root: PROVIDER_BASE_URL, or the provider's public URL."""
        return self.provider_base_url or DEFAULT_PROVIDER_URLS[self.provider]

    @property
    def file_upload_url(self) -> str:
        """KIE's File Upload API root for videos users send ("": none): KIE_UPLOAD_URL, else
        KIE.ai's own for PROVIDER=kie."""
        if self.provider not in ("kie", "apikley"):
            return ""
        if self.kie_upload_url is not None:
            return self.kie_upload_url
        return DEFAULT_KIE_UPLOAD_URL if self.provider == "kie" else ""

    @property
    def telegram_base_url(self) -> str:
        return f"{self.telegram_api_url}/bot"

    @property
    def telegram_base_file_url(self) -> str:
        return f"{self.telegram_api_url}/file/bot"

    @property
    def upload_limit_bytes(self) -> int:
        return self._limit_mb("telegram_upload_limit_mb") * 1024 * 1024

    @property
    def download_limit_bytes(self) -> int:
        return self._limit_mb("telegram_download_limit_mb") * 1024 * 1024

    def _limit_mb(self, field: str) -> int:
        """The setting; with a local Bot API server and the setting not given, its 2000 MB."""
        if self.telegram_local_mode and field not in self.model_fields_set:
            return LOCAL_SERVER_LIMIT_MB
        return int(getattr(self, field))

    def secrets(self) -> list[str]:
        """Values that must never reach a log line, a chat message or a provider request."""
        values = (
            self.telegram_bot_token,
            self.provider_api_key,
            self.webhook_secret,
            self.kie_webhook_hmac_key,
            self.translator_api_key,
            self.metrics_token,
            self.database_url,
            self.sentry_dsn,
        )
        found = [v.get_secret_value() for v in values if v.get_secret_value()]
        sentry_key = urlsplit(self.sentry_dsn.get_secret_value()).username
        if sentry_key:  # the DSN's key alone is enough to send events
            found.append(sentry_key)
        password = urlsplit(self.database_url.get_secret_value()).password
        if password:  # as written in the URL, and decoded (a driver's message may show either)
            found += {password, unquote(password)}
        return found


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line fit to show the operator."""


def load_settings(*, need_telegram: bool = True, **overrides: object) -> Settings:
    """Read the settings; raise ConfigError with one readable line when something is wrong.

    `need_telegram=False` is for the operator's command line, which runs without Telegram.
    """
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    if need_telegram and not settings.telegram_bot_token.get_secret_value():
        raise ConfigError("Configuration error: TELEGRAM_BOT_TOKEN is required (see .env.example)")
    if settings.payments == "stars" and not settings.credit_packs:
        raise ConfigError(
            "Configuration error: PAYMENTS=stars needs CREDIT_PACKS, the packs users can buy "
            "(credits:stars, e.g. 10:50,50:225; see .env.example)"
        )
    if settings.access_mode == "allowlist" and not settings.admin_ids:
        raise ConfigError(
            "Configuration error: ACCESS_MODE=allowlist needs ADMIN_IDS: someone must approve "
            "new users (see .env.example)"
        )
    if settings.provider != "sandbox" and not settings.provider_api_key.get_secret_value():
        raise ConfigError(
            f"Configuration error: PROVIDER_API_KEY is required for PROVIDER={settings.provider}"
            " (see .env.example)"
        )
    if settings.translator_url and not settings.translator_model.strip():
        raise ConfigError(
            "Configuration error: TRANSLATOR_URL needs TRANSLATOR_MODEL, the model the "
            "translator should use (see .env.example)"
        )
    return settings


def describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        name = "_".join(str(part) for part in error["loc"]).upper() or "settings"
        if error["type"] == "missing":
            problems.append(f"{name} is required")
        else:
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{name} {message}" if message[:1].islower() else f"{name}: {message}")
    return "Configuration error: " + "; ".join(problems) + " (see .env.example)"
