"""Settings from the environment and `.env` (SPEC §1), with the production refusals."""

from __future__ import annotations

import os
from functools import lru_cache
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.domain.ratelimit import Rate

DEFAULT_JWT_SECRET = "test_secret"
DEFAULT_AF_SECRET = "appsflyer_secret_key"
# Values that ship in examples and docs; a production deployment must never run with them.
KNOWN_DEFAULT_SECRETS = frozenset(
    {DEFAULT_JWT_SECRET, DEFAULT_AF_SECRET, "change-me", "changeme", "secret", ""}
)
MIN_SECRET_LENGTH = 32


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
    # Operations (service.monitoring, service.db): 0 disables the in-server balance audit.
    BALANCE_AUDIT_INTERVAL_SECONDS: float = Field(default=300, ge=0)
    DB_CONNECT_TIMEOUT_SECONDS: float = Field(default=2, gt=0)
    DB_COMMAND_TIMEOUT_SECONDS: float = Field(default=5, gt=0)

    @field_validator(
        "ADMIN_TOKEN", "AF_PUSH_TOKEN", "AIRFLOW_API_URL", "AIRFLOW_USERNAME",
        "AIRFLOW_PASSWORD", "WEB_WORKERS", "REDIS_URL", mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("TRACK_RATE_LIMIT", "LOGIN_RATE_LIMIT")
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        Rate.parse(value)
        return value

    @property
    def is_production(self) -> bool:
        return self.ENVIRONMENT == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite:")

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
        if self.JWT_SECRET in KNOWN_DEFAULT_SECRETS or len(self.JWT_SECRET) < MIN_SECRET_LENGTH:
            problems.append(
                f"JWT_SECRET must be a non-default secret of at least {MIN_SECRET_LENGTH} characters"
            )
        if self.AF_SECRET in KNOWN_DEFAULT_SECRETS:
            problems.append("AF_SECRET must be set to the AppsFlyer secret (not a default or empty)")
        if not self.ADMIN_TOKEN or len(self.ADMIN_TOKEN) < MIN_SECRET_LENGTH:
            problems.append(f"ADMIN_TOKEN must be set to at least {MIN_SECRET_LENGTH} characters")
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
