"""On-device augmentation: exact geometry, digits kept inside the field, reproducible draws,
labels untouched, and the engine training and resuming with it."""

import itertools

import pytest
import torch

from cnn_gui.core.training import augment as A
from cnn_gui.core.files.checkpoints import load_checkpoint
from cnn_gui.core.config import ConfigError, TrainConfig
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.training.engine import Trainer
from cnn_gui.core.events import BatchEnded, EpochEnded, FitStarted


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist")


@pytest.fixture(scope="module")
def digits(mnist):
    return mnist.train_images[:600].float()


def ring(x: torch.Tensor) -> torch.Tensor:
    """The outermost pixels of each image, (N, 2H + 2W - 4)."""
    top, bottom = x[:, :, 0, :], x[:, :, -1, :]
    left, right = x[:, :, 1:-1, 0], x[:, :, 1:-1, -1]
    return torch.cat([top, bottom, left, right], dim=2).flatten(1)


def with_margin(x: torch.Tensor, px: int) -> torch.Tensor:
    ink = x.amax(dim=1) > 0
    free = ~(ink[:, :px].any((1, 2)) | ink[:, -px:].any((1, 2)) | ink[:, :, :px].any((1, 2))
             | ink[:, :, -px:].any((1, 2)))
    return x[free]


def params(n: int, **fixed: float) -> torch.Tensor:
    """Draws with some columns fixed: angle 0, scale 1, shift_x 2, shift_y 3, stroke choice 4,
    amount 5, coarse-scan choice 6, a 1's flag-and-base choice 7."""
    u = torch.rand(n, A.PARAMS, generator=torch.Generator().manual_seed(0))
    for col, value in fixed.items():
        u[:, int(col[1:])] = value
    return u


def test_zero_ranges_return_the_images_exactly(digits):
    out = A.augment(digits, params(len(digits)), A.NONE)
    assert torch.equal(out, digits) and out is not digits


def test_geometry_turns_and_shifts_exactly(digits):
    roomy = with_margin(digits, 4)
    assert len(roomy) > 50
    # A quarter turn (beyond the default range, to check the convention): clockwise on screen.
    turn = A.augment(roomy, params(len(roomy), u0=1.0, u4=0.99), A.Ranges(90, 0, 0, 0, 0))
    torch.testing.assert_close(turn, torch.rot90(roomy, -1, dims=(2, 3)), atol=0.01, rtol=0)
    # Whole-pixel shifts: right by 2 px and up by 2 px.
    moved = A.augment(roomy, params(len(roomy), u2=1.0, u3=0.0, u4=0.99), A.Ranges(0, 0, 2, 0, 0))
    torch.testing.assert_close(moved, torch.roll(roomy, (-2, 2), dims=(2, 3)), atol=0.01, rtol=0)


def test_strokes_get_thicker_or_thinner_and_the_rest_stay(digits):
    x = digits[:64]
    geometry_off = A.Ranges(0, 0, 0, stroke=1.0, low_res=0)
    thick = A.augment(x, params(64, u4=0.1, u5=1.0), geometry_off)
    thin = A.augment(x, params(64, u4=0.9, u5=1.0), geometry_off)
    ink = (x > 0).sum()
    assert (thick > 0).sum() > 1.3 * ink and (thick >= x).all()
    assert (thin > 0).sum() < 0.8 * ink and (thin <= x).all()
    half = A.augment(x, params(64, u4=0.1, u5=0.5), geometry_off)
    torch.testing.assert_close(half, (x + thick) / 2)
    untouched = A.augment(x, params(64, u4=0.75), A.Ranges(0, 0, 0, stroke=0.5, low_res=0))
    assert torch.equal(untouched, x)


def test_a_share_of_images_becomes_a_coarse_scan_as_bright_as_before(digits):
    x = digits[:64]
    only = A.Ranges(0, 0, 0, 0, low_res=1.0)
    blocky = A.augment(x, params(64, u6=0.1), only)
    blurred = A.augment(x, params(64, u6=0.9), only)
    for img in blocky:  # 11 rows and columns of pixels, repeated
        assert torch.unique(img[0], dim=0).shape[0] <= 11 and torch.unique(img[0], dim=1).shape[1] <= 11
    torch.testing.assert_close(blocky.amax(dim=(1, 2, 3)), x.amax(dim=(1, 2, 3)))
    torch.testing.assert_close(blurred.amax(dim=(1, 2, 3)), x.amax(dim=(1, 2, 3)))
    assert not torch.equal(blurred, x) and (blurred > 0).sum() > (x > 0).sum()  # spread out
    untouched = A.augment(x, params(64, u6=0.5), A.Ranges(0, 0, 0, 0, low_res=0.3))
    assert torch.equal(untouched, x)


