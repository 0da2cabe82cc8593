"""One settings object for the whole service, read from `PML_*` environment variables.

Production settings refuse what is only safe on a developer's machine: the embedded database, the local
development signing key and synthetic national ids.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pml.dosing.times import NamedDoseTimes
from pml.reconciliation.policy import DEFAULT_AUTO_APPLY, AutoApplyRule


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PML_", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    # Where the embedded PostgreSQL, the development key and other local state live; safe to delete.
    data_dir: Path = Path(".pml")
    database_url: str | None = Field(
        default=None, description="postgresql+psycopg://... ; unset means the embedded PostgreSQL"
    )
    # A read replica may serve reads later; unset means reads go to the primary.
    database_read_url: str | None = None
    # Connections each worker keeps open. It must cover the worker's usual number of requests in the database
    # at once: SQLAlchemy closes an overflow connection when it comes back to a full pool, so a load that
    # swings around the pool size opens and closes PostgreSQL backends all the time (measured: at 16 writes in
    # flight per worker, a pool of 10 + 5 opened a new backend for one write in ten, and 20 opened none and
    # answered 30 % more writes). Budget: workers x (pool + overflow + 4 audit connections) must stay under
    # PostgreSQL's max_connections (100 by default).
    database_pool_size: int = Field(default=20, ge=1, le=200)
    database_max_overflow: int = Field(default=10, ge=0, le=200)
    database_statement_timeout_ms: int = Field(default=5000, ge=100)
    redis_url: str | None = None
    redis_timeout_seconds: float = Field(default=0.25, gt=0, le=10)
    cache_ttl_seconds: int = Field(default=300, ge=1)
    # Without Redis, cache in this process's memory. Only safe with one worker: `pml serve --workers N`
    # turns it off for N > 1.
    local_cache: bool = True
    rate_limit_per_second: int = Field(default=100, ge=1, description="requests per second per client")

    auth_issuer: str = "https://helseid-dev.pml.local"
    auth_audience: str = "pml"
    auth_jwks_file: Path | None = None
    auth_jwks_url: str | None = None
    auth_clock_skew_seconds: int = Field(default=30, ge=0, le=300)
    # The development signing key lives in data_dir; production refuses to load it.
    auth_allow_development_key: bool = True

    allow_synthetic_national_ids: bool = True
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=4, le=256)
    max_list_entries: int = Field(default=300, ge=1)
    max_page_size: int = Field(default=500, ge=1)
    seed_demo_patients: int = Field(default=5, ge=0)
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    # uvicorn's line per request. Off by default: every patient-data access is in the audit log and every
    # request in /metrics, and the line costs the server a sizeable share of a cached read's CPU.
    access_log: bool = False
    # Audit batches commit without waiting for the disk by default (see docs/DECISIONS.md); true makes every
    # access wait for its audit record's WAL flush.
    audit_synchronous_commit: bool = False
    # Reconciliation findings applied without a clinician (pml/reconciliation/policy.py documents each rule).
    # Default: a pharmacy dispensing of an active entry records its date, nothing else. `[]` turns it off.
    reconciliation_auto_apply: list[AutoApplyRule] = Field(default_factory=lambda: list(DEFAULT_AUTO_APPLY))
    # How often each API process asks which catalogue release is active, and swaps to a newly activated one.
    catalogue_refresh_seconds: float = Field(default=10.0, gt=0, le=3600)

    # Home care: doses due are computed in the municipality's zone; named times of day stand for these clock
    # times. The mobile client wipes patient data from the device this long after sign-in, and signs in with
    # OAuth2 code + PKCE against auth_issuer when a public client id is set (a development token otherwise).
    time_zone: ZoneInfo = ZoneInfo("Europe/Oslo")
    named_dose_times: NamedDoseTimes = Field(default_factory=NamedDoseTimes)
    mobile_data_retention_hours: float = Field(default=12, gt=0, le=24)
    mobile_oauth_client_id: str | None = Field(default=None, max_length=200)

    # Change events (`pml relay`): stream shards (every relay and stream consumer must agree), outbox rows per
    # batch, webhook attempts before dead-lettering and the first retry delay (doubling after each failure),
    # and the webhook hosts PML may call (JSON list; "*.example.no" allows a domain's hosts). Production needs
    # https and a non-empty list; see pml/events/urls.py on request forgery.
    events_stream_shards: int = Field(default=16, ge=1, le=1024)
    events_relay_batch_size: int = Field(default=200, ge=1, le=10_000)
    events_webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    events_webhook_backoff_seconds: float = Field(default=5.0, gt=0, le=3600)
    events_webhook_allowed_hosts: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _refuse_development_shortcuts_in_production(self) -> Settings:
        if self.environment is not Environment.PRODUCTION:
            return self
        problems = []
        if self.database_url is None:
            problems.append("PML_DATABASE_URL must be set (the embedded database is for development)")
        if self.auth_allow_development_key:
            problems.append("PML_AUTH_ALLOW_DEVELOPMENT_KEY must be false")
        if self.auth_jwks_file is None and self.auth_jwks_url is None:
            problems.append("PML_AUTH_JWKS_FILE or PML_AUTH_JWKS_URL must be set")
        if self.allow_synthetic_national_ids:
            problems.append("PML_ALLOW_SYNTHETIC_NATIONAL_IDS must be false")
        if problems:
            raise ValueError("production settings refused: " + "; ".join(problems))
        return self

    @property
    def embedded(self) -> bool:
        return self.database_url is None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
