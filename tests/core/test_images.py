"""read_digit_image: photos of real MNIST digits on real-world paper, and files it must refuse.

The digits are MNIST test images (so their labels are known), enlarged and printed as
dark ink on generated paper: grey, beige, unevenly lit, noisy, 16-bit, transparent,
light on dark.  Each must be read by the shipped network as its label, with the paper
read as no ink at all.
"""

import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from cnn_gui.core.inputs.images import (
    MAX_PIXELS,
    MAX_SIDE,
    WORK_SIDE,
    ImageError,
    composite,
    extract_ink,
    load_grey,
    read_digit_image,
)
from cnn_gui.core.inputs.preprocess import to_mnist

SCALE = 8  # a 28 px digit printed 224 px high
MARGIN = 40  # paper around it



pytestmark = pytest.mark.usefixtures("serial_torch")  # see tests/conftest.py


@pytest.fixture(scope="module")
def predictor():
    from cnn_gui.core.files.checkpoints import load_checkpoint, load_weights_into
    from cnn_gui.core.model.models import CNN
    from cnn_gui.core.analysis.predictor import Predictor
    from cnn_gui.core.resources import pretrained_checkpoint

    ckpt = load_checkpoint(pretrained_checkpoint())
    model = CNN()
    load_weights_into(model, ckpt)
    return Predictor(model, mean=ckpt.meta.mean, std=ckpt.meta.std)


@pytest.fixture(scope="module")
def digits():
    """Four MNIST test digits (a 2, a 7, a 3 and an 8), white on black, with their labels."""
    from cnn_gui.core.data.datasets import load_dataset

    data = load_dataset("mnist")
    labels = data.test_labels.numpy()
    out = []
    for label in (2, 7, 3, 8):
        i = int(np.flatnonzero(labels == label)[0])
        out.append((data.test_images[i, 0].numpy(), label))
    return out


