"""course_utils.other_characters: lesson 9's pretraining data is generated once, holds the
1,000 non-course characters, none of the course's 55, and none of its writers' styles."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import other_characters
from course_utils.config import data_dir
from course_utils.handwriting import other_characters as other_chars
from course_utils.synthetic import COURSE_CHARACTERS, SEED, read_manifest, writer_samples

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch


def test_generated_once_then_loaded(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setitem(other_characters.OTHER_WRITERS, "smoke", (1, 1))
    X_train, y_train, X_val, y_val = other_characters.load_other_characters()
    out = capsys.readouterr().out
    assert "generating 2,000 synthetic images of 1,000 other characters" in out
    assert X_train.shape == X_val.shape == (1000, 80, 60, 1) and X_train.dtype == np.uint8
    np.testing.assert_array_equal(np.sort(y_train), np.arange(1000))
    assert not np.array_equal(X_train, X_val)  # different writers
    again = other_characters.load_other_characters()
    assert "generating" not in capsys.readouterr().out
    np.testing.assert_array_equal(again[0], X_train)
    assert not set(other_chars()) & set(COURSE_CHARACTERS)
    manifest = read_manifest(data_dir() / "synthetic-others-smoke")
    assert manifest["seed"] == other_characters.OTHER_SEED != SEED


def test_writers_do_not_share_the_course_writers_styles():
    char = other_chars()[0]
    for split in ["Train", "Test"]:
        course = writer_samples(char, [1], split, seed=SEED)[0]
        other = writer_samples(char, [1], split, seed=other_characters.OTHER_SEED)[0]
        assert not np.array_equal(course, other), split
