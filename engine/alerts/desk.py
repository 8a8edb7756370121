"""The worker's side of the desk: alerts from pw.alerts into the database, and expiry.

One connection, used from a worker thread (psycopg is blocking; the agent must not stall the event
loop). A database error propagates, so the agent does not acknowledge the batch and it comes again;
the alert id makes the second time a no-op. Camera names are looked up once a minute (the
configuration plus `platewatch camera add`), so an alert shows "Main St & 3rd" and not a camera id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import psycopg

from platewatch.codecs import Alert
from platewatch.engine.config import CameraSpec, Settings
from platewatch.engine.ingest.camera_store import desired_cameras

from .lifecycle import expire_stale
from .records import Stored, store_alerts

log = logging.getLogger(__name__)
SITES_EVERY_S = 60.0


def camera_site(spec: CameraSpec) -> dict[str, object]:
    """What an alert shows of its camera: name, where it stands, and which way the passes it
    reports travel (a camera set to one direction ignores the other, so that direction is known)."""
    site: dict[str, object] = {}
    if spec.name:
        site["camera_name"] = spec.name
    if spec.address:
        site["camera_address"] = spec.address
    if spec.latitude is not None and spec.longitude is not None:
        site["camera_position"] = [spec.latitude, spec.longitude]
    if spec.heading is not None:
        site["camera_heading"] = spec.heading
    if spec.direction != "any":
        site["direction"] = str(spec.direction)
    return site


class AlertDesk:
    def __init__(self, database_url: str, settings: Settings) -> None:
        self._url = database_url
        self._settings = settings
        self._conn: psycopg.Connection | None = None
        self._sites: dict[str, dict[str, object]] = {}
        self._sites_at = 0.0
        self._lock = threading.Lock()

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, autocommit=True)
        return self._conn

    def _camera_sites(self) -> dict[str, dict[str, object]]:
        if time.monotonic() - self._sites_at > SITES_EVERY_S:
            try:
                cameras = desired_cameras(self._settings.cameras, self._url)
                self._sites = {cid: camera_site(spec) for cid, spec in cameras.items()}
            except psycopg.Error as exc:  # names are a nicety: keep the last ones
                log.warning("camera names not refreshed (%s)", type(exc).__name__)
            self._sites_at = time.monotonic()
        return self._sites

    def store(self, alerts: Sequence[Alert]) -> list[Stored]:
        """Store a batch (idempotent); raises on a database error so the batch is not acknowledged."""
        with self._lock:
            try:
                return store_alerts(
                    self._connection(),
                    alerts,
                    camera_sites=self._camera_sites(),
                    webhooks=self._settings.webhooks,
                )
            except psycopg.Error:
                self.close()
                raise

    def expire(self) -> int:
        a = self._settings.alerts
        with self._lock:
            try:
                return expire_stale(
                    self._connection(),
                    new_after_s=a.expire_new_s,
                    acknowledged_after_s=a.expire_acknowledged_s,
                    webhooks=self._settings.webhooks,
                )
            except psycopg.Error:
                self.close()
                raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
