"""The two models of lesson 4, shared by the lessons and the data-realism measurement."""

from __future__ import annotations

from .config import import_keras_quietly


def logistic_regression(num_classes: int = 55, input_shape=(80, 60, 1)):
    """Multinomial logistic regression as a network: every pixel feeds every class score.

    Outputs probabilities (softmax). 80×60 inputs and 55 classes: 264,055 parameters.
    """
    keras = import_keras_quietly()
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Flatten(),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Dense(num_classes, activation="softmax"),
        ],
        name="logistic_regression",
    )


def character_cnn(num_classes: int = 55, input_shape=(80, 60, 1)):
    """The small CNN of lesson 4: three conv/pool blocks, then two dense layers.

    Outputs logits (train with ``from_logits=True``). 80×60 inputs and 55 classes: 88,375
    parameters.
    """
    keras = import_keras_quietly()
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Rescaling(1 / 255),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(4),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(num_classes),
        ],
        name="character_cnn",
    )
