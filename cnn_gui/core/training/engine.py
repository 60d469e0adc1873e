"""The training loop: ``Trainer.fit()`` with events out, cooperative stop/pause, resume.

Why it is faster than the tutorial's loop on the same model and batch size:
- the dataset is one preloaded uint8 tensor on the training device; a batch is an
  ``index_select`` of a per-epoch permutation, normalised on the device (no DataLoader,
  no per-sample PIL/ToTensor);
- on the CPU, channels_last memory format (oneDNN's blocked convolutions) and bf16
  autocast where the CPU has native bf16; fused Adam;
- on CUDA, the training step replayed from a CUDA graph (below);
- loss and accuracy are summed on the device and read back only when an event is due
  (at most ``report_interval`` apart), never once per batch.

What it fixes in the tutorial: the test pass runs in ``model.eval()`` (BatchNorm uses
its running statistics) under ``torch.inference_mode()``; the training data is shuffled
each epoch; accuracies are called accuracies.

On CUDA the training step of every full batch is replayed from one CUDA graph
(``TrainConfig.cuda_graph``; on unless ``compile``): at batch 100 the tutorial CNN's step
is ~150 tiny kernels, and an eager loop spends its time launching them from Python (on
an H200, torch 2.11: 1.9 s an epoch eager, 0.40 s for a graphed prototype of the same
step). The graph holds gathering the batch from the resident dataset, the augmentation,
normalising, forward under autocast (its weight-cast cache off), loss, backward and the
device-side sums of loss and hits; the host copies the batch's indices (and augmentation
draws) into the graph's static inputs, replays it, and runs ``optimizer.step()`` and the
schedule eagerly: one-cycle moves Adam's beta1 every step, which a captured fused kernel
would freeze at its capture value, and this way every optimizer, schedule and checkpoint
is the same as eager (the step is two kernel launches, hidden behind the GPU's work). A
last partial batch runs eagerly. A capture that fails (a user's module that reads a value
back to the host...) leaves the run eager, with the reason in ``FitStarted.precision``.
The CPU path is unchanged.

CUDA defaults (``CUDA_AMP``, ``CUDA_CHANNELS_LAST``, ``CUDNN_BENCHMARK`` below, chosen
from ``benchmarks/gpu_check.py``, which times every combination, graphed and eager; figures
in ``benchmarks/results/``): bf16 autocast and channels_last, the fastest graphed setting on
an H200 (torch 2.11, MNIST, batch 100: 0.49 s an epoch; fp32 channels_last 0.53, fp32
contiguous 0.64, bf16 contiguous 0.73; the tutorial's loop 12.1 s). Eager, the order is
reversed (fp32 contiguous 2.46 s, bf16 channels_last 3.42 s: autocast adds a cast of every
weight and gradient, which costs launches; in a graph it costs nothing). cuDNN autotuning
off: it cost the first run in a process ~3.5 s (each new batch shape is timed), more than a
whole graphed epoch wins back (0.645 s with it, 0.642 s without). On the CPU nothing
changes (channels_last; bf16 where the CPU has it natively).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Iterable

import torch
from torch import nn

from cnn_gui.core.training import augment as augmentation
from cnn_gui.core.config import ConfigError, TrainConfig
from cnn_gui.core.training.cpu_threads import use_training_threads
from cnn_gui.core.devices import cpu_has_native_bf16, device_label, resolve_device
from cnn_gui.core.errors import one_line
from cnn_gui.core.events import BatchEnded, EpochEnded, Event, FitEnded, FitFailed, FitStarted
from cnn_gui.core.model.models import ModelSpec, get_spec, parameter_count, spec_for_architecture
from cnn_gui.core.model.structure import freeze_batchnorm_stats

if TYPE_CHECKING:
    from cnn_gui.core.files.checkpoints import Checkpoint, CheckpointMeta
    from cnn_gui.core.data.image_dataset import ImageDataset

Callback = Callable[[Event], None]
_log = logging.getLogger(__name__)

# What ``amp=None`` and ``channels_last=None`` mean on CUDA, and cuDNN autotuning there
# (see the module's docstring for the measurements behind them).
CUDA_AMP = True
CUDA_CHANNELS_LAST = True
CUDNN_BENCHMARK = False
GRAPH_WARMUP_STEPS = 3  # eager steps on a side stream before capturing, as torch.cuda.graphs asks


class NonFiniteLoss(RuntimeError):
    pass


class _StoppedInTest(Exception):
    """Raised inside the test pass when the run is stopped; never leaves the engine."""


class RunControl:
    """Stop and pause of one run, safe to call from any thread, made before the run starts.

    The caller creates it and hands it to the :class:`Trainer`, so a stop requested while
    the dataset is still loading counts: ``fit()`` never clears it. A stopped control
    stays stopped; the next run gets a new one.
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()  # set = not paused
        self._held = threading.Event()  # set while the run waits in pause

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused run must wake up to stop

    def pause(self) -> None:
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_if_paused(self) -> None:
        self._held.set()  # between two batches: the model and optimizer are consistent now
        try:
            self._running.wait()
        finally:
            self._held.clear()

    def wait_until_held(self, timeout: float) -> bool:
        """After pause(): wait until the run really holds between two batches (True), e.g. to save."""
        return self._held.wait(timeout)


