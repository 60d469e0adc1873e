"""Data-parallel training: one process per rank, each training its share of every batch.

``cnn-gui train --nproc-per-node N`` (see :mod:`cnn_gui.core.training.launcher`) or an
external ``torchrun`` starts the processes; each calls :func:`join` and hands the
:class:`Group` to the :class:`~cnn_gui.core.training.engine.Trainer`. What a run with
several ranks does, and why:

- **The batch.** ``batch_size`` is the *global* batch, the one a single process would
  use. Global batch ``b`` of an epoch is the same slice of the same one-process
  permutation (seeded by the run's seed and the epoch) whatever the number of ranks;
  each rank takes its share of it, split as evenly as possible (:class:`Shard`). A last
  global batch smaller than the number of ranks is merged into the one before, so every
  rank has at least one sample at every step, and every training sample is seen exactly
  once per epoch across the ranks. The learning rate is not rescaled: the optimizer sees
  the same global batch (its gradient averaged over the ranks by DDP) as one process.
- **Augmentation** is drawn per rank: rank ``r`` seeds batch ``b`` with the one-process
  seed of ``(seed + r, epoch, b)``, reproducible for a given number of ranks.
- **The model** is wrapped in ``DistributedDataParallel`` (buffers broadcast from rank 0
  at each forward); on NCCL its BatchNorm layers become SyncBatchNorm (not on gloo: it
  does not run on the CPU). CUDA graphs and ``torch.compile`` are off with more than one
  rank (the precision label says so); one process is unchanged.
- **Agreement.** Every :data:`SYNC_STEPS` steps and at an epoch's last step the ranks
  all-reduce one small vector: the loss and hits since the last report, the samples
  seen, a stop flag and rank 0's "a report is due". So a stop (Ctrl+C on any rank, the
  control's stop) ends every rank at the same step, and the progress rank 0 reports
  counts every rank's samples. The test pass is split across the ranks and summed, so
  the whole test set counts exactly once.
- **Silence.** Only rank 0 gets callbacks (progress, run folder, checkpoint,
  TensorBoard); the checkpoint is the ordinary one-process file.
- **Bounded waits.** The process group's collectives time out after
  ``CNN_GUI_DIST_TIMEOUT`` seconds (default 60): a rank that never answers ends the run
  with an error instead of a hang.
"""

from __future__ import annotations

import datetime
import math
import os
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from cnn_gui.core.config import ConfigError
from cnn_gui.core.training.control import Position

TIMEOUT_ENV = "CNN_GUI_DIST_TIMEOUT"
DEFAULT_TIMEOUT = 60.0
SYNC_STEPS = 10
FAIL_ENV = "CNN_GUI_TEST_RANK_FAILS"  # "RANK:STEP": that rank raises at that step (tests)


class DistributedError(ConfigError):
    """A run over several processes that cannot start as asked: one line."""


def timeout_seconds() -> float:
    """The process group's timeout: ``CNN_GUI_DIST_TIMEOUT`` seconds, else 60."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        value = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        raise DistributedError(f"{TIMEOUT_ENV} must be a number of seconds, got {text[:40]!r}") from None
    if not (math.isfinite(value) and 1 <= value <= 86400):
        raise DistributedError(f"{TIMEOUT_ENV} must be from 1 to 86400 seconds, got {text[:40]}")
    return value


# --------------------------------------------------------------------------- sharding


@dataclass(frozen=True)
class Shard:
    """Which samples of an epoch's permutation one rank trains at each global step."""

    rank: int
    world: int
    batch_size: int  # the global batch
    batches: int  # global steps per epoch
    last_end: int  # where the epoch's last global batch ends in the permutation

    @classmethod
    def plan(cls, n: int, batch_size: int, rank: int, world: int, max_batches: int | None = None) -> "Shard":
        """The shard of rank ``rank`` of ``world`` over ``n`` samples (DistributedError when a
        rank would get none)."""
        if n < world:
            raise DistributedError(f"{n} training images cannot be shared by {world} processes")
        if batch_size < world:
            raise DistributedError(f"a batch of {batch_size} cannot be shared by {world} processes: "
                                   f"give --batch-size {world} or more (the global batch)")
        count = math.ceil(n / batch_size)
        if count > 1 and n - (count - 1) * batch_size < world:
            count -= 1  # too small a last batch: merged into the one before
        last_end = n
        if max_batches and max_batches < count:
            count, last_end = max_batches, max_batches * batch_size
        return cls(rank, world, batch_size, count, last_end)

    def bounds(self, batch: int) -> tuple[int, int]:
        """This rank's ``[start, end)`` of global batch ``batch`` (0-based) in the permutation."""
        start = batch * self.batch_size
        end = self.last_end if batch == self.batches - 1 else start + self.batch_size
        share, extra = divmod(end - start, self.world)
        first = start + self.rank * share + min(self.rank, extra)
        return first, first + share + (1 if self.rank < extra else 0)

    def indices(self, perm: torch.Tensor, batch: int) -> torch.Tensor:
        first, end = self.bounds(batch)
        return perm[first:end]


