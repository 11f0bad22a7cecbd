"""The 55 handwritten Chinese characters of the course (lessons 3-8), real or synthetic.

``load_characters(split)`` is the one entry point. It finds the data in this order:

1. ``COURSE_DATA_DIR`` (a folder with ``Train/`` and ``Test/``) when the variable is set;
2. the real CASIA subset under the data root, ``<course_home>/data/casia-55`` (written by
   ``data_scripts/fetch_casia.py``);
3. a Kaggle notebook input folder (``/kaggle/input/...``) holding ``Train/`` and ``Test/``;
4. the synthetic handwriting, generated into ``<course_home>/data/synthetic-<profile>`` on
   first use and reused afterwards.

A dataset folder holds ``Train/<char>/*.png`` and ``Test/<char>/*.png`` and, optionally,
``Messy/<char>/*.png`` (a harder test set of beginners' writing, lesson 5). Sources without
a Messy split borrow the synthetic one, and the printed line says so. Loaded arrays are
cached as ``.npz`` files, so a second load takes a second or two.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: The course's characters, in the order SYLLABUS §3 lists them.
COURSE_CHARACTERS = (
    "人从众大夫天口太因鱼犬吠哭火炎啖木林森本竹羊美羔山出女囡鸟日东月朋明肉肤"
    "工白虎门闪问闲水牛马吗妈玉王国主川舟虫"
)
#: The two characters with fewer samples in the real subset (about 240 and 60 per split).
RARE_CHARACTERS = "啖囡"
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
SEED = 2024
LOADER_VERSION = 1

#: Writers per split for the synthetic set: (all writers, writers who also wrote the two
#: rare characters). "full" mirrors the real subset's counts, "smoke" is a few tens.
SYNTHETIC_WRITERS = {
    "full": {"Train": (600, 240), "Test": (140, 60), "Messy": (7, 7)},
    "smoke": {"Train": (24, 10), "Test": (8, 4), "Messy": (7, 7)},
}
_SPLIT_CODE = {"Train": 1, "Test": 2, "Messy": 3}
MANIFEST = "dataset.json"


# --------------------------------------------------------------------------- generation


def _style(split: str, writer: int, seed: int):
    from .handwriting import sample_writer

    rng = np.random.default_rng([seed, _SPLIT_CODE[split], writer])
    return sample_writer(rng, beginner=split == "Messy")


def _render(char: str, split: str, writer: int, seed: int, style) -> np.ndarray:
    from .handwriting import render_character

    rng = np.random.default_rng([seed, _SPLIT_CODE[split], writer, ord(char)])
    return render_character(char, style, rng)


def _render_writer(task: tuple) -> tuple[str, int, int]:
    """Render and save every character of one synthetic writer (runs in a worker)."""
    from PIL import Image

    folder, split, writer, chars, seed = task
    style = _style(split, writer, seed)
    for char in chars:
        path = Path(folder) / split / char / f"{split.lower()}-{writer:04d}.png"
        Image.fromarray(_render(char, split, writer, seed, style)).save(path, compress_level=1)
    return split, writer, len(chars)


def writer_samples(chars: str, writers, split: str = "Train", seed: int = SEED) -> list:
    """Synthetic images of ``chars`` by writers numbered ``writers`` (from 1), writer by
    writer: exactly the images ``generate_synthetic`` writes for them, rendered in memory."""
    if split not in _SPLIT_CODE:
        raise ValueError(f"split must be one of {list(_SPLIT_CODE)}, got {split!r}")
    out = []
    for writer in writers:
        style = _style(split, writer, seed)
        out += [_render(char, split, writer, seed, style) for char in chars]
    return out


def synthetic_plan(writers: dict, characters: str = COURSE_CHARACTERS) -> dict[str, dict]:
    """Images per split and character that ``generate_synthetic`` will write."""
    plan = {}
    for split, (n_all, n_rare) in writers.items():
        plan[split] = {c: (n_rare if c in RARE_CHARACTERS else n_all) for c in characters}
    return plan


def generate_synthetic(
    root: str | os.PathLike,
    writers: dict | None = None,
    characters: str = COURSE_CHARACTERS,
    seed: int = SEED,
    processes: int | None = None,
    progress: bool = True,
) -> Path:
    """Write a synthetic handwriting dataset to ``root`` (replacing an older one there).

    The images are written to a temporary sibling folder that is renamed to ``root`` only
    when complete, so an interrupted run never leaves a half-written dataset behind.
    ``writers`` maps split → (writers, writers of the rare characters); default: the
    current profile's sizes. The same seed gives the same images.
    """
    from tqdm import tqdm

    from .config import get_profile
    from .handwriting import strokes

    writers = writers or SYNTHETIC_WRITERS[get_profile().name]
    settings = _settings(writers, characters, seed)
    for char in characters:
        strokes(char)  # fail early, with the renderer's message, on an unknown character
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(root)
    tmp = root.with_name(f".{root.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tasks = []
    for split, (n_all, n_rare) in writers.items():
        for char in characters:
            (tmp / split / char).mkdir(parents=True, exist_ok=True)
        for w in range(n_all):
            chars = characters if w < n_rare else characters.translate(
                {ord(c): None for c in RARE_CHARACTERS}
            )
            tasks.append((str(tmp), split, w + 1, chars, seed))
    total = sum(len(t[3]) for t in tasks)
    processes = processes or min(os.cpu_count() or 1, 8)
    try:
        with _worker_pool(processes) as pool:
            quiet = {} if progress else {"disable": True}  # else TQDM_DISABLE decides
            bar = tqdm(total=total, unit="img", desc="synthetic handwriting", **quiet)
            for _, _, n in pool.imap_unordered(_render_writer, tasks, chunksize=4):
                bar.update(n)
            bar.close()
        manifest = {
            "source": "synthetic",
            "id": uuid.uuid4().hex,  # a new id per generation: array caches never outlive it
            **settings,
            "images": {k: sum(v.values()) for k, v in synthetic_plan(writers, characters).items()},
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
        if _same_settings(_read_manifest(root), settings):
            return root  # another process finished the same dataset meanwhile: keep theirs
        replace_folder(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def _remove_abandoned(root: Path) -> None:
    """Delete unfinished folders left by generations that were killed (their process is gone)."""
    for folder in root.parent.glob(f".{root.name}.partial-*"):
        pid = folder.name.rsplit(".partial-", 1)[1].split("-")[0]
        try:
            os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, PermissionError):
            pass  # not our naming, or another user's live process


@contextlib.contextmanager
def _worker_pool(processes: int):
    """A process pool. Fork on Linux (no main-module guard needed in scripts and notebooks;
    the workers only run NumPy and Pillow), spawn elsewhere, where fork is unsafe."""
    import sys
    import warnings
    from multiprocessing import get_context

    method = "fork" if sys.platform.startswith("linux") else "spawn"
    with warnings.catch_warnings():
        # Python >= 3.12 warns about forking a process that has threads (Keras has some).
        warnings.filterwarnings("ignore", message=".*use of fork.*", category=DeprecationWarning)
        pool = get_context(method).Pool(processes)
    with pool:
        yield pool


def replace_folder(new: Path, target: Path) -> None:
    """Move the complete folder ``new`` to ``target``, removing what was there (also used
    by ``data_scripts/fetch_casia.py``)."""
    if target.exists():
        trash = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        with contextlib.suppress(FileNotFoundError):
            target.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
    try:
        new.rename(target)
    except OSError:
        # Another process finished the same dataset first; keep theirs.
        if not (target / MANIFEST).is_file():
            raise


def _settings(writers: dict, characters: str, seed: int) -> dict:
    """What defines a synthetic dataset: same settings, same images."""
    from .handwriting import GENERATOR_VERSION

    return {"generator_version": GENERATOR_VERSION, "seed": seed,
            "writers": {k: list(v) for k, v in writers.items()}, "characters": characters}


def _same_settings(found: dict | None, settings: dict) -> bool:
    """Whether a manifest (or None) was written with these ``_settings``."""
    return found is not None and all(found.get(k) == v for k, v in settings.items())


def _read_manifest(root: Path) -> dict | None:
    try:
        return json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def synthetic_root(profile: str | None = None) -> Path:
    from .config import data_dir, get_profile

    return data_dir() / f"synthetic-{profile or get_profile().name}"


def ensure_synthetic(profile: str | None = None, progress: bool = True) -> Path:
    """The synthetic dataset of ``profile``, generated now if absent or out of date."""
    from .config import get_profile

    profile = profile or get_profile().name
    return ensure_generated(synthetic_root(profile), SYNTHETIC_WRITERS[profile],
                            COURSE_CHARACTERS, progress)


def ensure_generated(root: Path, writers: dict, characters: str, progress: bool = True,
                     what: str = "handwritten characters") -> Path:
    """The synthetic dataset in ``root`` with these writers and characters: kept when its
    manifest says it was made so, else generated now (also lesson 8's other characters).
    ``what`` names the images in the printed line."""
    from .handwriting import GENERATOR_VERSION

    manifest = _read_manifest(root)
    if _same_settings(manifest, _settings(writers, characters, SEED)):
        return root
    if root.exists():
        found = (manifest or {}).get("generator_version", "unknown")
        print(f"{root} was made by generator version {found} or with other settings; "
              f"regenerating it with version {GENERATOR_VERSION} (old images are not reused)")
    n = sum(sum(v.values()) for v in synthetic_plan(writers, characters).values())
    print(f"generating {n:,} synthetic {what} into {root} (once) ...")
    return generate_synthetic(root, writers, characters, progress=progress)


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


def _kaggle_dataset() -> Path | None:
    if not KAGGLE_INPUT.is_dir():
        return None
    candidates = sorted(KAGGLE_INPUT.glob("*")) + sorted(KAGGLE_INPUT.glob("*/*"))
    candidates += sorted(KAGGLE_INPUT.glob("*/*/*"))
    for folder in candidates:
        if folder.is_dir() and _has_splits(folder) and (folder / "Train" / "人").is_dir():
            return folder
    return None


def find_characters() -> CharacterSource:
    """Decide where the characters come from (see the module docstring for the order)."""
    from .config import data_dir

    if os.environ.get(DATA_DIR_VAR):
        root = Path(os.environ[DATA_DIR_VAR]).expanduser()
        _check_dataset_folder(root, f"${DATA_DIR_VAR}")
        return CharacterSource("folder", root)
    real = data_dir() / REAL_SUBSET
    if real.exists():
        _check_dataset_folder(real, "the real-subset folder")
        return CharacterSource("real", real)
    kaggle = _kaggle_dataset()
    if kaggle is not None:
        return CharacterSource("kaggle", kaggle)
    return CharacterSource("synthetic", synthetic_root())


# ----------------------------------------------------------------------------- loading


def _fingerprint(folder: Path) -> str:
    """A digest of every file's name, size and modification time under ``folder``."""
    h = hashlib.blake2b(digest_size=16)
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            st = os.stat(os.path.join(dirpath, name))
            rel = os.path.relpath(os.path.join(dirpath, name), folder)
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _cached_load(folder: Path, fingerprint: str, image_size, max_per_class) -> tuple:
    from .cache import write_atomically
    from .config import cache_dir
    from .data import load_image_folder

    key = hashlib.blake2b(
        json.dumps([LOADER_VERSION, str(folder.resolve()), fingerprint, list(image_size),
                    max_per_class, CLASS_NAMES]).encode(), digest_size=12,
    ).hexdigest()
    path = cache_dir() / "arrays" / f"{folder.name.lower()}-{key}.npz"
    with contextlib.suppress(OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        with np.load(path) as cached:
            return cached["X"], cached["y"], True
    X, y, _ = load_image_folder(folder, image_size, CLASS_NAMES, max_per_class=max_per_class,
                                seed=SEED, ignore_other_classes=True)
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
    from .config import get_profile

    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    profile = get_profile()
    source = find_characters()
    folder = source.root / SPLITS[split]
    note = ""
    if source.kind == "synthetic" or (split == "messy" and not folder.is_dir()):
        if source.kind != "synthetic":
            note = " (this source has no Messy split: using the synthetic beginners)"
        synthetic = ensure_synthetic(profile.name, progress=verbose)
        folder = synthetic / SPLITS[split]
        fingerprint = json.dumps(_read_manifest(synthetic), sort_keys=True)
        if source.kind == "synthetic":
            source = CharacterSource("synthetic", synthetic)
    else:
        fingerprint = _fingerprint(folder)
    X, y, cached = _cached_load(folder, fingerprint, image_size, profile.max_images_per_class)
    if verbose:
        how = "from the array cache" if cached else "from the images"
        print(f"{split}: {len(X):,} images of {len(CLASS_NAMES)} characters at "
              f"{image_size[0]}×{image_size[1]} from {source.label}{note}, {how}")
    return X, y, list(CLASS_NAMES)
