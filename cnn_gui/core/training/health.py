"""Network health during training: per-layer numbers every few steps, and alerts in plain words.

:func:`watch_health` attaches a :class:`HealthWatch` to a trainer's optimizer (its step
pre- and post-hooks, so the engine's loop is unchanged, graphed or eager). After steps 1,
2, 4, ... 32 and then every :data:`EVERY` steps it measures, for each module that has
parameters of its own (a conv, a linear, a BatchNorm):

- the weight norm and the gradient norm (read just before the optimizer's step);
- the update ratio ``|w_after - w_before| / |w_before|``, measured across the optimizer's
  step, so it holds for Adam as for SGD (cs231n's rule of thumb: about 1e-3 is healthy);
- NaN or Inf in the weights or gradients;

and for each ``nn.ReLU`` module the share of its channels that gave zero for every image of
a fixed probe batch (:data:`PROBE` training images, in train mode; the random state forked
and the buffers put back: training is bit-for-bit what it would be without the watch). At the
first look it also compares the loss of the probe batch with ln(classes), what an untrained
softmax classifier should start at.

It reports a :class:`~cnn_gui.core.events.HealthChecked` event through the trainer's
callbacks; ``alerts`` holds the lines a person should read (each said once per run):
:func:`alerts_for`. Frozen modules (no parameter trains) are listed as frozen, never alarming.
Cost on the 2-core CPU: see ``benchmarks/health_cost.py`` (README, Performance).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from cnn_gui.core.events import HealthChecked

if TYPE_CHECKING:
    from cnn_gui.core.training.engine import Trainer

EVERY = 50  # steps between two looks once past the first (log-spaced) ones
PROBE = 128  # fixed training images for the dead-ReLU share and the first loss (~15 ms a look on 2 cores)
EARLY = (1, 2, 4, 8, 16, 32)  # steps done: the looks after the 1st, 2nd, 4th ... step

# Thresholds (cs231n, "Babysitting the learning process"; Karpathy's recipe)
RATIO_HIGH = 1e-1  # the step changes the weights by more than a tenth: the rate is too high
RATIO_LOW = 1e-5  # a trainable layer that hardly moves: the rate is too low or its gradient vanished
DEAD_SHARE = 0.7  # of a ReLU's channels silent on every probe image (the tutorial CNN: at most ~50 %)
GRAD_JUMP = 100.0  # gradient norm grown this much since the previous look
FIRST_LOSS_FACTOR = 1.5  # a fresh network's first loss above 1.5 ln(classes): its last layer starts too large
LOW_AFTER_STEP = 100  # a low update ratio is only said once training is under way


class HealthWatch:
    """Measures ``trainer``'s model around its optimizer's steps; see the module docstring."""

    def __init__(self, trainer: "Trainer", every: int = EVERY) -> None:
        self.trainer = trainer
        self.every = every
        self.step = trainer.position.step  # optimizer steps so far (a resumed run starts later)
        model = trainer.model
        self.layers = [(name, m) for name, m in model.named_modules() if any(True for _ in m.parameters(False))]
        self.relus = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.ReLU)]
        self.classes = len(trainer.data.classes)
        self.said: set[str] = set()
        self.last_grad: dict[str, float] = {}
        self.last_step = self.step
        self.dead_since: dict[str, int] = {}
        self._before: dict[str, torch.Tensor] | None = None
        self._grads: dict[str, float] = {}
        self._first = True
        self._first_loss: float | None = None
        self.probe, self.probe_labels = _probe_batch(trainer)
        if self.probe is None:
            self.relus = []  # no probe, no dead-ReLU share

    def due(self, done: int) -> bool:
        """Whether to look once ``done`` steps are done (the count the curves and snapshots use)."""
        return done in EARLY or (self.every > 0 and done % self.every == 0)

    # -- the optimizer's hooks ------------------------------------------------------------
    def before_step(self, *_args) -> None:
        if not self.due(self.step + 1):
            self._before = None
            return
        with torch.no_grad():
            self._before = {name: _flat(m).clone() for name, m in self.layers}
            self._grads = {name: _grad_norm(m) for name, m in self.layers}
        # The network as a run from step 0 starts (a resumed run's loss says nothing of its init)
        if self._first_loss is None and self._first and self.probe is not None and self.step == 0:
            self._first_loss = self._probe(loss=True)[1]

    def after_step(self, *_args) -> None:
        self.step += 1
        step = self.step  # steps done, as BatchEnded and the snapshots count them
        if self._before is None:
            return
        before, self._before = self._before, None
        event = self.look(step, before)
        for callback in self.trainer.callbacks:
            callback(event)

    # -- one look -------------------------------------------------------------------------
    def look(self, step: int, before: dict[str, torch.Tensor]) -> HealthChecked:
        names, weight, grad, ratio, frozen, bad = [], [], [], [], [], []
        with torch.no_grad():
            for name, m in self.layers:
                now = _flat(m)
                w0 = float(before[name].norm())
                names.append(name)
                weight.append(float(now.norm()))
                grad.append(self._grads.get(name, 0.0))
                ratio.append(float((now - before[name]).norm()) / w0 if w0 > 0 else 0.0)
                frozen.append(not any(p.requires_grad for p in m.parameters(False)))
                bad.append(not (math.isfinite(weight[-1]) and math.isfinite(grad[-1])))
        dead, _ = self._probe()
        first_loss = self._first_loss if self._first else None
        event = HealthChecked(step=step, layers=tuple(names), weight_norm=tuple(weight), grad_norm=tuple(grad),
                              update_ratio=tuple(ratio), frozen=tuple(frozen), nonfinite=tuple(bad),
                              relus=tuple(n for n, _ in self.relus), dead_share=tuple(dead),
                              first_loss=first_loss, classes=self.classes, alerts=())
        alerts = alerts_for(event, self)
        self._first = False
        return dataclasses.replace(event, alerts=tuple(alerts))

    def _probe(self, loss: bool = False) -> tuple[list[float], float | None]:
        """Each ReLU's share of silent channels on the probe batch, and (``loss``) its loss."""
        if self.probe is None:
            return [], None
        # The training model itself, between two steps on the training thread (no copy: a
        # copy's weights are re-laid out for oneDNN each look, 2x the time): train mode, as
        # training computes, with its buffers (BatchNorm's statistics) put back after.
        model = self.trainer.model
        buffers = [(b, b.clone()) for b in model.buffers()]
        outputs: dict[str, torch.Tensor] = {}
        hooks = [m.register_forward_hook(_keeper(outputs, name)) for name, m in self.relus]
        devices = [self.trainer.device.index or 0] if self.trainer.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad(), \
                    torch.autocast(self.trainer.device.type, dtype=torch.bfloat16, enabled=self.trainer.amp):
                logits = model(self.probe)  # bf16 where training runs in bf16
        finally:
            for hook in hooks:
                hook.remove()
            with torch.no_grad():
                for buffer, saved in buffers:
                    buffer.copy_(saved)
        dead = []
        for name, _ in self.relus:
            out = outputs.get(name)
            if out is None or out.ndim < 2:
                dead.append(0.0)
                continue
            # A ReLU's output is >= 0, so a silent channel sums to 0: a sum is vectorised where
            # amax, any or count_nonzero over the same maps took 10 ms a look (bf16, 2 cores).
            per_channel = out.movedim(1, -1).reshape(-1, out.shape[1]).sum(dim=0, dtype=torch.float32)
            dead.append(float((per_channel <= 0).float().mean()))
        value = float(nn.functional.cross_entropy(logits.float(), self.probe_labels)) if loss else None
        return dead, value


