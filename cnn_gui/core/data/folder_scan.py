"""Scanning an image folder: its class folders, its train/test split folders, its image files.

``PATH/<class name>/*.png|jpg|jpeg|bmp|gif|webp`` (any depth below the class folder), or
``PATH/train/`` and ``PATH/test/`` (or ``val/``...) holding the same class folders.
Class folders are listed here (hidden ones such as ``.ipynb_checkpoints`` and macOS's
``__MACOSX`` are not classes); the walk inside each class is torchvision's
``make_dataset``. A tree that cannot make a dataset is a one-line
:class:`~cnn_gui.core.data.errors.DatasetError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cnn_gui.core.data.errors import DatasetError
from cnn_gui.core.errors import one_line

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
MAX_CLASSES = 1000
TEST_FOLDERS = ("test", "val", "valid", "validation")


@dataclass(frozen=True)
class FolderLayout:
    """The class folders' names (sorted) and where the two splits' images are."""

    classes: tuple[str, ...]
    train_dir: Path
    test_dir: Path | None  # None: hold out a share of train_dir (image_folder.TEST_SHARE)


def _class_dirs(folder: Path) -> list[str]:
    """Subfolders that are classes: not hidden, not macOS's __MACOSX (torchvision's
    find_classes would make ``.ipynb_checkpoints`` a class)."""
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries
                     if not e.name.startswith(".") and e.name != "__MACOSX" and _is_dir(e)]
    except OSError as exc:
        raise DatasetError(f"cannot read the folder {one_line(folder, 200)}: {exc.strerror or exc}") from None
    return sorted(names)


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows links, as torchvision does
    except OSError:
        return False


def scan_layout(folder: Path) -> FolderLayout:
    """The classes and splits of ``folder``; DatasetError when they cannot make a dataset."""
    top = _class_dirs(folder)
    lowered = {n.lower(): n for n in top}
    test_name = next((lowered[t] for t in TEST_FOLDERS if t in lowered), None)
    # train/ and test/ holding images themselves are two classes that happen to have those names.
    split_classes = _class_dirs(folder / lowered["train"]) if "train" in lowered and test_name else []
    if split_classes:
        train_dir, test_dir = folder / lowered["train"], folder / test_name
        train_classes, test_classes = split_classes, _class_dirs(test_dir)
        if train_classes != test_classes:
            only_train = sorted(set(train_classes) - set(test_classes))
            only_test = sorted(set(test_classes) - set(train_classes))
            parts = []
            if only_train:
                parts.append(f"only train/ has {_names(only_train)}")
            if only_test:
                parts.append(f"only {test_name}/ has {_names(only_test)}")
            raise DatasetError(
                f"{one_line(folder, 150)}: train/ and {test_name}/ must hold the same class folders; "
                + "; ".join(parts))
        return FolderLayout(_checked_classes(train_dir, train_classes), train_dir, test_dir)
    if len(top) == 1 and top[0].lower() == "train":  # train/ alone: hold out from it
        train_dir = folder / top[0]
        return FolderLayout(_checked_classes(train_dir, _class_dirs(train_dir)), train_dir, None)
    return FolderLayout(_checked_classes(folder, top), folder, None)


def _names(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _checked_classes(folder: Path, classes: list[str]) -> tuple[str, ...]:
    where = one_line(folder, 150)
    if not classes:
        raise DatasetError(
            f"{where} has no class folders: put each class's images in a subfolder named after it "
            "(e.g. cats/1.png, dogs/1.png)"
        )
    if len(classes) == 1:
        raise DatasetError(
            f"{where} has one class folder only ({classes[0]!r}); a classifier needs at least two")
    if len(classes) > MAX_CLASSES:
        raise DatasetError(
            f"{where} has {len(classes):,} class folders; cnn-gui trains on at most {MAX_CLASSES:,} classes "
            "(is it the folder above the class folders, or one image per folder?)"
        )
    return tuple(classes)


def change_times(folder: Path, layout: FolderLayout) -> tuple[int, ...]:
    """When the folder and each class folder last changed: adding, removing or renaming an
    image changes its class folder's time (editing one in place does not)."""
    dirs = [folder, layout.train_dir] + [layout.train_dir / c for c in layout.classes]
    if layout.test_dir is not None:
        dirs += [layout.test_dir] + [layout.test_dir / c for c in layout.classes]
    out = []
    for d in dirs:
        try:
            out.append(d.stat().st_mtime_ns)
        except OSError:
            out.append(-1)
    return tuple(out)


def image_files(split_dir: Path, classes: tuple[str, ...]) -> list[tuple[str, int]]:
    """(path, class index) of every image file, through torchvision's walk."""
    from torchvision.datasets.folder import make_dataset

    seen: set[tuple[int, int]] = set()

    def is_image_file(path: str) -> bool:
        base = os.path.basename(path)
        # "._name.png" are macOS resource forks, not images.
        if base.startswith(".") or not base.lower().endswith(EXTENSIONS) or "__MACOSX" in path:
            return False
        try:
            st = os.stat(path)
        except OSError:
            return True  # listed, so it is counted as unreadable below
        # A folder linked into itself would list the same file again and again.
        ident = (st.st_dev, st.st_ino)
        if ident in seen:
            return False
        seen.add(ident)
        return True

    try:
        return make_dataset(str(split_dir), {c: i for i, c in enumerate(classes)},
                            is_valid_file=is_image_file, allow_empty=True)
    except OSError as exc:
        raise DatasetError(f"cannot list the images in {one_line(split_dir, 200)}: {exc.strerror or exc}") from None
