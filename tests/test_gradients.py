"""``class_score_gradients``: the gradient lesson 5's Grad-CAM needs, on any backend."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_utils.gradients import class_score_gradients

SHAPE = (4, 3, 2)  # rows, columns, channels of the feature maps


def linear_head(classes=5):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(classes)]
    )


def relu_head(classes=4):
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input(SHAPE),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dropout(0.5),  # must be off while the gradient is taken
            keras.layers.Dense(classes),
        ]
    )


def maps_and_classes(n, classes, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *SHAPE)).astype("float32"), np.arange(n) % classes


def test_a_linear_head_gives_its_kernel_column():
    head = linear_head()
    maps, classes = maps_and_classes(7, 5)
    grads = class_score_gradients(head, maps, classes)
    kernel = keras.ops.convert_to_numpy(head.layers[-1].kernel)
    expected = np.stack([kernel[:, c].reshape(SHAPE) for c in classes])
    assert grads.shape == maps.shape
    np.testing.assert_allclose(grads, expected, atol=1e-5)


def test_a_relu_head_matches_central_differences():
    head = relu_head()
    maps, classes = maps_and_classes(3, 4, seed=2)
    grads = class_score_gradients(head, maps, classes)
    eps, rows = 1e-3, np.arange(len(maps))  # small: few kinks of ReLU or max in reach
    for i in np.ndindex(*SHAPE):
        step = np.zeros_like(maps)
        step[(slice(None), *i)] = eps
        up, down = (head.predict(maps + s, verbose=0)[rows, classes] for s in (step, -step))
        np.testing.assert_allclose(grads[(slice(None), *i)], (up - down) / (2 * eps), atol=1e-3)


def test_the_head_keeps_its_weights_and_trainable_flags():
    head = relu_head()
    head.layers[-1].trainable = False  # one frozen layer, the others trainable
    before = [w.copy() for w in head.get_weights()]
    flags = [layer.trainable for layer in head.layers]
    class_score_gradients(head, *maps_and_classes(2, 4))
    for old, new in zip(before, head.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    assert [layer.trainable for layer in head.layers] == flags
    assert head.trainable


def test_bad_shapes_and_classes_are_refused():
    head = linear_head()
    maps, classes = maps_and_classes(3, 5)
    with pytest.raises(ValueError, match="maps must be"):
        class_score_gradients(head, maps[:, :2], classes)
    with pytest.raises(ValueError, match="one class"):
        class_score_gradients(head, maps, classes[:2])
    with pytest.raises(ValueError, match="one class"):
        class_score_gradients(head, maps, [0, 1, 5])
