"""``cnn-gui`` given hostile arguments: device nodes, folders and FIFOs as outputs, numbers out
of range, odd class arguments, and names full of terminal escapes (issue 18)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cnn_gui.cli as cli
from cnn_gui.cli import main
from cnn_gui.cli_args import UserError, class_index, output_file_with_suffix
from bounded import finishes

posix_only = pytest.mark.skipif(os.name != "posix", reason="/dev/null, /dev/full and FIFOs are POSIX")
CONTROL = ("\x1b", "\a", "\x07")


def within(seconds: float, fn):
    """``fn()``'s result, failing (instead of hanging the suite) if it takes longer."""
    return finishes(fn, seconds)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "unexpected" not in err, err
    return lines[0]


@pytest.fixture
def nothing_heavy(monkeypatch):
    """A path check that comes after planning or loading fails the test instead."""
    def heavy(*_a, **_k):
        raise AssertionError("planned or loaded before the arguments were checked")

    monkeypatch.setattr(cli, "plan_from_args", heavy)
    monkeypatch.setattr(cli, "open_from_args", heavy)
    monkeypatch.setattr("cnn_gui.cli_inspect.open_from_args", heavy)


def digit_png(path: Path, index: int = 1) -> Path:
    from cnn_gui.core.data.datasets import load_dataset

    digit = load_dataset("mnist").test_images[index, 0].numpy()
    Image.fromarray(255 - np.kron(digit, np.ones((4, 4), np.uint8))).save(path)
    return path


# ----------------------------------------------------------------------------- outputs


@posix_only
@pytest.mark.parametrize("device", ["/dev/null", "/dev/full"])
@pytest.mark.parametrize("command", [["train", "--max-batches", "1"], ["export", "model.safetensors"]])
def test_train_and_export_never_replace_a_device(device, command, capsys, nothing_heavy):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    assert main([*command, "--out", device]) == 2
    assert one_error_line(capsys) == \
        f"cnn-gui: error: --out {device}: it is a character device, not a regular file; give a file name"
    assert stat.S_ISCHR(os.stat(device).st_mode)  # still the device, not a regular file


@posix_only
def test_explain_writes_nothing_beside_a_device_or_a_folder(tmp_path, capsys, nothing_heavy):
    image = tmp_path / "two.png"
    image.write_bytes(b"never read")
    if os.path.exists("/dev/full"):
        assert main(["explain", str(image), "--out", "/dev/full"]) == 2
        assert "--out /dev/full: it is a character device" in one_error_line(capsys)
        assert not os.path.exists("/dev/full.png") and stat.S_ISCHR(os.stat("/dev/full").st_mode)
    folder = tmp_path / "maps"
    folder.mkdir()
    assert main(["explain", str(image), "--out", str(folder)]) == 2
    assert f"--out {folder}: it is a folder, not a regular file" in one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps", "two.png"]  # no maps.png beside it
    assert main(["explain", str(image), "--out", str(tmp_path / "new") + "/"]) == 2
    assert "names a folder" in one_error_line(capsys)
    fifo = tmp_path / "map.png"
    os.mkfifo(fifo)
    assert within(5, lambda: main(["explain", str(image), "--out", str(fifo)])) == 2
    assert "it is a named pipe (FIFO), not a regular file" in one_error_line(capsys)
    link = tmp_path / "null.png"
    link.symlink_to("/dev/null")
    assert main(["explain", str(image), "--out", str(link)]) == 2
    assert "it is a character device" in one_error_line(capsys) and link.is_symlink()


def test_a_suffix_is_added_only_beside_nothing_or_a_regular_file(tmp_path):
    assert output_file_with_suffix(tmp_path / "map", ".png", "--out") == tmp_path / "map.png"
    (tmp_path / "plain").write_text("a regular file")
    assert output_file_with_suffix(tmp_path / "plain", ".png", "--out") == tmp_path / "plain.png"
    assert output_file_with_suffix(tmp_path / "map.jpg", ".png", "--out") == tmp_path / "map.jpg"
    (tmp_path / "dir").mkdir()
    with pytest.raises(UserError, match="it is a folder"):
        output_file_with_suffix(tmp_path / "dir", ".png", "--out")
    (tmp_path / "taken.png").mkdir()
    with pytest.raises(UserError, match=r"taken\.png: it is a folder"):
        output_file_with_suffix(tmp_path / "taken", ".png", "--out")


def test_explain_writes_its_picture_whole_through_safe_io(tmp_path, capsys, monkeypatch):
    from cnn_gui.core.files import safe_io

    written = []
    real = safe_io.atomic_write
    monkeypatch.setattr(safe_io, "atomic_write", lambda path, data: written.append(path) or real(path, data))
    image = digit_png(tmp_path / "two.png")
    (tmp_path / "why").write_text("an old file at the bare name")
    assert main(["explain", str(image), "--out", str(tmp_path / "why")]) == 0
    assert written == [tmp_path / "why.png"]
    assert Image.open(tmp_path / "why.png").format == "PNG"
    assert main(["explain", str(image), "--out", str(tmp_path / "why.jpg")]) == 0
    assert Image.open(tmp_path / "why.jpg").format == "JPEG"
    capsys.readouterr()
    assert main(["explain", str(image), "--out", str(tmp_path / "why.xyz")]) == 2
    assert "cannot tell an image format from '.xyz'" in one_error_line(capsys)


