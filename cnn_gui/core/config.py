"""Training settings and the two presets the app offers.

``tutorial`` reproduces the seed tutorial: Adam at its default rate, batch 100, a
constant rate, 3 epochs. ``fast`` trains the same network with a one-cycle learning-rate
schedule and a larger batch, and reaches 99% MNIST test accuracy within one epoch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "onecycle")


class ConfigError(ValueError):
    """A training setting that cannot work, with a sentence saying why."""


@dataclass(frozen=True)
class TrainConfig:
    model: str = "mnist-cnn"
    dataset: str = "mnist"
    epochs: int = 3
    batch_size: int = 100
    lr: float = 1e-3
    optimizer: str = "adam"
    schedule: str = "constant"
    weight_decay: float = 0.0
    momentum: float = 0.9  # SGD only
    seed: int = 0
    device: str = "auto"
    max_batches: int | None = None  # per epoch, for quick runs
    eval_batch_size: int = 1000
    report_interval: float = 1 / 30  # seconds between BatchEnded events
    channels_last: bool | None = None  # None: where it is faster (CUDA, and CPU)
    amp: bool | None = None  # bf16 autocast; None: on CUDA and on CPUs with native bf16, else off
    compile: bool = False  # torch.compile the model (CUDA only; slow first epoch)

    def validate(self) -> "TrainConfig":
        if self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1 (got {self.epochs})")
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be at least 1 (got {self.batch_size})")
        if not self.lr > 0:
            raise ConfigError(f"learning rate must be positive (got {self.lr})")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if self.max_batches is not None and self.max_batches < 1:
            raise ConfigError(f"max batches must be at least 1 (got {self.max_batches})")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def with_(self, **changes) -> "TrainConfig":
        return replace(self, **changes)


PRESETS: dict[str, TrainConfig] = {
    "tutorial": TrainConfig(),
    "fast": TrainConfig(epochs=1, batch_size=128, lr=3e-3, optimizer="adam", schedule="onecycle"),
}
DEFAULT_PRESET = "tutorial"
