"""course_utils.lite0: EfficientNet-Lite0 is named like Keras's EfficientNetB0, its converted
ImageNet weights are cached under a cache.make_key key, and a damaged cache is rebuilt."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_utils import cache, lite0
from course_utils.config import cache_dir


def test_same_layer_names_as_keras_efficientnet():
    model = lite0.efficientnet_lite0(weights=None)
    names = {layer.name for layer in model.layers}
    assert {
        "stem_conv",
        "block1a_dwconv",
        "block6d_project_bn",
        "block7a_expand_conv",
        "top_conv",
        "predictions",
    } <= names
    assert model.count_params() == 4_694_024


def test_bad_arguments():
    with pytest.raises(ValueError, match="pooling"):
        lite0.efficientnet_lite0(include_top=False, pooling="mean", weights=None)
    with pytest.raises(ValueError, match="weights"):
        lite0.efficientnet_lite0(weights="instagram")


def test_pooled_base_shapes_and_freezing():
    pooled = lite0.efficientnet_lite0(include_top=False, input_shape=(64, 64, 3), pooling="avg")
    assert pooled.output.shape[1:] == (1280,)
    pooled.trainable = False
    assert not pooled.trainable_weights and len(pooled.non_trainable_weights) == len(pooled.weights)
    model = keras.Sequential([keras.Input((64, 64, 3)), pooled, keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    before = [w.numpy().copy() for w in pooled.weights]
    model.fit(
        np.random.default_rng(0).normal(size=(4, 64, 64, 3)), np.ones((4, 2)), epochs=1, verbose=0
    )
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, pooled.weights, strict=True))


def test_preprocess_input_maps_pixels_to_about_minus_one_to_one():
    np.testing.assert_allclose(lite0.preprocess_input([0, 127, 255]), [-127 / 128, 0, 1])


def test_converted_weights_are_cached_and_a_damaged_cache_is_rebuilt(capsys):
    first = lite0.imagenet_weights()
    assert "converted" in capsys.readouterr().out
    cached = list((cache_dir() / "pretrained").glob("efficientnet_lite0-*.npz"))
    assert len(cached) == 1 and not list(cached[0].parent.glob(".*"))  # no temporary left
    again = lite0.imagenet_weights()
    assert capsys.readouterr().out == ""  # loaded, not converted
    assert first.keys() == again.keys()
    assert all(np.array_equal(a, b) for k in first for a, b in zip(first[k], again[k], strict=True))
    cached[0].write_bytes(b"not a zip")
    lite0.imagenet_weights()
    assert "converted" in capsys.readouterr().out


def test_weights_key_follows_the_checkpoint_and_the_recipe_version(monkeypatch):
    key = lite0.weights_key("0" * 64)
    assert key == lite0.weights_key("0" * 64) and key != lite0.weights_key("1" * 64)
    bumped = cache.KEY_VERSIONS["lite0-weights"] + 1
    monkeypatch.setitem(cache.KEY_VERSIONS, "lite0-weights", bumped)
    assert lite0.weights_key("0" * 64) != key
