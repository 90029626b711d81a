"""Settings: the only module that reads the environment.

Precedence (highest first): command-line flags (passed as keyword arguments), ``NEWSINGEST_*``
environment variables, an optional TOML file (``NEWSINGEST_CONFIG`` or ``config/newsingest.toml``),
then the defaults below. The defaults give the embedded setup: no server needed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = Path("config/newsingest.toml")


def _config_file() -> Path:
    return Path(os.environ.get("NEWSINGEST_CONFIG", DEFAULT_CONFIG_FILE))


class Settings(BaseSettings):
    """Everything newsingest can be told. Each field is also ``NEWSINGEST_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="NEWSINGEST_", extra="ignore")

    inbox: Path = Field(Path("inbox"), description="folder watched for dump files")
    data_dir: Path = Field(
        Path("data"), description="processed/, failed/, work/, and the embedded store and broker"
    )
    broker_url: str | None = Field(
        None, description="Celery broker; default: SQLite under data_dir (no server)"
    )
    store_url: str | None = Field(
        None, description="SQLAlchemy URL of the results store; default: SQLite under data_dir"
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: console on a TTY, JSON lines otherwise"
    )
    log_level: str = "INFO"
    settle_seconds: float = Field(
        2.0, description="a file unchanged in size and mtime this long is complete"
    )
    empty_settle_seconds: float = Field(
        30.0, description="an empty file waits this long: it is usually a placeholder filled later"
    )
    rescan_seconds: float = Field(
        60.0, description="full inbox re-scan period; watchdog events are only hints"
    )
    polling_observer: bool = Field(
        False, description="poll the inbox instead of inotify (network and bind mounts)"
    )
    concurrency: int = Field(2, ge=1, description="worker processes per `worker`/`run`")
    lease_seconds: float = Field(
        30.0,
        gt=0,
        description="a worker holds the file it works on by a lease that it renews every third "
        "of this; work whose lease ran out (its worker died) is sent again by the reconciler",
    )
    requeue_after_seconds: float = Field(
        300.0,
        description="work queued this long without being started is sent again (then twice as "
        "long, and so on); a broker that reports an empty queue gets it again at once",
    )
    reconcile_seconds: float = Field(
        5.0, description="how often the watcher looks in the ledger for lost or stalled work"
    )
    max_attempts: int = Field(
        3,
        ge=1,
        description="a file whose worker died this many times while working on it (a crash, "
        "out of memory) is quarantined; retries after transient errors do not count",
    )
    chunk_articles: int = Field(
        200,
        ge=1,
        description="a dump with more articles is split into chunks of this many, shared by all "
        "workers; also bounds a worker's memory",
    )
    task_time_limit: float = Field(
        600.0, description="hard limit of one task: a task stuck longer is killed (a crash)"
    )
    preload_enrichers: bool = Field(
        True,
        description="build the enrichers (spaCy model, gazetteer) once in the worker's main "
        "process, before its pool forks: every child shares them copy-on-write and is ready at "
        "once. false: each child builds its own (more memory, seconds per child start)",
    )
    max_tasks_per_child: int = Field(
        1000,
        ge=0,
        description="a pool process is replaced by a fresh one after this many tasks, which "
        "bounds slow leaks; with the enrichers preloaded a replacement costs a fork. 0: never",
    )
    max_memory_per_child_mb: int = Field(
        2048,
        ge=0,
        description="a pool process whose peak resident memory passed this is replaced after "
        "its current task (which finishes first). Resident memory counts the pages a child "
        "shares with the others, about 350 MB with the model. 0: never",
    )
    near_dup_threshold: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="estimated Jaccard (of word shingles) at or above which an article is a "
        "version of a stored story. 0.5 sits mid-way between the measured targets: versions at "
        "0.6 and above always linked, different stories under 0.4 never; lower links looser "
        "rewrites and risks merging stories. Changing it needs no index rebuild",
    )
    near_dup_shingle_words: int = Field(
        5,
        ge=1,
        description="words per shingle: fewer catches looser rewrites but makes different "
        "stories on one topic look alike. Changing it needs `newsingest rebuild-index`",
    )
    near_dup_num_perm: int = Field(
        256,
        ge=16,
        description="MinHash permutations: the similarity estimate's error falls as "
        "1/sqrt(num_perm) (0.03 at 256), each costs 4 bytes per article. Needs a rebuild",
    )
    near_dup_bands: int = Field(
        40,
        ge=1,
        description="LSH bands: more finds more (and less similar) candidates and adds an "
        "index row per article each. Needs a rebuild",
    )
    near_dup_rows: int = Field(
        3,
        ge=1,
        description="permutations per LSH band (bands x rows <= num_perm): more makes "
        "candidates rarer and misses more versions. Needs a rebuild",
    )
    enrichers: list[str] = Field(
        default_factory=lambda: [
            "language",
            "credit",
            "stats",
            "lead",
            "entities",
            "countries",
            "quotes",
            "keywords",
        ],
        description="enrichers to run, in order",
    )
    words_per_minute: int = Field(230, ge=1, description="reading speed for reading_time_s")
    node_name_file: Path | None = Field(
        None,
        description="`newsingest worker` writes its Celery node name here at start (a health "
        "check reads it to ping exactly this node); keep it private to one worker",
    )

    metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="serve Prometheus metrics on this port (`watch`: the store's view; "
        "`worker`: its own work; `run`: the watcher on it, the worker on the next). 0: off",
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="address the metrics endpoint listens on: loopback by default, so that "
        "nothing is exposed by accident; 0.0.0.0 in a container (docker-compose.yml sets it)",
    )

    stream_key: str = Field(
        "newsingest:articles",
        description="Redis stream that new records are announced on, when the broker is Redis "
        "(the watcher's relay); empty: none",
    )
    stream_maxlen: int = Field(
        1_000_000,
        ge=10_000,  # well above a relay batch (500): a re-delivered batch is still there
        description="the stream is trimmed to about this many entries",
    )
    webhook_url: str | None = Field(
        None, description="POST new records here too, in signed JSON batches (the relay)"
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="HMAC-SHA256 key of the webhook's X-Newsingest-Signature; required "
        "with webhook_url",
    )
    relay_interval_seconds: float = Field(
        0.5, gt=0, description="how often the relay looks for new announcements when idle"
    )

    @model_validator(mode="after")
    def _webhook_is_signed(self) -> Settings:
        if self.webhook_url and not (
            self.webhook_secret and self.webhook_secret.get_secret_value()
        ):
            raise ValueError("webhook_url needs webhook_secret (its deliveries are signed)")
        return self

    @field_validator("inbox", "data_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        # Child processes (workers, compose services) must see the same folders as we do.
        return path.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, env_settings, toml)

    # Derived locations. Kept as properties so that there is one source of truth: data_dir.
    @property
    def processed_dir(self) -> Path:
        return self.data_dir / "processed"

    @property
    def failed_dir(self) -> Path:
        return self.data_dir / "failed"

    @property
    def work_dir(self) -> Path:
        """Files the watcher has claimed from the inbox wait here, named by their sha256."""
        return self.data_dir / "work"

    @property
    def resolved_store_url(self) -> str:
        return self.store_url or f"sqlite:///{self.data_dir / 'newsingest.sqlite'}"

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{self.data_dir / 'broker.sqlite'}"

    def ensure_dirs(self) -> None:
        folders = (self.inbox, self.processed_dir, self.failed_dir, self.work_dir)
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)

    def as_env(self) -> dict[str, str]:
        """These settings as ``NEWSINGEST_*`` variables, to hand to a child process."""
        env: dict[str, str] = {}
        for name, value in self.model_dump(mode="json").items():
            if value is None:
                continue
            key = f"NEWSINGEST_{name.upper()}"
            env[key] = _env_value(value)
        return env


def _env_value(value: Any) -> str:
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)