@posix_only
@pytest.mark.parametrize("option", ["--runs-dir", "--data-dir", "--tensorboard"])
def test_folders_to_write_into_must_be_folders(option, tmp_path, capsys, nothing_heavy):
    plain = tmp_path / "file"
    plain.write_text("x")
    for target, kind in (("/dev/null", "a character device"), (str(plain), "a file")):
        assert main(["train", option, target]) == 2
        assert one_error_line(capsys) == f"cnn-gui: error: {option} {target}: it is {kind}, not a folder"
    assert plain.read_text() == "x" and stat.S_ISCHR(os.stat("/dev/null").st_mode)


@posix_only
@pytest.mark.parametrize("command", [["evaluate"], ["export", "model.safetensors", "--format", "onnx"]])
def test_data_dir_must_be_a_folder_for_evaluate_and_export(command, capsys, nothing_heavy):
    assert main([*command, "--data-dir", "/dev/null"]) == 2
    assert "--data-dir /dev/null: it is a character device, not a folder" in one_error_line(capsys)


def test_tensorboard_without_a_folder_to_write_into_is_refused_first(capsys, nothing_heavy):
    assert main(["train", "--no-runs", "--tensorboard"]) == 2
    assert "give a DIR with --no-runs" in one_error_line(capsys)


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("option, value, says", [
    ("--epochs", "0", "must be from 1 to 10,000, got 0"),
    ("--epochs", "10001", "must be from 1 to 10,000, got 10,001"),
    ("--epochs", "٣", "expected a whole number, got '٣'"),
    ("--epochs", "1_000", "expected a whole number"),
    ("--epochs", "9" * 5000, "got a number of 5,000 digits"),  # int() would refuse it with a ValueError
    ("--batch-size", "65537", "must be from 1 to 65,536"),
    ("--batch-size", "²", "expected a whole number"),
    ("--seed", "-1", "must be from 0 to 9,223,372,036,854,775,807, got -1"),
    ("--seed", "9223372036854775808", "must be from 0 to 9,223,372,036,854,775,807"),
    ("--max-batches", "0", "must be from 1 to 10,000,000"),
    ("--lr", "0", "must be above 0 and at most 10"),
    ("--lr", "11", "must be above 0 and at most 10"),
    ("--lr", "1e400", "must be above 0 and at most 10"),
    ("--lr", "inf", "expected a number, got 'inf'"),
    ("--lr", "nan", "expected a number, got 'nan'"),
    ("--lr", "٠.١", "expected a number"),
])
def test_numbers_out_of_range_are_one_line_before_anything_loads(option, value, says, capsys, nothing_heavy):
    with pytest.raises(SystemExit) as exc:
        main(["train", option, value])
    assert exc.value.code == 2
    line = one_error_line(capsys)
    assert line.startswith(f"cnn-gui train: error: argument {option}: ") and says in line
    assert line.endswith("(see cnn-gui train --help)") and len(line) < 300


def test_threads_are_at_most_four_per_cpu(monkeypatch, capsys, nothing_heavy):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    for value in ("9", "512", "99999999999"):
        with pytest.raises(SystemExit) as exc:
            main(["train", "--threads", value])
        assert exc.value.code == 2
        assert "argument --threads: must be from 1 to 8 (4 per CPU), got " in one_error_line(capsys)
    assert cli.build_parser().parse_args(["train", "--threads", "8"]).threads == 8


def test_the_threads_bound_is_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "1 to 4 per CPU" in " ".join(capsys.readouterr().out.split())


def test_numbers_in_range_parse_as_before():
    args = cli.build_parser().parse_args(["train", "--epochs", "3", "--batch-size", "100", "--lr", "1e-3",
                                          "--seed", "0", "--max-batches", "+5", "--threads", "1"])
    assert (args.epochs, args.batch_size, args.lr, args.seed, args.max_batches, args.threads) == (3, 100, 1e-3, 0, 5, 1)


# ----------------------------------------------------------------------------- classes


@pytest.mark.parametrize("text, index", [("3", 3), ("dog", 1), ("0", 0), ("9", 9)])
def test_a_class_is_its_name_or_an_ascii_index(text, index):
    classes = ["cat", "dog"] + [f"c{i}" for i in range(2, 10)]
    assert class_index(text, classes) == index


@pytest.mark.parametrize("text", ["²", "٣", "-1", "10", "+1", " 1", "1.0", "", "9" * 5000, "Dog"])
def test_other_class_arguments_are_one_line_listing_the_classes(text):
    with pytest.raises(UserError) as err:
        class_index(text, ["cat", "dog", "c2"])
    message = err.value.full_text()
    assert "choose one of cat, dog, c2 (a name, or an index from 0 to 2)" in message and "\n" not in message


