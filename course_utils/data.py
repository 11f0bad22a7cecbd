"""Image folders to arrays: loading, counting, measuring and splitting (lesson 3).

A dataset folder holds one sub-folder per class, named by the class (here a Chinese
character), with image files inside: ``<root>/<class>/<image>.png``.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from sklearn.model_selection import train_test_split

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff"})

#: Image size of the course's characters: (height, width).
CHARACTER_SIZE = (80, 60)


def _nfc(name: str) -> str:
    # macOS may hand back decomposed (NFD) names; compare class names in composed form.
    return unicodedata.normalize("NFC", name)


def _class_dirs(root: str | os.PathLike) -> dict[str, Path]:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"dataset folder {root} does not exist; check the path, or prepare the data first "
            "(see data_scripts/README.md)"
        )
    dirs: dict[str, Path] = {}
    for p in sorted(root.iterdir()):
        if p.is_dir() and not p.name.startswith("."):
            if _nfc(p.name) in dirs:
                raise ValueError(
                    f"class folders {dirs[_nfc(p.name)].name!r} and {p.name!r} in {root} are the "
                    "same name once Unicode-normalised (NFC); merge them into one folder"
                )
            dirs[_nfc(p.name)] = p
    if not dirs:
        raise ValueError(f"{root} has no class sub-folders; expected {root}/<class>/<image>.png")
    return dict(sorted(dirs.items()))


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def check_same_classes(expected: Sequence[str], found: Sequence[str], where: str = "") -> None:
    """Raise ``ValueError`` naming the differences if two class lists are not the same set.

    Used to make sure a test split has exactly the training split's classes.
    """
    missing = [c for c in expected if c not in set(found)]
    extra = [c for c in found if c not in set(expected)]
    if missing or extra:
        place = f" in {where}" if where else ""
        raise ValueError(
            f"class lists differ{place}: missing {missing or 'none'}, "
            f"unexpected {extra or 'none'}; every split must have the same class folders"
        )


def _selected(root, class_names: Sequence[str] | None) -> dict[str, Path]:
    dirs = _class_dirs(root)
    if class_names is None:
        return dirs
    wanted = [_nfc(c) for c in class_names]
    check_same_classes(wanted, [c for c in dirs if c in set(wanted)], where=str(root))
    return {c: dirs[c] for c in wanted}


def count_images(root: str | os.PathLike, class_names: Sequence[str] | None = None) -> pd.Series:
    """Number of image files per class, indexed by class name (only ``class_names`` if given)."""
    counts = {name: len(_image_files(d)) for name, d in _selected(root, class_names).items()}
    return pd.Series(counts, name="images").rename_axis("class")


def _open_image(path: Path, load: bool = True) -> Image.Image:
    """The image at ``path``; ``ValueError`` naming the file when it cannot be read, or when
    it has more pixels than Pillow's safety limit (a decompression bomb)."""
    try:
        img = Image.open(path)
        if load:
            img.load()
    except Image.DecompressionBombError as e:
        raise ValueError(
            f"refusing to read image {path}: it has more pixels than Pillow's limit "
            f"(Image.MAX_IMAGE_PIXELS = {Image.MAX_IMAGE_PIXELS:,}), a possible "
            "decompression bomb. Delete this file, or raise the limit if you trust it."
        ) from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ValueError(
            f"cannot read image {path}: {e}. Delete or replace this file, or re-create the dataset."
        ) from e
    return img


def _on_white(img: Image.Image) -> Image.Image:
    """``img`` without transparency: composited on white, so ink drawn only in the alpha
    channel (or with a palette's transparent colour) stays visible instead of turning black."""
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return img


