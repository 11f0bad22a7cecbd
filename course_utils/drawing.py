"""The "Draw a character" widget: a trained CNN running in the reader's browser (lesson 4).

After lesson 4 trains its CNN, one cell shows a box where the reader writes one of the 55
characters with a mouse, pen or finger; the network's top five guesses update as they write,
beside the first convolutional layer's feature maps for their drawing::

    from course_utils.drawing import drawing_widget
    drawing_widget(cnn, class_names)

The model runs in the page, with no kernel and no network: ``drawing_widget`` exports the
trained weights (float32, base64: about 470 KB for lesson 4's 88,375 parameters) into the
cell's HTML output together with ``assets/drawing.js`` and ``assets/drawing.css``. So the
widget works the same in JupyterLab, Colab and Kaggle (whose output frames allow scripts),
on the rendered Quarto page and in its reveal.js slides, and offline.

Why a hand-written forward pass rather than a library such as TensorFlow.js or ONNX Runtime
Web: the layers of the course's CNN (rescaling, 3×3 convolution with "same" padding, ReLU,
max pooling, flatten, dense, softmax) are about a hundred lines of plain loops, the arithmetic
lesson 1 teaches, which a reader can open and follow. A library would add one to several
megabytes to every page that shows the widget (the budget is 1 MB, weights included), would
have to be vendored with its licence for offline use, and would hide that arithmetic. The
price is that only those layers are supported: ``drawing_widget`` refuses, with a message
naming the layer, a model that has any other (augmentation and dropout layers do nothing at
prediction time and are skipped).

The drawing goes through the training preprocessing: it is rendered the way
``handwriting.render_character`` makes a training image (dark strokes on white, about 90
pixels tall, cropped to the ink plus a 2-pixel margin), then made gray and resized to 80×60
exactly as ``data.load_image`` does, with Pillow's ``convert("L")`` and bilinear resize
rewritten in JavaScript to give the same bytes. The lesson's ``Rescaling`` layer follows in
the network itself.
"""

from __future__ import annotations

import base64
import html
import json
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from course_utils.config import import_keras_quietly

keras = import_keras_quietly()

ASSETS = Path(__file__).parent / "assets"
#: The most the widget may add to a page, in bytes (issue 19).
PAGE_BUDGET = 1_000_000
#: The layers the JavaScript implements.
SUPPORTED_LAYERS = ("Rescaling", "Conv2D", "MaxPooling2D", "Flatten", "Dense")
#: Layers that change nothing when a trained model predicts: skipped.
INFERENCE_NOOPS = (
    "InputLayer",
    "Dropout",
    "SpatialDropout2D",
    "GaussianNoise",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "RandomContrast",
    "RandomBrightness",
)


def _refuse(layer, why: str):
    raise ValueError(
        f"the drawing widget cannot run layer {layer.name!r} ({type(layer).__name__}) in the "
        f"browser: {why}. Its JavaScript implements {', '.join(SUPPORTED_LAYERS)} (channels "
        "last, ReLU or no activation, stride-1 convolutions, 'valid' pooling) and softmax "
        "on the last Dense layer; other layers would need code in course_utils/assets/drawing.js"
    )


def _relu(layer, config: dict, last: bool = False) -> bool:
    """True for ReLU, False for no activation (or a final softmax, which the JS applies)."""
    activation = config.get("activation", "linear")
    allowed = ("linear", "relu", "softmax") if last else ("linear", "relu")
    if activation not in allowed:
        _refuse(layer, f"activation {activation!r}")
    return activation == "relu"


