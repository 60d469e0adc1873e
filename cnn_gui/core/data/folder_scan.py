"""Scanning an image folder: its class folders, its train/test split folders, its image files.

``PATH/<class name>/*.png|jpg|jpeg|bmp|gif|webp`` (any depth below the class folder), or
``PATH/train/`` and ``PATH/test/`` (or ``val/``...) holding the same class folders.
Class folders are listed here (hidden ones such as ``.ipynb_checkpoints`` and macOS's
``__MACOSX`` are not classes), then the images inside each class, in the order
torchvision's ``make_dataset`` gives them.

Links are followed only inside the image folder: a linked class folder must lead to a
folder inside it that no other class folder holds or lies in, and inside a class, a
linked file or folder is followed only when it leads inside that class's own folder. So
``cats/loop -> ..`` or ``cats/more -> ../dogs`` never counts a dog as a cat, a link
cycle never repeats a folder, and each file counts once, in its own class; a link that
is not followed is reported. A tree that cannot make a dataset is a one-line
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


def _class_dirs(folder: Path, root: str) -> list[str]:
    """Subfolders that are classes: not hidden, not macOS's __MACOSX (torchvision's
    find_classes would make ``.ipynb_checkpoints`` a class). A linked one must lead to a
    folder inside ``root`` (the resolved image folder), never to it or above it."""
    try:
        with os.scandir(folder) as entries:
            found = [(e.name, e.path, _is_link(e)) for e in entries
                     if not e.name.startswith(".") and e.name != "__MACOSX" and _is_dir(e)]
    except OSError as exc:
        raise DatasetError(f"cannot read the folder {one_line(folder, 200)}: {exc.strerror or exc}") from None
    for name, path, link in found:
        target = _real(path) if link else None
        if link and (target is None or target == root or not _inside(target, root)):
            raise DatasetError(
                f"{one_line(name, 60)!r} in {one_line(folder, 100)} is a link to "
                f"{one_line(target or os.readlink(path), 100)}, outside the image folder: cnn-gui reads only "
                "what lies inside the folder it is given (copy the images in instead)")
    return sorted(name for name, _, _ in found)


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows links, as torchvision does
    except OSError:
        return False


def _is_link(entry: os.DirEntry) -> bool:
    try:
        return entry.is_symlink()
    except OSError:
        return False


def _real(path: str | os.PathLike) -> str | None:
    """``path`` with every link resolved; None when it leads nowhere (a dangling link, a loop)."""
    try:
        return os.path.realpath(path, strict=True)
    except (OSError, RuntimeError, ValueError):
        return None


def _inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or lies below it (both resolved)."""
    return path == folder or path.startswith(folder if folder.endswith(os.sep) else folder + os.sep)


def _apart(dirs: list[tuple[str, Path]]) -> None:
    """DatasetError when two class folders are one folder, or one holds the other (a link
    made them so): an image would count twice, or for the wrong class."""
    # Sorted by their parts, a folder comes right before everything below it.
    reals = sorted(((_real(d) or str(d), label) for label, d in dirs), key=lambda r: Path(r[0]).parts)
    for (a, first), (b, second) in zip(reals, reals[1:]):
        if _inside(b, a):
            raise DatasetError(
                f"{one_line(first, 80)} and {one_line(second, 80)} are the same folder, or one holds the other "
                "(through a link): each image must belong to one class")