def test_a_class_named_like_a_number_is_taken_by_its_name():
    assert class_index("1", ["0", "2", "1"]) == 2


@pytest.mark.parametrize("target, exit_code", [("²", 2), ("٣", 2), ("-1", 2), ("10", 2), ("3", 0), ("7", 0)])
def test_explain_class_arguments(target, exit_code, tmp_path, capsys):
    image = digit_png(tmp_path / "two.png")
    assert main(["explain", str(image), "--class", target, "--out", str(tmp_path / "map.png")]) == exit_code
    if exit_code:
        assert one_error_line(capsys) == (f"cnn-gui: error: --class {target}: choose one of 0, 1, 2, 3, 4, 5, 6, 7, "
                                          "8, 9 (a name, or an index from 0 to 9)")
    else:
        assert f"for {target} on " in capsys.readouterr().out


# ----------------------------------------------------------------------------- names on the terminal


NAMES = ["\x1b[31mred", "bell\a", "new\nline"] + [f"c{i}" for i in range(3, 10)]


def escaped_folder(root: Path) -> Path:
    """Ten class folders of MNIST digits, three named with an escape code, a bell and a newline."""
    from cnn_gui.core.data.datasets import load_dataset

    data = load_dataset("mnist")
    labels = data.test_labels.numpy()
    try:
        for k, name in enumerate(NAMES):
            (root / name).mkdir(parents=True)
            for j in np.flatnonzero(labels == k)[:3]:
                Image.fromarray(data.test_images[j, 0].numpy()).save(root / name / f"{j}.png")
    except OSError:
        pytest.skip("this filesystem refuses such names")
    (root / NAMES[0] / "\x1b[2Jbad.png").write_bytes(b"not an image")  # for the dataset's note
    return root


def assert_printable(text: str) -> None:
    assert not any(c in text for c in CONTROL), repr(text)
    assert all(ch.isprintable() for line in text.splitlines() for ch in line), repr(text)


def test_evaluate_escapes_class_names_and_notes(tmp_path, capsys):
    folder = escaped_folder(tmp_path / "set")
    ckpt = escaped_checkpoint(tmp_path / "odd.safetensors")  # output k: NAMES[k], whose folder holds k's
    assert main(["evaluate", "--checkpoint", str(ckpt), "--dataset", f"folder:{folder}"]) == 0
    out = capsys.readouterr().out
    assert_printable(out)
    lines = out.splitlines()
    assert lines[0].startswith(f"folder:{folder}: skipped 1 unreadable image (e.g. \\x1b[31mred/\\x1b[2Jbad.png: ")
    assert len(lines) == 1 + 1 + 1 + 1 + 10 + 1  # note, accuracy, legend, header, ten rows, mistakes
    # the weights' order (class names matched, core/data/class_match.py), not the folder's sorted one
    assert lines[3].split() == ["\\x1b[31mred", "bell\\x07", "new", "line", "c3", "c4", "c5", "c6", "c7", "c8", "c9"]
    assert [row.split()[0] for row in lines[4:14]][:2] == ["\\x1b[31mred", "bell\\x07"]


def escaped_checkpoint(path: Path) -> Path:
    from cnn_gui.core.files.checkpoints import save_checkpoint
    from cnn_gui.core.weights import open_weights

    opened = open_weights(None)
    meta = dataclasses.replace(opened.checkpoint.meta, classes=list(NAMES))
    save_checkpoint(path, opened.model, meta)
    return path


def test_predict_and_explain_escape_class_names(tmp_path, capsys):
    ckpt = escaped_checkpoint(tmp_path / "odd.safetensors")
    image = digit_png(tmp_path / "zero.png", index=3)  # test image 3 is a 0: class 0 is "\x1b[31mred"
    assert main(["predict", "--checkpoint", str(ckpt), str(image)]) == 0
    out = capsys.readouterr().out
    assert_printable(out)
    assert len(out.splitlines()) == 1 and ": \\x1b[31mred (" in out
    assert main(["explain", str(image), "--checkpoint", str(ckpt), "--class", "bell\a",
                 "--out", str(tmp_path / "map.png")]) == 0
    out = capsys.readouterr().out
    assert_printable(out)
    assert len(out.splitlines()) == 2 and "read as \\x1b[31mred" in out and "for bell\\x07 on " in out
    assert main(["explain", str(image), "--checkpoint", str(ckpt), "--class", "nope",
                 "--out", str(tmp_path / "map.png")]) == 2
    err = one_error_line(capsys)
    assert_printable(err)
    assert "choose one of \\x1b[31mred, bell\\x07, new line, c3" in err


def test_the_parser_speaks_in_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--optimizer", "\x1b[2Jlion"])
    assert exc.value.code == 2
    line = one_error_line(capsys)
    assert_printable(line)
    assert line.startswith("cnn-gui train: error: argument --optimizer: invalid choice")
    assert isinstance(cli.build_parser(), argparse.ArgumentParser)
