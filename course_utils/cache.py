"""Cache keys and safe writes: the one place every course cache goes through (lesson 4).

Arrays loaded from image folders, trained models (``training.cached_fit``), Keras Tuner
searches (``tuning.tuner_project``) and converted weights (``lite0``) are filed under a
*key*: a hash of everything that determines them, so a stale result is never reused.
:func:`make_key` builds it from a recipe, its version (:data:`KEY_VERSIONS`, pinned by
``tests/test_cache.py``) and values taken *by content*: arrays by all their bytes,
functions by their code and captured values, objects by their settings.
:func:`write_atomically` and :func:`write_folder_atomically` write beside the target and
swap crash-safely (:func:`replace_folder`), replacing only what the course itself made.
"""

from __future__ import annotations

import contextlib
import glob
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

#: The version of each key recipe: bump it when its recipe changes (a pinned-key test says so).
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
    data = memoryview(a).cast("B") if a.size else b""  # no copy of the bytes (issue 17)
    content = hashlib.blake2b(data, digest_size=16).hexdigest()
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
    closure = []
    for cell in fn.__closure__ or ():
        with contextlib.suppress(ValueError):  # an empty cell has no contents
            closure.append(cell.cell_contents)
    return {
        "function": source,
        "code": _code_object(fn.__code__),
        "defaults": _digest(fn.__defaults__, depth + 1),
        "closure": _digest(closure, depth + 1),
    }


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
    if isinstance(value, float):  # np.float64 too: its repr under NumPy 2 names the type
        return repr(float(value))  # exact, and NaN-safe in JSON
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
    """``value`` as plain JSON data that changes whenever its content does: arrays (NumPy or
    backend tensors) by all their bytes, shape and dtype; functions by source, defaults and
    captured values; other objects by class and constructor settings; containers inside."""
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


# ------------------------------------------------------------------- safe writes

#: The file the course writes into every folder it makes: see :func:`check_replaceable`.
MARKER = ".cv-course"


def read_arrays(path: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """Every array of the ``.npz`` file ``path``; None when it is missing or damaged in any
    way (zlib.error, BadZipFile ...): a cache entry that cannot be read is rebuilt."""
    with contextlib.suppress(Exception), np.load(path) as f:  # whatever the damage
        return {k: f[k] for k in f.files}
    return None


def write_atomically(path: str | os.PathLike, write) -> Path:
    """Create ``path`` by calling ``write(tmp)`` on a temporary sibling, then moving it into
    place: never half-written; on any error ``tmp`` is removed and ``path`` left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(path)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def check_replaceable(target: Path) -> None:
    """Raise ``FileExistsError`` naming ``target`` unless the course may replace it: it is
    absent, empty, or holds :data:`MARKER` (or is a dataset an earlier version made)."""
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise FileExistsError(f"refusing to replace {target}: it is not a plain folder")
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        if json.loads((target / "dataset.json").read_text())["source"] in ("synthetic", "casia"):
            return
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).is_file():
        raise FileExistsError(
            f"refusing to replace {target}: the course did not make it (it has no {MARKER} "
            "file), so it may hold your own files. Choose another folder or remove it yourself."
        )


def partial_folder(target: Path) -> Path:
    """A new folder beside ``target``, holding :data:`MARKER`, to build its replacement in,
    after cleaning up what killed runs left (:func:`remove_abandoned`); its name carries
    this process's id so that a later run can tell an abandoned one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(target)
    prefix = f".{target.name}.partial-{os.getpid()}-"
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    (folder / MARKER).write_text("Made by the course (course_utils), which may replace it.\n")
    return folder


def _left_by_dead_runs(target: Path, kind: str) -> list[Path]:
    """The siblings ``.<target>.<kind>-<pid>-...`` whose process is gone, oldest first."""
    if os.name == "nt":
        return []  # os.kill(pid, 0) would send a Ctrl-C there: keep everything
    found = []
    for path in target.parent.glob(f".{glob.escape(target.name)}.{kind}-*"):
        try:  # signal 0 only asks whether the process exists
            os.kill(int(path.name.rsplit(f".{kind}-", 1)[1].split("-")[0]), 0)
        except ProcessLookupError:
            found.append(path)
        except (ValueError, PermissionError, OverflowError):
            pass  # not our naming, or another user's live process
    return sorted(found, key=lambda p: p.lstat().st_ctime)


def remove_abandoned(target: Path) -> None:
    """Clean up after killed runs: undo their half-done swap of ``target`` (the old folder
    comes back if no new one is in place, else it goes) and delete their partial copies."""
    old = _left_by_dead_runs(target, "old")
    if old and not os.path.lexists(target):
        os.rename(old.pop(), target)
    for path in old + _left_by_dead_runs(target, "gone") + _left_by_dead_runs(target, "partial"):
        shutil.rmtree(path, ignore_errors=True)  # a folder
        with contextlib.suppress(OSError):
            path.unlink()  # a file


def replace_folder(new: Path, target: Path) -> None:
    """Move the complete folder ``new`` to ``target``, replacing one the course made. Crash-
    safe: the old folder is set aside, the new one moved in, then the old one removed; after
    a kill between steps the next :func:`remove_abandoned` undoes or finishes the swap."""
    check_replaceable(target)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    old = target.with_name(f".{target.name}.old-{tag}") if os.path.lexists(target) else None
    if old:
        os.rename(target, old)  # 1. set the old folder aside
    try:
        os.rename(new, target)  # 2. move the new one in
    except OSError:
        if old and not os.path.lexists(target):
            os.rename(old, target)  # undo (else another process's is there: ours goes later)
        raise
    if old:
        gone = target.with_name(f".{target.name}.gone-{tag}")
        os.rename(old, gone)  # 3. no way back from here: never restore a half-removed one
        shutil.rmtree(gone, ignore_errors=True)  # 4. remove it


def write_folder_atomically(target: str | os.PathLike, write) -> Path:
    """Create the folder ``target`` by calling ``write(tmp)`` on a partial sibling folder,
    then swapping it in; on any error that folder is removed and ``target`` left as it was."""
    target = Path(target)
    tmp = partial_folder(target)
    try:
        write(tmp)
        replace_folder(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
