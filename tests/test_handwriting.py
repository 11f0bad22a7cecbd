"""The synthetic handwriting renderer: vendored strokes, determinism, look and styles."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import handwriting as hw
from course_utils.characters import COURSE_CHARACTERS

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch


def sample(char, writer=0, beginner=False, n=0):
    style = hw.sample_writer(np.random.default_rng([7, writer, beginner]), beginner)
    return hw.render_character(char, style, np.random.default_rng([7, writer, n, ord(char)]))


def test_vendored_strokes_cover_course_and_other_characters():
    chars = "".join(hw._vendored()["medians"])  # every character the renderer can draw
    assert chars.startswith(COURSE_CHARACTERS)
    others = hw.other_characters()
    assert len(others) == 1000 and not set(others) & set(COURSE_CHARACTERS)
    for char in COURSE_CHARACTERS:
        for xy in hw.strokes(char):
            assert xy.ndim == 2 and xy.shape[1] == 2 and len(xy) >= 2
            assert xy.min() > -0.1 and xy.max() < 1.1  # inside the unit em box


def test_stroke_order_and_direction_of_a_known_character():
    first, second = hw.strokes("人")  # 人: the left-falling stroke, then the right-falling
    assert first[0, 1] < first[-1, 1] and first[0, 0] > first[-1, 0]
    assert second[0, 0] < second[-1, 0]


def test_unknown_character_says_how_to_add_it():
    with pytest.raises(KeyError, match="vendor_hanzi_data.py"):
        hw.strokes("😀")


def test_same_seed_same_image_other_seed_other_image():
    a, b = sample("森"), sample("森")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, sample("森", n=1))


def test_white_background_dark_ink_tight_crop():
    img = sample("国")
    assert img.dtype == np.uint8 and img.ndim == 2
    assert np.median(img) > 240  # mostly paper
    assert img.min() < 140  # and some ink
    ink = img < 200
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    assert rows[0] <= 4 and cols[0] <= 4  # the crop leaves only a small margin
    assert img.shape[0] - rows[-1] <= 5 and img.shape[1] - cols[-1] <= 5


def test_images_vary_in_size_and_are_taller_than_wide_on_average():
    shapes = np.array([sample(c, writer=w).shape for w in range(6) for c in COURSE_CHARACTERS[:20]])
    heights, widths = shapes[:, 0], shapes[:, 1]
    assert heights.mean() > widths.mean()
    assert heights.max() - heights.min() > 30


def test_beginners_stray_stretch_and_bend_more():
    def mean(field, beginner):
        styles = [hw.sample_writer(np.random.default_rng(i), beginner) for i in range(300)]
        return np.mean([getattr(st, field) for st in styles])

    for field in ("jitter", "distortion", "warp"):
        ratio = mean(field, True) / mean(field, False)
        assert ratio == pytest.approx(hw.BEGINNER_K, rel=0.01), field
    assert mean("pen", True) == pytest.approx(mean("pen", False))  # same pens


def test_a_writer_keeps_a_style():
    rng = np.random.default_rng(3)
    style = hw.sample_writer(rng)
    assert style == hw.sample_writer(np.random.default_rng(3))
    assert 0.55 <= style.aspect <= 1.0 and 0 <= style.ink < 90
    assert style.beginner is False
