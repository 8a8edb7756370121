"""The OpenVINO runtime: one `Core` per process, the device choice, the compiled-model cache.

Why a wrapper: every model (plate detector, plate OCR) must be compiled the same way: on the
configured device (falling back to the CPU, with a log line, when that device is absent), with the
compiled-model cache on disk so a worker restarts in milliseconds rather than recompiling, and with
the performance hint that suits the caller: LATENCY for one image at a time (API uploads, the
accuracy bench), THROUGHPUT with an `AsyncInferQueue` for camera streams. Model files are found
through the installed package (`platewatch.models`), never through the working directory, unless
`vision.models_dir` names a directory of the department's own retrained files.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import threading
import time
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
import openvino as ov
import openvino.properties as props
import openvino.properties.hint as hints

from platewatch.engine.config import VisionConfig
from platewatch.engine.config.choices import DEVICES

from .model_files import DETECTOR_INPUT_SIZE, DETECTOR_MODEL
from .types import VisionError

log = logging.getLogger(__name__)

#: Float precisions are an OpenVINO hint on the same FP16 model files; "int8" picks the
#: NNCF-quantized files (``*_int8.xml``, models/training/quantize.py), whose few float layers run
#: at the device's default precision.
_PRECISIONS: Final = {"f32": ov.Type.f32, "bf16": ov.Type.bf16, "int8": None}
INT8_SUFFIX: Final = "_int8"
#: Where a CPU's measured float precision is remembered, inside the compiled-model cache.
PRECISION_CHOICE_FILE: Final = "float-precision.json"
#: f32 replaces the device's bf16 default only when it is at least this much faster: on a tie bf16
#: stays (half the memory traffic), and a noisy measurement does not flip the choice.
F32_MARGIN: Final = 0.9


class Mode(Enum):
    """What a compiled model is for; picks the OpenVINO performance hint."""

    LATENCY = "latency"  # one image at a time, answer as soon as possible
    THROUGHPUT = "throughput"  # many frames in flight (streams), most frames per second


def model_path(name: str) -> Path:
    """Path of a model file shipped in `platewatch.models` (e.g. ``plate_det.xml``)."""
    path = Path(str(resources.files("platewatch.models").joinpath(name)))
    if not path.is_file():
        raise VisionError(f"model file {name} is missing from the installed package ({path})")
    return path


def has_model(name: str) -> bool:
    """Whether a model file is shipped (the OCR model appears only once it has been trained)."""
    return Path(str(resources.files("platewatch.models").joinpath(name))).is_file()


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One inference device as `platewatch doctor` shows it."""

    name: str
    full_name: str
    capabilities: tuple[str, ...]


