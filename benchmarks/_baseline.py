"""The seed tutorial's own MNIST training loop, as faithfully as the benchmarks need it.

torchvision's ``MNIST`` dataset over the bundled IDX files (decompressed once into a
temporary folder laid out as torchvision expects), ``ToTensor()`` + ``Normalize([0.5],
[0.5])``, a ``DataLoader`` with batch 100 and no shuffle (num_workers=0, as in the
tutorial), the tutorial's ``CNN``, ``CrossEntropyLoss`` and ``Adam(model.parameters())``
at its default rate. Per batch, as the tutorial: ``images.reshape(-1, 1, 28, 28)``,
forward, ``pred.squeeze()``, ``zero_grad``, loss, ``backward``, ``step``, and an accuracy
count read back to Python (``int(torch.sum(pred == labels))``) after every batch.

The tutorial's test pass forgets ``model.eval()``: it runs in train mode under
``no_grad`` (BatchNorm normalises each test batch with that batch's own statistics and
keeps updating its running averages). :func:`tutorial_test` can do either.
"""

from __future__ import annotations

import atexit
import gzip
import shutil
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from cnn_gui.core.model.models import CNN
from cnn_gui.core.resources import resource_path

_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_ROOT: Path | None = None


def mnist_root() -> Path:
    """A temporary folder with ``MNIST/raw/<file>`` unpacked from the bundled gz files."""
    global _ROOT
    if _ROOT is None:
        root = Path(tempfile.mkdtemp(prefix="cnn-gui-bench-"))
        atexit.register(shutil.rmtree, root, True)
        raw = root / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name in _FILES:
            with gzip.open(resource_path("mnist", f"{name}.gz"), "rb") as src, open(raw / name, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        _ROOT = root
    return _ROOT


def tutorial_loader(train: bool, batch_size: int = 100) -> torch.utils.data.DataLoader:
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])
    ds = datasets.MNIST(root=str(mnist_root()), train=train, transform=transform, download=False)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size)  # shuffle=False, num_workers=0


def resolve(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class TutorialRun:
    """The tutorial's model, loss, optimizer and loaders, ready to train batch by batch."""

    def __init__(self, device="auto", seed: int = 0) -> None:
        self.device = resolve(device)
        torch.manual_seed(seed)
        self.model = CNN().to(self.device)
        self.criterion = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.Adam(self.model.parameters())
        self.train_loader = tutorial_loader(True)
        self.test_loader = tutorial_loader(False)

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> int:
        """One training step exactly as the tutorial writes it; returns the correct count."""
        images = images.reshape(-1, 1, 28, 28).to(self.device)
        labels = labels.to(self.device)
        output = self.model(images)
        pred = output.squeeze()
        self.optimizer.zero_grad()
        loss = self.criterion(pred, labels)
        loss.backward()
        self.optimizer.step()
        _, pred = torch.max(pred, 1)
        return int(torch.sum(pred == labels))  # the tutorial's per-batch host sync

    def train_batches(self, n_batches: int | None = None, warmup: int = 0) -> tuple[int, float]:
        """Train ``warmup`` + ``n_batches`` batches (None: the rest of one epoch).

        Returns (samples, seconds) of the timed batches only (the warm-up ones excluded);
        loading each batch through the DataLoader is part of the timed work, as it is
        part of the tutorial's loop.
        """
        self.model.train()
        samples, t0 = 0, None
        for i, (images, labels) in enumerate(self.train_loader):
            if i == warmup:
                sync(self.device)
                t0 = time.perf_counter()
            if n_batches is not None and i >= warmup + n_batches:
                break
            self.step(images, labels)
            if i >= warmup:
                samples += labels.shape[0]
        sync(self.device)
        return samples, (time.perf_counter() - t0) if t0 is not None else 0.0

    def test(self, eval_mode: bool, limit: int | None = None) -> float:
        """Test accuracy over the 10k test set (``limit``: the first batches only).

        ``eval_mode=False`` is the tutorial's own behaviour: train mode under no_grad,
        which also moves BatchNorm's running statistics (the model is restored after).
        """
        state = None
        if not eval_mode:  # keep the tutorial's side effect from leaking into training
            state = {k: v.clone() for k, v in self.model.state_dict().items()}
        self.model.train(not eval_mode)
        correct = total = 0
        with torch.no_grad():
            for i, (images, labels) in enumerate(self.test_loader):
                if limit is not None and i >= limit:
                    break
                images = images.reshape(-1, 1, 28, 28).to(self.device)
                labels = labels.to(self.device)
                pred = self.model(images).squeeze()
                _, pred = torch.max(pred, 1)
                correct += int(torch.sum(pred == labels))
                total += labels.shape[0]
        if state is not None:
            self.model.load_state_dict(state)
        self.model.train()
        return correct / max(total, 1)


def tutorial_train(n_batches: int, device="auto", warmup: int = 10, seed: int = 0) -> tuple[int, float]:
    """(samples, seconds) of ``n_batches`` tutorial training batches after ``warmup``."""
    return TutorialRun(device, seed).train_batches(n_batches, warmup)


def tutorial_time_to(target: float = 0.99, max_epochs: int = 3, device="auto", seed: int = 0,
                     max_batches: int | None = None, test_batches: int | None = None,
                     report=print) -> tuple[int | None, float, list[dict]]:
    """Train the tutorial's loop epoch by epoch until its own test accuracy reaches ``target``.

    Its own test figure is the tutorial's train-mode test pass; the eval-mode figure is
    measured too (outside the timed part) and reported. Returns (epochs to the target, or
    None; wall seconds of training plus the tutorial's test passes up to then; one dict per
    epoch with ``train_seconds``, ``test_seconds``, ``tutorial_acc``, ``eval_acc``).
    """
    run = TutorialRun(device, seed)
    elapsed, history, reached = 0.0, [], None
    for epoch in range(1, max_epochs + 1):
        t0 = time.perf_counter()
        run.train_batches(max_batches)
        t1 = time.perf_counter()
        own = run.test(eval_mode=False, limit=test_batches)
        t2 = time.perf_counter()
        elapsed += t2 - t0
        ev = run.test(eval_mode=True, limit=test_batches)  # not timed: the tutorial does not do it
        row = dict(epoch=epoch, train_seconds=t1 - t0, test_seconds=t2 - t1, tutorial_acc=own, eval_acc=ev,
                   elapsed=elapsed)
        history.append(row)
        if report:
            report(f"  tutorial epoch {epoch}: train {t1 - t0:.1f} s, test {t2 - t1:.1f} s; "
                   f"test acc {own:.4f} (its own train-mode pass), {ev:.4f} (eval mode); "
                   f"elapsed {elapsed:.1f} s")
        if own >= target:
            reached = epoch
            break
    return reached, elapsed, history
