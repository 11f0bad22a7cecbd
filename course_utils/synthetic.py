"""The synthetic handwriting dataset: what it holds, and writing it (lessons 3-8).

When the real CASIA subset is absent, ``characters.load_characters`` uses a synthetic
stand-in with the same layout, classes and proportions: ``Train/<char>/*.png``,
``Test/<char>/*.png`` and ``Messy/<char>/*.png`` (beginners' writing, lesson 5). Each
synthetic writer draws every character in one consistent style (``handwriting``); train,
test and messy writers are disjoint.

This module also defines the dataset's constants - the course's characters, the seed, the
writers per split, the manifest file - because it needs them to generate, and
``characters`` (finding and loading) needs :func:`ensure_synthetic`: the imports go one way,
``synthetic`` → ``handwriting``, ``config``, ``cache``; ``characters`` → ``synthetic``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import sys
import uuid
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .cache import check_replaceable, partial_folder, remove_abandoned, replace_folder
from .config import data_dir, get_profile
from .handwriting import GENERATOR_VERSION, render_character, sample_writer, strokes

#: The course's characters, in the order SYLLABUS §3 lists them.
COURSE_CHARACTERS = (
    "人从众大夫天口太因鱼犬吠哭火炎啖木林森本竹羊美羔山出女囡鸟日东月朋明肉肤"
    "工白虎门闪问闲水牛马吗妈玉王国主川舟虫"
)
#: The two characters with fewer samples in the real subset (about 240 and 60 per split).
RARE_CHARACTERS = "啖囡"
SEED = 2024
#: Writers per split for the synthetic set: (all writers, writers who also wrote the two
#: rare characters). "full" mirrors the real subset's counts, "smoke" is a few tens.
SYNTHETIC_WRITERS = {
    "full": {"Train": (600, 240), "Test": (140, 60), "Messy": (7, 7)},
    "smoke": {"Train": (24, 10), "Test": (8, 4), "Messy": (7, 7)},
}
#: The file that describes a dataset folder (source, settings, image counts).
MANIFEST = "dataset.json"
_SPLIT_CODE = {"Train": 1, "Test": 2, "Messy": 3}


def _style(split: str, writer: int, seed: int):
    rng = np.random.default_rng([seed, _SPLIT_CODE[split], writer])
    return sample_writer(rng, beginner=split == "Messy")


def _render(char: str, split: str, writer: int, seed: int, style) -> np.ndarray:
    rng = np.random.default_rng([seed, _SPLIT_CODE[split], writer, ord(char)])
    return render_character(char, style, rng)


def _render_writer(task: tuple) -> tuple[str, int, int]:
    """Render and save every character of one synthetic writer (runs in a worker)."""
    folder, split, writer, chars, seed = task
    style = _style(split, writer, seed)
    for char in chars:
        path = Path(folder) / split / char / f"{split.lower()}-{writer:04d}.png"
        Image.fromarray(_render(char, split, writer, seed, style)).save(path, compress_level=1)
    return split, writer, len(chars)


def writer_samples(chars: str, writers, split: str = "Train", seed: int = SEED) -> list:
    """Synthetic images of ``chars`` by writers numbered ``writers`` (from 1), writer by
    writer: exactly the images ``generate_synthetic`` writes for them, rendered in memory
    (lesson 3)."""
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
    when complete, so an interrupted run never leaves a half-written dataset behind. An
    existing ``root`` is replaced only if the course made it (``cache.check_replaceable``).
    ``writers`` maps split → (writers, writers of the rare characters); default: the
    current profile's sizes. The same seed gives the same images.
    """
    writers = writers or SYNTHETIC_WRITERS[get_profile().name]
    settings = _settings(writers, characters, seed)
    for char in characters:
        strokes(char)  # fail early, with the renderer's message, on an unknown character
    root = Path(root)
    tmp = partial_folder(root)  # after undoing what killed runs left
    try:
        check_replaceable(root)  # before the work, not only at the swap
        tasks = []
        for split, (n_all, n_rare) in writers.items():
            for char in characters:
                (tmp / split / char).mkdir(parents=True, exist_ok=True)
            for w in range(n_all):
                chars = (
                    characters
                    if w < n_rare
                    else characters.translate({ord(c): None for c in RARE_CHARACTERS})
                )
                tasks.append((str(tmp), split, w + 1, chars, seed))
        total = sum(len(t[3]) for t in tasks)
        with _worker_pool(processes or min(os.cpu_count() or 1, 8)) as pool:
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
        if _same_settings(read_manifest(root), settings):
            return root  # another process finished the same dataset meanwhile: keep theirs
        try:
            replace_folder(tmp, root)
        except OSError:
            if not (root / MANIFEST).is_file():
                raise  # else another process finished a dataset there first: keep theirs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


