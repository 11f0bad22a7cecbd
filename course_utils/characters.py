"""The 55 handwritten Chinese characters of the course (lessons 3-8): finding and loading.

``load_characters(split)`` is the one entry point. It finds the data in this order:

1. ``COURSE_DATA_DIR`` (a folder with ``Train/`` and ``Test/``) when the variable is set;
2. the real CASIA subset under the data root, ``<course_home>/data/casia-55`` (written by
   ``data_scripts/fetch_casia.py``);
3. a Kaggle notebook input folder: the first folder anywhere under ``/kaggle/input`` (up to
   ``KAGGLE_DEPTH`` levels) holding ``Train/`` and ``Test/`` with course-character classes;
4. the synthetic handwriting, generated into ``<course_home>/data/synthetic-<profile>`` on
   first use and reused afterwards (``synthetic``).

A dataset folder holds ``Train/<char>/*.png`` and ``Test/<char>/*.png`` and, optionally,
``Messy/<char>/*.png`` (a harder test set of beginners' writing, lesson 5). Sources without
a Messy split borrow the synthetic one, and the printed line says so. Loaded arrays are
cached as ``.npz`` files under a ``cache.make_key("arrays", ...)`` key, so a second load
takes a second or two.

The character set itself (``COURSE_CHARACTERS``) is defined in ``synthetic``, which
generates it, and imported here; the imports go one way, ``characters`` → ``synthetic``.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cache import make_key, read_arrays, remove_abandoned, write_atomically
from .config import cache_dir, data_dir, get_profile
from .data import load_image_folder
from .synthetic import (
    COURSE_CHARACTERS,
    SEED,
    ensure_messy,
    ensure_synthetic,
    read_manifest,
    synthetic_root,
)

#: Components that some course characters contain, for lesson 5's multi-label model: each
#: component maps to the characters in which it is drawn as a visible part. A character may
#: contain several (啖: 口 and 火) or none (山).
COMPONENTS = {
    "口": "口吠哭啖吗问",
    "木": "木林森本闲",
    "人": "人从众闪",
    "日": "日明",
    "月": "月朋明肤",
    "女": "女囡妈",
    "门": "门闪问闲",
    "火": "火炎啖",
}
#: Label order used everywhere: the characters sorted by code point.
CLASS_NAMES = sorted(COURSE_CHARACTERS)

SPLITS = {"train": "Train", "test": "Test", "messy": "Messy"}
DATA_DIR_VAR = "COURSE_DATA_DIR"
REAL_SUBSET = "casia-55"
KAGGLE_INPUT = Path("/kaggle/input")


# ----------------------------------------------------------------------- finding data


@dataclass(frozen=True)
class CharacterSource:
    """Where the characters come from: ``kind`` is folder, real, kaggle or synthetic."""

    kind: str
    root: Path

    @property
    def label(self) -> str:
        return {
            "folder": f"the folder {self.root} (from ${DATA_DIR_VAR})",
            "real": f"the real CASIA subset in {self.root}",
            "kaggle": f"the Kaggle input {self.root}",
            "synthetic": f"synthetic handwriting in {self.root}",
        }[self.kind]


def _has_splits(root: Path) -> bool:
    return (root / "Train").is_dir() and (root / "Test").is_dir()


def _check_dataset_folder(root: Path, origin: str) -> None:
    if not root.is_dir():
        raise FileNotFoundError(
            f"{origin} points to {root}, which does not exist. Fix the path, or unset it to "
            "use the real subset or the synthetic characters."
        )
    missing = [s for s in ("Train", "Test") if not (root / s).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"{root} ({origin}) has no {' or '.join(missing)} folder; a dataset needs "
            "Train/<char>/*.png and Test/<char>/*.png. Re-run data_scripts/fetch_casia.py "
            "(it writes complete folders only), or fix the layout."
        )


#: How deep under the Kaggle input root a dataset's Train/ and Test/ folders may sit.
KAGGLE_DEPTH = 6


def _kaggle_dataset() -> Path | None:
    """The first folder under ``KAGGLE_INPUT`` (breadth first, names sorted) holding
    ``Train/`` and ``Test/`` whose Train has a class folder named by a course character.
    Folders that have the splits but no such class are named, with the reason, and skipped."""
    if not KAGGLE_INPUT.is_dir():
        return None
    level, skipped = [KAGGLE_INPUT], []
    for _ in range(KAGGLE_DEPTH):
        below = []
        for folder in level:
            manifest = read_manifest(folder) or {}
            if manifest.get("source") == "synthetic":  # a saved course cache, not real data
                skipped.append((folder, "it is the course's synthetic data, saved earlier"))
            elif _has_splits(folder):
                classes = _class_names(folder / "Train")
                if set(classes) & set(CLASS_NAMES):
                    for path, reason in skipped:
                        print(f"note: skipped {path}: {reason}")
                    return folder
                reason = f"no class folder in Train/ is a course character {_examples(classes)}"
                skipped.append((folder, reason))
            try:
                below += sorted(p for p in folder.iterdir() if p.is_dir() and p.name[0] != ".")
            except OSError:  # an unreadable folder: look elsewhere
                continue
        level = below
    for path, reason in skipped:
        print(f"note: skipped {path}: {reason}; name each class folder by its character, e.g. 人")
    return None


def _class_names(split: Path) -> list[str]:
    """The class-folder names of a split folder (composed Unicode, hidden ones left out)."""
    return sorted(
        unicodedata.normalize("NFC", p.name)
        for p in split.iterdir()
        if p.is_dir() and not p.name.startswith(".")
    )


def _examples(names: list[str]) -> str:
    return f"(found {', '.join(repr(n) for n in names[:3])}{', ...' if len(names) > 3 else ''})"


def find_characters() -> CharacterSource:
    """Decide where the characters come from (see the module docstring for the order)."""
    if os.environ.get(DATA_DIR_VAR):
        root = Path(os.environ[DATA_DIR_VAR]).expanduser()
        _check_dataset_folder(root, f"${DATA_DIR_VAR}")
        return CharacterSource("folder", root)
    real = data_dir() / REAL_SUBSET
    remove_abandoned(real)  # a fetch killed while swapping the subset: the old one comes back
    if real.exists():
        _check_dataset_folder(real, "the real-subset folder")
        return CharacterSource("real", real)
    kaggle = _kaggle_dataset()
    if kaggle is not None:
        return CharacterSource("kaggle", kaggle)
    return CharacterSource("synthetic", synthetic_root())


# ----------------------------------------------------------------------------- loading


def _files(folder: str, rel: str = "", seen: frozenset = frozenset(), with_stat: bool = True):
    """``(relative name, stat)`` of every file under ``folder``, following symbolic links
    (a class folder may be one); ``ValueError`` naming a link loop, a broken link, or a
    file name that is not valid text. ``with_stat=False`` lists names only (stat is None):
    one directory read per folder instead of one ``stat`` per file."""
    real = os.path.realpath(folder)
    if real in seen:
        raise ValueError(f"{folder} is a symbolic link loop (back to {real}); remove the link")
    entries = []  # (name, stat or None, is a folder)
    with os.scandir(folder) as listing:
        for entry in sorted(listing, key=lambda e: e.name):
            try:
                entry.name.encode()
                st = os.stat(entry.path) if with_stat else None  # follows links
                entries.append((entry.name, st, stat.S_ISDIR(st.st_mode) if st else entry.is_dir()))
            except UnicodeEncodeError:
                raise ValueError(
                    f"the file name {entry.path!r} is not valid text; rename it"
                ) from None
            except OSError as e:
                raise ValueError(
                    f"cannot read {entry.path!r} ({e.strerror}): a broken link?"
                ) from None
    for name, st, is_dir in entries:  # the files first, then the folders, as os.walk goes
        if not is_dir:
            yield os.path.join(rel, name), st
    for name, _, is_dir in entries:
        if is_dir:
            yield from _files(
                os.path.join(folder, name), os.path.join(rel, name), seen | {real}, with_stat
            )


def _fingerprint(folder: Path) -> str:
    """A digest of every file's name, size and modification time under ``folder``; of the
    names only when the folder is read-only to us (a Kaggle input: nobody can change a file
    in place there), which takes one directory read per class instead of one ``stat`` per
    image (450,000 images: 10-20 s on Kaggle's input disk)."""
    read_only = not os.access(folder, os.W_OK)
    h = hashlib.blake2b(digest_size=16)
    h.update(b"names only\n" if read_only else b"names, sizes, times\n")
    for rel, st in _files(str(folder), with_stat=not read_only):
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode() if st else f"{rel}\n".encode())
    return h.hexdigest()


