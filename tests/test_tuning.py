"""Predictable Keras Tuner caching: same search reloads, changed search starts afresh."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_utils import tuning

X = np.random.default_rng(0).random((40, 4)).astype("float32")
Y = (X[:, 0] > 0.5).astype("int64")
DATA = (X, Y)


def make_build(choices):
    """Build functions that share their source and differ only in a captured value."""

    def build(hp):
        units = hp.Choice("units", choices)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation="relu"),
                                  keras.layers.Dense(2)])
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        return model

    return build


build_small, build_other = make_build([2, 4]), make_build([3, 5])


def search(tuner):
    tuner.search(X, Y, validation_data=(X, Y), epochs=1, verbose=0)
    return tuner


def test_key_changes_with_search_space_settings_and_data():
    key = tuning.search_key(build_small, "random", DATA, max_trials=2)
    assert key == tuning.search_key(build_small, "random", DATA, max_trials=2)
    assert key != tuning.search_key(build_other, "random", DATA, max_trials=2)
    assert key != tuning.search_key(build_small, "bayesian", DATA, max_trials=2)
    assert key != tuning.search_key(build_small, "random", DATA, max_trials=3)
    assert key != tuning.search_key(build_small, "random", (X[:-1], Y[:-1]), max_trials=2)


def test_same_search_reloads_and_changed_search_starts_afresh(capsys):
    first = search(tuning.make_tuner("random", build_small, name="t", data=DATA, max_trials=2))
    folder = tuning.tuner_dir()
    assert len(first.oracle.trials) == 2 and str(folder) in first.project_dir
    again = tuning.make_tuner("random", build_small, name="t", data=DATA, max_trials=2)
    assert again.project_dir == first.project_dir and len(again.oracle.trials) == 2
    assert "Reloading Tuner" in capsys.readouterr().out
    other = tuning.make_tuner("random", build_other, name="t", data=DATA, max_trials=2)
    assert other.project_dir != first.project_dir and len(other.oracle.trials) == 0
    assert len(list(folder.iterdir())) == 2
    scores = tuning.trial_scores(first)
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)


def test_unknown_tuner_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        tuning.make_tuner("grid", build_small, name="t", data=DATA)


def test_best_so_far_keeps_the_running_best_and_skips_failures():
    np.testing.assert_array_equal(tuning.best_so_far([0.2, None, 0.5, 0.3]), [0.2, 0.2, 0.5, 0.5])
    np.testing.assert_array_equal(tuning.best_so_far([0.9, 0.4, 0.6], "min"), [0.9, 0.4, 0.4])
    assert np.isnan(tuning.best_so_far([None, 0.1])[0])
