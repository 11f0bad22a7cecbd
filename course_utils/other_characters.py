"""Synthetic handwriting of 1,000 characters that are *not* the course's 55 (lesson 9).

Lesson 9 pretrains lesson 4's CNN on these characters and reuses its layers as a base for
our 55. The images come from the same generator as the synthetic course characters
(``synthetic``), drawn by other synthetic writers: their styles are seeded with
``OTHER_SEED``, not the course's ``synthetic.SEED``, so no writer style (training or
test) is shared with the course data. They are generated once into
``<course home>/data/synthetic-others-<profile>`` and loaded from there afterwards.
"""

from __future__ import annotations

import numpy as np

from course_utils.cache import remove_abandoned
from course_utils.config import data_dir, get_profile
from course_utils.data import load_image_folder
from course_utils.handwriting import other_characters
from course_utils.synthetic import (
    SEED,
    _same_settings,
    _settings,
    generate_synthetic,
    read_manifest,
    synthetic_plan,
)

#: Synthetic writers of the 1,000 other characters: (training writers, validation writers).
OTHER_WRITERS = {"full": (24, 2), "smoke": (3, 1)}
#: Seed of the other characters' writers: not the course's, so that no style is shared.
OTHER_SEED = SEED + 1


def load_other_characters(verbose: bool = True) -> tuple[np.ndarray, ...]:
    """``X_train, y_train, X_val, y_val``: 80×60 grayscale images (uint8, 0..255) of the
    1,000 vendored characters that are not course characters, by writers disjoint between
    the two splits and from the course data's writers (``OTHER_SEED``); labels index
    ``handwriting.other_characters()``. The first call generates the images (the profile
    sets how many writers, ``OTHER_WRITERS``)."""
    profile = get_profile()
    chars = other_characters()
    n_train, n_val = OTHER_WRITERS[profile.name]
    writers = {"Train": (n_train, n_train), "Test": (n_val, n_val)}
    root = data_dir() / f"synthetic-others-{profile.name}"
    remove_abandoned(root)  # a swap that a killed run left half done is undone first
    if not _same_settings(read_manifest(root), _settings(writers, chars, OTHER_SEED)):
        n = sum(sum(v.values()) for v in synthetic_plan(writers, chars).values())
        print(
            f"generating {n:,} synthetic images of {len(chars):,} other characters "
            f"into {root} (once) ..."
        )
        generate_synthetic(root, writers, chars, seed=OTHER_SEED, progress=verbose)
    X_train, y_train, _ = load_image_folder(root / "Train", class_names=list(chars))
    X_val, y_val, _ = load_image_folder(root / "Test", class_names=list(chars))
    if verbose:
        print(
            f"other characters: {len(X_train):,} training and {len(X_val):,} validation "
            f"images of {len(chars):,} characters from {root}"
        )
    return X_train, y_train, X_val, y_val