def arrays_key(folder: Path, fingerprint: str, image_size, max_per_class) -> str:
    """The array-cache key of a split folder (``cache.make_key`` recipe ``"arrays"``): it
    changes with the folder, its files (``fingerprint``), the size, the cap and the labels."""
    return make_key(
        "arrays",
        str(Path(folder).resolve()),
        fingerprint,
        list(image_size),
        max_per_class,
        CLASS_NAMES,
    )


def _cached_load(folder: Path, fingerprint: str, image_size, max_per_class) -> tuple:
    key = arrays_key(folder, fingerprint, image_size, max_per_class)
    path = cache_dir() / "arrays" / f"{folder.name.lower()}-{key}.npz"
    cached = read_arrays(path)  # None when absent or damaged: then loaded again
    if cached is not None and {"X", "y"} <= cached.keys():
        return cached["X"], cached["y"], True
    X, y, _ = load_image_folder(
        folder,
        image_size,
        CLASS_NAMES,
        max_per_class=max_per_class,
        seed=SEED,
        ignore_other_classes=True,
    )
    try:
        write_atomically(path, lambda tmp: np.savez(tmp, X=X, y=y))
    except OSError as e:
        print(f"note: could not cache the arrays in {path.parent} ({e}); loading from images")
    return X, y, False