@pytest.fixture(scope="module")
def ones(mnist):
    x = mnist.train_images[mnist.train_labels == 1][:200].float()
    height = (x[:, 0].amax(dim=2) > 0).sum(dim=1)
    return x[height >= 12]  # tall enough to be written as a continental 1


def ink_width(rows: torch.Tensor) -> torch.Tensor:
    """Columns with ink in each image's given rows, (N,)."""
    return (rows.amax(dim=1) > 0).sum(dim=1)


def test_ones_may_be_written_with_a_flag_and_a_base(ones):
    n, only = len(ones), A.Ranges(0, 0, 0, 0, 0, serif=0.4)
    marked = torch.ones(n, dtype=torch.bool)
    rows = ones[:, 0].amax(dim=2) > 0
    top = rows.float().argmax(dim=1)
    bottom = 27 - rows.flip(1).float().argmax(dim=1)
    height = bottom - top

    def ends(x):  # ink widths of the top 2 and bottom 2 rows of each 1
        i = torch.arange(n)
        return (ink_width(torch.stack([x[i, 0, top], x[i, 0, top + 1]], 1)),
                ink_width(torch.stack([x[i, 0, bottom - 1], x[i, 0, bottom]], 1)))

    top_before, bottom_before = ends(ones)
    both = A.augment(ones, params(n, u7=0.1), only, ones=marked)
    top_after, bottom_after = ends(both)
    # A base 0.6 of the height wide; a flag reaching 0.3 of it to the left of the top.
    assert (bottom_after >= 0.5 * height).all() and (bottom_after > bottom_before).float().mean() > 0.9
    assert ((both[:, 0] > 0).sum(dim=(1, 2)) > (ones[:, 0] > 0).sum(dim=(1, 2))).all()
    assert (both >= ones).all() and both.amax() <= ones.amax()  # drawn over, as bright as the ink
    base_only = A.augment(ones, params(n, u7=0.35), only, ones=marked)
    assert torch.equal(ends(base_only)[0], top_before) and (ends(base_only)[1] >= 0.5 * height).all()
    flag_only = A.augment(ones, params(n, u7=0.25), only, ones=marked)
    assert torch.equal(ends(flag_only)[1], bottom_before) and not torch.equal(flag_only, ones)
    # Not chosen (60 %), not a 1, or no list of 1s (a dataset that is not digits): untouched.
    assert torch.equal(A.augment(ones, params(n, u7=0.5), only, ones=marked), ones)
    assert torch.equal(A.augment(ones, params(n, u7=0.1), only, ones=~marked), ones)
    assert torch.equal(A.augment(ones, params(n, u7=0.1), only), ones)


def test_a_digit_touching_no_border_stays_inside(digits):
    inside = digits[(ring(digits) == 0).all(dim=1)]
    assert len(inside) > 500
    # Every corner of the ranges, thickest strokes (they reach one pixel further), and random draws.
    for corner in itertools.product((0.0, 0.999999), repeat=4):
        fixed = {f"u{i}": v for i, v in enumerate(corner)}
        out = A.augment(inside, params(len(inside), **fixed, u4=0.0, u5=1.0))
        assert ring(out).abs().max() == 0, corner
    for seed in range(5):
        out = A.augment(inside, A.random_params(len(inside), torch.Generator().manual_seed(seed)))
        assert ring(out).abs().max() == 0
        # Still there, neither erased (thinner strokes, blurred by resampling, are fainter)
        # nor a blot (3x3 thicker strokes hold up to ~2.8x the ink).
        kept = out.sum(dim=(1, 2, 3)) / inside.sum(dim=(1, 2, 3))
        peak = out.amax(dim=(1, 2, 3)) / inside.amax(dim=(1, 2, 3))
        assert kept.min() > 0.2 and kept.max() < 3.5 and peak.min() > 0.35
    # A block as wide as the field allows: shrunk to fit, never cut (most for a coarse scan,
    # which keeps 3 px more free: 26 px wide into 20 at most).
    block = torch.zeros(8, 1, 28, 28)
    block[:, :, 1:27, 1:27] = 255.0
    for seed in range(5):
        out = A.augment(block, A.random_params(8, torch.Generator().manual_seed(seed)))
        assert ring(out).abs().max() == 0 and (out.sum(dim=(1, 2, 3)) > 0.4 * block[0].sum()).all()


