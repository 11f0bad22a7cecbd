"""Cache keys and atomic writes: the one place every course cache goes through (lesson 4).

The course keeps four kinds of things so that re-running a lesson is fast: arrays loaded
from image folders, trained models (``training.cached_fit``), Keras Tuner searches
(``tuning.tuner_project``) and converted pretrained weights (``lite0``). Each is filed
under a *key*: a hash of everything that determines it. Change any of it and the key
changes, so a stale result is never reused.

- :func:`make_key` turns a recipe name, its version and the values that determine the
  result into a short hex key. Values go in *by content*: arrays by all their bytes,
  functions by their code (and the values they capture), objects by their settings.
- :func:`write_atomically` and :func:`write_folder_atomically` write to a temporary
  sibling and move it into place, so a reader sees the old entry or the new one, never half.

Each recipe has a version in :data:`KEY_VERSIONS`; ``tests/test_cache.py`` pins the key
every recipe gives for fixed inputs, so changing a recipe without bumping its version fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from types import FunctionType, MethodType

import numpy as np

#: The version of each key recipe. Bump one when its recipe changes (the pinned-key test
#: then tells you to update its pin), so that entries made by the old recipe are not matched.
KEY_VERSIONS = {
    "fit": 2,  # training.cached_fit
    "tuner": 2,  # tuning.tuner_project
    "arrays": 2,  # characters.load_characters' array cache
    "lite0-weights": 2,  # lite0.imagenet_weights
}

_MAX_DEPTH = 12  # objects nested deeper than this are not followed (cycles, huge graphs)


def _array(a) -> dict:
    a = np.ascontiguousarray(np.asarray(a))
    if a.dtype == object:
        return {"objects": [digest(v) for v in a.ravel().tolist()], "shape": list(a.shape)}
    content = hashlib.blake2b(a.tobytes(), digest_size=16).hexdigest()
    return {"array": content, "shape": list(a.shape), "dtype": str(a.dtype)}


def _code_object(code) -> dict:
    """What a compiled body uses: its constants (nested functions followed) and names.
    Tells apart two lambdas written on one line, whose source text is the same."""
    consts = [
        _code_object(c)
        if hasattr(c, "co_consts")
        else sorted(map(repr, c))
        if isinstance(c, frozenset)  # order varies by hash seed
        else repr(c)
        for c in code.co_consts
    ]
    return {"consts": consts, "names": list(code.co_names)}


def _code(fn, depth: int) -> dict:
    """A function by its code: source, constants, defaults and captured values."""
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        source = None
    closure = [c.cell_contents for c in (fn.__closure__ or ()) if _has_contents(c)]
    return {
        "function": source,
        "code": _code_object(fn.__code__),
        "defaults": _digest(fn.__defaults__, depth + 1),
        "closure": _digest(closure, depth + 1),
    }


def _has_contents(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises ValueError
    except ValueError:
        return False
    return True


def _settings(obj, depth: int) -> dict:
    """An object by its class and the constructor arguments it keeps as attributes (a
    callback's ``monitor``, ``patience``, a schedule function ...), not its run state."""
    try:
        params = inspect.signature(type(obj).__init__).parameters
    except (TypeError, ValueError):
        params = {}
    names = [n for n in params if n not in ("self", "verbose", "args", "kwargs")]
    kept = {n: getattr(obj, n) for n in names if hasattr(obj, n)}
    return {
        "object": f"{type(obj).__module__}.{type(obj).__qualname__}",
        "settings": _digest(kept, depth + 1),
    }


def _digest(value, depth: int):
    if depth > _MAX_DEPTH:
        return f"<{type(value).__qualname__}>"
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value)  # exact, and NaN-safe in JSON
    if isinstance(value, np.generic):
        return _digest(value.item(), depth)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return {"bytes": hashlib.blake2b(value, digest_size=16).hexdigest()}
    if isinstance(value, dict):
        items = sorted(((str(k), v) for k, v in value.items()), key=lambda kv: kv[0])
        return {k: _digest(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        return [_digest(v, depth + 1) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_digest(v, depth + 1) for v in value), key=repr)
    if isinstance(value, np.ndarray) or (hasattr(value, "shape") and hasattr(value, "dtype")):
        return _array(value)
    if isinstance(value, MethodType):
        return {"method": _code(value.__func__, depth), "of": _settings(value.__self__, depth)}
    if isinstance(value, FunctionType):
        return _code(value, depth)
    return _settings(value, depth)


def digest(value):
    """``value`` as plain JSON data that changes whenever its content does.

    Arrays (NumPy or backend tensors) become a hash of all their bytes with shape and
    dtype; functions their source code, defaults and captured values; other objects their
    class and constructor settings; dicts, lists and scalars are followed inside.
    """
    return _digest(value, 0)


def make_key(recipe: str, *parts, length: int = 20) -> str:
    """The hex key of ``parts`` under the named recipe and its version in ``KEY_VERSIONS``."""
    if recipe not in KEY_VERSIONS:
        raise ValueError(f"unknown key recipe {recipe!r}; add it to KEY_VERSIONS")
    text = json.dumps([recipe, KEY_VERSIONS[recipe], digest(list(parts))], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


# ------------------------------------------------------------------- models in keys


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


def _renamed(obj, rename: dict[str, str]):
    if isinstance(obj, dict):
        return {k: _renamed(v, rename) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_renamed(v, rename) for v in obj]
    if isinstance(obj, str):
        return rename.get(obj, obj)
    return obj


def model_config(model) -> dict:
    """A Keras model's architecture and compile settings, with Keras's automatic names made
    stable: building the same model twice gives ``dense`` then ``dense_1``, ``adam`` then
    ``adam_1``, so layers are renamed by position and other names lose the ``_N`` suffix."""
    config = {"architecture": model.get_config()}
    if getattr(model, "compiled", False):
        config["compile"] = model.get_compile_config()
    rename = {name: re.sub(r"_\d+$", "", name) for name in _name_values(config, [])}
    for i, name in enumerate(dict.fromkeys(_layer_names(model, []))):
        rename[name] = f"layer{i}"
    return _renamed(config, rename)


# ------------------------------------------------------------------- atomic writes


def write_atomically(path: str | os.PathLike, write) -> Path:
    """Create ``path`` by calling ``write(tmp)`` on a temporary sibling with the same
    suffix, then moving it into place: readers never see a half-written file, and on any
    error the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def partial_folder(target: Path) -> Path:
    """A new empty folder beside ``target`` to build its replacement in; its name carries
    this process's id so that a later run can tell an abandoned one (:func:`remove_abandoned`)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.partial-{os.getpid()}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))


def remove_abandoned(target: Path) -> None:
    """Delete the partial folders of ``target`` whose process is gone (a killed run)."""
    for folder in target.parent.glob(f".{target.name}.partial-*"):
        pid = folder.name.rsplit(".partial-", 1)[1].split("-")[0]
        try:
            os.kill(int(pid), 0)  # signal 0 only asks whether the process exists
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, PermissionError, OverflowError):
            pass  # not our naming, or another user's live process


def replace_folder(new: Path, target: Path) -> None:
    """Move the complete folder ``new`` to ``target``, removing what was there."""
    if target.exists():
        trash = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        with contextlib.suppress(FileNotFoundError):
            target.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
    new.rename(target)


def write_folder_atomically(target: str | os.PathLike, write) -> Path:
    """Create the folder ``target`` by calling ``write(tmp)`` on a partial sibling folder,
    then swapping it in; on any error the partial folder is removed and ``target`` is left
    as it was."""
    target = Path(target)
    tmp = partial_folder(target)
    try:
        write(tmp)
        replace_folder(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
