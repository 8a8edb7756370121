"""Where each shared service comes from: a configured URL, or an embedded child process.

    with Services(load_settings()) as endpoints:
        overrides = TANSU_FAUST_SETTINGS if broker_is_tansu(endpoints) else {}
        app = faust.App(app_id, broker=endpoints.broker_url, **overrides)
        subprocess.run(worker_cmd, env=os.environ | endpoints.as_env())  # same services in children

Why embedded by default: README.md, "Services: real ones, embedded by default"; how: docs/architecture.md.
"""

from .broker import EMBEDDED_BROKER_WARNING, check_broker, start_embedded_broker
from .embedded import Embedded
from .endpoints import Endpoints, Origin, broker_is_tansu
from .errors import ServiceError, ServiceStartError, ServiceUnavailable
from .faust_tuning import TANSU_FAUST_SETTINGS
from .postgres import check_database, start_embedded_postgres
from .probes import Probe, probe_all, probe_broker, probe_database, probe_redis
from .redis_server import check_redis, start_embedded_redis
from .supervisor import Services
from .urls import bootstrap_servers, broker_hosts, normalise_broker_url

__all__ = [
    "EMBEDDED_BROKER_WARNING",
    "TANSU_FAUST_SETTINGS",
    "Embedded",
    "Endpoints",
    "Origin",
    "Probe",
    "ServiceError",
    "ServiceStartError",
    "ServiceUnavailable",
    "Services",
    "bootstrap_servers",
    "broker_hosts",
    "broker_is_tansu",
    "check_broker",
    "check_database",
    "check_redis",
    "normalise_broker_url",
    "probe_all",
    "probe_broker",
    "probe_database",
    "probe_redis",
    "start_embedded_broker",
    "start_embedded_postgres",
    "start_embedded_redis",
]
