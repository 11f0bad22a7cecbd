"""Predictable Keras Tuner caching: same search reloads, changed search starts afresh."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np

from course_utils import tuning

X = np.random.default_rng(0).random((40, 4)).astype("float32")
Y = (X[:, 0] > 0.5).astype("int64")
DATA = (X, Y)


def make_build(choices):
    """Build functions that share their source and differ only in a captured value."""

    def build(hp):
        units = hp.Choice("units", choices)
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(units, activation="relu"), keras.layers.Dense(2)]
        )
        model.compile(
            "adam",
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        return model

    return build


build_small, build_other = make_build([2, 4]), make_build([3, 5])


def search(tuner):
    tuner.search(X, Y, validation_data=(X, Y), epochs=1, verbose=0)
    return tuner


import keras_tuner as kt  # noqa: E402


def project(build=build_small, cls=kt.RandomSearch, data=DATA, **settings):
    settings = {"max_trials": 2, "objective": "val_accuracy", "seed": 1} | settings
    return tuning.tuner_project("t", cls, build, data, **settings)


def make_tuner(build=build_small, **settings):
    settings = {"max_trials": 2, "objective": "val_accuracy", "seed": 1} | settings
    return kt.RandomSearch(
        build,
        **settings,
        directory=str(tuning.tuner_dir()),
        project_name=project(build, **settings),
    )


def test_project_name_changes_with_search_space_settings_and_data():
    name = project()
    assert name == project() and name.startswith("t-RandomSearch-")
    assert name != project(build_other)  # same source, other captured choices
    assert name != project(cls=kt.BayesianOptimization)
    assert name != project(max_trials=3)
    assert name != project(seed=2)
    assert name != project(data=(X[:-1], Y[:-1]))
    changed = X.copy()
    changed[20, 2] += 1  # one value, by content
    assert name != project(data=(changed, Y))


def test_same_search_reloads_and_changed_search_starts_afresh(capsys):
    first = search(make_tuner())
    folder = tuning.tuner_dir()
    assert len(first.oracle.trials) == 2 and str(folder) in first.project_dir
    again = make_tuner()
    assert again.project_dir == first.project_dir and len(again.oracle.trials) == 2
    assert "Reloading Tuner" in capsys.readouterr().out
    other = make_tuner(build_other)
    assert other.project_dir != first.project_dir and len(other.oracle.trials) == 0
    assert len(list(folder.iterdir())) == 2
    scores = tuning.trial_scores(first)
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)


def test_best_so_far_keeps_the_running_best_and_skips_failures():
    np.testing.assert_array_equal(tuning.best_so_far([0.2, None, 0.5, 0.3]), [0.2, 0.2, 0.5, 0.5])
    np.testing.assert_array_equal(tuning.best_so_far([0.9, 0.4, 0.6], "min"), [0.9, 0.4, 0.4])
    assert np.isnan(tuning.best_so_far([None, 0.1])[0])


def test_a_search_that_cannot_be_reloaded_is_moved_aside_and_runs_again(capsys):
    """A damaged oracle.json or trial.json made Keras Tuner raise JSONDecodeError on every
    later run; a failed trial was reloaded as final. Now the folder is renamed (kept, not
    deleted), a note says so, and the search starts afresh."""
    first = search(make_tuner(max_trials=1))
    project = Path(first.project_dir)
    pristine = project.with_name("pristine")
    shutil.copytree(project, pristine)
    damages = {
        "oracle.json": lambda: (project / "oracle.json").write_text('{"ongoing_trials": {'),
        "trial.json": lambda: (project / "trial_0" / "trial.json").write_bytes(b"\xff\x00"),
        "FAILED": lambda: (project / "trial_0" / "trial.json").write_text(
            json.dumps(
                json.loads((pristine / "trial_0" / "trial.json").read_text()) | {"status": "FAILED"}
            )
        ),
    }
    expected = {
        "oracle.json": "oracle.json is unreadable",
        "trial.json": "trial_0/trial.json is unreadable",
        "FAILED": "trial 0 FAILED",
    }
    for reason, damage in damages.items():
        shutil.rmtree(project, ignore_errors=True)
        shutil.copytree(pristine, project)
        damage()
        capsys.readouterr()
        again = make_tuner(max_trials=1)
        out = capsys.readouterr().out
        assert f"cannot be reloaded ({expected[reason]}" in out
        assert "so that the search runs again" in out and "Reloading" not in out
        assert len(again.oracle.trials) == 0
    aside = sorted(project.parent.glob(f"{project.name}.damaged-*"))
    assert len(aside) == 3 and all((a / "trial_0").is_dir() for a in aside)  # nothing deleted


def test_best_so_far_curves_one_column_per_seed_one_row_per_trial():
    # the space holds two models, so two trials at most; the search for seed 2 runs one
    tuners = {seed: search(make_tuner(seed=seed, max_trials=3 - seed)) for seed in (1, 2)}
    curves = tuning.best_so_far_curves(tuners)
    assert list(curves.columns) == [1, 2] and list(curves.index) == [1, 2]
    assert curves.index.name == "trial" and curves.columns.name == "seed"
    for seed, tuner in tuners.items():
        expected = tuning.best_so_far(tuning.trial_scores(tuner))
        np.testing.assert_array_equal(curves[seed].dropna(), expected)
    assert np.isnan(curves.loc[2, 2])  # the shorter search ended after one trial
    assert (curves[1].diff().dropna() >= 0).all()  # val_accuracy: best is the maximum
