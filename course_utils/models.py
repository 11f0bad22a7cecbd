"""Lesson 4's two models, for the lessons that reuse them (5, 7, 8) and the data-realism
measurement. Lesson 4 writes both out in its cells and checks that they equal these."""

from __future__ import annotations

from course_utils.config import import_keras_quietly

keras = import_keras_quietly()


def logistic_regression(num_classes: int = 55, input_shape=(80, 60, 1)):
    """Multinomial logistic regression as a network: every pixel feeds every class score.

    Outputs probabilities (softmax). 80×60 inputs and 55 classes: 264,055 parameters.
    """
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Flatten(),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Dense(num_classes, activation="softmax"),
        ],
        name="logistic_regression",
    )


def character_cnn(
    num_classes: int = 55,
    input_shape=(80, 60, 1),
    hidden_units: int = 64,
    invert: bool = False,
    name: str = "character_cnn",
):
    """The small CNN of lesson 4: three conv/pool blocks, then two dense layers.

    Outputs logits (train with ``from_logits=True``). 80×60 inputs and 55 classes: 88,375
    parameters. The convolutional base ends at the layer named ``flatten`` (960 features).
    ``invert=True`` scales ink to 1 and paper to 0 instead of the reverse (lesson 8: with
    1,000 classes the network does not start learning otherwise).
    """
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Rescaling(-1 / 255, offset=1.0) if invert else layers.Rescaling(1 / 255),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(4),
            layers.Flatten(name="flatten"),
            layers.Dense(hidden_units, activation="relu"),
            layers.Dense(num_classes),
        ],
        name=name,
    )
