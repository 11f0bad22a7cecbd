"""load_characters (characters) and generate_synthetic (synthetic): choosing the source,
generating and caching, and bad datasets."""

from __future__ import annotations

import json
import os
import shutil
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from course_utils import characters as ch
from course_utils import synthetic as sy
from course_utils.characters import CLASS_NAMES, COURSE_CHARACTERS, load_characters
from course_utils.config import data_dir
from course_utils.synthetic import generate_synthetic

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch

TINY = {"Train": (2, 1), "Test": (1, 1), "Messy": (1, 1)}


@pytest.fixture
def tiny_synthetic(monkeypatch):
    """The smoke profile with two writers for Train and one for Test and Messy."""
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setitem(sy.SYNTHETIC_WRITERS, "smoke", TINY)
    monkeypatch.setattr(ch, "KAGGLE_INPUT", ch.Path("/nonexistent/kaggle/input"))


def write_dataset(root, splits=("Train", "Test"), classes=COURSE_CHARACTERS, per_class=1):
    for split in splits:
        for i, c in enumerate(classes):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for k in range(per_class):
                img = np.full((30 + k, 20), 255, np.uint8)
                img[5:25, 8:12] = i  # a different grey bar per class
                Image.fromarray(img).save(root / split / c / f"{k}.png")
    return root


