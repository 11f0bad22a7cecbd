"""The gradient of a class score with respect to feature maps, on every backend (lesson 5).

Lesson 5's Grad-CAM needs one gradient, and Keras has no backend-neutral call for it. The
trick: a model whose only trainable weight is a shift added to the maps, in front of the
head; the loss is minus the chosen logits, summed. One SGD step with a learning rate of 1
moves the shift from 0 to exactly the gradient. It uses public Keras API only.
"""

from __future__ import annotations

import numpy as np

from .config import import_keras_quietly

keras = import_keras_quietly()


class _MinusChosenLogits(keras.losses.Loss):
    def call(self, y_true, y_pred):
        chosen = keras.ops.expand_dims(keras.ops.cast(y_true, "int32"), -1)
        return -keras.ops.take_along_axis(y_pred, chosen, axis=-1)[:, 0]


class _ShiftedMaps(keras.Model):
    """``head(maps + shift)``, whatever the input; ``shift`` starts at 0."""

    def __init__(self, head, maps):
        super().__init__(name="shifted_maps")
        self.head = head
        self.maps = self.add_weight(
            maps.shape, keras.initializers.Constant(maps), trainable=False, name="maps"
        )
        self.shift = self.add_weight(maps.shape, "zeros", name="shift")

    def call(self, x, training=False):
        return self.head(self.maps + self.shift, training=False)  # dropout off


def _with_sublayers(layer):
    yield layer
    for sub in getattr(layer, "layers", []):
        yield from _with_sublayers(sub)


def class_score_gradients(head, maps, classes) -> np.ndarray:
    """The gradient of each image's logit for its class with respect to the feature maps
    that ``head`` (a Keras model from feature maps to logits) receives, shaped like
    ``maps``: ``classes[i]`` is the class of image ``i`` (lesson 5, Grad-CAM). The head's
    weights and trainable flags are left as they were."""
    maps = np.asarray(maps, dtype="float32")
    classes = np.asarray(classes).astype(int)
    expected, logits = tuple(head.inputs[0].shape[1:]), head.outputs[0].shape[-1]
    if maps.ndim < 2 or maps.shape[1:] != expected:
        raise ValueError(f"maps must be (images, *{expected}), got {maps.shape}")
    if classes.shape != maps.shape[:1] or np.any((classes < 0) | (classes >= logits)):
        raise ValueError(f"need one class in [0, {logits}) per map, got {classes.shape}")
    layers = list(_with_sublayers(head))  # parents before their sublayers
    trainable = [layer.trainable for layer in layers]
    head.trainable = False  # the shift is the only weight the step moves
    try:
        model = _ShiftedMaps(head, maps)
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=1.0),
            loss=_MinusChosenLogits(name="minus_chosen_logits", reduction="sum"),
        )
        model.train_on_batch(np.zeros((len(maps), 1), "float32"), classes)
        shift = keras.ops.convert_to_numpy(model.shift)
    finally:
        for layer, flag in zip(layers, trainable, strict=True):
            layer.trainable = flag
    return shift  # SGD: shift = 0 - 1.0 * d(-logit)/d(maps), the gradient itself