@dataclass
class Position:
    """Where a run stands; saved in checkpoints so a later run continues exactly here."""

    epoch: int = 0  # epochs fully completed
    batch: int = 0  # batches done in epoch ``epoch + 1``
    step: int = 0  # optimizer steps in total
    loss_sum: float = 0.0  # over the samples of the unfinished epoch
    correct: int = 0
    seen: int = 0
    train_seconds: float = 0.0  # of the unfinished epoch

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, values: dict) -> "Position":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass
class _Accumulator:
    """Device-side sums, so the hot loop never waits for the GPU."""

    device: torch.device
    loss: torch.Tensor = field(init=False)
    correct: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.loss = torch.zeros((), dtype=torch.float64, device=self.device)
        self.correct = torch.zeros((), dtype=torch.int64, device=self.device)

    def reset(self) -> None:
        # In place: a CUDA graph adds into these very tensors.
        self.loss.zero_()
        self.correct.zero_()


def _permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    # Derived from (seed, epoch) alone, so a resumed run replays the same order. Modulo
    # 2**64, which manual_seed accepts: the same seed as before for every seed below ~1.8e13,
    # where it did not overflow.
    gen = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (1 << 64))
    return torch.randperm(n, generator=gen)


def _make_optimizer(config: TrainConfig, params, device: torch.device) -> torch.optim.Optimizer:
    # fused (CUDA and CPU: one kernel per step, ~2 ms instead of ~4 ms with foreach for the
    # tutorial CNN on a 2-core CPU) / foreach elsewhere, instead of a Python loop per parameter.
    fast = {"fused": True} if device.type in ("cuda", "cpu") else {"foreach": True}
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, **fast)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay or 1e-2, **fast)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                           weight_decay=config.weight_decay, nesterov=config.momentum > 0, **fast)


def _match_state_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give loaded per-parameter state (Adam's moments...) its parameter's memory layout.

    A checkpoint stores tensors contiguous; a channels_last parameter's moments must be
    channels_last again, since the fused kernels walk parameter, gradient and state as
    one flat buffer each (mismatched strides silently mix up elements).
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p)
            if not state:
                continue
            for key, value in state.items():
                if (isinstance(value, torch.Tensor) and value.shape == p.shape and value.dim() > 0
                        and value.stride() != p.stride()):
                    state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