# --------------------------------------------------------------------------- the group


@dataclass(frozen=True)
class Ranks:
    """Where this process stands among the run's processes (torchrun's variables)."""

    rank: int
    world: int
    local_rank: int

    @classmethod
    def from_env(cls, env=None) -> "Ranks | None":
        """This process's ranks when a launcher started several (``WORLD_SIZE`` > 1), else None."""
        env = os.environ if env is None else env
        try:
            world = int(env.get("WORLD_SIZE", "1"))
            if world <= 1:
                return None
            return cls(int(env["RANK"]), world, int(env.get("LOCAL_RANK", "0")))
        except (KeyError, ValueError):
            raise DistributedError("WORLD_SIZE is set but RANK/LOCAL_RANK are missing or not numbers: "
                                   "start the processes with cnn-gui train --nproc-per-node or torchrun") from None

    def device(self, wanted: str | None) -> str:
        """The device this rank trains on: ``cuda:LOCAL_RANK`` for CUDA (auto when there is one),
        else the CPU. MPS trains in one process only."""
        wanted = (wanted or "auto").strip().lower()
        if wanted.startswith("mps"):
            raise DistributedError("MPS trains in one process only: leave out --nproc-per-node, or use --device cpu")
        if wanted.startswith("cuda") or (wanted == "auto" and torch.cuda.is_available()):
            if not torch.cuda.is_available():
                raise DistributedError("--device cuda: no CUDA device is available")
            if self.local_rank >= torch.cuda.device_count():
                raise DistributedError(f"rank {self.rank} needs GPU {self.local_rank} but this machine has "
                                       f"{torch.cuda.device_count()}: start at most that many processes per machine")
            return f"cuda:{self.local_rank}"
        return "cpu"


