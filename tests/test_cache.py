"""Cache keys change with every value that determines a result, and each key recipe is pinned."""

from __future__ import annotations

from pathlib import Path

import keras_tuner as kt
import numpy as np
import pytest

from course_utils import cache, lite0
from course_utils.cache import digest, make_key, write_atomically, write_folder_atomically
from course_utils.characters import arrays_key
from course_utils.training import fit_key
from course_utils.tuning import tuner_project

X = np.arange(24, dtype="float32").reshape(6, 4)
Y = np.array([0, 1, 0, 1, 1, 0])


class FakeModel:
    """Stands in for a Keras model whose config does not depend on the Keras version."""

    compiled = True
    name = "fake"
    layers = []

    def __init__(self):
        self.weights = [np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3)]

    def get_config(self):
        return {
            "name": "fake_3",
            "layers": [{"class_name": "Dense", "config": {"name": "dense_1", "units": 3}}],
        }

    def get_compile_config(self):
        return {"optimizer": "adam", "loss": "mse"}


def fake_build(hp):
    hp.Choice("units", [2, 4])
    return FakeModel()


def fit_recipe():
    return fit_key(
        FakeModel(),
        X,
        Y,
        validation_data=(X, Y),
        epochs=3,
        batch_size=2,
        class_weight={0: 1.0, 1: 2.0},
        sample_weight=np.ones(6),
    )


def tuner_recipe():
    return tuner_project(
        "pin", kt.RandomSearch, fake_build, (X, Y), objective="val_accuracy", max_trials=3, seed=1
    )


def arrays_recipe():
    return arrays_key(Path("/nonexistent/pin/Train"), "pin-fingerprint", (80, 60), 24)


#: recipe -> (the version it was pinned at, the function computing it on fixed inputs, key).
#: When a recipe changes on purpose: bump cache.KEY_VERSIONS[recipe], then update the pin.
PINS = {
    "fit": (2, fit_recipe, "89ae948399acf4a1fbbd"),
    "arrays": (2, arrays_recipe, "598707ff805dedc6a482"),
    "lite0-weights": (2, lambda: lite0.weights_key("0" * 64), "c264d2d8d127f1dc7b3d"),
    "tuner": (2, tuner_recipe, "pin-RandomSearch-4184e5829ee5"),
}


@pytest.mark.parametrize("recipe", sorted(cache.KEY_VERSIONS))
def test_every_key_recipe_is_pinned(recipe):
    assert recipe in PINS, f"add a pin for the key recipe {recipe!r} to PINS"
    version, compute, expected = PINS[recipe]
    key = compute()
    if cache.KEY_VERSIONS[recipe] != version:
        pytest.fail(
            f"KEY_VERSIONS[{recipe!r}] is {cache.KEY_VERSIONS[recipe]}, pinned at "
            f"{version}: update the pin to ({cache.KEY_VERSIONS[recipe]}, ..., {key!r})"
        )
    assert key == expected, (
        f"the {recipe!r} key recipe changed (now {key!r}) without a version bump: bump "
        f"cache.KEY_VERSIONS[{recipe!r}] so old entries are never matched, then update the pin"
    )


def test_arrays_go_in_by_every_byte():
    a = np.zeros(5000)
    b = a.copy()
    b[2500] = 1e-12
    assert digest(a) != digest(b)
    assert digest(a.astype("float32")) != digest(a)  # dtype
    assert digest(a.reshape(50, 100)) != digest(a)  # shape
    assert digest(np.asfortranarray(np.eye(3))) == digest(np.eye(3))  # layout does not matter


def test_functions_go_in_by_code_and_captured_values():
    def make(k):
        return lambda x: x * k

    assert digest(make(2)) == digest(make(2))
    assert digest(make(2)) != digest(make(3))
    assert digest(lambda x: x + 1) != digest(lambda x: x + 2)


def test_objects_go_in_by_their_settings_not_their_state():
    class Stopper:
        def __init__(self, patience=2, verbose=0):
            self.patience, self.verbose, self.wait = patience, verbose, 0

    a, b = Stopper(2), Stopper(2)
    b.wait = 7  # run state
    assert digest(a) == digest(b) == digest(Stopper(2, verbose=1))
    assert digest(a) != digest(Stopper(3))


def test_dict_keys_of_any_type_and_numpy_scalars():
    assert digest({np.int64(1): np.float32(0.5)}) == digest({1: 0.5})
    assert make_key("fit", {1: 2}) != make_key("fit", {1: 3})
    with pytest.raises(ValueError, match="KEY_VERSIONS"):
        make_key("no-such-recipe", 1)


def test_self_referencing_objects_do_not_recurse_forever():
    class Node:
        def __init__(self, other=None):
            self.other = other

    node = Node()
    node.other = node
    assert isinstance(digest(node), dict)


def test_write_atomically_replaces_whole_files_and_cleans_up_failures(tmp_path):
    target = tmp_path / "sub" / "cache.npz"
    write_atomically(target, lambda tmp: tmp.write_bytes(b"first"))
    write_atomically(target, lambda tmp: tmp.write_bytes(b"second"))
    assert target.read_bytes() == b"second"

    def fail(tmp):
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, fail)
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["cache.npz"]  # no leftovers


def test_write_folder_atomically_swaps_whole_folders(tmp_path):
    target = tmp_path / "entry"
    write_folder_atomically(target, lambda tmp: (tmp / "a").write_text("1"))
    write_folder_atomically(target, lambda tmp: (tmp / "b").write_text("2"))
    assert sorted(p.name for p in target.iterdir()) == [cache.MARKER, "b"]  # made by the course

    def fail(tmp):
        (tmp / "c").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_folder_atomically(target, fail)
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]
    assert sorted(p.name for p in target.iterdir()) == [cache.MARKER, "b"]


def test_abandoned_partial_folders_are_removed_live_ones_kept(tmp_path):
    target = tmp_path / "data"
    live = cache.partial_folder(target)  # this process: alive
    dead = tmp_path / ".data.partial-999999999-x"
    dead.mkdir()
    cache.remove_abandoned(target)
    assert live.exists() and not dead.exists()


def test_numpy_floats_key_like_python_floats():
    assert digest({0: np.float64(1.5)}) == digest({0: 1.5}) == digest({0: np.float32(1.5)})
