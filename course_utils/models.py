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


def character_cnn(num_classes: int = 55, input_shape=(80, 60, 1), hidden_units: int = 64,
                  invert: bool = False, name: str = "character_cnn"):
    """The small CNN of lesson 4: three conv/pool blocks, then two dense layers.

    Outputs logits (train with ``from_logits=True``). 80×60 inputs and 55 classes: 88,375
    parameters. The convolutional base ends at the layer named ``flatten`` (960 features).
    ``invert=True`` scales ink to 1 and paper to 0 instead of the reverse (lesson 8: with
    1,000 classes the network does not start learning otherwise).
    """
    keras = import_keras_quietly()
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


def train_classifier(model, X_train, y_train, X_val, y_val, *, name, from_logits, profile,
                     verbose=0):
    """Lesson 4's training recipe, shared by every lesson that trains a character classifier.

    Adam; sparse categorical cross-entropy (``from_logits=True`` when the model outputs
    logits); accuracy and top-5 accuracy; early stopping on validation accuracy that
    restores the best epoch's weights. Trained once through ``fit_or_load`` under ``name``,
    then reloaded whenever the model, the data and these settings are unchanged.
    """
    from .training import fit_or_load

    keras = import_keras_quietly()
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5")],
    )
    stop = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", patience=profile.patience, restore_best_weights=True
    )
    return fit_or_load(
        model, X_train, y_train, name=name, validation_data=(X_val, y_val),
        epochs=profile.epochs, batch_size=64, callbacks=[stop], verbose=verbose,
    )