def export_model(model) -> tuple[dict, np.ndarray]:
    """The model as the layer list the widget's JavaScript runs, and all its weights.

    Returns ``(spec, weights)``: ``spec`` has the input ``height`` and ``width`` and
    ``layers`` (dicts with ``type`` and settings; ``kernel`` and ``bias`` are offsets into
    ``weights``), ``weights`` is one float32 array of every kernel and bias in Keras's own
    axis order. Raises ``ValueError`` naming the first layer the JavaScript does not
    implement, and for a model that is not a ``keras.Sequential`` of 1-channel images.
    """
    if not isinstance(model, keras.Sequential):
        raise ValueError(f"the drawing widget runs keras.Sequential models, not {type(model)}")
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[-1] != 1 or None in shape[1:]:
        raise ValueError(
            f"the drawing widget needs a model of gray images, input shape (None, height, "
            f"width, 1) as in lesson 4, not {shape}"
        )
    layers, chunks, offset = [], [], 0

    def add(array) -> int:
        nonlocal offset
        chunks.append(np.asarray(array, dtype="<f4").ravel())
        offset += chunks[-1].size
        return offset - chunks[-1].size

    flat = False
    kinds = [type(layer).__name__ for layer in model.layers]
    last_dense = max((i for i, k in enumerate(kinds) if k == "Dense"), default=-1)
    for i, (layer, kind) in enumerate(zip(model.layers, kinds, strict=True)):
        config = layer.get_config()
        if kind in INFERENCE_NOOPS:
            continue
        if kind not in SUPPORTED_LAYERS:
            _refuse(layer, "this kind of layer is not implemented")
        if config.get("data_format", "channels_last") != "channels_last":
            _refuse(layer, "data_format 'channels_first'")
        if kind in ("Conv2D", "MaxPooling2D") and flat:
            _refuse(layer, "it comes after Flatten")
        if kind == "Rescaling":
            if not all(isinstance(config[k], int | float) for k in ("scale", "offset")):
                _refuse(layer, "scale and offset must be single numbers")
            spec = {"scale": float(config["scale"]), "offset": float(config["offset"])}
            layers.append({"type": "rescale", **spec})
        elif kind == "Conv2D":
            if tuple(config["strides"]) != (1, 1) or tuple(config["dilation_rate"]) != (1, 1):
                _refuse(layer, "strides and dilation must be 1")
            if config["groups"] != 1 or config["padding"] not in ("same", "valid"):
                _refuse(layer, "groups must be 1 and padding 'same' or 'valid'")
            kernel, *bias = layer.get_weights()
            kh, kw = config["kernel_size"]
            layers.append(
                {"type": "conv", "kh": kh, "kw": kw, "filters": config["filters"],
                 "same": config["padding"] == "same", "relu": _relu(layer, config),
                 "kernel": add(kernel), "bias": add(bias[0]) if bias else -1}
            )  # fmt: skip
        elif kind == "MaxPooling2D":
            if config["padding"] != "valid":
                _refuse(layer, "pooling padding must be 'valid'")
            (ph, pw), (sh, sw) = config["pool_size"], config["strides"]
            layers.append({"type": "pool", "ph": ph, "pw": pw, "sh": sh, "sw": sw})
        elif kind == "Flatten":
            flat = True
            layers.append({"type": "flatten"})
        else:  # Dense
            if not flat:
                _refuse(layer, "a Dense layer needs Flatten before it")
            kernel, *bias = layer.get_weights()
            layers.append(
                {"type": "dense", "units": config["units"],
                 "relu": _relu(layer, config, last=i == last_dense),
                 "kernel": add(kernel), "bias": add(bias[0]) if bias else -1}
            )  # fmt: skip
    if not layers or layers[-1]["type"] != "dense":
        raise ValueError("the drawing widget needs a model that ends with a Dense layer")
    spec = {"height": int(shape[1]), "width": int(shape[2]), "layers": layers,
            "heightFirst": pillow_resizes_height_first()}  # fmt: skip
    return spec, np.concatenate(chunks)


