"""What `cnn-gui train` prints while it trains: a progress bar per epoch, a line per finished
epoch, and the network's health alerts, each on a line beginning with ``health:``."""

from __future__ import annotations


class ProgressPrinter:
    """A tqdm bar per epoch and one summary line per finished epoch."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.bar = None
        self.epochs = 0

    def __call__(self, event) -> None:
        from cnn_gui.core.errors import one_line
        from cnn_gui.core.events import BatchEnded, EpochEnded, FitStarted, HealthChecked

        if isinstance(event, FitStarted):
            self.epochs = event.epochs
            print(f"training {one_line(event.model, 80)} on {one_line(event.dataset, 200)} "
                  f"({event.train_size:,} train / {event.test_size:,} test)"
                  f" on {event.device_label} ({event.precision}), batch {event.batch_size}, {event.parameters:,} parameters",
                  flush=True)
        elif isinstance(event, BatchEnded) and not self.quiet:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=event.batches_per_epoch, desc=f"epoch {event.epoch}/{self.epochs}",
                                unit="batch", leave=False, dynamic_ncols=True)
                self.bar.update(event.batch - event.step if event.batch > event.step else 0)
            self.bar.update(event.batch - self.bar.n)
            self.bar.set_postfix(loss=f"{event.loss:.4f}", acc=f"{event.accuracy:.4f}",
                                 speed=f"{event.samples_per_sec:,.0f}/s", refresh=False)
        elif isinstance(event, HealthChecked) and event.alerts:
            for line in event.alerts:  # above the bar, which goes on below them
                (self.bar.write if self.bar is not None else print)(f"health: {one_line(line, 400)}")
        elif isinstance(event, EpochEnded):
            self.close()
            print(f"epoch {event.epoch}/{self.epochs}: train acc {event.train_accuracy:.4f} "
                  f"(loss {event.train_loss:.4f}), test acc {event.test_accuracy:.4f} "
                  f"(loss {event.test_loss:.4f}), {event.seconds:.1f} s, {event.samples_per_sec:,.0f} samples/s",
                  flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
