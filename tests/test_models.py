"""Lesson 4's two models have the sizes SYLLABUS §4 gives."""

from __future__ import annotations

import numpy as np

from course_utils.models import character_cnn, logistic_regression


def test_logistic_regression_is_one_dense_softmax_layer():
    model = logistic_regression()
    assert model.count_params() == 4800 * 55 + 55 == 264_055
    probs = model.predict(np.zeros((2, 80, 60, 1), np.uint8), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_character_cnn_has_88375_parameters_and_returns_logits():
    model = character_cnn()
    assert model.count_params() == 88_375
    assert model.layers[-1].activation.__name__ == "linear"
    assert model.output_shape == (None, 55)
    assert [layer.output.shape[1:] for layer in model.layers if "pool" in layer.name] == [
        (40, 30, 16),
        (20, 15, 32),
        (5, 3, 64),
    ]


def test_other_sizes():
    assert character_cnn(10, (32, 32, 1)).output_shape == (None, 10)
