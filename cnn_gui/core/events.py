"""What the core tells the world: the training engine's events, and a Qt-free emitter.

The engine's events are frozen dataclasses of plain Python numbers (and tuples of them). No tensor ever leaves
the engine, so an event can cross a thread boundary (a Qt signal), be kept in a history
for hours, or be written to JSON without holding device memory.

:class:`Emitter` is how a core object (the session) announces its changes without Qt: a
front end connects a callable once and refreshes itself when called (napari's evented
model, in a dozen lines).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FitStarted:
    device: str  # "cpu", "cuda:0", "mps"
    device_label: str  # "CUDA 0: NVIDIA H200"
    model: str
    dataset: str
    train_size: int
    test_size: int
    batch_size: int
    batches_per_epoch: int
    epochs: int  # total epochs of the run (the last epoch number is epochs)
    start_epoch: int  # 1-based epoch the run starts in (> 1 when resumed)
    start_batch: int  # batches already done in start_epoch (> 0 when resumed mid-epoch)
    parameters: int
    precision: str = "fp32"  # or "bf16 autocast"
    num_classes: int = 0  # the dataset's classes: the network has one output for each


@dataclass(frozen=True)
class BatchEnded:
    """Emitted at most every ``TrainConfig.report_interval`` seconds (and at epoch end).

    ``loss`` is the mean over the batches since the previous report, ``accuracy`` the
    running accuracy of the epoch so far: one host sync per report, none per batch.
    """

    epoch: int  # 1-based
    batch: int  # batches done in this epoch, 1-based
    batches_per_epoch: int
    step: int  # global optimizer steps so far
    loss: float
    accuracy: float  # 0..1
    samples_per_sec: float
    eta_seconds: float  # time left in the whole run at the current speed
    lr: float


@dataclass(frozen=True)
class EpochEnded:
    epoch: int  # 1-based
    train_loss: float
    train_accuracy: float  # 0..1, over the samples trained in this epoch
    test_loss: float
    test_accuracy: float  # 0..1, measured in eval mode under inference_mode
    seconds: float  # wall time of the epoch's training part plus its test pass
    samples_per_sec: float  # training throughput of the epoch
    lr: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RateChanged:
    """The learning rate was changed during the run (``RunControl.request_rate``), applied
    from optimizer step ``step`` on: ``lr`` the new rate (the peak with one-cycle, which it
    rescales), ``previous`` the one it replaced."""

    step: int
    lr: float
    previous: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class HealthChecked:
    """One look at the network's health (core/training/health.py), after optimizer step
    ``step``: per parameterised module (``layers``) and per ReLU (``relus``), plain numbers."""

    step: int
    layers: tuple[str, ...]
    weight_norm: tuple[float, ...]
    grad_norm: tuple[float, ...]
    update_ratio: tuple[float, ...]  # |w_after - w_before| / |w_before| across the step
    frozen: tuple[bool, ...]
    nonfinite: tuple[bool, ...]
    relus: tuple[str, ...]
    dead_share: tuple[float, ...]  # of each ReLU's channels, zero on every probe image
    first_loss: float | None  # the first look's probe loss (compare with ln(classes))
    classes: int
    alerts: tuple[str, ...]  # plain-language lines, each said once per run


@dataclass(frozen=True)
class SnapshotSaved:
    """The run kept its weights after ``step`` optimizer steps (core/runs/snapshots.py) in
    the file ``path``: a moment the window's time slider can go back to."""

    step: int
    epoch: int
    path: str


@dataclass(frozen=True)
class FitEnded:
    reason: str  # "completed" | "stopped" | "failed"
    epochs_completed: int
    step: int
    seconds: float
    final_test_accuracy: float | None


@dataclass(frozen=True)
class FitFailed:
    kind: str  # "nan" | "oom" | "error"
    message: str  # one sentence for a person
    hint: str  # what to try next


Event = (FitStarted | BatchEnded | EpochEnded | FitEnded | FitFailed | RateChanged | HealthChecked
         | SnapshotSaved)


class Emitter:
    """A list of callbacks called in order with one value; the core's answer to a Qt signal.

    Called on the thread that made the change (the session changes on the GUI thread).
    """

    def __init__(self) -> None:
        self._callbacks: list[Callable[[object], None]] = []

    def connect(self, callback: Callable[[object], None]) -> None:
        self._callbacks.append(callback)

    def disconnect(self, callback: Callable[[object], None]) -> None:
        self._callbacks.remove(callback)

    def emit(self, value: object) -> None:
        for callback in list(self._callbacks):
            callback(value)
