"""The training step of a full batch, captured once in a CUDA graph and replayed.

The trainer uses it on CUDA (``TrainConfig.cuda_graph``; on unless ``compile``). At
batch 100 the tutorial CNN's step is ~150 tiny kernels, and an eager loop spends its time launching them from Python (on
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
"""

from __future__ import annotations

from typing import Callable, ContextManager

import torch
from torch import nn

from cnn_gui.core.training import augment as augmentation

GRAPH_WARMUP_STEPS = 3  # eager steps on a side stream before capturing, as torch.cuda.graphs asks

Inputs = Callable[[torch.Tensor, "torch.Tensor | None"], "tuple[torch.Tensor, torch.Tensor]"]
Draw = Callable[..., "torch.Tensor | None"]


class GraphedStep:
    """Forward and backward of a full batch, replayed from one CUDA graph.

    Follows PyTorch's whole-network capture: static inputs (the batch's indices into the
    resident dataset, the augmentation draws), a few eager warm-up steps on a side stream
    (cuDNN's choices, autograd's streams), gradients set to None so that the captured
    backward allocates them from the graph's pool, and the capture. The warm-up's changes
    to BatchNorm's running statistics are undone; it never steps the optimizer, so the
    run trains from the same start as an eager one. ``sums`` and ``correct`` are the
    loop's device-side sums: every replay adds its batch to them.

    The trainer hands over how it makes a batch: ``inputs(idx, draws) -> (x, y)``,
    ``forward``, ``autocast(cache=...)`` and, when it augments, ``draw(epoch, batch, n,
    out=...)`` (the augmentation draws of a batch).
    """

    def __init__(self, model: nn.Module, criterion: nn.Module, *, inputs: Inputs, forward: Callable,
                 autocast: Callable[..., ContextManager], draw: Draw | None, batch_size: int, train_size: int,
                 device: torch.device, sums: tuple[torch.Tensor, ...], correct: torch.Tensor) -> None:
        self.model, self.criterion, self.batch_size, self.device = model, criterion, batch_size, device
        self.inputs, self.forward, self.autocast, self.draw = inputs, forward, autocast, draw
        self.idx = torch.arange(batch_size, device=device) % train_size
        self.params = torch.zeros(batch_size, augmentation.PARAMS, device=device) if draw is not None else None
        self.weights = [p for p in model.parameters() if p.requires_grad]
        self._capture(sums, correct)

    def _step(self, sums: tuple[torch.Tensor, ...], correct: torch.Tensor) -> None:
        x, y = self.inputs(self.idx, self.params)
        with self.autocast(cache=False):
            out = self.forward(x)
            loss = self.criterion(out.float(), y)
        loss.backward()
        batch_loss = loss.detach().double() * self.batch_size
        for total in sums:
            total += batch_loss
        correct += (out.detach().argmax(1) == y).sum()

    def _capture(self, sums: tuple[torch.Tensor, ...], correct: torch.Tensor) -> None:
        dev = self.device
        buffers = list(self.model.buffers())
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
            self.draw(epoch, batch, self.batch_size, out=self.params)
        self.graph.replay()

    def adopt_grads(self) -> None:
        """After an eager step (which makes its own gradients): point ``.grad`` back at the
        tensors the graph writes."""
        for p, g in zip(self.weights, self.grads):
            p.grad = g
