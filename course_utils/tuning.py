"""Keras Tuner searches that are cached predictably (lesson 6).

Keras Tuner keeps every trial in ``<directory>/<project_name>`` and, when a tuner is
created again with ``overwrite=False``, reloads them ("Reloading Tuner from ...") and only
runs the trials that are missing. That is what makes re-rendering fast, and also how a
search silently reuses stale trials after the search space changed. ``make_tuner`` names
the project after the search *and* a digest of everything that defines it - the build
function (its source, the search space it declares and the model it builds by default), the
tuner and its settings, the data -
so a changed search starts afresh in a new folder, and an unchanged one is reloaded.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

import numpy as np

from .config import cache_dir

TUNERS = ("random", "bayesian")


def tuner_dir() -> Path:
    """Where searches are kept: ``<course_home>/cache/tuner``."""
    return cache_dir() / "tuner"


def _source(fn) -> str:
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):  # no source available: fall back to the compiled code
        code = fn.__code__
        return repr((code.co_code, code.co_consts, code.co_names))


def _default_build(build_model) -> list:
    """The search space as declared, and the model built from its default values.

    Covers what the source cannot show: values captured in a closure or read from globals.
    """
    import keras_tuner as kt

    from .training import _canonical_config

    hp = kt.HyperParameters()
    model = build_model(hp)
    return [hp.get_config(), _canonical_config(model)]


def search_key(build_model, kind: str, data, **settings) -> str:
    """A digest of the build function (its source, its declared search space, the model it
    builds by default), the tuner kind, its settings and the data."""
    h = hashlib.blake2b(digest_size=6)
    h.update(_source(build_model).encode())
    h.update(json.dumps(_default_build(build_model), sort_keys=True, default=str).encode())
    h.update(json.dumps([kind, settings], sort_keys=True, default=str).encode())
    for array in data:
        a = np.ascontiguousarray(array)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(hashlib.blake2b(a.tobytes(), digest_size=16).digest())
    return h.hexdigest()


def make_tuner(kind: str, build_model, *, name: str, data, objective: str = "val_accuracy",
               max_trials: int = 10, seed: int = 42, overwrite: bool = False):
    """A ``RandomSearch`` ("random") or ``BayesianOptimization`` ("bayesian") tuner whose
    project folder is ``<tuner_dir>/<name>-<kind>-<digest>``.

    ``data`` is the tuple of arrays the search will use (its digest goes into the name).
    With ``overwrite=False`` an identical earlier search is reloaded instead of rerun.
    """
    import keras_tuner as kt

    if kind not in TUNERS:
        raise ValueError(f"kind must be one of {TUNERS}, got {kind!r}")
    settings = {"objective": objective, "max_trials": max_trials, "seed": seed}
    key = search_key(build_model, kind, data, **settings)
    cls = kt.RandomSearch if kind == "random" else kt.BayesianOptimization
    return cls(build_model, directory=str(tuner_dir()), project_name=f"{name}-{kind}-{key}",
               overwrite=overwrite, **settings)


def trial_scores(tuner) -> list[float | None]:
    """The objective score of each trial, in the order the trials ran (None: failed)."""
    trials = tuner.oracle.trials
    return [trials[t].score for t in sorted(trials, key=lambda t: (len(t), t))]


def best_so_far(scores, direction: str = "max") -> np.ndarray:
    """Running best of a list of scores (failed trials, None, keep the previous best)."""
    values = np.array([np.nan if s is None else s for s in scores], dtype=float)
    fill = -np.inf if direction == "max" else np.inf
    values = np.where(np.isnan(values), fill, values)
    running = np.maximum.accumulate(values) if direction == "max" else np.minimum.accumulate(values)
    return np.where(np.isinf(running), np.nan, running)