class _GraphedStep:
    """The training step of a full batch, captured once in a CUDA graph and replayed.

    Follows PyTorch's whole-network capture: static inputs (the batch's indices into the
    resident dataset, the augmentation draws), a few eager warm-up steps on a side stream
    (cuDNN's choices, autograd's streams), gradients set to None so that the captured
    backward allocates them from the graph's pool, and the capture. The warm-up's changes
    to BatchNorm's running statistics are undone; it never steps the optimizer, so the
    run trains from the same start as an eager one. ``sums`` and ``correct`` are the
    loop's device-side sums: every replay adds its batch to them.
    """

    def __init__(self, trainer: "Trainer", criterion: nn.Module, sums: tuple[torch.Tensor, ...],
                 correct: torch.Tensor) -> None:
        dev, bs = trainer.device, trainer.config.batch_size
        self.trainer, self.criterion, self.batch_size = trainer, criterion, bs
        self.idx = torch.arange(bs, device=dev) % trainer.data.train_size
        self.params = (torch.zeros(bs, augmentation.PARAMS, device=dev)
                       if trainer.config.augment else None)
        self.weights = [p for p in trainer.model.parameters() if p.requires_grad]
        self._capture(sums, correct)

    def _step(self, sums: tuple[torch.Tensor, ...], correct: torch.Tensor) -> None:
        t = self.trainer
        x, y = t._train_inputs(self.idx, self.params)
        with t._autocast(cache=False):
            out = t._forward(x)
            loss = self.criterion(out.float(), y)
        loss.backward()
        batch_loss = loss.detach().double() * self.batch_size
        for total in sums:
            total += batch_loss
        correct += (out.detach().argmax(1) == y).sum()

    def _capture(self, sums: tuple[torch.Tensor, ...], correct: torch.Tensor) -> None:
        t, dev = self.trainer, self.trainer.device
        buffers = list(t.model.buffers())
        saved = [b.detach().clone() for b in buffers]
        scratch = (torch.zeros((), dtype=torch.float64, device=dev),)
        scratch_correct = torch.zeros((), dtype=torch.int64, device=dev)
        main, side = torch.cuda.current_stream(dev), torch.cuda.Stream(dev)
        side.wait_stream(main)
        try:
            with torch.cuda.stream(side):
                for _ in range(GRAPH_WARMUP_STEPS):
                    self._drop_grads()
                    self._step(scratch, scratch_correct)
            main.wait_stream(side)
            self._drop_grads()
            self.graph = torch.cuda.CUDAGraph()
            # thread_local: CUDA calls of other threads (the window's) do not break the capture.
            with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
                self._step(sums, correct)
            self.grads = [p.grad for p in self.weights]
        except BaseException:
            # torch.cuda.graph leaves its capture stream current when ending the capture fails.
            torch.cuda.set_stream(main)
            self._drop_grads()
            raise
        finally:
            main.wait_stream(side)
            with torch.no_grad():
                for b, value in zip(buffers, saved):
                    b.copy_(value)

    def _drop_grads(self) -> None:
        for p in self.weights:
            p.grad = None

    def replay(self, idx: torch.Tensor, epoch: int, batch: int) -> None:
        """Forward and backward of the batch ``idx``; its gradients are in the parameters'
        ``.grad`` afterwards, its loss and hits added to the sums."""
        self.idx.copy_(idx)
        if self.params is not None:
            self.trainer._augment_params(epoch, batch, self.batch_size, out=self.params)
        self.graph.replay()

    def adopt_grads(self) -> None:
        """After an eager step (which makes its own gradients): point ``.grad`` back at the
        tensors the graph writes."""
        for p, g in zip(self.weights, self.grads):
            p.grad = g


