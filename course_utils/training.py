"""Train once, reload afterwards: ``fit_or_load`` (introduced in lesson 4).

Re-rendering the course should not retrain every model. ``fit_or_load`` trains a compiled
model like ``model.fit`` and saves its weights and history under a *cache key*: a hash of
the architecture, the compile settings (optimizer, loss, metrics), the fit settings
(epochs, batch size, callbacks) and the training data. Change any of them and the key
changes, so the model is trained again instead of a stale one being loaded.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

KEY_VERSION = 1  # bump when the key recipe changes, so old entries are never matched


def _layer_names(layer, names: list[str]) -> list[str]:
    names.append(layer.name)
    for sub in getattr(layer, "layers", []):
        _layer_names(sub, names)
    return names


def _name_values(obj, found: list[str]) -> list[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "name" and isinstance(v, str):
                found.append(v)
            _name_values(v, found)
    elif isinstance(obj, list | tuple):
        for v in obj:
            _name_values(v, found)
    return found


def _canonical(obj, rename: dict[str, str]):
    if isinstance(obj, dict):
        return {k: _canonical(v, rename) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_canonical(v, rename) for v in obj]
    if isinstance(obj, str):
        return rename.get(obj, obj)
    return obj


def _canonical_config(model) -> dict:
    """Architecture and compile settings with Keras's automatic names made stable.

    Building the same model twice gives ``dense`` then ``dense_1``, ``adam`` then ``adam_1``:
    layers are renamed by position, and other objects lose the ``_N`` suffix Keras adds.
    """
    config = {"architecture": model.get_config(), "compile": model.get_compile_config()}
    rename = {}
    for name in _name_values(config, []):
        rename[name] = re.sub(r"_\d+$", "", name)
    for i, name in enumerate(dict.fromkeys(_layer_names(model, []))):
        rename[name] = f"layer{i}"
    return _canonical(config, rename)


def _array_digest(a) -> list:
    a = np.ascontiguousarray(np.asarray(a))
    return [list(a.shape), str(a.dtype), hashlib.blake2b(a.tobytes(), digest_size=16).hexdigest()]


def _callback_settings(cb) -> list:
    """A callback's constructor settings (not its run state, which changes while training)."""
    params = inspect.signature(type(cb).__init__).parameters
    simple = (bool, int, float, str, type(None))
    settings = {
        name: getattr(cb, name)
        for name in params
        if name not in ("self", "verbose") and isinstance(getattr(cb, name, object()), simple)
    }
    return [type(cb).__name__, settings]


def cache_key(model, x, y=None, validation_data=None, **fit_settings) -> str:
    """The hex key ``fit_or_load`` files a training run under.

    It changes with the model's architecture and layer settings, its compile settings,
    the data, and every fit setting (``epochs``, ``batch_size``, ``callbacks``, ...).
    """
    import keras

    if not model.compiled:
        raise ValueError("compile the model before fit_or_load (model.compile(...))")
    callbacks = fit_settings.pop("callbacks", None) or []
    fit_settings.pop("verbose", None)
    recipe = {
        "version": KEY_VERSION,
        "keras_major": keras.__version__.split(".")[0],
        "model": _canonical_config(model),
        "weights": [list(w.shape) for w in model.weights],
        "data": [_array_digest(x), None if y is None else _array_digest(y)],
        "validation": None
        if validation_data is None
        else [_array_digest(part) for part in validation_data],
        "callbacks": [_callback_settings(cb) for cb in callbacks],
        "fit": {k: fit_settings[k] for k in sorted(fit_settings)},
    }
    text = json.dumps(recipe, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _history(data: dict, from_cache: bool, folder: Path):
    import keras

    history = keras.callbacks.History()
    history.history = data
    history.epoch = list(range(len(next(iter(data.values()), []))))
    history.from_cache = from_cache
    history.cache_folder = folder
    return history


def _try_load(model, folder: Path, key: str):
    if not (folder / "meta.json").is_file():
        return None
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("key") != key:
            raise ValueError(f"entry holds key {meta.get('key')}, expected {key}")
        data = json.loads((folder / "history.json").read_text())
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)  # so its saved state loads too
        model.load_weights(folder / "model.weights.h5")
    except Exception as e:  # a damaged entry is retrained, never half-used
        warnings.warn(f"ignoring damaged cache entry {folder} ({e}); training again", stacklevel=3)
        return None
    return data


def _saved_key(folder: Path) -> str | None:
    try:
        return json.loads((folder / "meta.json").read_text())["key"]
    except (OSError, ValueError, KeyError):
        return None


def _save(model, folder: Path, key: str, data: dict, seconds: float, replace: bool) -> None:
    """Write an entry atomically. ``replace=False``: an entry with the same key that another
    process wrote while we trained is kept; ``True``: what is there (damaged) is replaced."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        model.save_weights(tmp / "model.weights.h5")
        (tmp / "history.json").write_text(json.dumps(data))
        meta = {"key": key, "epochs": len(next(iter(data.values()), [])), "seconds": seconds}
        (tmp / "meta.json").write_text(json.dumps(meta))
        if not replace and _saved_key(folder) == key:
            return  # another process saved this very run meanwhile: keep theirs
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(tmp, folder)  # readers see a complete entry or none
        except OSError:
            if replace or _saved_key(folder) != key:  # else: lost a race to an identical run
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fit_or_load(
    model,
    x,
    y=None,
    *,
    name: str,
    validation_data=None,
    cache_dir: str | os.PathLike | None = None,
    verbose: int = 0,
    **fit_kwargs,
):
    """Train ``model`` like ``model.fit``, or load the weights of an identical earlier run.

    Args:
        model: a compiled Keras model; on return it holds the trained weights.
        x, y, validation_data: arrays, as for ``model.fit``.
        name: a readable name for the cache folder, e.g. ``"cnn"``.
        cache_dir: default ``course_utils.config.cache_dir() / "models"``.
        verbose: passed to ``model.fit``.
        **fit_kwargs: ``epochs``, ``batch_size``, ``callbacks``, ... as for ``model.fit``.
    Returns:
        A ``keras.callbacks.History`` with ``.history`` (per-epoch metrics), plus
        ``.from_cache`` (True when loaded) and ``.cache_folder``.

    An unwritable cache folder gives a warning, not an error: the trained model is returned.
    """
    from course_utils.config import cache_dir as default_cache_dir

    if not name or any(c in name for c in '/\\:*?"<>|') or name.startswith("."):
        raise ValueError(f"name {name!r} must be a plain folder name such as 'cnn'")
    key = cache_key(model, x, y, validation_data, **fit_kwargs)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "models"
    folder = root / name / key
    found = (folder / "meta.json").is_file()  # an entry that fails to load gets replaced
    data = _try_load(model, folder, key)
    if data is not None:
        print(f"{name}: loaded the cached training run ({len(data['loss'])} epochs) from {folder}")
        return _history(data, True, folder)
    start = time.perf_counter()
    fitted = model.fit(x, y, validation_data=validation_data, verbose=verbose, **fit_kwargs)
    seconds = time.perf_counter() - start
    data = {k: [float(v) for v in values] for k, values in fitted.history.items()}
    try:
        _save(model, folder, key, data, seconds, replace=found)
        where = f"cached in {folder}"
    except OSError as e:
        where = "not cached"
        warnings.warn(
            f"could not write the training cache under {root} ({e}); the model is trained but "
            "will be trained again next time. Set COURSE_HOME to a writable folder.",
            stacklevel=2,
        )
    print(f"{name}: trained {len(data['loss'])} epochs in {seconds:.0f} s, {where}")
    return _history(data, False, folder)