class Runtime:
    """One OpenVINO `Core` with the device, cache directory and precision every model shares."""

    def __init__(
        self,
        device: str = "AUTO",
        cache_dir: Path | None = None,
        precision: str | None = None,
        models_dir: Path | None = None,
    ) -> None:
        if device not in DEVICES:
            raise VisionError(f"unknown OpenVINO device {device!r}; choose one of {', '.join(DEVICES)}")
        if precision is not None and precision not in _PRECISIONS:
            raise VisionError(f"unknown inference precision {precision!r}; choose f32, bf16 or int8")
        self.core = ov.Core()
        self.requested_device = device
        self.device = self._resolve(device)
        self.precision = precision
        self.models_dir = models_dir
        self.cache_dir = self._enable_cache(cache_dir)
        self._float_default: str | None = None
        self._float_default_known = False
        self._choice_lock = threading.Lock()

    def _resolve(self, device: str) -> str:
        available = self.core.available_devices
        if device == "AUTO":
            # AUTO over a lone CPU only adds a scheduling layer; compile on the CPU directly.
            return "CPU" if available == ["CPU"] else "AUTO"
        if any(name == device or name.startswith(f"{device}.") for name in available):
            return device
        log.warning(
            "OpenVINO device %s is not available (found: %s); falling back to CPU",
            device,
            ", ".join(available) or "none",
        )
        return "CPU"

    def _enable_cache(self, cache_dir: Path | None) -> Path | None:
        if cache_dir is None:
            return None
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("OpenVINO model cache disabled: cannot create %s (%s)", cache_dir, exc.strerror)
            return None
        self.core.set_property({props.cache_dir: str(cache_dir)})
        return cache_dir

    def config(self, mode: Mode) -> dict[str, Any]:
        """Compile properties for a mode (exposed so benches can show what was used)."""
        hint = hints.PerformanceMode.LATENCY if mode is Mode.LATENCY else hints.PerformanceMode.THROUGHPUT
        config: dict[str, Any] = {hints.performance_mode: hint}
        if self.inference_precision is not None:
            config[hints.inference_precision] = _PRECISIONS[self.inference_precision]
        return config

    @property
    def inference_precision(self) -> str | None:
        """The OpenVINO precision hint to compile with (None: the device's default)."""
        if self.precision == "int8":
            return None
        if self.precision is None:
            return self.default_float_precision()
        return self.precision

    def default_float_precision(self) -> str | None:
        """For `precision: default`: None (the device's own default) or "f32" where the CPU's
        bf16 default turned out slower.

        Why measured: OpenVINO runs bf16 on every CPU with AVX512-BF16, and whether that pays
        depends on the chip. On an AMD EPYC (AVX512-BF16, no AMX) bf16 ran the pipeline 1.6 times
        as fast as f32; on an Intel Xeon whose hypervisor hides AMX it ran at three quarters of
        f32's speed (docs/measuring.md). Both read plates the same, so the default takes whichever
        is faster here: the detector (most of the time per frame) is timed once at each precision,
        and the answer is kept in the compiled-model cache for every later start.
        """
        with self._choice_lock:
            if not self._float_default_known:
                self._float_default = self._choose_float_default()
                self._float_default_known = True
            return self._float_default

    def _choose_float_default(self) -> str | None:
        if self.device != "CPU":
            return None
        try:
            native = self.core.get_property("CPU", hints.inference_precision)
        except RuntimeError:
            return None
        if native != ov.Type.bf16:
            return None  # no bf16 here: f32 already, nothing to choose
        detector = self.model_file(DETECTOR_MODEL)
        key = "|".join((self._cpu_name(), ov.get_version(), str(detector)))
        stored = _stored_choices(self.cache_dir)
        # Measured by another runtime of this process when it is not stored yet.
        choice = stored.get(key) or _process_choices.get(key)
        if choice is None:
            try:
                timings = {p: self._time_detector(detector, p) for p in ("bf16", "f32")}
            except (RuntimeError, OSError) as exc:  # the detector fails to load: its own error follows
                log.warning("could not time the precisions (%s); keeping the device's default", exc)
                return None
            choice = pick_float_precision(timings)
            log.info(
                "default precision on this CPU: %s (detector %.1f ms at bf16, %.1f ms at f32; "
                "remembered in %s)",
                choice,
                timings["bf16"] * 1e3,
                timings["f32"] * 1e3,
                self.cache_dir or "this process only",
            )
        if stored.get(key) != choice:
            _remember_choice(self.cache_dir, key, choice)
        return "f32" if choice == "f32" else None

    def describe_precision(self) -> str:
        """What `platewatch doctor` shows: the precision models compile at here, and why."""
        if self.precision == "int8":
            return "int8 (the quantized models)"
        if self.precision is not None:
            return f"{self.precision} (set)"
        if self.default_float_precision() == "f32":
            return "f32 (timed faster than bf16 on this CPU)"
        try:
            native = self.core.get_property(self.device, hints.inference_precision)
        except RuntimeError:
            return "the device's default"
        return f"{native.to_string()} (the device's default)"

    def _cpu_name(self) -> str:
        try:
            return str(self.core.get_property("CPU", props.device.full_name))
        except RuntimeError:
            return "CPU"

    def _time_detector(self, path: Path, precision: str, runs: int = 7) -> float:
        """Median seconds of one detector inference on a frame at `precision` (after warm-up)."""
        shape = [1, 3, DETECTOR_INPUT_SIZE, DETECTOR_INPUT_SIZE]
        model = self.core.read_model(path)
        model.reshape(shape)
        config = {
            hints.performance_mode: hints.PerformanceMode.LATENCY,
            hints.inference_precision: _PRECISIONS[precision],
        }
        compiled = self.core.compile_model(model, "CPU", config)
        request = compiled.create_infer_request()
        frame = np.zeros(shape, dtype=np.float32)
        for _ in range(3):
            request.infer({0: frame})
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            request.infer({0: frame})
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    def model_file(self, name: str) -> Path:
        """The file to load for a model at this runtime's precision: the department's own from
        `models_dir` where it has one (a model retrained on its region's plates), the shipped one
        otherwise. Each file is looked up on its own, so a retrained OCR runs beside the shipped
        detector."""
        if self.precision == "int8":
            name = name.replace(".xml", f"{INT8_SUFFIX}.xml")
        if self.models_dir is not None and (self.models_dir / name).is_file():
            return self.models_dir / name
        return model_path(name)

    def read_model(self, name: str) -> ov.Model:
        """Read a shipped model (``.xml`` name relative to `platewatch.models`) at this precision."""
        return self.core.read_model(self.model_file(name))

    def compile(self, model: ov.Model | str, mode: Mode = Mode.LATENCY) -> ov.CompiledModel:
        """Compile a model (or a shipped model by file name) for the runtime's device."""
        source = self.read_model(model) if isinstance(model, str) else model
        return self.core.compile_model(source, self.device, self.config(mode))

    def effective_precision(self, compiled: ov.CompiledModel) -> str:
        """The precision the device actually runs at (by default bf16 or f32, whichever is faster here)."""
        try:
            found = str(compiled.get_property(hints.inference_precision).to_string())
        except RuntimeError:
            found = self.precision or "default"
        return f"int8+{found}" if self.precision == "int8" else found

    def devices(self) -> list[DeviceInfo]:
        return available_devices(self.core)


