"""Where the services answer, once `Services` has decided; handed to every part that connects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config.choices import BrokerKind
from ..redaction import redact_url
from .urls import bootstrap_servers

Origin = Literal["configured", "embedded"]

# The settings model reads these (env_prefix PLATEWATCH_, sections split by "__"), so a worker or API
# process started with them uses the services this one decided on instead of starting its own.
ENV_BROKER_URL = "PLATEWATCH_SERVICES__BROKER_URL"
ENV_REDIS_URL = "PLATEWATCH_SERVICES__REDIS_URL"
ENV_DATABASE_URL = "PLATEWATCH_SERVICES__DATABASE_URL"


@dataclass(frozen=True, repr=False)
class Endpoints:
    """URLs clients connect to, where each service came from, and what it is.

    `broker_url` is `kafka://h1:9092,h2:9092`, which Faust's `broker` setting takes as it is; aiokafka
    wants `bootstrap_servers`. `repr()` hides passwords, so an Endpoints can be logged.

    `database_url` is what the application connects with; `database_owner_url` what migrations and
    the store's upkeep use (they create and drop tables). On the embedded database they differ: the
    application's role may not change the access log. Elsewhere they are one URL (given "", it is
    `database_url`). Only `database_url` goes to child processes (`as_env`); a child on this data
    directory finds the owner's password in `<data_dir>/secrets/` itself (`Services`).
    """

    broker_url: str
    redis_url: str
    database_url: str
    broker_origin: Origin | None  # None: not needed (`Services(need=...)`) and not configured; URL ""
    redis_origin: Origin | None
    database_origin: Origin | None
    broker_kind: BrokerKind = "kafka"
    broker_version: str | None = None
    redis_version: str | None = None
    database_version: str | None = None
    database_owner_url: str = ""

    def __post_init__(self) -> None:
        if not self.database_owner_url:
            object.__setattr__(self, "database_owner_url", self.database_url)

    @property
    def bootstrap_servers(self) -> str:
        return bootstrap_servers(self.broker_url)

    def as_env(self) -> dict[str, str]:
        """Environment for child processes (workers, API) so they use these same services."""
        pairs = (
            (ENV_BROKER_URL, self.broker_url),
            (ENV_REDIS_URL, self.redis_url),
            (ENV_DATABASE_URL, self.database_url),
        )
        return {name: url for name, url in pairs if url}

    def describe(self) -> list[tuple[str, str, str]]:
        """(service, URL without password, origin) for each service in use, for tables and logs."""
        rows = (
            ("broker", self.broker_url, self.broker_origin),
            ("redis", self.redis_url, self.redis_origin),
            ("database", self.database_url, self.database_origin),
        )
        return [(name, redact_url(url), origin) for name, url, origin in rows if origin is not None]

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={url} [{origin}]" for name, url, origin in self.describe())
        return f"Endpoints({shown}, broker_kind={self.broker_kind})"


def broker_is_tansu(endpoints: Endpoints) -> bool:
    """Whether Faust needs `TANSU_FAUST_SETTINGS`: the embedded broker, or a configured one that is tansu.

    For a configured broker `services.broker_kind` decides; on `auto` it is recognised by tansu's
    default cluster id, which the embedded one keeps, so workers handed the embedded broker's URL
    through `as_env()` recognise it too.
    """
    return endpoints.broker_kind == "tansu"