def photo(digit, paper=(255, 255, 255), ink=(0, 0, 0), light=None, noise=0.0, seed=0,
          scale=SCALE, margin=MARGIN):
    """An RGB uint8 'photo' of ``digit`` printed in ``ink`` on ``paper``.

    ``light(y, x)`` (coordinates in [0, 1]) multiplies the page, as uneven lighting does;
    ``noise`` is the sigma of Gaussian noise, in [0, 1] units.
    """
    side = 28 * scale
    big = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    cover = np.zeros((side + 2 * margin,) * 2, np.float32)
    cover[margin:margin + side, margin:margin + side] = np.asarray(big, np.float32) / 255.0
    cover = np.clip(cover, 0.0, 1.0)[..., None]
    page = np.asarray(paper, np.float32) / 255.0 * (1 - cover) + np.asarray(ink, np.float32) / 255.0 * cover
    if light is not None:
        y, x = np.mgrid[0:page.shape[0], 0:page.shape[1]] / page.shape[0]
        page = page * light(y, x)[..., None]
    if noise:
        page = page + np.random.default_rng(seed).normal(0.0, noise, page.shape)
    return (np.clip(page, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def paper_margin(ink, margin=MARGIN - 4):
    """The pixels of the page's margin, where there is paper only."""
    return np.concatenate([ink[:margin].ravel(), ink[-margin:].ravel(),
                           ink[:, :margin].ravel(), ink[:, -margin:].ravel()])


def check_reads(path, digit, label, predictor, margin=True):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Pillow warning reaches the user either
        ink = read_digit_image(path)
    assert ink.dtype == np.float32 and ink.ndim == 2
    assert 0.0 <= ink.min() and ink.max() <= 1.0 and ink.max() > 0.9
    if margin:
        assert paper_margin(ink).max() == 0.0  # the paper is no ink at all
    img28 = to_mnist(ink)
    assert img28 is not None
    probs = predictor.predict(img28)
    assert int(np.argmax(probs)) == label, (path.name, label, probs.round(3))
    # ...and the network sees nearly what it sees of the MNIST digit itself
    reference = to_mnist(digit)
    assert np.abs(img28 - reference).mean() < 0.08
    border = np.concatenate([img28[0], img28[-1], img28[:, 0], img28[:, -1]])
    assert border.max() <= max(0.05, 1.2 * np.concatenate(
        [reference[0], reference[-1], reference[:, 0], reference[:, -1]]).max())
    return ink


PAPERS = {
    "white": dict(paper=(255, 255, 255), ink=(0, 0, 0)),
    # light grey and beige paper were read as ink: every digit became a blob, an "8"
    "grey 235": dict(paper=(235, 235, 235), ink=(20, 20, 20)),
    "grey 200": dict(paper=(200, 200, 200), ink=(25, 25, 25)),
    "beige": dict(paper=(245, 228, 196), ink=(35, 35, 80)),
    "dim light": dict(paper=(105, 100, 95), ink=(20, 20, 20)),
    "light from the left": dict(paper=(240, 240, 240), ink=(20, 20, 20), light=lambda y, x: 1.0 - 0.45 * x),
    "vignette": dict(paper=(235, 230, 220), ink=(20, 20, 20),
                     light=lambda y, x: 1.0 - 0.9 * ((y - 0.5) ** 2 + (x - 0.5) ** 2)),
    "noisy grey": dict(paper=(225, 225, 225), ink=(30, 30, 30), noise=0.04),
    "lit from above, noisy": dict(paper=(230, 225, 215), ink=(30, 30, 40), noise=0.03,
                                  light=lambda y, x: 0.6 + 0.4 * y),
    "pencil": dict(paper=(250, 250, 250), ink=(150, 150, 150), noise=0.02),
    "white on black": dict(paper=(10, 10, 10), ink=(250, 250, 250)),
    "chalk on a green board": dict(paper=(40, 62, 45), ink=(210, 210, 200), noise=0.03),
}


@pytest.mark.parametrize("name", list(PAPERS))
def test_photos_of_digits_read_as_their_label(tmp_path, name, digits, predictor):
    for k, (digit, label) in enumerate(digits):
        path = tmp_path / f"{label}.png"
        Image.fromarray(photo(digit, seed=k, **PAPERS[name])).save(path)
        check_reads(path, digit, label, predictor)


def test_the_old_rule_failed_on_grey_and_beige_paper(digits, predictor):
    """The rule read_digit_image replaces ("1 - grey if the image is light") read most of
    these photos wrong: the tests above would catch it back."""
    wrong = 0
    for name in ("grey 235", "grey 200", "beige"):
        for digit, label in digits:
            grey = np.asarray(Image.fromarray(photo(digit, **PAPERS[name])).convert("L"), np.float32) / 255.0
            old = 1.0 - grey if grey.mean() > 0.5 else grey
            wrong += int(np.argmax(predictor.predict(to_mnist(old))) != label)
    assert wrong >= 8  # of 12


def test_jpeg(tmp_path, digits, predictor):
    digit, label = digits[0]
    path = tmp_path / "2.jpg"
    Image.fromarray(photo(digit, **PAPERS["lit from above, noisy"])).save(path, quality=70)
    check_reads(path, digit, label, predictor, margin=False)  # JPEG blocks may ring a little
    ink = read_digit_image(path)
    assert (paper_margin(ink) > 0.05).mean() < 0.001


def test_sixteen_bit_grey(tmp_path, digits, predictor):
    """A 16-bit scan: paper at 50,000 and ink at 6,000 of 65,535; Pillow opens it as I;16."""
    for digit, label in digits[:2]:
        grey = photo(digit, paper=(200, 200, 200), ink=(25, 25, 25))[..., 0].astype(np.float64) / 255.0
        values = (grey * 65535).astype(np.uint16)
        path = tmp_path / f"{label}-16.png"
        Image.fromarray(values).save(path)
        with Image.open(path) as im:
            assert im.mode.startswith("I")
        check_reads(path, digit, label, predictor)


@pytest.mark.parametrize("rgb", ["black", "white"])
def test_black_ink_on_a_transparent_background(tmp_path, digits, predictor, rgb):
    """Drawing apps export the ink as alpha: RGB is one colour (black or white) everywhere."""
    for digit, label in digits[:2]:
        alpha = 255 - photo(digit)[..., 0]
        rgba = np.zeros(alpha.shape + (4,), np.uint8)
        rgba[..., :3] = 0 if rgb == "black" else 255
        rgba[..., :3][alpha > 0] = 0  # the ink is black, the invisible background any colour
        rgba[..., 3] = alpha
        path = tmp_path / f"{label}-{rgb}.png"
        Image.fromarray(rgba, "RGBA").save(path)
        check_reads(path, digit, label, predictor)


def test_white_ink_on_a_transparent_background_and_grey_alpha(tmp_path, digits, predictor):
    digit, label = digits[1]
    alpha = 255 - photo(digit)[..., 0]
    la = np.stack([np.full_like(alpha, 255), alpha], axis=-1)  # white ink, mode LA
    path = tmp_path / "white-la.png"
    Image.fromarray(la, "LA").save(path)
    check_reads(path, digit, label, predictor)


def test_opaque_rgba_is_read_as_rgb(tmp_path, digits, predictor):
    digit, label = digits[2]
    rgb = photo(digit, **PAPERS["beige"])
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    path = tmp_path / "opaque.png"
    Image.fromarray(rgba, "RGBA").save(path)
    check_reads(path, digit, label, predictor)


def test_composite_keeps_a_page_with_transparent_margins_as_paper():
    """A photo of a page whose margins are transparent: the margins take the page's colour."""
    page = np.full((100, 100), 0.85, np.float32)
    page[40:60, 45:55] = 0.1  # ink
    alpha = np.zeros_like(page)
    alpha[10:90, 10:90] = 1.0
    grey = composite(page * alpha, alpha)
    assert np.allclose(grey[:10], 0.85) and np.allclose(grey[50, 50], 0.1)
    ink = extract_ink(grey)
    assert ink[:40].max() == 0.0 and ink[50, 50] == 1.0


def test_palette_gif(tmp_path, digits, predictor):
    digit, label = digits[3]
    path = tmp_path / "8.gif"
    Image.fromarray(photo(digit, **PAPERS["grey 200"])).convert("P").save(path)
    check_reads(path, digit, label, predictor)


def test_exif_rotation_is_applied(tmp_path, digits, predictor):
    """Phones store a portrait photo sideways plus an orientation tag."""
    digit, label = digits[1]
    upright = Image.fromarray(photo(digit, **PAPERS["grey 235"]))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to show"
    path = tmp_path / "sideways.jpg"
    upright.rotate(90, expand=True).save(path, exif=exif, quality=95)
    check_reads(path, digit, label, predictor, margin=False)


def test_big_photos_are_shrunk_while_loading(tmp_path, digits, predictor):
    digit, label = digits[0]
    page = Image.fromarray(photo(digit, **PAPERS["light from the left"])).resize((3400, 3400))
    jpg, png = tmp_path / "big.jpg", tmp_path / "big.png"
    page.save(jpg, quality=90)
    page.crop((0, 0, 3400, 2600)).save(png, compress_level=1)
    for path in (jpg, png):
        grey = load_grey(path)
        assert max(grey.shape) <= WORK_SIDE and min(grey.shape) >= 256
        assert grey.dtype == np.float32
    check_reads(jpg, digit, label, predictor, margin=False)


def test_blank_pages_have_no_ink(tmp_path):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:200, 0:300] / 300
    pages = {
        "white": np.full((200, 300), 255.0),
        "grey": np.full((200, 300), 190.0),
        "gradient": 250.0 - 90.0 * x,
        "gradient and noise": 230.0 - 60.0 * y + rng.normal(0, 6, (200, 300)),
    }
    for name, values in pages.items():
        path = tmp_path / f"{name}.png"
        Image.fromarray(np.clip(values, 0, 255).astype(np.uint8)).save(path)
        ink = read_digit_image(path)
        assert ink.shape == (200, 300) and ink.max() == 0.0, name
        assert to_mnist(ink) is None


def test_specks_of_dust_away_from_the_digit_are_not_ink(tmp_path, digits, predictor):
    digit, label = digits[0]
    page = photo(digit, paper=(230, 230, 230), ink=(20, 20, 20), scale=5, margin=120)
    rng = np.random.default_rng(1)
    specks = [(int(a), int(b)) for a, b in rng.integers(0, 60, (12, 2))]
    for y, x in specks:  # all in the top-left paper
        page[y:y + 3, x:x + 3] = 40
    path = tmp_path / "dusty.png"
    Image.fromarray(page).save(path)
    ink = check_reads(path, digit, label, predictor)
    assert ink[:100, :100].max() == 0.0


def test_tiny_images(tmp_path):
    for size in [(1, 1), (2, 3), (5, 5)]:
        path = tmp_path / f"{size}.png"
        Image.new("L", size, 200).save(path)
        ink = read_digit_image(path)
        assert ink.shape == size[::-1] and ink.max() == 0.0
    path = tmp_path / "dot.png"
    Image.fromarray(np.array([[255, 255, 255], [255, 0, 255], [255, 255, 255]], np.uint8)).save(path)
    assert read_digit_image(path)[1, 1] == 1.0


def test_extract_ink_takes_arrays():
    grey = np.full((60, 60), 0.8, np.float32)
    grey[20:40, 28:32] = 0.2
    ink = extract_ink(grey)
    assert ink[30, 30] == 1.0 and ink[:15].max() == 0.0
    assert extract_ink(1.0 - grey)[30, 30] == 1.0  # light on dark: the same ink
    with pytest.raises(ValueError):
        extract_ink(np.full((5, 5), np.nan))


# ----------------------------------------------------------------------------- refusals
def png_header(path, width, height):
    """A PNG that declares ``width`` x ``height`` pixels but holds none: only reading
    the size before decoding can tell what is wrong with it."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
                     + chunk(b"IEND", b""))
    return path


def refused(path, *words):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a Pillow warning would escape as a warning, not an ImageError
        with pytest.raises(ImageError) as info:
            read_digit_image(path)
    text = str(info.value)
    assert "\n" not in text and len(text) <= 300 and "Traceback" not in text
    for word in words:
        assert word in text, text
    return text


@pytest.mark.parametrize("size", [(MAX_SIDE + 1, 10), (8000, 7000)])
def test_oversized_images_are_refused_before_decoding(tmp_path, size):
    path = png_header(tmp_path / "huge.png", *size)
    text = refused(path, "huge.png", f"{size[0]}x{size[1]}", "too large", f"{MAX_SIDE:,}",
                   f"{MAX_PIXELS / 1e6:g} megapixels")
    assert "truncated" not in text  # never decoded


@pytest.mark.parametrize("size", [(10_000, 10_000), (40_000, 40_000)])
def test_decompression_bombs_are_refused(tmp_path, size):
    # 100 MP sets off Pillow's DecompressionBombWarning, 1.6 GP its DecompressionBombError
    path = png_header(tmp_path / "bomb.png", *size)
    refused(path, "bomb.png", "too large")


def test_missing_directory_junk_and_truncated_files(tmp_path, digits):
    refused(tmp_path / "nowhere.png", "image not found", "nowhere.png")
    refused(tmp_path, "not a regular file")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    refused(junk, "cannot read", "junk.png", "as an image")
    eps = tmp_path / "figure.eps"  # Pillow would hand it to Ghostscript
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    refused(eps, "cannot read", "figure.eps")
    good = tmp_path / "good.png"
    Image.fromarray(photo(digits[0][0], noise=0.05)).save(good)
    data = good.read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 2])
    refused(cut, "cannot read", "cut.png")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    refused(empty, "cannot read", "empty.jpg")


def test_a_file_name_with_control_characters_is_escaped(tmp_path):
    path = tmp_path / "two\nlines\x1b[31m.png"
    path.write_bytes(b"junk")
    text = refused(path, "cannot read", "\\n", "\\x1b")
    assert "\x1b" not in text


def test_specks_are_found_as_8_connected_pieces():
    from cnn_gui.core.inputs.images import _label

    mask = np.array([[1, 0, 0, 1, 1],
                     [0, 1, 0, 0, 1],
                     [0, 0, 0, 0, 0],
                     [1, 1, 0, 0, 1],
                     [0, 1, 1, 0, 1]], bool)
    labels, n = _label(mask)
    assert n == 4  # the diagonal pair, the top-right hook, the bottom-left zigzag, the bottom-right bar
    assert labels[0, 0] == labels[1, 1] and labels[0, 3] == labels[1, 4]
    assert labels[3, 0] == labels[4, 2] and labels[3, 4] == labels[4, 4]
    assert len({labels[0, 0], labels[0, 3], labels[3, 0], labels[3, 4]}) == 4
    assert (labels[~mask] == 0).all()


def test_a_fifo_or_a_device_named_like_an_image_is_refused_at_once(tmp_path):
    """`predict` and `explain` read through the safe reader: never waiting on a FIFO nor reading /dev/zero."""
    import os
    import threading

    fifo = tmp_path / "digit.png"
    os.mkfifo(fifo)
    link = tmp_path / "zero.png"
    link.symlink_to("/dev/zero")
    errors = []

    def read_both():
        for path in (fifo, link):
            try:
                read_digit_image(path)
            except ImageError as exc:
                errors.append(str(exc))

    worker = threading.Thread(target=read_both, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "reading a FIFO or /dev/zero must not block"
    assert len(errors) == 2 and all("not a regular file" in e or "character device" in e or "FIFO" in e.upper()
                                    for e in errors), errors