def test_draws_are_reproducible_from_the_seed_epoch_and_batch(digits):
    def draw(seed, epoch, batch):
        gen = torch.Generator().manual_seed(A.batch_seed(seed, epoch, batch))
        return A.random_params(32, gen)

    assert torch.equal(draw(0, 1, 5), draw(0, 1, 5))
    assert not torch.equal(draw(0, 1, 5), draw(0, 1, 6))
    assert not torch.equal(draw(0, 1, 5), draw(0, 2, 5)) and not torch.equal(draw(0, 1, 5), draw(1, 1, 5))
    assert 0 <= A.batch_seed(2**63 - 1, 10_000, 10**7) < 2**63
    u = draw(3, 1, 0)
    assert torch.equal(A.augment(digits[:32], u), A.augment(digits[:32], u.clone()))
    # The six draws made before coarse scans existed come first and are what they were, so
    # a seed turns, shifts and thickens as it did.
    before = torch.empty(32, 6).uniform_(0.0, 1.0, generator=torch.Generator().manual_seed(A.batch_seed(3, 1, 0)))
    assert torch.equal(u[:, :6], before)


def test_bad_shapes_are_refused_in_one_line(digits):
    with pytest.raises(ValueError, match="augment needs images"):
        A.augment(digits[:4], torch.zeros(3, A.PARAMS))


def test_augment_setting_is_checked_and_old_configs_load():
    with pytest.raises(ConfigError, match="augment must be true or false"):
        TrainConfig(augment="yes").validate()
    old = TrainConfig().to_dict()
    del old["augment"], old["cuda_graph"]
    assert TrainConfig.from_dict(old).augment is False


def test_engine_batches_keep_their_labels(mnist):
    data = mnist.subset(500, 100)
    trainer = Trainer(TrainConfig(device="cpu", augment=True, batch_size=50), data=data)
    trainer._prepare()
    idx = torch.arange(10, 60)
    x, y = trainer._train_inputs(idx, trainer._augment_params(1, 0, 50))
    plain, y_plain = trainer._train_inputs(idx, None)
    assert torch.equal(y, data.train_labels[idx]) and torch.equal(y, y_plain)
    assert x.shape == plain.shape and not torch.equal(x, plain)
    assert x.min() >= -1.0 and x.max() <= 1.0 + 1e-5  # normalised as the plain batch is


@pytest.mark.slow
def test_engine_learns_with_augmentation(mnist):
    events = []
    config = TrainConfig(device="cpu", epochs=1, batch_size=64, max_batches=60, augment=True, report_interval=0)
    trainer = Trainer(config, data=mnist.subset(None, 1000), callbacks=[events.append])
    assert trainer.fit().reason == "completed", trainer.error
    losses = [e.loss for e in events if isinstance(e, BatchEnded)]
    assert sum(losses[-10:]) < 0.5 * sum(losses[:10])
    (epoch,) = [e for e in events if isinstance(e, EpochEnded)]
    assert epoch.test_accuracy > 0.85


@pytest.mark.slow
def test_resume_replays_the_same_augmentation(mnist, tmp_path):
    data = mnist.subset(3000, 300)
    config = TrainConfig(epochs=2, batch_size=50, max_batches=6, device="cpu", seed=4, augment=True,
                         report_interval=0)
    straight = Trainer(config, data=data)
    assert straight.fit().reason == "completed"
    plain = Trainer(config.with_(augment=False), data=data)
    assert plain.fit().reason == "completed"

    holder = {}

    def stop_mid_epoch(event):
        if isinstance(event, BatchEnded) and event.epoch == 1 and event.batch == 4:
            holder["t"].stop()

    first = Trainer(config, data=data, callbacks=[stop_mid_epoch])
    holder["t"] = first
    assert first.fit().reason == "stopped"
    ckpt = load_checkpoint(first.save_checkpoint(tmp_path / "aug.safetensors"))
    assert ckpt.meta.train_config.augment is True
    events = []
    resumed = Trainer.from_checkpoint(ckpt, data=data, callbacks=[events.append])
    assert resumed.fit().reason == "completed"
    assert isinstance(events[0], FitStarted) and events[0].start_batch == 4
    a, b, c = straight.model.state_dict(), resumed.model.state_dict(), plain.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "the resumed run saw other augmented images"
    assert not torch.equal(a["fc.0.weight"], c["fc.0.weight"])  # augmentation did change the run

