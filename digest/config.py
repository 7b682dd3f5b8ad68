"""Settings: defaults < config/*.toml < .env < environment (DIGEST_*) < explicit values."""

from __future__ import annotations

import os
import re
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import idna
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from digest.errors import ConfigError
from digest.mail.mime import idna_ascii
from digest.safe_text import without_password
from digest.setting_names import check_config_keys, dotenv_keys, field_names, unknown_variables
from digest.sources.config import SourceConfig
from digest.vocabulary import LONGEST_WINDOW_DAYS, SemanticSetting

DEFAULT_CONFIG = Path("config/digest.toml")  # under the home
HOME_VARIABLE = "DIGEST_HOME"
DEV_SECRET_KEY = "insecure-development-key-set-DIGEST_SECRET_KEY"
MIN_KEY_BYTES = 32
# bench/relevance: 0.2 left judged profiles with short digests and lower nDCG
DEFAULT_MIN_SCORE = 0.05
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
KEY_HINT = (
    "Generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))' "
    "and set it as DIGEST_SECRET_KEY (keep it: changing it breaks the links already sent)"
)


SQLITE_PREFIX = "sqlite:///"
# the drivers installed with the service (SQLAlchemy's postgresql:// is psycopg's)
DATABASE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")


def database_url(value: str) -> str:
    """A database URL the service can open (postgres:// written as SQLAlchemy wants it);
    ValueError saying what to give instead."""
    scheme, sep, rest = value.strip().partition("://")
    if scheme == "postgres":  # as hosting services give it
        scheme = "postgresql"
    if not sep or scheme not in DATABASE_SCHEMES:
        raise ValueError(
            f"{without_password(value)!r} is not a database this service uses: give "
            "sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DATABASE"
        )
    return f"{scheme}://{rest}"


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite database URL names (None: another database, or one in memory)."""
    name = url.removeprefix(SQLITE_PREFIX)
    if not url.startswith(SQLITE_PREFIX) or name in ("", ":memory:"):
        return None
    return Path(name)


def home() -> Path:
    """The directory relative paths are read from: DIGEST_HOME, else the working directory,
    so that a cron job or a shell elsewhere finds the same database and config."""
    return Path(os.environ.get(HOME_VARIABLE) or ".").expanduser()


def worker_cores(limit: int = 4) -> int:
    """Render and planning workers by default: one per core, at most `limit` (the main process
    mostly waits on the network or on them), and none on a single core, where a worker only
    adds copying."""
    cores = os.cpu_count() or 1
    return min(cores, limit) if cores > 1 else 0


DAY = 86_400  # seconds


class Settings(BaseSettings):
    """The effective configuration of one process."""

    model_config = SettingsConfigDict(
        env_prefix="DIGEST_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    config: Path = DEFAULT_CONFIG
    database_url: str = "sqlite:///var/digest.sqlite"
    transport: Literal["maildir", "smtp"] = "maildir"
    maildir: Path = Path("var/mail")
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout: float = Field(default=30.0, gt=0, le=3600)  # seconds a step may take
    smtp_tls: bool = False  # implicit TLS (port 465); smtp_starttls upgrades a plain connection
    smtp_connections: int = Field(default=4, ge=1, le=64)
    smtp_rate: float = Field(
        default=0.0, ge=0, le=100_000
    )  # messages per second over all connections; 0 = no limit
    # durations are bounded: beyond what a service waits they are mistakes (or inf), and
    # Python's timedelta overflows a little above 10**14 seconds
    retry_backoff_seconds: float = Field(default=60.0, ge=0, le=DAY)
    retry_backoff_max_seconds: float = Field(default=3600.0, ge=0, le=7 * DAY)
    retry_max_attempts: int = Field(default=6, ge=1)  # when the server keeps answering 4xx
    retry_give_up_hours: float = Field(default=48.0, gt=0, le=30 * 24)  # when unreachable
    bounce_limit: int = Field(default=3, ge=1)
    claim_timeout_seconds: float = Field(default=600.0, gt=0, le=DAY)
    send_batch: int = Field(default=200, ge=1, le=100_000)
    # worker processes composing digests while the main process sends; they start only when
    # a send run has more than one batch of work
    render_processes: int = Field(default_factory=worker_cores, ge=0, le=32)
    # worker processes ranking and storing pages of due subscribers while the main process
    # reads the next page; they start only when more than one page is due
    plan_processes: int = Field(default_factory=worker_cores, ge=0, le=32)
    send_empty: bool = False  # send a short "nothing new today" digest instead of skipping
    from_address: str = Field(
        default="papers digest <digest@localhost>",
        validation_alias=AliasChoices("DIGEST_FROM", "from", "from_address"),
    )
    base_url: str = "http://localhost:8000"
    inbox_kind: Literal["none", "maildir", "imap", "pop3"] = "none"  # where returned mail lands
    inbox_path: Path | None = None  # a Maildir
    inbox_host: str = ""
    inbox_port: int = Field(default=0, ge=0, le=65535)  # 0: the protocol's TLS or plain port
    inbox_username: str = ""
    inbox_password: SecretStr | None = None
    inbox_tls: bool = True
    inbox_minutes: int = Field(default=5, ge=1, le=1440)  # how often `digest serve` reads it
    dkim_key_file: Path | None = None  # PEM private key; DKIM signing is off without one
    dkim_selector: str = "digest"
    dkim_domain: str | None = None  # default: the domain of the From address
    signups_per_client_hour: int = Field(default=10, ge=1)  # web signups from one IP address
    signups_per_hour: int = Field(default=300, ge=1)  # web signups from everybody together
    previews_per_client_minute: int = Field(default=120, ge=1)
    secret_key: SecretStr | None = None
    # the key before the last rotation: mail already sent keeps what must keep working
    # (unsubscribe, feeds) until it is removed (docs/deploy.md)
    retired_secret_key: SecretStr | None = None
    max_papers: int = Field(default=10, ge=1, le=100)
    min_score: float = Field(default=DEFAULT_MIN_SCORE, ge=0.0, le=1.0)
    # sentence embeddings added to keyword scores (the [semantic] extra)
    semantic: SemanticSetting = "auto"
    first_window_days: int = Field(default=7, ge=1, le=366)
    # `digest serve` deletes, once a day, the finished digests and the papers nobody names
    # any more that are older than this many days; 0 keeps everything
    keep_days: int = Field(default=0, ge=0, le=36_500)
    sources: list[SourceConfig] = Field(default_factory=list)
    contact_url: str = "https://github.com/papers-digest/papers-digest"
    user_agent: str | None = None
    http_timeout: float = Field(default=20.0, gt=0, le=3600)
    http_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    http_attempts: int = Field(default=4, ge=1, le=10)
    http_backoff_seconds: float = Field(default=2.0, ge=0, le=3600)
    http_backoff_max_seconds: float = Field(default=120.0, ge=0, le=DAY)
    host_intervals: dict[str, Annotated[float, Field(ge=0, le=3600)]] = Field(
        default_factory=lambda: {"arxiv.org": 3.0}
    )

    def effective_user_agent(self) -> str:
        """The User-Agent sent with every request, naming a contact URL."""
        return self.user_agent or f"papers-digest/0.1 (+{self.contact_url})"

    @field_validator("user_agent", "contact_url")
    @classmethod
    def _header_text(cls, value: str | None) -> str | None:
        if value is not None and not (value.isascii() and value.isprintable()):
            raise ValueError(
                "goes into the User-Agent header of every fetch: give one line of plain ASCII "
                "text (an address or URL)"
            )
        return value

    @field_validator("keep_days")
    @classmethod
    def _keeps_what_planning_reads(cls, value: int, info: ValidationInfo) -> int:
        least = max(LONGEST_WINDOW_DAYS, info.data.get("first_window_days", 1)) + 1
        if 0 < value < least:
            raise ValueError(
                f"must be 0 (keep everything) or at least {least}: planning reads the "
                f"digests of the last {least - 1} days to send no paper twice"
            )
        return value

    @field_validator("sources")
    @classmethod
    def _distinct_names(cls, value: list[SourceConfig]) -> list[SourceConfig]:
        seen: set[str] = set()
        for source in value:
            if source.name in seen:  # `fetch NAME` and the scheduler look sources up by name
                raise ValueError(f"two sources are named {source.name!r}: give each its own name")
            seen.add(source.name)
        return value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        return database_url(value)

    @field_validator("from_address")
    @classmethod
    def _from_domain(cls, value: str) -> str:
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("must be one line of text, without control characters")
        local, _, domain = parseaddr(value)[1].rpartition("@")
        if not (local and domain):
            raise ValueError(
                f"{value[:80]!r} holds no email address: give one such as "
                "'papers digest <digest@example.org>' or digest@example.org"
            )
        if not domain.isascii():
            _idna(domain)
        return value

    @field_validator("dkim_selector")
    @classmethod
    def _dkim_selector(cls, value: str) -> str:
        if not _SELECTOR.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a DKIM selector: one or more DNS labels (letters, digits, "
                "hyphens; dots between), e.g. digest or s2026"
            )
        return value

    @field_validator("dkim_domain")
    @classmethod
    def _dkim_domain(cls, value: str | None) -> str | None:
        return value if value is None or value.isascii() else _idna(value)

    @field_validator("base_url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        host = value.partition("://")[2].strip("/")
        if not value.startswith(("http://", "https://")) or not host:
            raise ValueError(
                "must be an http:// or https:// address, e.g. https://digest.example.org"
            )
        value = value.rstrip("/")
        parts = urlsplit(value)
        if "?" in value or "#" in value:
            raise ValueError("must have no ?query or #fragment: each link's path is added to it")
        if parts.username is not None:
            raise ValueError("must hold no user name or password: every email would show them")
        if any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError("must hold no spaces or control characters (write a space as %20)")
        try:
            port_number = parts.port  # urlsplit checks the port only when it is read
        except ValueError:
            port_number = 0
        if port_number == 0:
            raise ValueError("has a port that is not a number from 1 to 65535")
        name = parts.hostname or ""
        if name.isascii():
            return value
        # every link of every mail starts with it, and List-Unsubscribe is a header: ASCII
        port = f":{port_number}" if port_number else ""
        return parts._replace(netloc=f"{_idna(name)}{port}").geturl()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        given = getattr(init_settings, "init_kwargs", {}).get("config")  # load_settings' path
        toml_path = Path(str(given or os.environ.get("DIGEST_CONFIG") or home() / DEFAULT_CONFIG))
        toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_path)
        return (init_settings, env_settings, dotenv_settings, toml)

    def under_home(self, base: Path) -> Settings:
        """These settings with every relative path (SQLite file, Maildirs, DKIM key, local
        sources) made absolute under `base`."""

        def place(path: Path) -> Path:
            return path if path.is_absolute() else base / path

        changes: dict[str, Any] = {"maildir": place(self.maildir)}
        if self.inbox_path is not None:
            changes["inbox_path"] = place(self.inbox_path)
        if self.dkim_key_file is not None:
            changes["dkim_key_file"] = place(self.dkim_key_file)
        if (database := sqlite_file(self.database_url)) is not None:
            changes["database_url"] = SQLITE_PREFIX + str(place(database))
        changes["sources"] = [
            source.model_copy(update={"url": str(place(Path(source.url)))})
            if "://" not in source.url
            else source
            for source in self.sources
        ]
        return self.model_copy(update=changes)

    def token_key(self) -> bytes:
        """The key that signs links; a fixed development key when none is configured."""
        if self.secret_key is None:
            return DEV_SECRET_KEY.encode()
        return self.secret_key.get_secret_value().encode()

    def retired_token_keys(self) -> tuple[bytes, ...]:
        """The keys of earlier rotations, for what links and addresses in old mail may do."""
        old = self.retired_secret_key
        return () if old is None else (old.get_secret_value().encode(),)

    def check_signing_key(self) -> None:
        """ConfigError unless links are signed with a real key: the development key is
        accepted only while base_url is this machine, and any key needs MIN_KEY_BYTES."""
        if self.secret_key is None:
            host = (urlsplit(self.base_url).hostname or "").lower()
            if host not in LOCAL_HOSTS:
                raise ConfigError(
                    f"DIGEST_SECRET_KEY is not set, and links in mail go to {self.base_url}: "
                    f"anyone could forge them with the public development key. {KEY_HINT}"
                )
            return
        size = len(self.secret_key.get_secret_value().encode())
        if size < MIN_KEY_BYTES:
            raise ConfigError(
                f"DIGEST_SECRET_KEY is {size} bytes, too short to sign links safely: "
                f"use at least {MIN_KEY_BYTES}. {KEY_HINT}"
            )

    def masked(self) -> dict[str, Any]:
        """The settings as plain values with every secret replaced by asterisks."""
        data = self.model_dump(mode="json", by_alias=False)
        for name in ("smtp_password", "secret_key", "retired_secret_key", "inbox_password"):
            data[name] = None if data[name] is None else "********"
        data["database_url"] = without_password(self.database_url)
        for source in data["sources"]:
            source["url"] = without_password(source["url"])
        return data


_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
_SELECTOR = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")  # RFC 6376 3.1 (and the _ DNS allows)


def _idna(domain: str) -> str:
    """An internationalised domain in its ASCII form; ValueError saying why it has none."""
    try:
        return idna_ascii(domain)
    except idna.IDNAError as exc:
        raise ValueError(
            f"{domain!r} is not a valid internationalised domain name ({exc})"
        ) from None


def setting_names() -> set[str]:
    """The names a setting is read by in the config file: each field's own and its aliases."""
    return field_names(Settings) - {"config"}