def pillow_resizes_height_first() -> bool:
    """Whether this Pillow resizes vertically first when the height shrinks much more than
    the width (Pillow 13, python-pillow/Pillow#9549; before, always horizontally first).
    Its two passes round in between, so the JavaScript follows the same order."""
    probe = Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 40), np.uint8))
    bilinear = Image.Resampling.BILINEAR
    direct = probe.resize((60, 80), bilinear)
    height_first = probe.resize((40, 80), bilinear).resize((60, 80), bilinear)
    return np.array_equal(np.asarray(direct), np.asarray(height_first))


class DrawingWidget:
    """The widget for one trained model; Jupyter shows it (``_repr_html_``), ``save`` writes
    it as a page of its own. Every rendering gets a new element id, so that the same widget
    can appear twice on one page."""

    def __init__(self, spec: dict, weights: np.ndarray, class_names: Sequence[str], top: int):
        self.spec = {**spec, "classes": list(class_names), "top": top}
        self.weights_base64 = base64.b64encode(weights.astype("<f4").tobytes()).decode("ascii")

    def html(self, element_id: str | None = None) -> str:
        """The widget's HTML: its element, its CSS and a script that runs it."""
        element_id = element_id or f"cv-drawing-{uuid.uuid4().hex[:12]}"
        js = (ASSETS / "drawing.js").read_text(encoding="utf-8")
        css = (ASSETS / "drawing.css").read_text(encoding="utf-8")
        spec = json.dumps(self.spec, ensure_ascii=False).replace("</", "<\\/")
        label = "Draw a character: the network trained in this lesson guesses what you write"
        return (
            f'<style>{css}</style>\n<div class="cv-drawing" id="{html.escape(element_id)}" '
            f'role="group" aria-label="{label}">\n'
            '<p class="cvd-nojs">A drawing box where the network guesses the character you '
            "write. It needs JavaScript: in Jupyter, run the cell again (or trust the "
            "notebook).</p>\n</div>\n"
            f"<script>\n(function () {{\n{js}\ninitDrawing({json.dumps(element_id)}, {spec}, "
            f'"{self.weights_base64}");\n}})();\n</script>'
        )

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        n = len(self.spec["classes"])
        return f"<DrawingWidget: a drawing box for {n} classes (shown as HTML)>"

    def save(self, path: str | Path, title: str = "Draw a character") -> Path:
        """Write the widget as a page of its own (UTF-8 HTML); returns the path."""
        page = (
            f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n</head>\n<body>\n{self.html()}\n</body>\n"
            "</html>\n"
        )
        path = Path(path)
        path.write_text(page, encoding="utf-8")
        return path


def drawing_widget(model, class_names: Sequence[str], *, top: int = 5) -> DrawingWidget:
    """A box where the reader writes a character and ``model`` guesses it, in the browser.

    Lesson 4 shows it after training its CNN (``drawing_widget(cnn, class_names)``).

    Args:
        model: a trained ``keras.Sequential`` on gray images, such as lesson 4's CNN
            (``models.character_cnn``), giving logits or softmax probabilities.
        class_names: the class of each output, in label order.
        top: how many guesses to list.
    Returns:
        A :class:`DrawingWidget`; the last line of a cell shows it.
    Raises:
        ValueError: a layer the widget's JavaScript does not implement (the message names
            it), a class list of the wrong length, or a model too large for the page.
    """
    spec, weights = export_model(model)
    units = spec["layers"][-1]["units"]
    if len(class_names) != units:
        raise ValueError(f"the model has {units} outputs but {len(class_names)} class names")
    if not 1 <= top <= units:
        raise ValueError(f"top must be between 1 and {units}, got {top}")
    widget = DrawingWidget(spec, weights, class_names, top)
    size = len(widget.html().encode("utf-8"))
    if size > PAGE_BUDGET:
        raise ValueError(
            f"the widget would add {size / 1e6:.1f} MB to the page ({weights.size:,} weights); "
            f"the budget is {PAGE_BUDGET / 1e6:.0f} MB: use a smaller model"
        )
    return widget