def scan_layout(folder: Path) -> FolderLayout:
    """The classes and splits of ``folder``; DatasetError when they cannot make a dataset."""
    root = _real(folder) or str(folder)
    top = _class_dirs(folder, root)
    lowered = {n.lower(): n for n in top}
    test_name = next((lowered[t] for t in TEST_FOLDERS if t in lowered), None)
    # train/ and test/ holding images themselves are two classes that happen to have those names.
    split_classes = _class_dirs(folder / lowered["train"], root) if "train" in lowered and test_name else []
    if split_classes:
        train_dir, test_dir = folder / lowered["train"], folder / test_name
        train_classes, test_classes = split_classes, _class_dirs(test_dir, root)
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
        layout = FolderLayout(_checked_classes(train_dir, train_classes), train_dir, test_dir)
    elif len(top) == 1 and top[0].lower() == "train":  # train/ alone: hold out from it
        train_dir = folder / top[0]
        layout = FolderLayout(_checked_classes(train_dir, _class_dirs(train_dir, root)), train_dir, None)
    else:
        layout = FolderLayout(_checked_classes(folder, top), folder, None)
    splits = [layout.train_dir] + ([layout.test_dir] if layout.test_dir is not None else [])
    _apart([(Path(os.path.relpath(d / c, folder)).as_posix() + "/", d / c) for d in splits for c in layout.classes])
    return layout


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


def image_files(split_dir: Path, classes: tuple[str, ...], seen: set | None = None
                ) -> tuple[list[tuple[str, int]], list[tuple[str, str]]]:
    """(path, class index) of every image file, in torchvision's order; and (path, why) of
    each link that was not followed.

    A link, to a file or a folder, is followed only when it leads inside its own class
    folder: one leading to another class, to the folders above, or out of the image folder
    would count images for the wrong class, twice, or forever. Each file counts once
    (``seen``: the files already counted, to share between splits).
    """
    seen = set() if seen is None else seen
    items: list[tuple[str, int]] = []
    ignored: list[tuple[str, str]] = []
    for index, name in enumerate(classes):
        try:
            items += _class_images(split_dir / name, index, seen, ignored)
        except OSError as exc:
            raise DatasetError(f"cannot list the images in {one_line(split_dir / name, 200)}: "
                               f"{exc.strerror or exc}") from None
    return items, ignored


def _class_images(class_dir: Path, index: int, seen: set, ignored: list) -> list[tuple[str, int]]:
    home = _real(class_dir)
    if home is None:
        return []
    visited = {home}
    listed: list[tuple[str, list[str]]] = []
    stack = [(str(class_dir), home)]
    while stack:
        shown, real = stack.pop()
        try:
            with os.scandir(shown) as it:
                entries = sorted(it, key=lambda e: (_is_link(e), e.name))  # a real folder before a link to it
        except OSError:
            continue  # an unreadable folder inside a class: torchvision's walk skips it too
        files: list[str] = []
        for e in entries:
            if _is_dir(e):
                target = _real(e.path) if _is_link(e) else os.path.join(real, e.name)
                if e.name == "__MACOSX" or target is None or target in visited:
                    continue  # a link back up, or a second way into a folder already listed
                if not _inside(target, home):
                    ignored.append((e.path, "a link to a folder outside its class folder, not followed"))
                    continue
                visited.add(target)
                stack.append((e.path, target))
            elif _is_image_name(e.name):
                path = _counted_file(e, home, seen, ignored)
                if path is not None:
                    files.append(path)
        listed.append((shown, files))
    return [(path, index) for _, files in sorted(listed) for path in sorted(files)]


def _is_image_name(name: str) -> bool:
    # "._name.png" are macOS resource forks, not images.
    return not name.startswith(".") and name.lower().endswith(EXTENSIONS)


def _counted_file(entry: os.DirEntry, home: str, seen: set, ignored: list) -> str | None:
    """``entry``'s path when it is a file to count in the class whose folder is ``home``."""
    if _is_link(entry):
        target = _real(entry.path)
        if target is None:
            return entry.path  # a link to nothing: listed, so it is counted as unreadable
        if not _inside(target, home):
            ignored.append((entry.path, "a link to a file outside its class folder, not followed"))
            return None
    try:
        st = entry.stat()  # follows a link: the file itself
        ident: object = (st.st_dev, st.st_ino)
    except OSError:
        return entry.path  # listed, so it is counted as unreadable when it is read
    if ident in seen:
        return None  # the same file under another name (a link, a hard link): counted once
    seen.add(ident)
    return entry.path
