"""Settings from the environment and `.env` (SPEC §1), with the production refusals."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.infrastructure.redis_rate_limit import Rate

DEFAULT_JWT_SECRET = "test_secret"
DEFAULT_AF_SECRET = "appsflyer_secret_key"
# Values that ship in examples and docs; a production deployment must never run with them.
KNOWN_DEFAULT_SECRETS = frozenset(
    {DEFAULT_JWT_SECRET, DEFAULT_AF_SECRET, "change-me", "changeme", "secret", ""}
)
MIN_SECRET_LENGTH = 32
ENVIRONMENTS = ("development", "test", "production")
# The largest earn (100,000) on top of MAX_BALANCE must still fit a signed 64-bit column.
MAX_BALANCE_CEILING = 2**63 - 1 - 100_000


def is_weak_secret(value: str | None) -> bool:
    """A default, whitespace only, or one repeated character (SPEC §1)."""
    if value is None or value in KNOWN_DEFAULT_SECRETS:
        return True
    return not value.strip() or len(set(value)) == 1


def _strong(value: str | None) -> bool:
    return not is_weak_secret(value) and len(value or "") >= MIN_SECRET_LENGTH


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    DATABASE_URL: str = "sqlite:///data/app.db"
    JWT_SECRET: str = DEFAULT_JWT_SECRET
    AF_SECRET: str = DEFAULT_AF_SECRET
    JWT_TTL_MIN: int = Field(default=120, ge=1)
    DATA_DIR: str = "data"
    REPORTS_DIR: str = "reports"
    ENVIRONMENT: str = "development"
    ALLOWED_ORIGINS: str = "http://localhost:3000"
    IDEMPOTENCY_TTL_HOURS: float = Field(default=24, gt=0)
    ADMIN_TOKEN: str | None = None
    AF_PUSH_TOKEN: str | None = None
    AF_PUSH_TOKEN_HEADER: str = "Authorization"
    AIRFLOW_API_URL: str | None = None
    AIRFLOW_USERNAME: str | None = None
    AIRFLOW_PASSWORD: str | None = None
    # How long POST /run-pipeline with `wait` waits before answering 202 with the run still going.
    PIPELINE_WAIT_SECONDS: float = Field(default=300, ge=0)
    DB_POOL_MAX: int = Field(default=20, ge=1)
    WEB_WORKERS: int | None = Field(default=None, ge=1)
    REDIS_URL: str | None = None
    LOG_LEVEL: str = "INFO"
    # Per client IP, `<count>/<period>` (s, minute, hour, or e.g. 10s); see service.http.ratelimit.
    TRACK_RATE_LIMIT: str = "120/minute"
    LOGIN_RATE_LIMIT: str = "30/minute"
    RATE_LIMIT_KEY_PREFIX: str = "gaming-backend:ratelimit"
    # Refuse unsigned postbacks outside production too (e.g. staging); production always does.
    AF_REQUIRE_PROOF: bool = False
    # Operations (service.monitoring.jobs, service.db): 0 disables the in-server balance audit.
    # Identity and economy (SPEC §3b).
    SERVER_KEY: str | None = None
    ECONOMY_FILE: str | None = None
    # None: allowed in development and test, refused in production.
    AUTH_ALLOW_BARE_LOGIN: bool | None = None
    MAX_BALANCE: int = Field(default=1_000_000_000_000, ge=0, le=MAX_BALANCE_CEILING)
    WALLET_RATE_LIMIT: str = "20/second"
    LOGIN_FAILURE_LIMIT: str = "10/15minutes"
    MAX_PURCHASE_USD: float = Field(default=10_000, gt=0, allow_inf_nan=False)
    PIPELINE_INCLUDE_UNVERIFIED: bool = False
    BALANCE_AUDIT_INTERVAL_SECONDS: float = Field(default=300, ge=0)
    DB_CONNECT_TIMEOUT_SECONDS: float = Field(default=2, gt=0)
    DB_COMMAND_TIMEOUT_SECONDS: float = Field(default=5, gt=0)

    @field_validator(
        "ADMIN_TOKEN",
        "AF_PUSH_TOKEN",
        "AIRFLOW_API_URL",
        "AIRFLOW_USERNAME",
        "AIRFLOW_PASSWORD",
        "WEB_WORKERS",
        "REDIS_URL",
        "SERVER_KEY",
        "ECONOMY_FILE",
        "AUTH_ALLOW_BARE_LOGIN",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("ENVIRONMENT")
    @classmethod
    def _known_environment(cls, value: str) -> str:
        # A misspelt `prod` must never run with development defaults: refuse anything unknown.
        normalised = value.strip().lower()
        if normalised not in ENVIRONMENTS:
            raise ValueError(f"ENVIRONMENT must be one of {', '.join(ENVIRONMENTS)}, not {value!r}")
        return normalised

    @field_validator("TRACK_RATE_LIMIT", "LOGIN_RATE_LIMIT", "WALLET_RATE_LIMIT", "LOGIN_FAILURE_LIMIT")
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        Rate.parse(value)
        return value

    @property
    def is_production(self) -> bool:
        return self.ENVIRONMENT == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.strip().lower().startswith("sqlite:")

    @property
    def bare_login_allowed(self) -> bool:
        if self.AUTH_ALLOW_BARE_LOGIN is None:
            return not self.is_production
        return self.AUTH_ALLOW_BARE_LOGIN

    @property
    def allowed_origins(self) -> list[str]:
        return [o.strip() for o in self.ALLOWED_ORIGINS.split(",") if o.strip()]

    @property
    def web_workers(self) -> int:
        if self.WEB_WORKERS:
            return self.WEB_WORKERS
        # SQLite has one writer; extra processes only add lock waits.
        return 1 if self.is_sqlite else (os.cpu_count() or 1)

    def production_problems(self) -> list[str]:
        """Why this configuration must not serve production traffic (empty when it may)."""
        if not self.is_production:
            return []
        problems = []
        if not _strong(self.JWT_SECRET):
            problems.append(
                f"JWT_SECRET must be a non-default secret of at least {MIN_SECRET_LENGTH} characters"
            )
        if is_weak_secret(self.AF_SECRET):
            problems.append("AF_SECRET must be set to the AppsFlyer secret (not a default or empty)")
        if not _strong(self.ADMIN_TOKEN):
            problems.append(f"ADMIN_TOKEN must be set to at least {MIN_SECRET_LENGTH} characters")
        if not _strong(self.SERVER_KEY):
            problems.append(f"SERVER_KEY must be set to at least {MIN_SECRET_LENGTH} characters")
        if self.bare_login_allowed:
            problems.append("AUTH_ALLOW_BARE_LOGIN must be false: a bare userId is not a credential")
        if not self.ECONOMY_FILE:
            problems.append("ECONOMY_FILE must name the economy catalogue (TOML)")
        if "*" in self.allowed_origins:
            problems.append("ALLOWED_ORIGINS must list exact origins, not '*'")
        if self.is_sqlite:
            problems.append("DATABASE_URL must point to PostgreSQL, not SQLite")
        return problems


class ConfigurationRefused(SystemExit):
    """Raised at start-up when production settings are unsafe; exits non-zero with the reasons."""

    def __init__(self, problems: list[str]) -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Refusing to start with ENVIRONMENT=production:\n{lines}")


def check_production(settings: Settings) -> None:
    problems = settings.production_problems()
    if problems:
        raise ConfigurationRefused(problems)


class InvalidSettings(SystemExit):
    """Raised at start-up when a setting does not parse (e.g. ENVIRONMENT=prod); names each one."""

    def __init__(self, error: ValidationError) -> None:
        lines = "\n".join(
            f"  - {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)
        )
        super().__init__(f"Refusing to start: invalid settings:\n{lines}")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise InvalidSettings(exc) from None