class Group:
    """This process's part in a data-parallel run (made by :func:`join`)."""

    def __init__(self, ranks: Ranks, backend: str) -> None:
        self.rank, self.world, self.backend = ranks.rank, ranks.world, backend
        self.main = ranks.rank == 0
        self._fail_at = _planned_failure(ranks.rank)

    def record(self, batch_size: int) -> dict:
        """What run.json says about the processes: their number, backend and per-rank batch."""
        share = batch_size // self.world
        per_rank = share if batch_size % self.world == 0 else f"{share}-{share + 1}"
        return {"world_size": self.world, "backend": self.backend, "per_rank_batch": per_rank}

    def shard(self, n: int, batch_size: int, max_batches: int | None) -> Shard:
        return Shard.plan(n, batch_size, self.rank, self.world, max_batches)

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """``model`` in DistributedDataParallel (its BatchNorm synchronised on NCCL); ``model``
        itself stays the one saved. Returns the module to call for training steps."""
        from torch.nn.parallel import DistributedDataParallel

        if self.backend == "nccl":
            _sync_batchnorm_in_place(model)
        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def own_start(self, position: Position) -> Position:
        """The position an epoch starts from here: a resumed epoch's sums (all ranks' together,
        as saved) count once, on rank 0."""
        return position if self.main else replace(position, loss_sum=0.0, correct=0, seen=0)

    def agree(self, epoch, step: int, stop: bool, due: bool) -> tuple[bool, bool, tuple[float, float, float, float]]:
        """All ranks' (stop, report due, (window loss, window samples, hits, seen)) summed, at ``step``."""
        if self._fail_at is not None and step >= self._fail_at:
            raise RuntimeError(f"test failure of rank {self.rank} at step {step} ({FAIL_ENV})")
        sums = epoch.sums
        vector = torch.stack([sums.window.double(), sums.correct.double()]).to("cpu")
        values = torch.tensor([vector[0].item(), float(epoch.window_samples), vector[1].item(), float(epoch.seen),
                               float(stop), float(due)], dtype=torch.float64)
        self._all_reduce(values)
        window, samples, correct, seen, stops, dues = values.tolist()
        return stops > 0, dues > 0, (window, samples, correct, seen)

    def reduce_epoch(self, epoch) -> None:
        """The epoch's sums and samples seen, over all ranks, in place (an epoch's end, a stop)."""
        sums = epoch.sums
        values = torch.tensor([sums.loss.item(), float(sums.correct.item()), float(epoch.seen)], dtype=torch.float64)
        self._all_reduce(values)
        loss, correct, seen = values.tolist()
        sums.loss.fill_(loss)
        sums.correct.fill_(int(correct))
        epoch.seen = int(seen)

    def evaluate(self, model: torch.nn.Module, data, device: torch.device, batch_size: int) -> tuple[float, float]:
        """(loss, accuracy) on the whole test set: each rank tests its share, the sums are added."""
        n = data.test_size
        first, end = self.rank * n // self.world, (self.rank + 1) * n // self.world
        loss = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                for start in range(first, end, batch_size):
                    stop = min(start + batch_size, end)
                    x = data.normalize(data.test_images[start:stop].to(device)).contiguous(
                        memory_format=torch.channels_last)
                    y = data.test_labels[start:stop].to(device)
                    out = model(x).float()
                    loss += F.cross_entropy(out, y, reduction="sum").double()
                    correct += (out.argmax(1) == y).sum()
        finally:
            model.train(was_training)
        values = torch.tensor([loss.item(), float(correct.item())], dtype=torch.float64)
        self._all_reduce(values)
        return values[0].item() / max(n, 1), values[1].item() / max(n, 1)

    def _all_reduce(self, values: torch.Tensor) -> None:
        import torch.distributed as dist

        if self.backend == "nccl":
            moved = values.cuda()
            dist.all_reduce(moved)
            values.copy_(moved.cpu())
        else:
            dist.all_reduce(values)

    def close(self) -> None:
        """Leave the process group once no DDP wrapper is alive (tested).

        DDP's reducer holds the group: a wrapper still alive here was freed at the interpreter's
        exit, after the group, whose gloo threads were then destroyed unjoined, and the rank
        aborted ("terminate called without an active exception", SIGABRT) in ~4 runs of 10.
        ``fit()`` lets go of its wrapper; a wrapper can also wait in cyclic garbage (its
        construction makes some), so that is collected here first."""
        import gc

        import torch.distributed as dist

        gc.collect()
        if dist.is_initialized():
            dist.destroy_process_group()


def _sync_batchnorm_in_place(model: torch.nn.Module) -> None:
    for name, child in list(model.named_children()):
        converted = torch.nn.SyncBatchNorm.convert_sync_batchnorm(child)
        if converted is not child:
            setattr(model, name, converted)


def _planned_failure(rank: int) -> int | None:
    text = os.environ.get(FAIL_ENV, "")
    if ":" not in text:
        return None
    who, _, step = text.partition(":")
    return int(step) if who.strip() == str(rank) and step.strip().isdecimal() else None


def join(ranks: Ranks, device: str) -> Group:
    """Join the run's process group (gloo on the CPU, NCCL on CUDA), bounded by :func:`timeout_seconds`."""
    import torch.distributed as dist

    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(torch.device(device))
    kwargs = {"device_id": torch.device(device)} if backend == "nccl" else {}
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_seconds()), **kwargs)
    return Group(ranks, backend)