def test_generate_layout_counts_manifest_and_determinism(tmp_path):
    writers = {"Train": (3, 1), "Test": (2, 1), "Messy": (1, 1)}
    a = generate_synthetic(tmp_path / "a", writers, "人口啖", seed=5, processes=2, progress=False)
    b = generate_synthetic(tmp_path / "b", writers, "人口啖", seed=5, processes=1, progress=False)
    assert sorted(p.name for p in (a / "Train" / "人").iterdir()) == [
        "train-0001.png",
        "train-0002.png",
        "train-0003.png",
    ]
    assert len(list((a / "Train" / "啖").iterdir())) == 1  # a rare character
    manifest = json.loads((a / "dataset.json").read_text())
    assert manifest["images"] == {"Train": 7, "Test": 5, "Messy": 3}
    for path in a.rglob("*.png"):
        assert path.read_bytes() == (b / path.relative_to(a)).read_bytes()
    c = generate_synthetic(tmp_path / "c", writers, "人口啖", seed=6, processes=1, progress=False)
    assert (c / "Test/人/test-0001.png").read_bytes() != (a / "Test/人/test-0001.png").read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_interrupted_generation_leaves_old_data_and_no_partial_folder(tmp_path, monkeypatch):
    root = generate_synthetic(tmp_path / "s", TINY, "人", processes=1, progress=False)
    before = (root / "dataset.json").read_text()

    def interrupt(new, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(sy, "replace_folder", interrupt)
    with pytest.raises(KeyboardInterrupt):
        generate_synthetic(root, TINY, "人", seed=9, processes=1, progress=False)
    assert (root / "dataset.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_unknown_character_fails_before_writing(tmp_path):
    with pytest.raises(KeyError, match="no stroke data"):
        generate_synthetic(tmp_path / "s", TINY, "人😀", processes=1, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_load_synthetic_generates_once_then_uses_the_cache(tiny_synthetic, capsys):
    X, y, names = load_characters("train")
    out = capsys.readouterr().out
    assert "generating 218 synthetic handwritten characters" in out
    assert "train: 108 images of 55 characters at 80×60 from synthetic handwriting" in out
    assert X.shape == (108, 80, 60, 1) and X.dtype == np.uint8
    assert names == CLASS_NAMES == sorted(COURSE_CHARACTERS)
    assert np.bincount(y, minlength=55).tolist() == [1 if c in "啖囡" else 2 for c in names]
    X2, y2, _ = load_characters("train")
    assert "from the array cache" in capsys.readouterr().out
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_older_generator_version_is_regenerated_not_mixed(tiny_synthetic, capsys):
    load_characters("test")
    root = sy.synthetic_root("smoke")
    manifest = json.loads((root / "dataset.json").read_text())
    manifest["generator_version"] = 0
    (root / "dataset.json").write_text(json.dumps(manifest))
    (root / "Test" / "人" / "test-0001.png").write_bytes(b"stale")
    capsys.readouterr()
    X, _, _ = load_characters("test")
    out = capsys.readouterr().out
    assert "made by generator version 0" in out and "regenerating" in out
    assert "from the images" in out  # the array cache of the old set is not reused
    assert (root / "Test" / "人" / "test-0001.png").read_bytes()[:4] == b"\x89PNG"
    assert len(X) == 55


def test_course_data_dir_wins_and_messy_falls_back_to_synthetic(
    tiny_synthetic, tmp_path, monkeypatch, capsys
):
    root = write_dataset(tmp_path / "mydata")
    monkeypatch.setenv("COURSE_DATA_DIR", str(root))
    X, y, _ = load_characters("test")
    assert f"from the folder {root} (from $COURSE_DATA_DIR)" in capsys.readouterr().out
    assert len(X) == 55 and X[y == 0].std() > 0
    X, _, _ = load_characters("messy")
    assert "no Messy split: using the synthetic beginners" in capsys.readouterr().out
    assert len(X) == 55
    only_messy = data_dir() / "synthetic-messy"  # the Messy split only, not the whole set
    assert sorted(p.name for p in only_messy.iterdir() if p.is_dir()) == ["Messy"]
    assert not sy.synthetic_root().exists()
    whole = generate_synthetic(sy.synthetic_root(), TINY, progress=False)
    for path in (only_messy / "Messy").rglob("*.png"):  # the same images either way
        assert path.read_bytes() == (whole / path.relative_to(only_messy)).read_bytes()
    assert sy.ensure_messy() == whole  # and the whole set is used once it is there


def test_real_subset_under_data_root_beats_kaggle(tiny_synthetic, tmp_path, monkeypatch, capsys):
    kaggle = tmp_path / "kaggle"
    write_dataset(kaggle / "casia-hwdb" / "export", classes=COURSE_CHARACTERS + "的")
    monkeypatch.setattr(ch, "KAGGLE_INPUT", kaggle)
    X, _, names = load_characters("train")  # extra classes in the export are left out
    assert "from the Kaggle input" in capsys.readouterr().out and len(names) == 55
    write_dataset(data_dir() / ch.REAL_SUBSET, per_class=2)
    X, _, _ = load_characters("train")
    assert "from the real CASIA subset" in capsys.readouterr().out and len(X) == 110


def test_kaggle_dataset_is_found_at_any_depth_and_decoys_are_named(
    tiny_synthetic, tmp_path, monkeypatch, capsys
):
    kaggle = tmp_path / "kaggle"
    write_dataset(kaggle / "a-pinyin" / "data", classes=["ren", "kou"])  # found first, unusable
    saved = write_dataset(kaggle / "a-saved" / "cv-course" / "data" / "synthetic-full")
    (saved / "dataset.json").write_text('{"source": "synthetic"}')  # an earlier session's cache
    write_dataset(kaggle / "b-casia" / "v2" / "export" / "png", classes=COURSE_CHARACTERS + "的")
    monkeypatch.setattr(ch, "KAGGLE_INPUT", kaggle)
    source = ch.find_characters()
    assert source.kind == "kaggle" and source.root == kaggle / "b-casia" / "v2" / "export" / "png"
    out = capsys.readouterr().out
    assert f"skipped {kaggle / 'a-pinyin' / 'data'}" in out and "'kou', 'ren'" in out
    assert f"skipped {saved}: it is the course's synthetic data" in out
    X, _, _ = load_characters("test")
    out = capsys.readouterr().out
    assert "skipped 1 class folder(s)" in out and "'的'" in out and len(X) == 55


def test_kaggle_input_without_a_usable_dataset_says_why(
    tiny_synthetic, tmp_path, monkeypatch, capsys
):
    kaggle = tmp_path / "kaggle"
    write_dataset(kaggle / "pinyin", classes=["ren"])
    (kaggle / "deep" / "1" / "2" / "3" / "4" / "5" / "6" / "Train").mkdir(parents=True)
    monkeypatch.setattr(ch, "KAGGLE_INPUT", kaggle)
    assert ch.find_characters().kind == "synthetic"
    assert "name each class folder by its character" in capsys.readouterr().out


def test_changed_files_are_reloaded_not_served_from_the_cache(
    tiny_synthetic, tmp_path, monkeypatch, capsys
):
    root = write_dataset(tmp_path / "d")
    monkeypatch.setenv("COURSE_DATA_DIR", str(root))
    load_characters("train")
    Image.fromarray(np.zeros((30, 20), np.uint8)).save(root / "Train" / "人" / "0.png")
    capsys.readouterr()
    X, y, names = load_characters("train")
    assert "from the images" in capsys.readouterr().out
    assert X[y == names.index("人")].max() == 0


@pytest.mark.parametrize(
    "damage, message",
    [
        ("missing", "does not exist. Fix the path"),
        ("no_test", "has no Test folder"),
        ("class_missing_in_test", r"missing \['人'\]"),
        ("empty_class", "has no images; remove it or add images"),
        ("zero_byte", "cannot read image .*0.png"),
    ],
)
def test_bad_datasets_say_what_to_do(tiny_synthetic, tmp_path, monkeypatch, damage, message):
    root = write_dataset(tmp_path / "d")
    if damage == "missing":
        root = tmp_path / "nowhere"
    elif damage == "no_test":
        import shutil

        shutil.rmtree(root / "Test")
    elif damage == "class_missing_in_test":
        import shutil

        shutil.rmtree(root / "Test" / "人")
    elif damage == "empty_class":
        (root / "Test" / "人" / "0.png").unlink()
    elif damage == "zero_byte":
        (root / "Test" / "人" / "0.png").write_bytes(b"")
    monkeypatch.setenv("COURSE_DATA_DIR", str(root))
    with pytest.raises((FileNotFoundError, ValueError), match=message):
        load_characters("test")


def test_partial_real_subset_is_reported(tiny_synthetic):
    (data_dir() / ch.REAL_SUBSET / "Train").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="fetch_casia"):
        load_characters("train")


def test_unknown_split():
    with pytest.raises(ValueError, match="split must be one of"):
        load_characters("validation")


def test_folders_of_killed_generations_are_cleaned_up(tmp_path):
    dead = tmp_path / ".s.partial-999999999-abcd1234"  # no process has this id
    (dead / "Train" / "人").mkdir(parents=True)
    import os

    alive = tmp_path / f".s.partial-{os.getpid()}-abcd1234"  # a generation still running
    alive.mkdir()
    generate_synthetic(tmp_path / "s", TINY, "人", processes=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive.name, "s"]


def test_a_damaged_array_cache_is_rebuilt(tiny_synthetic, capsys):
    load_characters("messy")
    (cached,) = (data_dir().parent / "cache" / "arrays").glob("messy-*.npz")
    cached.write_bytes(b"not an npz")
    capsys.readouterr()
    X, _, _ = load_characters("messy")
    assert "from the images" in capsys.readouterr().out and len(X) == 55


def test_a_finished_dataset_of_another_process_is_kept(tmp_path, monkeypatch):
    root = generate_synthetic(tmp_path / "s", TINY, "人", processes=1, progress=False)
    theirs = json.loads((root / "dataset.json").read_text())["id"]
    generate_synthetic(root, TINY, "人", processes=1, progress=False)  # same settings
    assert json.loads((root / "dataset.json").read_text())["id"] == theirs
    generate_synthetic(root, TINY, "人", seed=3, processes=1, progress=False)  # other settings
    assert json.loads((root / "dataset.json").read_text())["id"] != theirs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_arrays_key_changes_with_everything_that_determines_the_arrays(tmp_path):
    base = (tmp_path / "Train", "files-1", (80, 60), None)
    key = ch.arrays_key(*base)
    assert key == ch.arrays_key(*base) and len(key) == 20
    for i, other in enumerate([tmp_path / "Test", "files-2", (40, 30), 24]):
        changed = list(base)
        changed[i] = other
        assert ch.arrays_key(*changed) != key


# ------------------------------------------------------------- hostile and odd inputs


def test_changes_inside_a_symlinked_class_folder_are_seen(
    tiny_synthetic, tmp_path, monkeypatch, capsys
):
    root = write_dataset(tmp_path / "d")
    elsewhere = tmp_path / "elsewhere"
    (root / "Train" / "人").rename(elsewhere)
    (root / "Train" / "人").symlink_to(elsewhere, target_is_directory=True)
    monkeypatch.setenv("COURSE_DATA_DIR", str(root))
    load_characters("train")
    Image.fromarray(np.zeros((30, 20), np.uint8)).save(elsewhere / "0.png")
    capsys.readouterr()
    X, y, names = load_characters("train")
    assert "from the images" in capsys.readouterr().out  # not the stale array cache
    assert X[y == names.index("人")].max() == 0


@pytest.mark.parametrize(
    "damage, message",
    [
        ("loop", r"Test/人 is a symbolic link loop"),
        ("broken", r"cannot read .*gone\.png.*a broken link"),
        ("undecodable", r"the file name .*\\udcff\.png' is not valid text; rename it"),
    ],
)
def test_links_and_names_that_cannot_be_followed_are_named(
    tiny_synthetic, tmp_path, monkeypatch, damage, message
):
    root = write_dataset(tmp_path / "d")
    folder = root / "Test" / "人"
    if damage == "loop":
        shutil.rmtree(folder)
        folder.symlink_to(root / "Test", target_is_directory=True)
    elif damage == "broken":
        (folder / "gone.png").symlink_to(tmp_path / "nowhere.png")
    else:
        with open(os.path.join(os.fsencode(folder), b"\xff.png"), "wb") as f:  # not UTF-8
            f.write((folder / "0.png").read_bytes())
    monkeypatch.setenv("COURSE_DATA_DIR", str(root))
    with pytest.raises(ValueError, match=message):
        load_characters("test")


def test_a_damaged_compressed_array_cache_is_rebuilt_not_a_zlib_error(tiny_synthetic, capsys):
    X, y, _ = load_characters("messy")
    (cached,) = (data_dir().parent / "cache" / "arrays").glob("messy-*.npz")
    np.savez_compressed(cached, X=X, y=y)
    blob = bytearray(cached.read_bytes())
    blob[60:100] = bytes(b ^ 0xFF for b in blob[60:100])  # inside X's deflated bytes
    cached.write_bytes(bytes(blob))
    with pytest.raises(zlib.error), np.load(cached) as damaged:
        damaged["X"]  # what the loader used to raise
    capsys.readouterr()
    X2, _, _ = load_characters("messy")
    assert "from the images" in capsys.readouterr().out
    np.testing.assert_array_equal(X2, X)


@pytest.mark.needs_backend  # runs where JAX is installed
def test_generation_does_not_fork_a_process_running_jax(tmp_path):
    jax = pytest.importorskip("jax")
    jax.numpy.ones(3).block_until_ready()  # JAX's threads are running now
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        generate_synthetic(
            tmp_path / "g", {"Train": (1, 1)}, "人口", seed=1, processes=2, progress=False
        )
    assert not [w for w in caught if "fork" in str(w.message)]
    assert len(list((tmp_path / "g" / "Train").rglob("*.png"))) == 2


def test_read_only_folders_are_fingerprinted_by_names(tmp_path, monkeypatch):
    root = write_dataset(tmp_path / "d")
    writable = ch._fingerprint(root / "Train")
    monkeypatch.setattr(ch.os, "access", lambda path, mode: False)  # a Kaggle input
    before = ch._fingerprint(root / "Train")
    assert before != writable  # the two kinds never share a key
    image = root / "Train" / "人" / "0.png"
    os.utime(image, ns=(1, 1))  # cannot happen on a read-only disk; not looked at
    assert ch._fingerprint(root / "Train") == before
    image.rename(image.with_name("9.png"))
    assert ch._fingerprint(root / "Train") != before