@contextlib.contextmanager
def _worker_pool(processes: int):
    """A process pool whose workers do not inherit the caller's threads: ``forkserver`` on
    Linux, ``spawn`` elsewhere. Forking a process that runs JAX (or TensorFlow) threads can
    deadlock, and JAX warns about it; the workers only run NumPy and Pillow, and import them
    afresh."""
    method = "forkserver" if sys.platform.startswith("linux") else "spawn"
    with get_context(method).Pool(processes) as pool:
        yield pool


def _settings(writers: dict, characters: str, seed: int) -> dict:
    """What defines a synthetic dataset: same settings, same images."""
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "writers": {k: list(v) for k, v in writers.items()},
        "characters": characters,
    }


def _same_settings(found: dict | None, settings: dict) -> bool:
    """Whether a manifest (or None) was written with these ``_settings``."""
    return found is not None and all(found.get(k) == v for k, v in settings.items())


def read_manifest(root: Path) -> dict | None:
    """The manifest (``dataset.json``) of a dataset folder, or None if absent or unreadable."""
    try:
        return json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def synthetic_root(profile: str | None = None) -> Path:
    """Where the synthetic dataset of ``profile`` lives: ``<data_dir>/synthetic-<profile>``."""
    return data_dir() / f"synthetic-{profile or get_profile().name}"


def ensure_synthetic(profile: str | None = None, progress: bool = True) -> Path:
    """The synthetic dataset of ``profile``, generated now if absent or out of date."""
    profile = profile or get_profile().name
    return ensure_generated(
        synthetic_root(profile), SYNTHETIC_WRITERS[profile], COURSE_CHARACTERS, progress
    )


def ensure_messy(profile: str | None = None, progress: bool = True) -> Path:
    """A folder with the synthetic Messy split, for a source that has none (lesson 5): the
    profile's whole synthetic set when it is there already, else only its Messy split,
    generated into ``<data_dir>/synthetic-messy``. The images are the same either way:
    each is seeded by split, writer and character."""
    profile = profile or get_profile().name
    writers = SYNTHETIC_WRITERS[profile]
    whole = synthetic_root(profile)
    if _same_settings(read_manifest(whole), _settings(writers, COURSE_CHARACTERS, SEED)):
        return whole
    messy = {"Messy": writers["Messy"]}
    return ensure_generated(
        data_dir() / "synthetic-messy", messy, COURSE_CHARACTERS, progress, "beginners' characters"
    )


def ensure_generated(
    root: Path,
    writers: dict,
    characters: str,
    progress: bool = True,
    what: str = "handwritten characters",
) -> Path:
    """The synthetic dataset in ``root`` with these writers and characters: kept when its
    manifest says it was made so, else generated now (also lesson 9's other characters).
    ``what`` names the images in the printed line."""
    remove_abandoned(root)  # a swap that a killed run left half done is undone first
    manifest = read_manifest(root)
    if _same_settings(manifest, _settings(writers, characters, SEED)):
        return root
    if root.exists():
        found = (manifest or {}).get("generator_version", "unknown")
        print(
            f"{root} was made by generator version {found} or with other settings; "
            f"regenerating it with version {GENERATOR_VERSION} (old images are not reused)"
        )
    n = sum(sum(v.values()) for v in synthetic_plan(writers, characters).values())
    print(f"generating {n:,} synthetic {what} into {root} (once) ...")
    return generate_synthetic(root, writers, characters, progress=progress)
