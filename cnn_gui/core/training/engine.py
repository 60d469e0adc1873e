"""The training loop: ``Trainer.fit()`` with events out, cooperative stop/pause, resume.

Why it is faster than the tutorial's loop on the same model and batch size:
- the dataset is one preloaded uint8 tensor on the training device; a batch is an
  ``index_select`` of a per-epoch permutation, normalised on the device (no DataLoader,
  no per-sample PIL/ToTensor);
- on the CPU, channels_last memory format (oneDNN's blocked convolutions) and bf16
  autocast where the CPU has native bf16; fused Adam;
- on CUDA, the training step replayed from a CUDA graph (below); on a CPU that other
  programs share, a thread count chosen from measured steps (``thread_tuner.py``);
- loss and accuracy are summed on the device and read back only when an event is due
  (at most ``report_interval`` apart), never once per batch.

The tutorial's bugs, fixed: the test pass in ``model.eval()`` under ``inference_mode()``;
shuffled training data; accuracies called accuracies. The CUDA graph (``TrainConfig.cuda_graph``;
on unless ``compile``): :mod:`cnn_gui.core.training.cuda_graph`. CUDA defaults (``CUDA_AMP``,
``CUDA_CHANNELS_LAST``, ``CUDNN_BENCHMARK``), chosen by ``benchmarks/gpu_check.py`` (figures in
``benchmarks/results/``): bf16 autocast and channels_last, the fastest graphed setting on an
H200 (torch 2.11, MNIST, batch 100: 0.49 s an epoch; fp32 channels_last 0.53, fp32 contiguous
0.64, bf16 contiguous 0.73; the tutorial's loop 12.1 s). Eager the order is reversed (fp32
contiguous 2.46 s, bf16 channels_last 3.42 s: autocast casts every weight and gradient, which
costs launches; in a graph it costs nothing). cuDNN autotuning off: it cost the first run in a
process ~3.5 s, more than a whole graphed epoch wins back (0.645 s with it, 0.642 s without).
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Callable, Iterable

import torch
from torch import nn

from cnn_gui.core.training import augment as augmentation
from cnn_gui.core.config import ConfigError, TrainConfig
from cnn_gui.core.training.control import Position, RunControl
from cnn_gui.core.training.cpu_threads import use_training_threads
from cnn_gui.core.training.thread_tuner import tuner_for
from cnn_gui.core.training.health import EVERY as HEALTH_EVERY, watch_health
from cnn_gui.core.training.cuda_graph import GraphedStep
from cnn_gui.core.training.distributed import SYNC_STEPS, Shard
from cnn_gui.core.training.epoch import Epoch, NonFiniteLoss, StoppedInTest, Sums, check_finite, permutation
from cnn_gui.core.training.optim import make_optimizer, make_schedule, match_state_layout, rate_changed
from cnn_gui.core.training.resume import check_session_fits
from cnn_gui.core.training.trainer_meta import fit_started
from cnn_gui.core.data.image_dataset import described
from cnn_gui.core.devices import cpu_has_native_bf16, resolve_device
from cnn_gui.core.errors import describe_line, one_line
from cnn_gui.core.events import BatchEnded, EpochEnded, Event, FitEnded, FitFailed
from cnn_gui.core.model.models import ModelSpec, get_spec, spec_for_architecture
from cnn_gui.core.model.structure import apply_frozen, freeze_batchnorm_stats

if TYPE_CHECKING:
    from cnn_gui.core.files.checkpoints import Checkpoint, CheckpointMeta
    from cnn_gui.core.data.image_dataset import ImageDataset
    from cnn_gui.core.training.distributed import Group

Callback = Callable[[Event], None]
_log = logging.getLogger(__name__)

# What ``amp=None`` and ``channels_last=None`` mean on CUDA, and cuDNN autotuning (measured: above).
CUDA_AMP = True
CUDA_CHANNELS_LAST = True
CUDNN_BENCHMARK = False


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
        parallel: "Group | None" = None,
    ) -> None:
        """``spec`` is the model's (required for a user's own module: the engine never
        imports a file named in a config); ``control`` the run's stop/pause switch;
        ``parallel`` this process's rank in a data-parallel run (:mod:`.distributed`)."""
        self.config = config.validate()
        self.parallel = parallel
        self._agreed_stop = False
        self.callbacks = list(callbacks)
        self.device = resolve_device(config.device)
        self.spec = spec if spec is not None else get_spec(config.model)
        self.control = control if control is not None else RunControl()
        if data is None:
            from cnn_gui.core.data.datasets import load_dataset

            data = load_dataset(config.dataset)
        if model is None and checkpoint is None and not self.spec.is_user:
            self.spec = self.spec.with_classes(len(data.classes))  # new weights: one output per class
        self.spec.check_takes(data)
        self.data = data
        if model is None:
            torch.manual_seed(config.seed)
            model = self.spec.factory()
        self.model = model
        self.position = Position()
        self._held_position: Position | None = None  # the run's position while it waits in pause
        self.history: list[dict] = []
        self.error: FitFailed | None = None
        self._released = False  # release_data() was called
        self.health_every = HEALTH_EVERY  # steps between health looks once past the first; 0: none
        self.step_hooks: list = []  # the optimizer's hooks (health, snapshots), removed by release_data
        self._scheduler_state: dict | None = None
        self._optimizer_state: dict | None = None
        if checkpoint is not None:
            self._adopt_checkpoint(checkpoint)  # its frozen modules too
        if not any(p.requires_grad for p in model.parameters()):
            raise ConfigError(f"{self.spec.title} has no trainable parameters (every module is frozen), "
                              "so there is nothing to train: tick a module's Train box")

        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler = None

    # --- control, from any thread -------------------------------------------------
    def stop(self) -> None:
        self.control.stop()

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    paused = property(lambda self: self.control.paused)
    amp = property(lambda self: self._amp, doc="bf16 autocast in this run (set when fit() prepares)")

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
        spec = spec_for_architecture(checkpoint.meta.architecture, spec).sized_for(checkpoint.weights)
        config = base.with_(model=spec.name, **{k: v for k, v in overrides.items() if v is not None})
        return cls(config, data=data, callbacks=callbacks, checkpoint=checkpoint, spec=spec, control=control)

    def _adopt_checkpoint(self, checkpoint: "Checkpoint") -> None:
        from cnn_gui.core.files.checkpoints import load_weights_into

        load_weights_into(self.model, checkpoint)
        apply_frozen(self.model, checkpoint.meta.frozen)  # the modules the user froze stay frozen
        check_session_fits(checkpoint, self.model, self.config)
        self.history = [dict(h) for h in checkpoint.meta.history]
        self.position = Position.from_dict(checkpoint.meta.training or {"epoch": checkpoint.meta.epoch})
        self._optimizer_state = checkpoint.optimizer_state
        self._scheduler_state = checkpoint.meta.scheduler

    def checkpoint_meta(self) -> "CheckpointMeta":
        """This session's metadata (:func:`~cnn_gui.core.training.trainer_meta.meta_of`)."""
        from cnn_gui.core.training.trainer_meta import meta_of

        return meta_of(self, self._scheduler_state, self._held_position or self.position)

    def save_checkpoint(self, path, include_optimizer: bool = True):
        """Write the whole session (weights, optimizer, position, history) atomically."""
        from cnn_gui.core.files.checkpoints import save_checkpoint

        state = None
        if include_optimizer:
            state = self.optimizer.state_dict() if self.optimizer is not None else self._optimizer_state
        return save_checkpoint(path, self.model, self.checkpoint_meta(), state)

    def release_data(self) -> None:
        """After ``fit()``, for a trainer kept for Save: only what Save reads stays (not images, grads, hooks)."""
        for hook in self.step_hooks:
            hook.remove()
        self.data = described(self.data)
        self.model.zero_grad(set_to_none=True)
        self._forward = self.model
        self._released = True

    # --- the loop ----------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        for cb in self.callbacks:
            cb(event)

    def batches_per_epoch(self) -> int:
        n, bs = self.data.train_size, self.config.batch_size
        if self.parallel is not None:  # its own rule: a small last batch merged, no sample left out
            return self.parallel.shard(n, bs, self.config.max_batches).batches
        count = math.ceil(n / bs)
        if n % bs == 1 and count > 1:
            count -= 1  # a last batch of one sample breaks BatchNorm's training statistics
        if self.config.max_batches:
            count = min(count, self.config.max_batches)
        return count

    def fit(self) -> FitEnded:
        if self._released:
            raise RuntimeError("this trainer's data was released (release_data): make a new Trainer to train again")
        cfg = self.config
        started = time.perf_counter()
        use_training_threads()  # this thread may be a fresh QThread, or a serial GUI thread
        self._threads = tuner_for(self.device)  # adapts the count to a CPU other programs share
        try:
            result = self._fit(started)
        except torch.cuda.OutOfMemoryError:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            result = self._fail("oom", "The GPU ran out of memory.",
                                f"Try a smaller batch size (now {cfg.batch_size}) or another device.", started)
        except NonFiniteLoss as exc:
            result = self._fail("nan", str(exc),
                                f"Lower the learning rate (now {self.config.lr:g}) or re-initialise the model.", started)
        except Exception as exc:  # reported as an event: the caller may be a GUI thread
            result = self._fail("error", describe_line(exc), "See the message; nothing was saved.", started)
        finally:  # a DDP wrapper holds the process group (Group.close); let go of it here
            self._forward = self.model
        return result

    def _fail(self, kind: str, message: str, hint: str, started: float) -> FitEnded:
        self.error = FitFailed(kind, message, hint)
        self._emit(self.error)
        return self._end("failed", started)

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
        compiled = cfg.compile and dev.type == "cuda" and self.parallel is None
        self._forward = torch.compile(self.model) if compiled else self.model
        graph = cfg.cuda_graph if cfg.cuda_graph is not None else not compiled
        self._graph_wanted = bool(graph) and dev.type == "cuda" and self.parallel is None
        self._graph_note: str | None = None
        if self.parallel is not None:  # several ranks: DDP, eager (no CUDA graph, no compile)
            self._forward = self.parallel.wrap(self.model, dev)
            self._graph_note = f"DDP over {self.parallel.world} processes, {self.parallel.backend}"
        if self.data.streamed and self._graph_wanted:  # batches read on the host: a graph would replay stale ones
            self._graph_wanted, self._graph_note = False, self._graph_note or "streamed from disk"
        self._augment_gen = torch.Generator(device=dev) if cfg.augment else None
        self._prepare_optimizer()
        self.data = self.data.to(dev)

    def _prepare_optimizer(self) -> None:
        """The run's optimizer and schedule, with a resumed session's saved states loaded."""
        self.optimizer = make_optimizer(self.config, self.model.parameters(), self.device)
        watch_health(self)  # on the optimizer's step hooks (core/training/health.py), which keep it
        self._total_steps = self.config.epochs * self.batches_per_epoch()
        self.scheduler = make_schedule(self.config, self.optimizer, self._total_steps)
        # After the scheduler: its constructor overwrites the rates with step 0's.
        if self._optimizer_state is not None:
            self.optimizer.load_state_dict(self._optimizer_state)
            self._optimizer_state = None
            match_state_layout(self.optimizer)
        if self.scheduler is not None and self._scheduler_state is not None:
            state = dict(self._scheduler_state)
            state["total_steps"] = self._total_steps  # training longer than first planned
            self.scheduler.load_state_dict(state)

    def _batch(self, images: torch.Tensor, labels: torch.Tensor, idx: torch.Tensor):
        x = self.data.normalize(images.index_select(0, idx)).contiguous(memory_format=self._memory_format)
        return x, labels.index_select(0, idx)

    def _train_inputs(self, idx: torch.Tensor, params: torch.Tensor | None):
        """A training batch: augmented by ``params`` (from augment.random_params) if given."""
        images, labels = self.data.train_images, self.data.train_labels
        if params is None:
            return self._batch(images, labels, idx)
        raw, y = images.index_select(0, idx).to(torch.float32), labels.index_select(0, idx)
        ones = augmentation.ones_among(self.data.classes, y)
        x = self.data.normalize(augmentation.augment(raw, params, ones=ones)).contiguous(memory_format=self._memory_format)
        return x, y

    def _augment_params(self, epoch: int, batch: int, n: int, out: torch.Tensor | None = None):
        """The augmentation draws of batch ``batch`` (0-based) of ``epoch``: the same on a resume."""
        if self._augment_gen is None:
            return None
        seed = self.config.seed + (self.parallel.rank if self.parallel is not None else 0)  # per rank
        self._augment_gen.manual_seed(augmentation.batch_seed(seed, epoch, batch))
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
        """(loss, accuracy) on the test set: the one test pass of the tabs and ``evaluate``
        (:func:`~cnn_gui.core.analysis.inspection.evaluation_pass`: fp32, eval mode, even
        when the run trains under bf16 autocast), on the training device."""
        from cnn_gui.core.analysis.inspection import evaluation_pass

        if not hasattr(self, "_forward"):
            self._prepare()
        if self.parallel is not None:  # each rank its share of the test set, summed
            return self.parallel.evaluate(self.model, self.data, self.device, self.config.eval_batch_size)
        was_training = self.model.training
        try:  # a stop (closing the window) mid test pass: do not finish it
            found = evaluation_pass(self.model, self.data, device=self.device,
                                    batch_size=self.config.eval_batch_size, cancel=lambda: self.control.stopped)
        finally:
            if was_training:
                freeze_batchnorm_stats(self.model)
        if found is None:
            raise StoppedInTest()
        return found.loss, found.accuracy

    def _fit(self, started: float) -> FitEnded:
        cfg = self.config
        self._prepare()
        nb = self.batches_per_epoch()
        criterion = nn.CrossEntropyLoss()
        torch.manual_seed(cfg.seed + self.position.step)  # for models with dropout
        sums = Sums(self.device)
        graph = None
        if self._graph_wanted and self.data.train_size >= cfg.batch_size and self.position.epoch < cfg.epochs:
            graph = self._capture_step(criterion, sums)
        self._emit(fit_started(self, nb, self._precision_label(graph is not None)))
        eval_seconds = None
        while self.position.epoch < cfg.epochs:
            epoch = Epoch(self.position if self.parallel is None else self.parallel.own_start(self.position), sums)
            if not self._train_epoch(epoch, nb, criterion, graph, eval_seconds):
                return self._end("stopped", started)
            if self.parallel is not None:
                self.parallel.reduce_epoch(epoch)
            train_loss = epoch.train_loss()
            check_finite(train_loss, epoch.number, self.position.batch)
            train_acc = epoch.train_accuracy()
            t_eval = time.perf_counter()
            try:
                test_loss, test_acc = self.evaluate()
            except StoppedInTest:
                # The epoch's training is done but untested: keep the position at its end so
                # a resume tests it and goes on, and report the stop like any other.
                self.position = epoch.held(self.position)
                return self._end("stopped", started)
            eval_seconds = time.perf_counter() - t_eval
            ended = EpochEnded(
                epoch=epoch.number, train_loss=train_loss, train_accuracy=train_acc, test_loss=test_loss,
                test_accuracy=test_acc, seconds=epoch.train_seconds + eval_seconds,
                samples_per_sec=epoch.seen / max(epoch.train_seconds, 1e-9),
                lr=self.optimizer.param_groups[0]["lr"])
            self.history.append(ended.to_dict())
            self.position = Position(epoch=epoch.number, step=self.position.step)
            self._emit(ended)
        return self._end("completed", started)

    def _end(self, reason: str, started: float) -> FitEnded:
        end = FitEnded(reason, self.position.epoch, self.position.step, time.perf_counter() - started,
                       self.history[-1]["test_accuracy"] if self.history else None)
        self._emit(end)
        return end

    def _train_epoch(self, epoch: Epoch, nb: int, criterion: nn.Module, graph: GraphedStep | None,
                     eval_seconds: float | None) -> bool:
        """Train the batches of ``epoch`` left to do; False when the run was stopped (its
        position then holds the epoch's running sums, as a checkpoint saves them)."""
        cfg, pos, ranks = self.config, self.position, self.parallel
        shard = ranks.shard(self.data.train_size, cfg.batch_size, cfg.max_batches) if ranks is not None \
            else Shard(0, 1, cfg.batch_size, nb, nb * cfg.batch_size)  # one process: batch b is perm[b*bs:(b+1)*bs]
        perm = permutation(cfg.seed, epoch.number, self.data.train_size).to(self.device, non_blocking=True)
        if self.data.streamed:  # read from disk (core/data/streaming.py): this rank's batches decoded ahead
            self.data.schedule([shard.indices(perm, b) for b in range(pos.batch, nb)])
        self._threads.restart()  # not timing the test pass
        while pos.batch < nb:
            if self.control.paused:
                self._hold(epoch)
            if self.control.stopped if ranks is None else self._agreed_stop:
                if ranks is not None:
                    ranks.reduce_epoch(epoch)  # the checkpoint holds every rank's sums
                epoch.stop_clock()
                self.position = pos = epoch.held(pos)
                check_finite(pos.loss_sum, epoch.number, pos.batch)
                return False
            self._train_batch(epoch, shard.indices(perm, pos.batch), criterion, graph)
            self._threads.step_done()
            now = time.perf_counter()
            if ranks is None:
                if now - epoch.last_report >= cfg.report_interval or pos.batch == nb:
                    self._report(epoch, nb, now, eval_seconds)
            elif pos.batch % SYNC_STEPS == 0 or pos.batch == nb:  # several ranks: agree on a stop, sum the progress
                due = ranks.main and (now - epoch.last_report >= cfg.report_interval or pos.batch == nb)
                self._agreed_stop, due, figures = ranks.agree(epoch, pos.step, self.control.stopped, due)
                if due:  # every rank when rank 0's report is due (each resets its window)
                    self._report(epoch, nb, now, eval_seconds, figures)
        epoch.stop_clock()
        return True

    def _hold(self, epoch: Epoch) -> None:
        """Wait while paused. A save meanwhile writes the epoch's running sums too, as a stop does."""
        epoch.stop_clock()
        self._held_position = epoch.held(self.position)
        self.control.wait_if_paused()
        self._threads.restart()
        self._held_position = None
        epoch.start_clock()

    def _train_batch(self, epoch: Epoch, idx: torch.Tensor, criterion: nn.Module, graph: GraphedStep | None) -> None:
        """One optimizer step on the samples ``idx``; its loss and hits go to the epoch's sums."""
        if (rate := self.control.take_rate()) is not None:  # changed in the window meanwhile
            self._emit(rate_changed(self, rate))
        pos, n = self.position, idx.shape[0]
        if graph is not None and n == self.config.batch_size:
            graph.replay(idx, epoch.number, pos.batch)
            self.optimizer.step()
        else:
            x, y = self._train_inputs(idx, self._augment_params(epoch.number, pos.batch, n))
            with self._autocast():
                out = self._forward(x)
                loss = criterion(out.float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            epoch.sums.add(loss.detach().double() * n, out.detach().argmax(1) == y)
            if graph is not None:
                graph.adopt_grads()
        if self.scheduler is not None and self.scheduler.last_epoch < self._total_steps:
            self.scheduler.step()
        epoch.window_samples += n
        epoch.seen += n
        pos.batch += 1
        pos.step += 1

    def _report(self, epoch: Epoch, nb: int, now: float, eval_seconds: float | None, figures=None) -> None:
        """A BatchEnded event: the only host sync in the loop, at most once per report interval.
        ``figures``: (window loss, window samples, hits, seen) of all ranks, else this epoch's own."""
        cfg, pos, bs = self.config, self.position, self.config.batch_size
        window, samples, correct, seen = figures or (epoch.sums.window.item(), epoch.window_samples,
                                                      epoch.sums.correct.item(), epoch.seen)
        mean_loss = window / samples
        check_finite(mean_loss, epoch.number, pos.batch)
        # pos.seen and pos.train_seconds: where this run started in the epoch (a resume)
        elapsed = epoch.train_seconds + (now - epoch.clock)
        speed = (seen - pos.seen) / max(elapsed - pos.train_seconds, 1e-9)
        batches_left = (nb - pos.batch) + (cfg.epochs - epoch.number) * nb
        per_batch = (elapsed - pos.train_seconds) / max(seen - pos.seen, 1) * bs
        evals_left = cfg.epochs - epoch.number + 1
        eta = batches_left * per_batch + evals_left * (eval_seconds or per_batch * self.data.test_size / bs / 3)
        self._emit(BatchEnded(
            epoch=epoch.number, batch=pos.batch, batches_per_epoch=nb, step=pos.step, loss=mean_loss,
            accuracy=correct / max(seen, 1), samples_per_sec=speed,
            eta_seconds=eta, lr=self.optimizer.param_groups[0]["lr"]))
        epoch.sums.window.zero_()
        epoch.window_samples = 0
        epoch.last_report = now

    def _capture_step(self, criterion: nn.Module, sums: Sums) -> GraphedStep | None:
        """The CUDA-graphed step, or None (and a note) if it cannot be captured."""
        draw = self._augment_params if self.config.augment else None
        try:
            return GraphedStep(self.model, criterion, inputs=self._train_inputs, forward=self._forward,
                               autocast=self._autocast, draw=draw, batch_size=self.config.batch_size,
                               train_size=self.data.train_size, device=self.device,
                               sums=(sums.loss, sums.window), correct=sums.correct)
        except torch.cuda.OutOfMemoryError:
            raise  # eager would run out too: say so as for any run
        except Exception as exc:  # noqa: BLE001 - any failure to capture leaves the run eager
            self._graph_note = one_line(f"CUDA graph failed: {type(exc).__name__}: {exc}", 160)
            _log.warning("training eagerly: %s", self._graph_note)
            return None
