"""The one place that reads the environment (SPEC §4).

Everything else asks :func:`get_settings`. Secrets the operator did not give are generated
once into the data dir with mode 0600 and reused, so a restart keeps tokens and encrypted
credentials valid.
"""

from __future__ import annotations

import os
import secrets
from email.utils import parseaddr
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentflow_app.errors import ConfigError

SECRET_KEY_FILE = "secret_key"
ENCRYPTION_KEYS_FILE = "encryption_keys"
EMBEDDED_REDIS_URL_FILE = "redis/url"


class Settings(BaseSettings):
    """AgentFlow configuration; field names are the SPEC §4 variables, lower-cased."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    db_url: str = ""
    redis_url: str | None = None
    agentflow_data_dir: Path = Path("data")
    agentflow_secret_key: str | None = None
    agentflow_encryption_keys: str | None = None
    agentflow_secrets_backend: Literal["db", "aws"] = "db"
    agentflow_allow_private_network: bool = False
    agentflow_open_signup: bool = True
    agentflow_token_ttl_s: int = Field(default=43200, gt=0)
    agentflow_plugins: Path | None = None
    agentflow_max_concurrent_executions: int = Field(default=20, gt=0)
    #: Finished executions are deleted this many days after they end (0: kept for ever);
    #: a workflow's document may set its own ``retention_days``.
    agentflow_execution_retention_days: int = Field(default=30, ge=0, le=36500)
    agentflow_run_timeout_s: int = Field(default=6 * 3600, gt=0)
    #: Executions each worker pool process runs at once, on one event loop (a run mostly
    #: waits on its LLM and tools); ``agentflow worker --concurrency`` sets the processes.
    agentflow_runs_per_process: int = Field(default=4, gt=0, le=256)
    #: Longest ``timeout_s`` a caller of ``POST …/run`` (or a ``?wait=true`` webhook) may
    #: ask for; past it the call answers 202 with the id.
    agentflow_run_wait_max_s: float = Field(default=300, gt=0, le=3600)
    #: The address people reach this instance at; links sent in messages (an approval's
    #: approve / reject links) start with it.
    agentflow_public_url: str = "http://localhost:3000"
    #: How deep sub-workflows may call each other at run time (validation refuses cycles
    #: it can see; this guards what it cannot).
    agentflow_max_subworkflow_depth: int = Field(default=8, gt=0, le=100)
    #: Where the UI is compiled and built (Reflex's own variable); one per port in tests.
    reflex_web_workdir: Path = Path(".web")
    #: Web server processes; more than one needs Redis for shared UI state.
    agentflow_web_workers: int = Field(default=1, gt=0)

    #: JSON file of LLM prices per 1M tokens, merged over the built-in table.
    agentflow_prices_file: Path | None = None
    #: JSON file of the stdio MCP servers agents may start (name → command, args, env);
    #: the only way a local command runs, so a workflow author can never name one.
    agentflow_mcp_stdio_servers: Path | None = None

    #: Where uploaded and produced files live: ``disk`` (``<data dir>/files``) or ``s3``
    #: (``AGENTFLOW_FILES_BUCKET`` under ``AGENTFLOW_FILES_PREFIX``; boto3 honours
    #: ``AWS_ENDPOINT_URL_S3`` for MinIO and moto).
    agentflow_files_backend: Literal["disk", "s3"] = "disk"
    agentflow_files_bucket: str | None = None
    agentflow_files_prefix: str = "agentflow/files/"
    #: The largest file accepted (MiB), and the most one run may bring in (MiB).
    agentflow_max_file_mb: int = Field(default=25, gt=0, le=100_000)
    agentflow_max_run_mb: int = Field(default=100, gt=0, le=100_000)
    #: Files no run holds (uploads never used, runs' files of deleted workflows) and stored
    #: bytes without a row are deleted this many hours after they came (0: kept).
    agentflow_unused_file_hours: int = Field(default=24, ge=0, le=87_600)

    # -- the server's own email: invitations (issue 18; docs/workspaces.md) --------------------
    #: The sender of the emails the server sends itself (``AgentFlow <noreply@example.com>``);
    #: needed once a way to send is set.
    agentflow_mail_from: str | None = None
    #: Send them through this SMTP server: ``smtp://user:password@host:port`` (port 25 by
    #: default; ``?starttls=true`` upgrades the connection, port 587 by default) or
    #: ``smtps://…`` (TLS from the start, port 465). User and password are percent-encoded.
    agentflow_smtp_url: SecretStr | None = None
    #: Or send them with Amazon SES in this region, with the process's AWS credentials
    #: (boto3's chain; it honours ``AWS_ENDPOINT_URL``). Neither set: nothing is emailed,
    #: invitation links are only shown to the inviter.
    agentflow_ses_region: str | None = None

    # -- operations (issue 19; docs/observability.md) -------------------------------------------
    #: ``text`` (readable, the default) or ``json`` (one JSON object per log line).
    agentflow_log_format: Literal["text", "json"] = "text"
    #: The bearer token ``/metrics`` requires; unset, ``/metrics`` answers 404 and no metric
    #: is recorded at all.
    agentflow_metrics_token: SecretStr | None = None
    #: Where each ``agentflow worker`` serves its own ``/metrics`` (``serve --workers N``
    #: gives worker *i* this port + *i* - 1).
    agentflow_worker_metrics_port: int = Field(default=9464, ge=1, le=65535)
    #: Prometheus' multiprocess directory (its own variable); AgentFlow picks one per
    #: process group in the data dir when it is unset.
    prometheus_multiproc_dir: Path | None = None
    #: Export traces over OTLP/HTTP to this endpoint (the standard variable); unset, no
    #: span is made.
    otel_exporter_otlp_endpoint: str | None = None
    #: The standard service name; AgentFlow says ``agentflow-web`` / ``agentflow-worker``.
    otel_service_name: str | None = None
    #: Put prompts and completions (redacted of secrets) on LLM spans: the standard GenAI
    #: opt-in variable, off by default.
    otel_instrumentation_genai_capture_message_content: bool = False

    anthropic_base_url: str | None = None
    openai_base_url: str | None = None
    aws_endpoint_url_bedrock_runtime: str | None = None
    anthropic_api_key: str | None = None
    openai_api_key: str | None = None

    @field_validator("db_url")
    @classmethod
    def _check_db_url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite:", "postgresql")):
            raise ValueError(
                "DB_URL must start with sqlite:/// or postgresql+psycopg:// "
                f"(got {value.split('://')[0]!r})"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        return value or None

    @field_validator("agentflow_mail_from")
    @classmethod
    def _check_mail_from(cls, value: str | None) -> str | None:
        if value and ("@" not in parseaddr(value)[1] or any(c in value for c in "\r\n")):
            raise ValueError("must be an email address, e.g. AgentFlow <noreply@example.com>")
        return value or None

    @field_validator("agentflow_smtp_url")
    @classmethod
    def _check_smtp_url(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        url = urlsplit(value.get_secret_value())
        if url.scheme not in ("smtp", "smtps") or not url.hostname:
            raise ValueError("must look like smtp://user:password@host:port or smtps://…")
        try:
            port_ok = url.port != 0
        except ValueError:  # not a number, or past 65535
            port_ok = False
        if not port_ok:
            raise ValueError("the port must be a number from 1 to 65535")
        if url.query not in ("", "starttls=true") or (url.scheme == "smtps" and url.query):
            raise ValueError(
                "the only option is ?starttls=true, for smtp:// (smtps:// is TLS from the start)"
            )
        if not info.data.get("agentflow_mail_from"):
            raise ValueError("needs AGENTFLOW_MAIL_FROM, the sender of the emails")
        return value

    @field_validator("agentflow_ses_region")
    @classmethod
    def _check_ses_region(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        if info.data.get("agentflow_smtp_url"):
            raise ValueError("set AGENTFLOW_SMTP_URL or AGENTFLOW_SES_REGION, not both")
        if not info.data.get("agentflow_mail_from"):
            raise ValueError("needs AGENTFLOW_MAIL_FROM, a sender SES has verified")
        return value

    # -- derived values -------------------------------------------------------------------

    @cached_property
    def data_dir(self) -> Path:
        """AGENTFLOW_DATA_DIR made absolute, once: with the embedded defaults every
        ``get_engine()`` and Redis client lookup asks for it, about ten times a run, and
        resolving walks the path with a system call per component (8 µs each here)."""
        return self.agentflow_data_dir.resolve()

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL; the embedded default lives in the data dir."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.data_dir / 'agentflow.db'}"

    @property
    def metrics_enabled(self) -> bool:
        return bool(
            self.agentflow_metrics_token and self.agentflow_metrics_token.get_secret_value()
        )

    @property
    def tracing_enabled(self) -> bool:
        return bool(self.otel_exporter_otlp_endpoint)

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    def effective_redis_url(self) -> str | None:
        """REDIS_URL, else the URL the embedded Redis of this data dir published."""
        if self.redis_url:
            return self.redis_url
        url_file = self.data_dir / EMBEDDED_REDIS_URL_FILE
        return url_file.read_text().strip() if url_file.exists() else None

    def secret_key(self) -> str:
        return self._secret_key

    @cached_property
    def _secret_key(self) -> str:
        """Read once per settings object, like the variable it stands in for (changing
        either means a restart): every REST request's token check asked for it, a file
        read each time with the embedded defaults."""
        if self.agentflow_secret_key:
            return self.agentflow_secret_key
        return _generated(self.data_dir / SECRET_KEY_FILE, lambda: secrets.token_urlsafe(48))

    def encryption_keys(self) -> list[str]:
        """Fernet keys, newest first; the first one encrypts."""
        return list(self._encryption_keys)

    @cached_property
    def _encryption_keys(self) -> tuple[str, ...]:
        """Read once per settings object, as :meth:`secret_key`."""
        raw = self.agentflow_encryption_keys or _generated(
            self.data_dir / ENCRYPTION_KEYS_FILE, lambda: Fernet.generate_key().decode()
        )
        return tuple(key.strip() for key in raw.split(",") if key.strip())


def _generated(path: Path, make: callable) -> str:
    """Read a generated secret, creating it with mode 0600 the first time."""
    if path.exists():
        return path.read_text().strip()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its value
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror}; make AGENTFLOW_DATA_DIR writable "
            "or set the secret in the environment"
        ) from exc
    value = make()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; invalid values become one readable ConfigError."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