def pick_float_precision(timings: dict[str, float]) -> str:
    """Returns f32 when it is clearly faster than bf16 (by `F32_MARGIN`), bf16 otherwise."""
    return "f32" if timings["f32"] < F32_MARGIN * timings["bf16"] else "bf16"


_choices_lock = threading.Lock()
#: Choices measured in this process when there is no cache directory to keep them in.
_process_choices: dict[str, str] = {}


def _read_choices(path: Path) -> dict[str, str]:
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in stored.items() if isinstance(v, str)} if isinstance(stored, dict) else {}


def _stored_choices(cache_dir: Path | None) -> dict[str, str]:
    """The choices remembered in a cache directory ({} when there is none or it is unreadable)."""
    if cache_dir is None:
        return {}
    with _choices_lock:
        return _read_choices(cache_dir / PRECISION_CHOICE_FILE)


def _remember_choice(cache_dir: Path | None, key: str, choice: str) -> None:
    with _choices_lock:
        _process_choices[key] = choice
        if cache_dir is None:
            return
        path = cache_dir / PRECISION_CHOICE_FILE
        stored = _read_choices(path) | {key: choice}
        try:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")  # the worker and the API may start together
            tmp.write_text(json.dumps(stored, indent=1, sort_keys=True))
            tmp.replace(path)
        except OSError as exc:
            log.warning("could not remember the measured precision in %s (%s)", path, exc.strerror)


def available_devices(core: ov.Core | None = None) -> list[DeviceInfo]:
    """The inference devices OpenVINO sees here, for `platewatch doctor`."""
    core = core or ov.Core()
    found = []
    for name in core.available_devices:
        try:
            full = str(core.get_property(name, props.device.full_name))
            caps = tuple(str(c) for c in core.get_property(name, props.device.capabilities))
        except RuntimeError:
            full, caps = name, ()
        found.append(DeviceInfo(name=name, full_name=full, capabilities=caps))
    return found


_runtimes: dict[tuple[str, Path | None, str | None, Path | None], Runtime] = {}
_lock = threading.Lock()


def get_runtime(vision: VisionConfig | None = None, data_dir: Path | None = None) -> Runtime:
    """The process's shared runtime for the vision settings it is handed (the section's defaults
    when none are).

    The compiled-model cache is `vision.cache_dir`, else ``<data_dir>/ov-cache``; with neither,
    models compile without one. One `Core` per option set (in practice one per process): a `Core`
    holds plugins and thread pools, and making one per model would compile and cache each model
    separately.
    """
    vision = vision or VisionConfig()
    cache_dir = vision.cache_dir or (data_dir / "ov-cache" if data_dir is not None else None)
    precision = None if vision.precision == "default" else vision.precision
    device, models_dir = vision.device, vision.models_dir
    key = (device, cache_dir, precision, models_dir)
    with _lock:
        runtime = _runtimes.get(key)
        if runtime is None:
            runtime = _runtimes[key] = Runtime(device, cache_dir, precision, models_dir)
        return runtime