def _probe_batch(trainer: "Trainer") -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The first :data:`PROBE` training images, as the trainer feeds them, and their labels;
    none for a folder streamed from disk (its images are decoded once, in the run's order)."""
    data, model = trainer.data, trainer.model
    if data.streamed:
        return None, None
    idx = torch.arange(min(PROBE, data.train_size))
    probe = data.normalize(data.train_images.index_select(0, idx)).to(trainer.device)
    if any(p.dim() == 4 and not p.is_contiguous() and p.is_contiguous(memory_format=torch.channels_last)
           for p in model.parameters()):
        probe = probe.contiguous(memory_format=torch.channels_last)  # as the trainer feeds it: 3x faster
    return probe, data.train_labels.index_select(0, idx).to(trainer.device)


def _keeper(outputs: dict, name: str):
    def keep(_module, _inputs, output) -> None:
        outputs[name] = output.detach()
    return keep


def _flat(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).float() for p in module.parameters(False)])


def _grad_norm(module: nn.Module) -> float:
    grads = [p.grad.detach().reshape(-1).float() for p in module.parameters(False) if p.grad is not None]
    return float(torch.cat(grads).norm()) if grads else 0.0


def alerts_for(ev: HealthChecked, watch: HealthWatch) -> list[str]:
    """The plain-language lines ``ev`` calls for: one per kind of trouble, naming the worst
    layers, each kind said once per run."""
    out: list[str] = []

    def say(kind: str, text: str) -> None:
        if kind not in watch.said:
            watch.said.add(kind)
            out.append(text)

    if ev.first_loss is not None and ev.classes > 1:
        expected = math.log(ev.classes)
        if ev.first_loss > FIRST_LOSS_FACTOR * expected:
            say("first", f"the first loss is {ev.first_loss:.2f}, well above ln({ev.classes}) = {expected:.2f} "
                "that an untrained network starts at: its last layer's weights start too large")
    live = [i for i in range(len(ev.layers)) if not ev.frozen[i]]
    bad = [ev.layers[i] for i in live if ev.nonfinite[i]]
    if bad:
        say("nan", f"{_names(bad)}: weights or gradients hold NaN or Inf at step {ev.step}: "
            "lower the learning rate and train again")
    high = sorted((i for i in live if ev.update_ratio[i] > RATIO_HIGH), key=lambda i: -ev.update_ratio[i])
    if high:
        worst = ", ".join(f"{ev.layers[i]} {ev.update_ratio[i]:.0%}" for i in high[:3])
        say("high", f"one step changes the weights of {_count(high, 'layer')} by more than 10 % ({worst}; "
            f"healthy is about 0.1 %): the learning rate is too high, the loss may become NaN")
    low = [i for i in live if 0 < ev.update_ratio[i] < RATIO_LOW and ev.step >= LOW_AFTER_STEP]
    if low:
        say("low", f"{_names([ev.layers[i] for i in low])}: update ratio below 1e-5 "
            f"({min(ev.update_ratio[i] for i in low):.1e}): not learning (learning rate too low, or the gradient vanished)")
    jumps = []
    for i in live:
        previous, g = watch.last_grad.get(ev.layers[i]), ev.grad_norm[i]
        if previous and g > GRAD_JUMP * previous:
            jumps.append((g / previous, ev.layers[i]))
        watch.last_grad[ev.layers[i]] = g
    if jumps:
        factor, name = max(jumps)
        others = f" (and {len(jumps) - 1} more layers)" if len(jumps) > 1 else ""
        say("jump", f"{name}: gradient norm grew {factor:,.0f}x in {_count(range(ev.step - watch.last_step), 'step')}{others}: "
            "the loss may become NaN")
    watch.last_step = ev.step
    dead = [(share, name) for name, share in zip(ev.relus, ev.dead_share) if share >= DEAD_SHARE]
    for share, name in dead:
        watch.dead_since.setdefault(name, ev.step)
    for name in set(watch.dead_since) - {n for _, n in dead}:
        del watch.dead_since[name]
    if dead:
        share, name = max(dead)
        others = f" (and {len(dead) - 1} more ReLUs)" if len(dead) > 1 else ""
        say("dead", f"{name}: {share:.0%} of its ReLU channels are dead (zero for every probe image) since step "
            f"{watch.dead_since[name]}{others}: a learning rate too high often kills them")
    return out


def _names(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _count(items, word: str) -> str:
    return f"{len(items)} {word}{'s' if len(items) != 1 else ''}"


def watch_health(trainer: "Trainer") -> HealthWatch | None:
    """A watch on ``trainer``'s optimizer (None when ``trainer.health_every`` is 0 or the run has
    several ranks: their callbacks are rank 0's alone, and the probe would differ per rank)."""
    if trainer.health_every <= 0 or trainer.parallel is not None or trainer.optimizer is None:
        return None
    watch = HealthWatch(trainer, trainer.health_every)
    trainer.step_hooks += [trainer.optimizer.register_step_pre_hook(watch.before_step),
                           trainer.optimizer.register_step_post_hook(watch.after_step)]
    return watch