class Trainer:
    """Train a model on a dataset with a config, reporting through callbacks.

    ``fit()`` runs on the calling thread (the GUI calls it from a worker thread);
    ``stop()``, ``pause()`` and ``resume()`` may be called from any thread and take
    effect before the next batch. Same seed, device and config give the same result
    (bit-for-bit on the CPU; on CUDA up to cuDNN's own nondeterminism).
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        model: nn.Module | None = None,
        data: "ImageDataset | None" = None,
        callbacks: Iterable[Callback] = (),
        checkpoint: "Checkpoint | None" = None,
        spec: ModelSpec | None = None,
        control: RunControl | None = None,
    ) -> None:
        """``spec`` is the model's (required for a user's own module: the engine never
        imports a file named in a config); ``control`` the run's stop/pause switch."""
        self.config = config.validate()
        self.callbacks = list(callbacks)
        self.device = resolve_device(config.device)
        self.spec = spec if spec is not None else get_spec(config.model)
        self.control = control if control is not None else RunControl()
        if data is None:
            from cnn_gui.core.data.datasets import load_dataset

            data = load_dataset(config.dataset)
        if tuple(data.input_shape) != tuple(self.spec.input_shape):
            shape = "x".join(map(str, self.spec.input_shape))
            have = "x".join(map(str, data.input_shape))
            raise ConfigError(
                f"{self.spec.title} expects {shape} images but {data.name} has {have} images; "
                "pick a dataset of that shape (MNIST-like: 1x28x28, CIFAR-10: 3x32x32)"
            )
        if len(data.classes) > self.spec.num_classes:
            raise ConfigError(
                f"{data.name} has {len(data.classes)} classes but {self.spec.title} has {self.spec.num_classes} "
                "outputs; choose a model with as many outputs as the dataset has classes")
        self.data = data
        if model is None:
            torch.manual_seed(config.seed)
            model = self.spec.factory()
        if not any(p.requires_grad for p in model.parameters()):
            raise ConfigError(f"{self.spec.title} has no trainable parameters, so there is nothing to train")
        self.model = model
        self.position = Position()
        self._held_position: Position | None = None  # the run's position while it waits in pause
        self.history: list[dict] = []
        self.error: FitFailed | None = None
        self._scheduler_state: dict | None = None
        self._optimizer_state: dict | None = None
        if checkpoint is not None:
            self._adopt_checkpoint(checkpoint)

        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler = None

    # --- control, from any thread -------------------------------------------------
    def stop(self) -> None:
        self.control.stop()

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    @property
    def paused(self) -> bool:
        return self.control.paused

    # --- checkpoints -----------------------------------------------------------------
    @classmethod
    def from_checkpoint(cls, checkpoint: "Checkpoint", *, data=None, callbacks=(), spec: ModelSpec | None = None,
                        control: RunControl | None = None, **overrides) -> "Trainer":
        """Continue a saved session. The saved config is used; ``epochs``, ``device``,
        ``max_batches``, ``report_interval``, ``compile`` and ``cuda_graph`` may be
        overridden (e.g. train longer).

        A checkpoint of a user's own model needs that model's ``spec``, loaded by the
        user: the name in the file is never imported (see ``spec_for_architecture``).
        """
        from cnn_gui.core.files.checkpoints import CheckpointError

        allowed = {"epochs", "device", "max_batches", "report_interval", "compile", "cuda_graph"}
        unknown = set(overrides) - allowed
        if unknown:
            raise ConfigError(f"cannot change {', '.join(sorted(unknown))} when resuming a checkpoint")
        base = checkpoint.meta.train_config
        if base is None:
            raise CheckpointError(f"{checkpoint.path.name} holds weights only, no training session to resume")
        spec = spec_for_architecture(checkpoint.meta.architecture, spec)
        config = base.with_(model=spec.name, **{k: v for k, v in overrides.items() if v is not None})
        return cls(config, data=data, callbacks=callbacks, checkpoint=checkpoint, spec=spec, control=control)

    def _adopt_checkpoint(self, checkpoint: "Checkpoint") -> None:
        from cnn_gui.core.files.checkpoints import load_weights_into

        load_weights_into(self.model, checkpoint)
        check_session_fits(checkpoint, self.model, self.config)
        self.history = [dict(h) for h in checkpoint.meta.history]
        self.position = Position.from_dict(checkpoint.meta.training or {"epoch": checkpoint.meta.epoch})
        self._optimizer_state = checkpoint.optimizer_state
        self._scheduler_state = checkpoint.meta.scheduler

    def checkpoint_meta(self) -> "CheckpointMeta":
        from cnn_gui.core.files.checkpoints import CheckpointMeta

        scheduler = None
        if self.scheduler is not None:
            scheduler = {k: v for k, v in self.scheduler.state_dict().items()
                         if isinstance(v, (int, float, str, bool, list, type(None)))}
        elif self._scheduler_state is not None:
            scheduler = self._scheduler_state
        return CheckpointMeta(
            architecture=self.spec.architecture,
            input_shape=tuple(self.spec.input_shape),
            classes=list(self.data.classes),
            mean=list(self.data.mean),
            std=list(self.data.std),
            dataset=self.data.name,
            epoch=self.position.epoch,
            history=[dict(h) for h in self.history],
            config=self.config.with_(model=self.spec.architecture).to_dict(),  # a name, never a path
            training=(self._held_position or self.position).to_dict(),
            scheduler=scheduler,
        )

    def save_checkpoint(self, path, include_optimizer: bool = True):
        """Write the whole session (weights, optimizer, position, history) atomically."""
        from cnn_gui.core.files.checkpoints import save_checkpoint

        state = None
        if include_optimizer:
            state = self.optimizer.state_dict() if self.optimizer is not None else self._optimizer_state
        return save_checkpoint(path, self.model, self.checkpoint_meta(), state)

    # --- the loop ----------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        for cb in self.callbacks:
            cb(event)

    def batches_per_epoch(self) -> int:
        n, bs = self.data.train_size, self.config.batch_size
        count = math.ceil(n / bs)
        if n % bs == 1 and count > 1:
            count -= 1  # a last batch of one sample breaks BatchNorm's training statistics
        if self.config.max_batches:
            count = min(count, self.config.max_batches)
        return count

    def fit(self) -> FitEnded:
        cfg = self.config
        started = time.perf_counter()
        use_training_threads()  # this thread may be a fresh QThread, or a serial GUI thread
        try:
            result = self._fit(started)
        except torch.cuda.OutOfMemoryError:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            result = self._fail("oom", "The GPU ran out of memory.",
                                f"Try a smaller batch size (now {cfg.batch_size}) or another device.", started)
        except NonFiniteLoss as exc:
            result = self._fail("nan", str(exc),
                                f"Lower the learning rate (now {cfg.lr:g}) or re-initialise the model.", started)
        except Exception as exc:  # reported as an event: the caller may be a GUI thread
            result = self._fail("error", f"{type(exc).__name__}: {exc}", "See the message; nothing was saved.", started)
        return result

    def _fail(self, kind: str, message: str, hint: str, started: float) -> FitEnded:
        self.error = FitFailed(kind, message, hint)
        self._emit(self.error)
        end = FitEnded("failed", self.position.epoch, self.position.step, time.perf_counter() - started,
                       self.history[-1]["test_accuracy"] if self.history else None)
        self._emit(end)
        return end

    def _prepare(self) -> None:
        cfg, dev = self.config, self.device
        if cfg.channels_last is not None:
            channels_last = cfg.channels_last
        else:
            channels_last = CUDA_CHANNELS_LAST if dev.type == "cuda" else dev.type == "cpu"
        self._memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model.to(dev, memory_format=self._memory_format)
        self.model.train()
        freeze_batchnorm_stats(self.model)  # a frozen module's BatchNorm keeps its statistics
        if cfg.amp is not None:
            self._amp = bool(cfg.amp)
        elif dev.type == "cuda":
            self._amp = CUDA_AMP
        else:  # bf16 where the hardware does it natively: AVX512-BF16/AMX CPUs
            self._amp = dev.type == "cpu" and cpu_has_native_bf16()
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = CUDNN_BENCHMARK
        compiled = cfg.compile and dev.type == "cuda"
        self._forward = torch.compile(self.model) if compiled else self.model
        graph = cfg.cuda_graph if cfg.cuda_graph is not None else not compiled
        self._graph_wanted = bool(graph) and dev.type == "cuda"
        self._graph_note: str | None = None
        self._augment_gen = torch.Generator(device=dev) if cfg.augment else None
        self.optimizer = _make_optimizer(cfg, self.model.parameters(), dev)
        self.scheduler = None
        if cfg.schedule == "onecycle":
            self._total_steps = cfg.epochs * self.batches_per_epoch()
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer, max_lr=cfg.lr, total_steps=self._total_steps)
        # After the scheduler: its constructor overwrites the rates with step 0's.
        if self._optimizer_state is not None:
            self.optimizer.load_state_dict(self._optimizer_state)
            self._optimizer_state = None
            _match_state_layout(self.optimizer)
        if self.scheduler is not None and self._scheduler_state is not None:
            state = dict(self._scheduler_state)
            state["total_steps"] = self._total_steps  # training longer than first planned
            self.scheduler.load_state_dict(state)
        self.data = self.data.to(dev)

    def _batch(self, images: torch.Tensor, labels: torch.Tensor, idx: torch.Tensor):
        x = self.data.normalize(images.index_select(0, idx)).contiguous(memory_format=self._memory_format)
        return x, labels.index_select(0, idx)

    def _train_inputs(self, idx: torch.Tensor, params: torch.Tensor | None):
        """A training batch: augmented by ``params`` (from augment.random_params) if given."""
        images, labels = self.data.train_images, self.data.train_labels
        if params is None:
            return self._batch(images, labels, idx)
        raw = images.index_select(0, idx).to(torch.float32)
        x = self.data.normalize(augmentation.augment(raw, params)).contiguous(memory_format=self._memory_format)
        return x, labels.index_select(0, idx)

    def _augment_params(self, epoch: int, batch: int, n: int, out: torch.Tensor | None = None):
        """The augmentation draws of batch ``batch`` (0-based) of ``epoch``: the same on a resume."""
        if self._augment_gen is None:
            return None
        self._augment_gen.manual_seed(augmentation.batch_seed(self.config.seed, epoch, batch))
        return augmentation.random_params(n, self._augment_gen, out=out)

    def _autocast(self, cache: bool = True):
        # No weight-cast cache in a CUDA graph: cast weights must not outlive the capture.
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self._amp,
                              cache_enabled=None if cache else False)

    def _precision_label(self, graphed: bool) -> str:
        label = "bf16 autocast" if self._amp else "fp32"
        if graphed:
            return f"{label}, CUDA graph"
        return f"{label}, eager ({self._graph_note})" if self._graph_note else label

    def evaluate(self) -> tuple[float, float]:
        """(loss, accuracy) on the test set, in eval mode under inference_mode."""
        if not hasattr(self, "_forward"):
            self._prepare()
        data, bs = self.data, self.config.eval_batch_size
        criterion = nn.CrossEntropyLoss(reduction="sum")
        loss = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), self._autocast():
                for start in range(0, data.test_size, bs):
                    if self.control.stopped:  # closing the window mid test pass: do not finish it
                        raise _StoppedInTest()
                    idx = torch.arange(start, min(start + bs, data.test_size), device=self.device)
                    x, y = self._batch(data.test_images, data.test_labels, idx)
                    out = self._forward(x)
                    loss += criterion(out.float(), y)
                    correct += (out.argmax(1) == y).sum()
        finally:
            self.model.train(was_training)
            if was_training:
                freeze_batchnorm_stats(self.model)
        n = max(data.test_size, 1)
        return loss.item() / n, correct.item() / n

    def _fit(self, started: float) -> FitEnded:
        cfg, pos = self.config, self.position
        self._prepare()
        data, dev = self.data, self.device
        nb = self.batches_per_epoch()
        bs = cfg.batch_size
        criterion = nn.CrossEntropyLoss()
        torch.manual_seed(cfg.seed + pos.step)  # for models with dropout
        acc = _Accumulator(dev)
        window_loss = torch.zeros((), dtype=torch.float64, device=dev)
        graph = None
        if self._graph_wanted and data.train_size >= bs and pos.epoch < cfg.epochs:
            graph = self._capture_step(criterion, acc, window_loss)
        self._emit(FitStarted(
            device=str(dev), device_label=device_label(dev), model=cfg.model, dataset=data.name,
            train_size=data.train_size, test_size=data.test_size, batch_size=bs, batches_per_epoch=nb,
            epochs=cfg.epochs, start_epoch=pos.epoch + 1, start_batch=pos.batch,
            parameters=parameter_count(self.model), precision=self._precision_label(graph is not None)))

        eval_seconds_estimate = None
        interval = cfg.report_interval
        while pos.epoch < cfg.epochs:
            epoch = pos.epoch + 1
            perm = _permutation(cfg.seed, epoch, data.train_size).to(dev, non_blocking=True)
            acc.reset()
            acc.loss += pos.loss_sum
            acc.correct += pos.correct
            window_loss.zero_()
            window_samples = 0
            epoch_seen = pos.seen
            epoch_train_seconds = pos.train_seconds
            t_last_report = time.perf_counter()
            t_batch0 = time.perf_counter()
            while pos.batch < nb:
                if self.control.paused:
                    epoch_train_seconds += time.perf_counter() - t_batch0
                    # A save while paused writes the epoch's running sums too, as a stop does.
                    self._held_position = replace(pos, loss_sum=acc.loss.item(), correct=int(acc.correct.item()),
                                                  seen=epoch_seen, train_seconds=epoch_train_seconds)
                    self.control.wait_if_paused()
                    self._held_position = None
                    t_batch0 = time.perf_counter()
                if self.control.stopped:
                    epoch_train_seconds += time.perf_counter() - t_batch0
                    pos.loss_sum, pos.correct = acc.loss.item(), int(acc.correct.item())
                    pos.seen, pos.train_seconds = epoch_seen, epoch_train_seconds
                    self._check_finite(pos.loss_sum, epoch, pos.batch)
                    end = FitEnded("stopped", pos.epoch, pos.step, time.perf_counter() - started,
                                   self.history[-1]["test_accuracy"] if self.history else None)
                    self._emit(end)
                    return end
                idx = perm[pos.batch * bs:(pos.batch + 1) * bs]
                n = idx.shape[0]
                if graph is not None and n == bs:
                    graph.replay(idx, epoch, pos.batch)
                    self.optimizer.step()
                else:
                    x, y = self._train_inputs(idx, self._augment_params(epoch, pos.batch, n))
                    with self._autocast():
                        out = self._forward(x)
                        loss = criterion(out.float(), y)
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self.optimizer.step()
                    batch_loss = loss.detach().double() * n
                    acc.loss += batch_loss
                    window_loss += batch_loss
                    acc.correct += (out.detach().argmax(1) == y).sum()
                    if graph is not None:
                        graph.adopt_grads()
                if self.scheduler is not None and self.scheduler.last_epoch < self._total_steps:
                    self.scheduler.step()
                window_samples += n
                epoch_seen += n
                pos.batch += 1
                pos.step += 1

                now = time.perf_counter()
                if now - t_last_report >= interval or pos.batch == nb:
                    # The only host sync in the loop, at most once per report interval.
                    mean_loss = window_loss.item() / window_samples
                    self._check_finite(mean_loss, epoch, pos.batch)
                    elapsed = epoch_train_seconds + (now - t_batch0)
                    speed = (epoch_seen - pos.seen) / max(elapsed - pos.train_seconds, 1e-9)
                    batches_left = (nb - pos.batch) + (cfg.epochs - epoch) * nb
                    per_batch = (elapsed - pos.train_seconds) / max(epoch_seen - pos.seen, 1) * bs
                    evals_left = cfg.epochs - epoch + 1
                    eta = batches_left * per_batch + evals_left * (eval_seconds_estimate or per_batch * data.test_size / bs / 3)
                    self._emit(BatchEnded(
                        epoch=epoch, batch=pos.batch, batches_per_epoch=nb, step=pos.step, loss=mean_loss,
                        accuracy=acc.correct.item() / max(epoch_seen, 1), samples_per_sec=speed,
                        eta_seconds=eta, lr=self.optimizer.param_groups[0]["lr"]))
                    window_loss.zero_()
                    window_samples = 0
                    t_last_report = now
            epoch_train_seconds += time.perf_counter() - t_batch0
            train_loss = acc.loss.item() / max(epoch_seen, 1)
            self._check_finite(train_loss, epoch, pos.batch)
            train_acc = acc.correct.item() / max(epoch_seen, 1)
            t_eval = time.perf_counter()
            try:
                test_loss, test_acc = self.evaluate()
            except _StoppedInTest:
                # The epoch's training is done but untested: keep the position at its end so
                # a resume tests it and goes on, and report the stop like any other.
                pos.loss_sum, pos.correct = acc.loss.item(), int(acc.correct.item())
                pos.seen, pos.train_seconds = epoch_seen, epoch_train_seconds
                end = FitEnded("stopped", pos.epoch, pos.step, time.perf_counter() - started,
                               self.history[-1]["test_accuracy"] if self.history else None)
                self._emit(end)
                return end
            eval_seconds_estimate = time.perf_counter() - t_eval
            ended = EpochEnded(
                epoch=epoch, train_loss=train_loss, train_accuracy=train_acc, test_loss=test_loss,
                test_accuracy=test_acc, seconds=epoch_train_seconds + eval_seconds_estimate,
                samples_per_sec=epoch_seen / max(epoch_train_seconds, 1e-9),
                lr=self.optimizer.param_groups[0]["lr"])
            self.history.append(ended.to_dict())
            self.position = pos = Position(epoch=epoch, step=pos.step)
            self._emit(ended)
        end = FitEnded("completed", pos.epoch, pos.step, time.perf_counter() - started,
                       self.history[-1]["test_accuracy"] if self.history else None)
        self._emit(end)
        return end

    def _capture_step(self, criterion: nn.Module, acc: _Accumulator, window_loss: torch.Tensor):
        """The CUDA-graphed step, or None (and a note) if it cannot be captured."""
        try:
            return _GraphedStep(self, criterion, (acc.loss, window_loss), acc.correct)
        except torch.cuda.OutOfMemoryError:
            raise  # eager would run out too: say so as for any run
        except Exception as exc:  # noqa: BLE001 - any failure to capture leaves the run eager
            self._graph_note = one_line(f"CUDA graph failed: {type(exc).__name__}: {exc}", 160)
            _log.warning("training eagerly: %s", self._graph_note)
            return None

    @staticmethod
    def _check_finite(value: float, epoch: int, batch: int) -> None:
        if not math.isfinite(value):
            raise NonFiniteLoss(f"The loss became {value} in epoch {epoch} near batch {batch}; training stopped.")