def load_characters(
    split: str = "train",
    image_size: tuple[int, int] = (80, 60),
    verbose: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The course's characters as arrays: ``X`` uint8 (N, 80, 60, 1), ``y``, class names.

    ``split`` is "train", "test" or "messy". Labels index ``CLASS_NAMES`` (the 55 characters
    sorted by code point) whatever the source. In the smoke profile at most
    ``max_images_per_class`` images per class are loaded.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    profile = get_profile()
    source = find_characters()
    folder = source.root / SPLITS[split]
    note = ""
    if source.kind == "synthetic" or (split == "messy" and not folder.is_dir()):
        if source.kind != "synthetic":
            note = " (this source has no Messy split: using the synthetic beginners)"
        ensure = ensure_synthetic if source.kind == "synthetic" else ensure_messy
        synthetic = ensure(profile.name, progress=verbose)
        folder = synthetic / SPLITS[split]
        fingerprint = json.dumps(read_manifest(synthetic), sort_keys=True)
        if source.kind == "synthetic":
            source = CharacterSource("synthetic", synthetic)
    else:
        fingerprint = _fingerprint(folder)
    X, y, cached = _cached_load(folder, fingerprint, image_size, profile.max_images_per_class)
    others = (
        [] if source.kind == "synthetic" else sorted(set(_class_names(folder)) - set(CLASS_NAMES))
    )
    if verbose and others:
        print(
            f"note: skipped {len(others)} class folder(s) of {folder} not named by one of the "
            f"{len(CLASS_NAMES)} course characters {_examples(others)}; rename a folder to "
            "its character (e.g. 人) to use it"
        )
    if verbose:
        how = "from the array cache" if cached else "from the images"
        print(
            f"{split}: {len(X):,} images of {len(CLASS_NAMES)} characters at "
            f"{image_size[0]}×{image_size[1]} from {source.label}{note}, {how}"
        )
    return X, y, list(CLASS_NAMES)
