"""Train once, reload afterwards: ``cached_fit`` (introduced in lesson 2, explained in lesson 4).

``cached_fit(model, x, y, validation_data=..., epochs=..., callbacks=[...])`` is
``model.fit`` with the same arguments, plus one thing: the first call trains and saves the
weights and the history; a later call with *everything that determines the result*
unchanged loads them instead of training again. What determines the result, and so goes
into the cache key (``course_utils.cache``):

- the model's architecture, its initial weights and its compile settings (optimizer,
  loss, metrics);
- the training and validation data, by content;
- every fit argument: ``epochs``, ``batch_size``, ``callbacks`` (their settings, and the
  code of a schedule function), ``class_weight``, ``sample_weight`` ...

``verbose`` is left out: it changes what is printed, not what is learnt. Left at its
default, training shows one progress line, rewritten after every epoch, while a notebook
runs interactively, and nothing when the course's build or tests run it (they set
``TQDM_DISABLE=1``); either way a one-line summary follows. The file a
``ModelCheckpoint`` callback writes is kept with the entry and put back on a reload, so a
cell that loads the checkpoint gets the one this run wrote, not one left by another run. Because the
initial weights are part of the key, seed before building a model
(``keras.utils.set_random_seed``) to get the same key, and the cached model, next time.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from pathlib import Path

from course_utils.cache import make_key, model_config, write_atomically, write_folder_atomically
from course_utils.config import cache_dir as default_cache_dir
from course_utils.config import import_keras_quietly

keras = import_keras_quietly()

_NOT_IN_KEY = ("verbose",)
_BAD_NAME_CHARACTERS = '/\\:*?"<>|'


def fit_key(model, x=None, y=None, validation_data=None, **fit_kwargs) -> str:
    """The key ``cached_fit`` files a training run under (see the module docstring)."""
    if not model.compiled:
        raise ValueError(
            "compile the model before training it: model.compile(optimizer=..., "
            "loss=..., metrics=[...])"
        )
    settings = {k: v for k, v in fit_kwargs.items() if k not in _NOT_IN_KEY}
    return make_key(
        "fit",
        keras.__version__.split(".")[0],
        model_config(model),
        [keras.ops.convert_to_numpy(w) for w in model.weights],
        {"x": x, "y": y, "validation_data": validation_data},
        settings,
    )


def _history(data: dict, from_cache: bool, folder: Path):
    history = keras.callbacks.History()
    history.history = data
    history.epoch = list(range(len(next(iter(data.values()), []))))
    history.from_cache = from_cache
    history.cache_folder = folder
    return history


def _checkpoints(callbacks) -> dict[str, Path]:
    """The files the ``ModelCheckpoint`` callbacks write, by the name they are kept under in
    an entry (a file name with ``{epoch}``-style fields is not kept: there are many)."""
    return {
        f"{i}-{Path(cb.filepath).name}": Path(cb.filepath)
        for i, cb in enumerate(callbacks or ())
        if isinstance(cb, keras.callbacks.ModelCheckpoint) and "{" not in str(cb.filepath)
    }


def _load(model, folder: Path, key: str, checkpoints: dict[str, Path]) -> dict | None:
    """The saved history, with the saved weights loaded into ``model`` and the run's
    checkpoint files put back; None (and ``model`` as it was) when there is no entry or it
    cannot be read (an entry from before checkpoints were kept counts as missing)."""
    if not (folder / "meta.json").is_file():
        return None
    initial = model.get_weights()
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("key") != key:
            raise ValueError(f"entry holds key {meta.get('key')}, expected {key}")
        data = json.loads((folder / "history.json").read_text())
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)  # so its saved state loads too
        model.load_weights(folder / "model.weights.h5")
        for kept, path in checkpoints.items():
            copy = folder / "checkpoints" / kept
            if not copy.is_file():
                raise ValueError(f"the entry does not hold the checkpoint {path.name}")
            write_atomically(path, lambda tmp, copy=copy: shutil.copyfile(copy, tmp))
    except Exception as e:  # noqa: BLE001 - a damaged entry is retrained, never half-used
        model.set_weights(initial)  # train from the initial weights, not half-loaded ones
        warnings.warn(
            f"ignoring the damaged cache entry {folder} ({e}); training again", stacklevel=3
        )
        return None
    return data


def _save(model, folder, key, data, seconds, checkpoints: dict[str, Path]) -> None:
    def write(tmp: Path) -> None:
        model.save_weights(tmp / "model.weights.h5")
        for kept, path in checkpoints.items():
            if path.is_file():  # not written when the monitored metric never improved
                (tmp / "checkpoints").mkdir(exist_ok=True)
                shutil.copyfile(path, tmp / "checkpoints" / kept)
        (tmp / "history.json").write_text(json.dumps(data))
        epochs = len(next(iter(data.values()), []))
        (tmp / "meta.json").write_text(
            json.dumps({"key": key, "epochs": epochs, "seconds": round(seconds, 1)})
        )

    write_folder_atomically(folder, write)


class _EpochLine(keras.callbacks.Callback):
    """One line of progress, rewritten after every epoch (printed anew outside IPython)."""

    def __init__(self, name: str, epochs: int | None):
        super().__init__()
        self.name, self.epochs, self.handle = name, epochs, None

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        try:
            from IPython import get_ipython
            from IPython.display import display

            if get_ipython() is not None:
                self.handle = display(
                    {"text/plain": f"{self.name}: training ..."}, raw=True, display_id=True
                )
        except ImportError:
            pass

    def on_epoch_end(self, epoch, logs=None):
        shown = ", ".join(
            f"{k} {v:.3f}" for k, v in (logs or {}).items() if "loss" in k or "acc" in k
        )
        of = f"/{self.epochs}" if self.epochs else ""
        seconds = time.perf_counter() - self.start
        line = f"{self.name}: epoch {epoch + 1}{of}, {shown} ({seconds:.0f} s)"
        if self.handle is not None:
            self.handle.update({"text/plain": line}, raw=True)
        else:
            print(line, flush=True)


def _monitored(callbacks) -> str:
    """The metric an early-stopping or checkpoint callback watches (else val_accuracy)."""
    for cb in callbacks or ():
        if isinstance(cb, keras.callbacks.EarlyStopping | keras.callbacks.ModelCheckpoint):
            return cb.monitor
    return "val_accuracy"


def _summary(name: str, data: dict, how: str, monitor: str) -> str:
    epochs = len(data.get("loss", []))
    line = f"{name}: {how} {epochs} epochs"
    values = data.get(monitor)
    if values:
        pick = min if "loss" in monitor else max
        best = pick(range(len(values)), key=values.__getitem__)
        line += f"; best {monitor} {values[best]:.3f} at epoch {best + 1}"
    return line


def cached_fit(
    model,
    x=None,
    y=None,
    *,
    validation_data=None,
    name: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    verbose=None,
    **fit_kwargs,
):
    """``model.fit(x, y, validation_data=..., **fit_kwargs)``, trained once and reloaded
    afterwards.

    Args:
        model: a compiled Keras model; on return it holds the trained weights.
        x, y, validation_data: NumPy arrays, as for ``model.fit``.
        name: the cache folder's name; default the model's ``name``.
        cache_dir: default ``<course home>/cache/models``.
        verbose: passed to ``model.fit``. Default: a progress line per epoch when run
            interactively (not under ``TQDM_DISABLE=1``), else silent; a one-line summary
            is printed anyway.
        **fit_kwargs: ``epochs``, ``batch_size``, ``callbacks``, ``class_weight`` ... as for
            ``model.fit``.
    Returns:
        The ``keras.callbacks.History`` of the run (``.history``: metrics per epoch), with
        ``.from_cache`` (True when loaded) and ``.cache_folder``.

    An unwritable cache gives a warning, not an error: the trained model is returned.
    """
    name = name or model.name
    if not name or name.startswith(".") or any(c in name for c in _BAD_NAME_CHARACTERS):
        raise ValueError(f"name {name!r} must be a plain folder name such as 'cnn'")
    key = fit_key(model, x, y, validation_data, **fit_kwargs)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "models"
    folder = root / name / key
    monitor = _monitored(fit_kwargs.get("callbacks"))
    checkpoints = _checkpoints(fit_kwargs.get("callbacks"))
    data = _load(model, folder, key, checkpoints)
    if data is not None:
        print(_summary(name, data, "loaded the cached run of", monitor))
        return _history(data, True, folder)
    start = time.perf_counter()
    if verbose is None:
        verbose = 0
        if os.environ.get("TQDM_DISABLE", "0") not in ("1", "true", "True"):
            progress = _EpochLine(name, fit_kwargs.get("epochs"))
            fit_kwargs = {
                **fit_kwargs,
                "callbacks": [*(fit_kwargs.get("callbacks") or []), progress],
            }
    fitted = model.fit(x, y, validation_data=validation_data, verbose=verbose, **fit_kwargs)
    seconds = time.perf_counter() - start
    data = {k: [float(v) for v in values] for k, values in fitted.history.items()}
    try:
        _save(model, folder, key, data, seconds, checkpoints)
    except OSError as e:
        warnings.warn(
            f"could not write the training cache under {root} ({e}); the model is trained but "
            "will be trained again next time. Set COURSE_HOME to a writable folder.",
            stacklevel=2,
        )
    print(_summary(name, data, "trained", monitor) + f" ({seconds:.0f} s)")
    return _history(data, False, folder)
