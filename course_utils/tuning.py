"""Keras Tuner searches that reload predictably, and reading their results (lesson 6).

Keras Tuner keeps every trial in ``<directory>/<project_name>``. A tuner created again
with the same folder and ``overwrite=False`` reloads the trials ("Reloading Tuner from
...") and runs only the missing ones: that makes re-rendering fast, and it is also how a
search silently reuses stale trials after its search space changed. :func:`tuner_project`
names the folder after the search *and* a key of everything that defines it, so a changed
search starts afresh in a new folder and an unchanged one is reloaded.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import keras_tuner as kt
import numpy as np

from course_utils.cache import make_key, model_config
from course_utils.config import cache_dir


def tuner_dir() -> Path:
    """Where searches are kept: ``<course home>/cache/tuner`` (the tuner's ``directory``)."""
    return cache_dir() / "tuner"


def _declared_space(build_model) -> list:
    """The search space the build function declares, and the model it builds from the
    default values: they catch what the source cannot show (values read from globals)."""
    hp = kt.HyperParameters()
    model = build_model(hp)
    return [hp.get_config(), model_config(model)]


def tuner_project(name: str, tuner_class, build_model, data, **settings) -> str:
    """The ``project_name`` for a search: ``name`` plus a key of the tuner class, its
    ``settings`` (objective, max_trials, seed ...), the build function (by code and by the
    search space it declares) and the ``data`` (a tuple of arrays, by content).

    Pass the same settings to the tuner itself, e.g.
    ``kt.RandomSearch(build_model, **settings, directory=tuner_dir(),
    project_name=tuner_project("characters", kt.RandomSearch, build_model, data, **settings))``.
    """
    source = inspect.getsource(build_model) if inspect.isfunction(build_model) else None
    key = make_key(
        "tuner",
        tuner_class.__name__,
        settings,
        build_model,
        source,
        _declared_space(build_model),
        list(data),
        length=12,
    )
    return f"{name}-{tuner_class.__name__}-{key}"


def trial_scores(tuner) -> list[float | None]:
    """The objective score of each trial, in the order the trials ran (None: failed)."""
    trials = tuner.oracle.trials
    return [trials[t].score for t in sorted(trials, key=lambda t: (len(t), t))]


def best_so_far(scores, direction: str = "max") -> np.ndarray:
    """The best score up to each trial (a failed trial, None, keeps the previous best)."""
    values = np.array([np.nan if s is None else s for s in scores], dtype=float)
    running = np.fmax.accumulate(values) if direction == "max" else np.fmin.accumulate(values)
    return running
