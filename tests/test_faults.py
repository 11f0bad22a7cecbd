"""Faults a careful user or a hostile file can cause (issue 14): user folders survive, a run
killed at any step leaves the old data or the new (never neither, never debris), and caches
are never reused when stale."""

from __future__ import annotations

import json
import os
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from course_utils import cache
from course_utils import characters as ch
from course_utils.cache import write_atomically, write_folder_atomically
from course_utils.characters import COURSE_CHARACTERS
from course_utils.config import data_dir
from data_scripts import fetch_casia, make_synthetic
from data_scripts.download import safe_extract

KILLED = 86  # the exit status of a child process killed on purpose

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked child")


def run_killed(fn, at=None, during_rmtree=False) -> int:
    """Run ``fn`` in a forked child process that dies (``os._exit``, as on SIGKILL: no
    ``finally`` runs) just before its ``at``-th folder change (``os.rename`` or
    ``shutil.rmtree``); ``during_rmtree``: halfway through that rmtree instead. Returns
    the child's exit status: KILLED, 0 (``fn`` finished first) or 1 (``fn`` raised)."""
    pid = os.fork()
    if pid:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    try:
        count, rename, rmtree = [0], os.rename, shutil.rmtree

        def half_rmtree(path, *args, **kwargs):
            names = sorted(os.listdir(path)) if os.path.isdir(path) else []
            for name in names[: len(names) // 2]:  # e.g. Test/ goes, Train/ and the manifest stay
                rmtree(os.path.join(path, name)) if os.path.isdir(os.path.join(path, name)) else (
                    os.unlink(os.path.join(path, name))
                )
            os._exit(KILLED)

        def counted(real):
            def change(*args, **kwargs):
                count[0] += 1
                if count[0] == at:
                    half_rmtree(*args) if during_rmtree and real is rmtree else os._exit(KILLED)
                return real(*args, **kwargs)

            return change

        os.rename, shutil.rmtree = counted(rename), counted(rmtree)
        fn()
    except BaseException:  # noqa: B036 - the child reports, never returns into pytest
        os._exit(1)
    os._exit(0)


def png_export(root, per_class, value):
    for split in ("Train", "Test"):
        for c in COURSE_CHARACTERS:
            (root / split / c).mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(np.full((6, 4), value + i, np.uint8)).save(
                    root / split / c / f"{i}.png"
                )
    return root


def dot_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------ 1. --out keeps user data


@pytest.mark.parametrize("script", ["fetch_casia", "make_synthetic"])
def test_out_never_replaces_a_folder_the_course_did_not_make(tmp_path, script):
    mine = tmp_path / "my-thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("years of work")
    if script == "fetch_casia":
        export = png_export(tmp_path / "export", 1, 10)
        run = lambda: fetch_casia.main(["--png", str(export), "--out", str(mine)])  # noqa: E731
    else:
        run = lambda: make_synthetic.main(["--profile", "smoke", "--out", str(mine)])  # noqa: E731
    with pytest.raises(SystemExit, match=f"refusing to replace {mine}: the course did not make"):
        run()
    assert (mine / "chapter1.tex").read_text() == "years of work"
    assert [p.name for p in mine.iterdir()] == ["chapter1.tex"]
    assert dot_files(tmp_path) == []


@pytest.mark.parametrize("where", ["the source", "inside the source", "around the source"])
def test_out_is_never_the_png_source_inside_it_or_around_it(tmp_path, where):
    export = png_export(tmp_path / "data" / "export", 1, 10)
    out = {
        "the source": export,
        "inside the source": export / "subset",
        "around the source": tmp_path / "data",
    }[where]
    (out / cache.MARKER).parent.mkdir(parents=True, exist_ok=True)
    (out / cache.MARKER).touch()  # even a folder that says the course made it
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(SystemExit, match="is, is inside or holds the source"):
        fetch_casia.main(["--png", str(export), "--out", str(out)])
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_out_made_by_the_course_is_replaced_and_so_is_one_of_an_earlier_version(tmp_path):
    out = tmp_path / "subset"
    fetch_casia.main(["--png", str(png_export(tmp_path / "a", 1, 10)), "--out", str(out)])
    assert (out / cache.MARKER).is_file()
    fetch_casia.main(["--png", str(png_export(tmp_path / "b", 2, 50)), "--out", str(out)])
    assert len(list((out / "Train" / "人").iterdir())) == 2
    (out / cache.MARKER).unlink()  # as written before the marker existed: its manifest says
    fetch_casia.main(["--png", str(tmp_path / "a"), "--out", str(out)])
    assert len(list((out / "Train" / "人").iterdir())) == 1
    assert dot_files(tmp_path) == []


# ---------------------------------------------------- 2. a swap killed at every step


def subset_state(root):
    """'old' or 'new' for a complete subset (by its pixel values), else what is wrong."""
    manifest = json.loads((root / "dataset.json").read_text())
    values = {int(np.asarray(Image.open(p)).max()) for p in root.glob("*/*/*.png")}
    on_disk = len(list(root.glob("*/*/*.png")))
    if on_disk != sum(manifest["images"].values()):
        return f"incomplete: {on_disk} files, manifest {manifest['images']}"
    return {frozenset({10}): "old", frozenset({50, 51}): "new"}.get(frozenset(values), values)


@pytest.mark.parametrize(
    "at, during_rmtree", [(1, False), (2, False), (3, False), (4, False), (4, True), (5, False)]
)
def test_a_fetch_killed_at_any_step_of_its_swap_leaves_the_old_or_the_new_subset(
    tmp_path, at, during_rmtree
):
    """Steps: old set aside, new moved in, old renamed for removal, removed, cleanup.
    The next run (here a lesson looking for the data) finishes or undoes the swap."""
    out = data_dir() / ch.REAL_SUBSET
    fetch_casia.build_subset(out, png=png_export(tmp_path / "old", 1, 10))
    new = png_export(tmp_path / "new", 2, 50)
    status = run_killed(lambda: fetch_casia.build_subset(out, png=new), at, during_rmtree)
    assert status in (KILLED, 0)
    source = ch.find_characters()
    assert source.kind == "real", "the subset is gone: neither the old nor the new one"
    assert subset_state(out) in ({"old", "new"} if status == KILLED else {"new"})
    assert dot_files(out.parent) == []
    fetch_casia.build_subset(out, png=new)  # and a new run completes
    assert subset_state(out) == "new"


def test_remove_abandoned_keeps_the_folders_of_live_runs(tmp_path):
    target = tmp_path / "data"
    target.mkdir()
    live = [tmp_path / f".data.{kind}-{os.getpid()}-x" for kind in ("partial", "old", "gone")]
    for folder in live:
        folder.mkdir()
    cache.remove_abandoned(target)
    assert all(folder.exists() for folder in live)


def test_replace_folder_refuses_a_symlink_or_a_file(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "file").write_text("x")
    for target in (tmp_path / "link", tmp_path / "file"):
        new = cache.partial_folder(target)
        with pytest.raises(FileExistsError, match="not a plain folder"):
            cache.replace_folder(new, target)
        shutil.rmtree(new)
    assert (tmp_path / "link").is_symlink() and (tmp_path / "file").read_text() == "x"


# ----------------------------------------- partial files and folders of killed runs


def test_a_killed_array_cache_write_leaves_nothing_behind_after_the_next(tmp_path):
    path = tmp_path / "arrays" / "train-abc.npz"

    def die_halfway(tmp):
        tmp.write_bytes(b"half an npz")
        os._exit(KILLED)

    assert run_killed(lambda: write_atomically(path, die_halfway)) == KILLED
    write_atomically(path, lambda tmp: np.savez(tmp, X=np.zeros(3)))
    assert [p.name for p in path.parent.iterdir()] == ["train-abc.npz"]


def test_a_killed_model_cache_write_leaves_nothing_behind_after_the_next(tmp_path):
    entry = tmp_path / "models" / "cnn" / "key"

    def die_halfway(tmp):
        (tmp / "model.weights.h5").write_bytes(b"half")
        os._exit(KILLED)

    assert run_killed(lambda: write_folder_atomically(entry, die_halfway)) == KILLED
    write_folder_atomically(entry, lambda tmp: (tmp / "meta.json").write_text("{}"))
    assert [p.name for p in entry.parent.iterdir()] == ["key"]


def test_a_killed_extraction_leaves_nothing_behind_after_the_next(tmp_path, monkeypatch):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(3):
            zf.writestr(f"Train/人/{i}.png", b"x" * 100)
    real_extract = zipfile.ZipFile._extract_member

    def extract_one_then_die():
        def member(self, *args, **kwargs):
            real_extract(self, *args, **kwargs)
            os._exit(KILLED)

        zipfile.ZipFile._extract_member = member
        safe_extract(archive, tmp_path / "out")

    assert run_killed(extract_one_then_die) == KILLED
    safe_extract(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "out"]
    assert len(list((tmp_path / "out" / "Train" / "人").iterdir())) == 3


# ------------------------------------------------- class_weight with NumPy integer keys


def test_class_weight_with_numpy_integer_keys_trains_and_reloads(tmp_path, capsys):
    """``dict(zip(np.unique(y), weights))`` has NumPy keys. Keras's fit takes them (checked
    on the TensorFlow, JAX and PyTorch backends); the cache key used to fail on them."""
    import keras

    from course_utils.training import cached_fit

    x = np.random.default_rng(0).random((8, 3)).astype("float32")
    y = np.array([0, 1] * 4)
    weights = dict(zip(np.unique(y), np.array([1.0, 3.0]), strict=True))
    assert all(isinstance(k, np.integer) for k in weights)
    for _ in range(2):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
        model.compile("sgd", "sparse_categorical_crossentropy")
        model.set_weights([np.full(w.shape, 0.1, "float32") for w in model.get_weights()])
        history = cached_fit(
            model, x, y, class_weight=weights, epochs=1, name="cw", cache_dir=tmp_path
        )
    assert history.from_cache and len(history.history["loss"]) == 1