def image_sizes(root: str | os.PathLike, class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per image: ``class``, ``file``, ``height``, ``width`` (reads headers only).

    ``class_names`` limits the table to those classes (for a folder with more classes).
    """
    rows = []
    for name, folder in _selected(root, class_names).items():
        for path in _image_files(folder):
            with _open_image(path, load=False) as img:
                width, height = img.size
            rows.append((name, path.name, height, width))
    return pd.DataFrame(rows, columns=["class", "file", "height", "width"])


def load_image(path: str | os.PathLike, image_size=CHARACTER_SIZE, grayscale=True) -> np.ndarray:
    """One image as a uint8 array of shape (height, width, channels), resized to ``image_size``.

    ``image_size`` is (height, width); None keeps the file's own size. Transparent images
    are put on a white background first.
    """
    img = _on_white(_open_image(Path(path)))
    img = img.convert("L" if grayscale else "RGB")
    if image_size is not None:
        height, width = image_size
        img = img.resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(img, dtype=np.uint8)
    return array[..., np.newaxis] if grayscale else array


def load_image_folder(
    root: str | os.PathLike,
    image_size: tuple[int, int] | None = CHARACTER_SIZE,
    class_names: Sequence[str] | None = None,
    grayscale: bool = True,
    max_per_class: int | None = None,
    seed: int = 0,
    ignore_other_classes: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load ``<root>/<class>/<image>`` into arrays; safe for non-ASCII folder names (lesson 3).

    Args:
        root: the dataset folder.
        image_size: (height, width) every image is resized to.
        class_names: the expected classes, in label order (for a test split, pass the
            training split's ``class_names``); default: the sub-folders, sorted.
        grayscale: one channel (True) or RGB.
        max_per_class: load at most this many images per class, drawn with ``seed``.
        ignore_other_classes: load only ``class_names`` from a folder that has more classes
            (for example 55 characters out of a 3,755-class export).
    Returns:
        ``X`` uint8 of shape (N, height, width, channels), ``y`` int labels of shape (N,),
        and the class names, where ``y == i`` means ``class_names[i]``.
    Raises:
        FileNotFoundError: ``root`` does not exist.
        ValueError: the classes differ from ``class_names``, a class folder has no images,
            or an image cannot be read (the message names the file).
    """
    dirs = _class_dirs(root)
    if class_names is None:
        class_names = list(dirs)
    class_names = [_nfc(c) for c in class_names]
    found = [c for c in dirs if c in set(class_names)] if ignore_other_classes else list(dirs)
    check_same_classes(class_names, found, where=str(root))
    if image_size is None and len(class_names) > 0:
        raise ValueError("image_size=None cannot stack images of different sizes; give a size")
    rng = np.random.default_rng(seed)
    paths, labels = [], []
    for label, name in enumerate(class_names):
        files = _image_files(dirs[name])
        if not files:
            raise ValueError(f"class folder {dirs[name]} has no images; remove it or add images")
        if max_per_class is not None and len(files) > max_per_class:
            keep = np.sort(rng.choice(len(files), size=max_per_class, replace=False))
            files = [files[i] for i in keep]
        paths += files
        labels += [label] * len(files)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        images = list(pool.map(lambda p: load_image(p, image_size, grayscale), paths))
    return np.stack(images), np.asarray(labels, dtype=np.int64), list(class_names)


def stratified_split(
    X: np.ndarray, y: np.ndarray, val_fraction: float = 0.2, seed: int = 42
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split into training and validation sets with the same class proportions (lesson 3).

    Returns ``X_train, X_val, y_train, y_val``.
    """
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    return train_test_split(X, y, test_size=val_fraction, stratify=y, random_state=seed)


def stratified_sample(
    X: np.ndarray,
    y: np.ndarray,
    fraction: float,
    seed: int = 1,
    per_class: int = 2,
    rest: bool = False,
) -> tuple[np.ndarray, ...]:
    """A stratified sample of about ``fraction`` of the rows, for quick experiments (lessons
    6-7). The fraction grows if needed so that every class keeps ``per_class`` images.
    ``rest=True`` also returns the rows left out: ``X_sample, y_sample, X_rest, y_rest``."""
    classes = len(np.unique(y))
    fraction = max(fraction, per_class * classes / len(y))
    if fraction >= 1:
        return (X, y, X[:0], y[:0]) if rest else (X, y)
    X_rest, X_sample, y_rest, y_sample = stratified_split(X, y, val_fraction=fraction, seed=seed)
    return (X_sample, y_sample, X_rest, y_rest) if rest else (X_sample, y_sample)


def rank_within_class(y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each row's position within its class after a seeded shuffle: 0, 1, 2, ... per class.

    ``rank < k`` selects k images per class, and a smaller k's selection is part of a larger
    one's (lesson 9's few-shot sets); ``(rank >= k) & (rank < k + m)`` picks m others.
    """
    y = np.asarray(y)
    order = np.random.default_rng(seed).permutation(len(y))
    order = order[np.argsort(y[order], kind="stable")]  # grouped by class, shuffled within
    rank = np.empty(len(y), dtype=int)
    starts = np.searchsorted(y[order], y[order], side="left")
    rank[order] = np.arange(len(y)) - starts
    return rank