def variable_notes() -> list[str]:
    """A note for each DIGEST_ variable of the environment or the home's .env file that no
    setting reads, with the one it likely meant."""
    known = {f"DIGEST_{name.upper()}" for name in setting_names()}
    known |= {"DIGEST_CONFIG", HOME_VARIABLE}
    dotenv = dotenv_keys(home() / ".env")
    return unknown_variables(os.environ, known) + unknown_variables(dotenv, known, ".env")


def load_settings(config_path: Path | None = None, **overrides: Any) -> Settings:
    """Read the settings, turning any problem into one ConfigError that names the setting.
    Relative paths in them are taken from the home (DIGEST_HOME, else the working directory)."""
    base = home()
    path = config_path or Path(os.environ.get("DIGEST_CONFIG") or base / DEFAULT_CONFIG)
    if (config_path is not None or "DIGEST_CONFIG" in os.environ) and not path.is_file():
        raise ConfigError(f"config file {path} does not exist: fix DIGEST_CONFIG or --config")
    if os.environ.get(HOME_VARIABLE) and not base.is_dir():
        raise ConfigError(f"{HOME_VARIABLE}={base} is not a directory: fix {HOME_VARIABLE}")
    try:
        check_config_keys(path, setting_names(), set(SourceConfig.model_fields))
        settings = Settings(config=path, _env_file=base / ".env", **overrides)
        return settings.under_home(base.resolve()) if os.environ.get(HOME_VARIABLE) else settings
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        # a setting with aliases is named by the one that held it (DIGEST_FROM)
        top = str(first["loc"][0]) if first["loc"] else "settings"
        variable = top if top.startswith("DIGEST_") else f"DIGEST_{top.upper()}"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(
            f"invalid setting {where}: {message} (check {variable} or {path})"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
