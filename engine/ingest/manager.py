"""Which cameras this worker captures, and their runners.

The catalog is every camera definition on pw.cameras (a compacted topic: the latest value per
camera id, an empty value removes it) together with the partition it lives in. A worker captures
the cameras whose partitions Kafka's group protocol assigned to it, so cameras spread over workers
as partitions do, and move when a worker joins, leaves or dies. `reconcile` is idempotent: it is
called after every catalog change and rebalance, and starts, restarts (definition changed) and
stops runners until what runs is what is owned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from platewatch.codecs import CodecError
from platewatch.codecs.cameras import decode_spec
from platewatch.engine.config import VisionConfig
from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.redaction import redact_url

from .health import CameraHealth
from .runner import CameraRunner, Publish, Recognize

log = logging.getLogger(__name__)

RunnerFactory = Callable[[CameraSpec, CameraHealth], CameraRunner]


@dataclass(frozen=True, slots=True)
class CatalogedCamera:
    """A camera's latest definition and the partition of pw.cameras it lives in (who captures it)."""

    spec: CameraSpec
    partition: int


class CameraCatalog:
    """Latest definition per camera id, as read from pw.cameras."""

    def __init__(self) -> None:
        self.cameras: dict[str, CatalogedCamera] = {}

    def apply(self, key: bytes | None, value: bytes | None, partition: int) -> bool:
        """Apply one record; True when the catalog changed. Bad records raise `CodecError`."""
        if not key:
            raise CodecError("camera definition without a key")
        camera_id = key.decode("utf-8", "replace")
        if not value:
            return self.cameras.pop(camera_id, None) is not None
        spec = decode_spec(value)
        if spec.id != camera_id:
            raise CodecError(f"camera definition for {spec.id!r} under key {camera_id!r}")
        cataloged = CatalogedCamera(spec, partition)
        changed = self.cameras.get(camera_id) != cataloged
        self.cameras[camera_id] = cataloged
        return changed

    def owned(self, partitions: set[int]) -> dict[str, CameraSpec]:
        return {
            cid: c.spec for cid, c in self.cameras.items() if c.partition in partitions and c.spec.enabled
        }


class CameraManager:
    """Runs one `CameraRunner` task per owned camera."""

    def __init__(
        self,
        publish: Publish,
        recognize: Recognize | None = None,
        runner_factory: RunnerFactory | None = None,
        vision: VisionConfig | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.catalog = CameraCatalog()
        self.partitions: set[int] = set()
        self.health: dict[str, CameraHealth] = {}
        self._publish = publish
        self._recognize = recognize
        self._factory = runner_factory
        self._vision = vision
        self._data_dir = data_dir
        self._tasks: dict[str, tuple[CameraSpec, asyncio.Task[None]]] = {}
        self._lock = asyncio.Lock()

    @property
    def running(self) -> dict[str, CameraSpec]:
        return {cid: spec for cid, (spec, task) in self._tasks.items() if not task.done()}

    def _runner(self, spec: CameraSpec) -> CameraRunner:
        health = self.health.setdefault(spec.id, CameraHealth(spec.id))
        if self._factory is not None:
            return self._factory(spec, health)
        return CameraRunner(
            spec, self._publish, self._recognize, health=health, vision=self._vision, data_dir=self._data_dir
        )

    async def reconcile(self) -> None:
        async with self._lock:
            owned = self.catalog.owned(self.partitions)
            for cid, (spec, task) in list(self._tasks.items()):
                if owned.get(cid) != spec or task.done():
                    await self._stop(cid)
            for cid, spec in owned.items():
                if cid not in self._tasks:
                    log.info("camera %s: capturing %s", cid, redact_url(spec.url))
                    task = asyncio.create_task(self._runner(spec).run(), name=f"camera-{cid}")
                    self._tasks[cid] = (spec, task)

    async def _stop(self, camera_id: str) -> None:
        _, task = self._tasks.pop(camera_id)
        log.info("camera %s: stopping capture", camera_id)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=15)  # the runner sends its final reads first
        if not done:
            log.warning("camera %s: capture did not stop within 15 s", camera_id)

    async def stop_all(self) -> None:
        async with self._lock:
            await asyncio.gather(*(self._stop(cid) for cid in list(self._tasks)))
