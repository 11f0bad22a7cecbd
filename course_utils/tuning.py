"""Keras Tuner searches that reload predictably, and reading their results (lesson 6).

Keras Tuner keeps every trial in ``<directory>/<project_name>``. A tuner created again
with the same folder and ``overwrite=False`` reloads the trials ("Reloading Tuner from
...") and runs only the missing ones: that makes re-rendering fast, and it is also how a
search silently reuses stale trials after its search space changed. :func:`tuner_project`
names the folder after the search *and* a key of everything that defines it, so a changed
search starts afresh in a new folder and an unchanged one is reloaded. A folder that Keras
Tuner could not reload (a damaged JSON file, a failed trial) is moved aside first, with a
printed note, so that the search runs again instead of failing on every later run.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
from collections.abc import Mapping
from pathlib import Path

import keras_tuner as kt
import numpy as np
import pandas as pd

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


def _damage(folder: Path) -> str | None:
    """Why Keras Tuner could not reload the search saved in ``folder``; None if it can."""
    for path in sorted(folder.rglob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as e:  # UnicodeDecodeError and JSONDecodeError too
            return f"{path.relative_to(folder)} is unreadable: {e}"
        if not isinstance(record, dict):
            return f"{path.relative_to(folder)} holds no settings"
        if path.name == "trial.json" and record.get("status") == "FAILED":
            return f"trial {record.get('trial_id')} FAILED"
    return None


def set_aside_if_damaged(folder: Path) -> Path | None:
    """Move the search folder ``folder`` aside (renamed, never deleted) when Keras Tuner
    could not reload it, and print a note; returns where it went (None: kept as it is)."""
    reason = _damage(folder) if folder.is_dir() else None
    if reason is None:
        return None
    aside = folder.with_name(f"{folder.name}.damaged-{dt.datetime.now():%Y%m%d-%H%M%S-%f}")
    folder.rename(aside)
    print(
        f"note: the saved search {folder.name} cannot be reloaded ({reason}); moved it to "
        f"{aside} so that the search runs again"
    )
    return aside


def tuner_project(name: str, tuner_class, build_model, data, directory=None, **settings) -> str:
    """The ``project_name`` for a search: ``name`` plus a key of the tuner class, its
    ``settings`` (objective, max_trials, seed ...), the build function (by code and by the
    search space it declares) and the ``data`` (a tuple of arrays, by content).

    Pass the same settings to the tuner itself, e.g.
    ``kt.RandomSearch(build_model, **settings, directory=tuner_dir(),
    project_name=tuner_project("characters", kt.RandomSearch, build_model, data, **settings))``.
    A saved search there that cannot be reloaded is moved aside (:func:`set_aside_if_damaged`;
    ``directory``, default :func:`tuner_dir`, is where the tuner keeps its projects).
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
    project = f"{name}-{tuner_class.__name__}-{key}"
    set_aside_if_damaged(Path(directory or tuner_dir()) / project)
    return project


def trial_scores(tuner) -> list[float | None]:
    """The objective score of each trial, in the order the trials ran (None: failed)."""
    trials = tuner.oracle.trials
    return [trials[t].score for t in sorted(trials, key=lambda t: (len(t), t))]


def best_so_far(scores, direction: str = "max") -> np.ndarray:
    """The best score up to each trial (a failed trial, None, keeps the previous best)."""
    values = np.array([np.nan if s is None else s for s in scores], dtype=float)
    running = np.fmax.accumulate(values) if direction == "max" else np.fmin.accumulate(values)
    return running


def best_so_far_curves(tuners: Mapping[int, kt.Tuner]) -> pd.DataFrame:
    """The best objective score up to each trial of every search in ``tuners`` (a search per
    seed, keyed by seed): one row per trial (``trial`` 1, 2, ...), one column per seed (NaN
    after a shorter search's last trial). "Best" follows each objective's direction.
    Lesson 6 compares tuners with it: ``curves.iloc[-1]`` is each seed's final best."""
    curves = {}
    for seed, tuner in tuners.items():
        best = best_so_far(trial_scores(tuner), tuner.oracle.objective.direction)
        curves[seed] = pd.Series(best, index=pd.RangeIndex(1, len(best) + 1))
    return pd.DataFrame(curves).rename_axis(index="trial", columns="seed")