def check_session_fits(checkpoint: "Checkpoint", model: nn.Module, config: TrainConfig | None = None) -> None:
    """Refuse (CheckpointError) a saved optimizer or scheduler state that does not fit ``model``.

    Builds the run's optimizer and scheduler on the side and loads the saved state into
    them, so an edited ``param_groups``, a state for other parameters or a scheduler
    position of the wrong kind is refused when the file is opened, not when a resumed
    run starts. ``model`` is not changed.
    """
    from cnn_gui.core.files.checkpoints import CheckpointError

    config = config if config is not None else checkpoint.meta.train_config
    state = checkpoint.optimizer_state
    if config is None or (state is None and checkpoint.meta.scheduler is None):
        return
    name = checkpoint.path.name
    params = [p for p in model.parameters()]
    if state is not None:
        listed = [i for g in state["param_groups"] for i in g["params"]]
        if sorted(listed) != list(range(len(params))):
            raise CheckpointError(f"{name}: its optimizer state covers {len(listed)} parameters, "
                                  f"the model has {len(params)}")
        for index, entries in state["state"].items():
            if not 0 <= index < len(params):
                raise CheckpointError(f"{name}: optimizer state for parameter {index}, which does not exist")
            for key, value in entries.items():
                if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != params[index].shape:
                    raise CheckpointError(f"{name}: optimizer state {key} of parameter {index} has shape "
                                          f"{tuple(value.shape)}, the parameter {tuple(params[index].shape)}")
    shadow = [torch.zeros_like(p, device="cpu").requires_grad_(p.requires_grad) for p in params]
    try:
        optimizer = _make_optimizer(config, shadow, torch.device("cpu"))
        if state is not None:
            optimizer.load_state_dict(state)
            for group in optimizer.param_groups:
                for key in ("lr", "weight_decay", "eps", "momentum"):
                    value = group.get(key)
                    if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)
                                                  and value >= 0):
                        raise ValueError(f"param_groups {key} is {value!r}")
        if config.schedule == "onecycle" and checkpoint.meta.scheduler is not None:
            scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=max(
                1, int(checkpoint.meta.scheduler.get("total_steps", 1) or 1)))
            scheduler.load_state_dict(dict(checkpoint.meta.scheduler))
            if not (isinstance(scheduler.last_epoch, int) and isinstance(scheduler.total_steps, int)
                    and 0 <= scheduler.last_epoch <= scheduler.total_steps):
                raise ValueError("the scheduler's step count is not a step of its run")
            if scheduler.last_epoch < scheduler.total_steps:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    scheduler.step()  # computes a rate from every saved field
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever torch says about the state, as one line
        raise CheckpointError(f"{name}: its saved optimizer or scheduler state does not fit this model "
                              f"({type(exc).__name__}: {exc})") from None
