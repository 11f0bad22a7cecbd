"""The "Draw a character" widget (course_utils.drawing, issue 19): the exported model and its
HTML, and in headless Chromium its preprocessing and forward pass against Pillow and Keras,
and the drawing box driven with a mouse."""

from __future__ import annotations

import base64
import re
import tomllib
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from course_utils.characters import CLASS_NAMES
from course_utils.data import load_image, load_image_folder
from course_utils.drawing import (
    ASSETS,
    PAGE_BUDGET,
    drawing_widget,
    export_model,
    pillow_resizes_height_first,
)
from course_utils.models import character_cnn
from course_utils.synthetic import COURSE_CHARACTERS, writer_samples
from tools import browser

#: Synthetic writers: six for training (330 images), one for the test images (55).
WRITERS = {"Train": range(1, 7), "Test": [1]}
#: A top-1 comparison needs the first two Keras probabilities this far apart: closer, float
#: rounding could swap them (JavaScript and Keras agree to about 1e-6).
NEAR_TIE = 1e-5
#: 口 in the drawing area's CSS pixels (240 × 320): left side, top and right side, bottom.
KOU = [[(60, 90), (62, 250)], [(60, 90), (180, 88), (178, 250)], [(62, 246), (176, 246)]]


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ---- Without a browser: the export and the HTML ------------------------------------------


def test_the_page_carries_the_weights_within_the_budget_and_nothing_to_fetch():
    keras.utils.set_random_seed(0)
    model = character_cnn()
    widget = drawing_widget(model, CLASS_NAMES)
    page = widget.html()
    size = len(page.encode("utf-8"))
    assert 4 * 88_375 * 4 / 3 < size < PAGE_BUDGET  # the base64 weights, and under 1 MB
    (encoded,) = re.findall(r'"([A-Za-z0-9+/=]{400000,})"', page)
    weights = np.frombuffer(base64.b64decode(encoded), dtype="<f4")
    expected = np.concatenate([w.ravel() for w in model.get_weights()])
    np.testing.assert_array_equal(weights, expected)
    assert not re.search(r"https?://|\bsrc=|\bhref=|@import", page), "the widget must work offline"
    assert page.count("</script>") == 1 and "initDrawing(" in page
    assert widget.html() != widget.html()  # a new element id for every rendering
    assert widget._repr_html_().startswith("<style>")


def test_the_javascript_and_css_ship_with_the_package():
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert "assets/*" in pyproject["tool"]["setuptools"]["package-data"]["course_utils"]
    assert {"drawing.js", "drawing.css"} <= {p.name for p in ASSETS.iterdir()}


def test_the_export_lists_lesson_4s_layers():
    spec, weights = export_model(character_cnn())
    assert [layer["type"] for layer in spec["layers"]] == [
        "rescale", "conv", "pool", "conv", "pool", "conv", "pool", "flatten", "dense", "dense",
    ]  # fmt: skip
    assert (spec["height"], spec["width"]) == (80, 60) and weights.size == 88_375
    assert spec["layers"][0] == {"type": "rescale", "scale": 1 / 255, "offset": 0.0}
    inverted, _ = export_model(character_cnn(invert=True))
    assert inverted["layers"][0] == {"type": "rescale", "scale": -1 / 255, "offset": 1.0}
    assert [layer["relu"] for layer in spec["layers"] if "relu" in layer] == [1, 1, 1, 1, 0]
    assert spec["heightFirst"] == pillow_resizes_height_first()


L = keras.layers
#: Models with one layer the JavaScript does not run, by that layer's name.
UNSUPPORTED = {
    "bn": lambda: [L.BatchNormalization(name="bn"), L.Flatten()],
    "strided": lambda: [L.Conv2D(4, 3, strides=2, name="strided"), L.Flatten()],
    "tanh": lambda: [L.Conv2D(4, 3, activation="tanh", name="tanh"), L.Flatten()],
    "avg": lambda: [L.AveragePooling2D(2, name="avg"), L.Flatten()],
    "gap": lambda: [L.GlobalAveragePooling2D(name="gap")],
    "padded": lambda: [L.MaxPooling2D(padding="same", name="padded"), L.Flatten()],
    "mid": lambda: [L.Flatten(), L.Dense(8, activation="softmax", name="mid")],
    "on_image": lambda: [L.Dense(8, name="on_image")],  # Dense without Flatten
}


@pytest.mark.parametrize("named", list(UNSUPPORTED))
def test_a_layer_the_javascript_does_not_implement_is_refused_by_name(named):
    model = keras.Sequential([keras.Input((80, 60, 1)), *UNSUPPORTED[named](), L.Dense(55)])
    with pytest.raises(ValueError, match=f"layer '{named}'.*Its JavaScript implements"):
        drawing_widget(model, CLASS_NAMES)


def test_other_models_and_arguments_are_refused():
    inputs = keras.Input((80, 60, 1))
    functional = keras.Model(inputs, L.Dense(55)(L.Flatten()(inputs)))
    with pytest.raises(ValueError, match="keras.Sequential"):
        drawing_widget(functional, CLASS_NAMES)
    rgb = keras.Sequential([keras.Input((80, 60, 3)), L.Flatten(), L.Dense(55)])
    with pytest.raises(ValueError, match="gray images"):
        drawing_widget(rgb, CLASS_NAMES)
    with pytest.raises(ValueError, match="55 outputs but 3 class names"):
        drawing_widget(character_cnn(), ["口", "日", "木"])
    with pytest.raises(ValueError, match="top must be"):
        drawing_widget(character_cnn(), CLASS_NAMES, top=0)


def test_dropout_and_augmentation_are_skipped_as_at_prediction_time():
    model = keras.Sequential(
        [keras.Input((80, 60, 1)), L.RandomFlip(), L.Flatten(), L.Dropout(0.5), L.Dense(55)]
    )
    spec, _ = export_model(model)
    assert [layer["type"] for layer in spec["layers"]] == ["flatten", "dense"]


# ---- In Chromium: the same numbers as Pillow and Keras, and the drawing box -------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Lesson 4's CNN trained for 10 epochs on 330 synthetic images: far from a tie, unlike a
    fresh network whose 55 probabilities are all close to 1/55."""
    root = tmp_path_factory.mktemp("drawing") / "characters"
    for split, writers in WRITERS.items():  # generate_synthetic's files, without its workers
        images = iter(writer_samples(COURSE_CHARACTERS, writers, split))
        for writer in writers:
            for char in COURSE_CHARACTERS:
                (root / split / char).mkdir(parents=True, exist_ok=True)
                Image.fromarray(next(images)).save(root / split / char / f"{writer}.png")
    X, y, class_names = load_image_folder(root / "Train", class_names=CLASS_NAMES)
    keras.utils.set_random_seed(7)
    model = character_cnn(len(class_names))
    model.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(X, y, epochs=10, batch_size=32, verbose=0)
    return model, class_names, root


@pytest.fixture(scope="module")
def page(trained, tmp_path_factory):
    if reason := browser.missing():
        pytest.skip(reason)
    model, class_names, _ = trained
    path = drawing_widget(model, class_names).save(tmp_path_factory.mktemp("page") / "w.html")
    with browser.chromium() as chromium:
        page = chromium.new_page(viewport={"width": 900, "height": 600})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_function("Object.keys(window.cvCourseDrawing || {}).length === 1")
        page.evaluate("window.hook = Object.values(window.cvCourseDrawing)[0]")
        yield page
        assert not errors, errors


RUN_FILES = """async (files) => {
  const out = [];
  for (const b64 of files) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const input = await hook.preprocessBlob(new Blob([bytes], { type: "image/png" }));
    const { probs, logits } = hook.predict(input);
    out.push({ input: Array.from(input), probs, logits });
  }
  return out;
}"""


def test_test_images_give_pillows_input_and_keras_probabilities_in_the_browser(
    trained, page, tmp_path
):
    model, class_names, root = trained
    files = sorted((root / "Test").glob("*/*.png"))
    assert len(files) >= 50
    sizes = [Image.open(f).size for f in files]  # both of Pillow 13's pass orders occur
    assert {h > 80 and h - 80 > 2 * (w - 60) for w, h in sizes} == {True, False}
    for i, f in enumerate(files[:5]):  # colour files exercise convert("L")'s weights
        rgb = np.asarray(Image.open(f).convert("RGB")) * np.array([1.0, 0.8, 0.6])
        Image.fromarray(rgb.astype(np.uint8)).save(tmp_path / f"rgb{i}.png")
        files.append(tmp_path / f"rgb{i}.png")
    X = np.stack([load_image(f) for f in files])
    found = page.evaluate(RUN_FILES, [base64.b64encode(f.read_bytes()).decode() for f in files])

    inputs = np.array([r["input"] for r in found], dtype=np.uint8).reshape(X.shape)
    np.testing.assert_array_equal(inputs, X)  # the same bytes as load_image
    logits = model.predict(X, verbose=0)
    js_logits = np.array([r["logits"] for r in found])
    np.testing.assert_allclose(js_logits, logits, rtol=1e-4, atol=1e-4 * np.abs(logits).max())
    probs, js_probs = softmax(logits.astype(np.float64)), np.array([r["probs"] for r in found])
    gap = np.abs(js_probs - probs).max()
    assert gap < 1e-4
    top2 = np.sort(probs, axis=1)[:, -2:]
    decisive = top2[:, 1] - top2[:, 0] > NEAR_TIE
    assert decisive.sum() >= 50 and probs.max(axis=1).mean() > 2 / len(class_names)
    same = js_probs.argmax(axis=1) == probs.argmax(axis=1)
    assert same[decisive].all()
    print(
        f"\n{len(files)} images: inputs equal, max |p_js - p_keras| = {gap:.2e}, "
        f"top-1 equal for {same.sum()} ({decisive.sum()} clear of a tie)"
    )


def test_the_feature_maps_are_the_first_convolutions_output(trained, page, tmp_path):
    model, _, root = trained
    x = load_image(sorted((root / "Test").glob("*/*.png"))[0])
    found = page.evaluate("(x) => hook.featureMaps(x)", x.ravel().tolist())
    first = keras.Model(model.inputs, model.layers[1].output)  # Rescaling, then Conv2D
    expected = first.predict(x[np.newaxis], verbose=0)[0]
    maps = np.array(found["maps"]).reshape(16, 80, 60).transpose(1, 2, 0)
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-5)


def _draw(page, strokes):
    box = page.locator(".cvd-pad").bounding_box()
    sx, sy = box["width"] / 240, box["height"] / 320
    for stroke in strokes:
        (x, y), *rest = stroke
        page.mouse.move(box["x"] + x * sx, box["y"] + y * sy)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + x * sx, box["y"] + y * sy, steps=6)
        page.mouse.up()


STATE = """() => {
  const root = document.querySelector(".cv-drawing");
  const pixels = (c) => Array.from(c.getContext("2d").getImageData(0, 0, c.width, c.height).data);
  const pad = pixels(root.querySelector(".cvd-pad"));
  const tiles = Array.from(root.querySelectorAll(".cvd-maps canvas"), pixels);
  return {
    strokes: hook.strokes(), input: hook.input(),
    guesses: Array.from(root.querySelectorAll(".cvd-row"), (r) => [
      r.querySelector(".cvd-char").textContent, r.querySelector(".cvd-p").textContent]),
    padInk: pad.filter((v, i) => i % 4 === 0 && v < 128).length,
    tiles: tiles.map((t) => ({ alpha: Math.max(...t.filter((v, i) => i % 4 === 3)),
      levels: new Set(t.filter((v, i) => i % 4 === 0)).size })),
  };
}"""


def test_strokes_give_guesses_and_feature_maps_and_undo_and_clear_work(trained, page):
    model, class_names, _ = trained
    _draw(page, KOU)
    page.wait_for_function("hook.strokes().length === 3 && hook.input() !== null")
    drawn = page.evaluate(STATE)
    assert len(drawn["guesses"]) == 5 and all(c in class_names for c, _ in drawn["guesses"])
    assert all(re.fullmatch(r"\d+(\.\d)?%", p) for _, p in drawn["guesses"])
    assert len(drawn["tiles"]) == 16 and all(t["alpha"] == 255 for t in drawn["tiles"])
    assert sum(t["levels"] > 1 for t in drawn["tiles"]) >= 8  # maps with structure, not flat
    x = np.array(drawn["input"], dtype=np.uint8).reshape(1, 80, 60, 1)
    assert (x < 128).mean() > 0.05 and (x > 200).mean() > 0.5  # dark strokes on white
    [top] = softmax(model.predict(x, verbose=0).astype(np.float64))
    best = class_names[int(top.argmax())]
    assert drawn["guesses"][0][0] == best  # what Keras says about the same input

    page.locator(".cvd-undo").click()
    undone = page.evaluate(STATE)
    assert undone["strokes"] == drawn["strokes"][:2]
    assert 0 < undone["padInk"] < drawn["padInk"] and undone["input"] != drawn["input"]
    page.locator(".cvd-pad").focus()
    page.keyboard.press("Control+z")
    assert len(page.evaluate(STATE)["strokes"]) == 1

    page.locator(".cvd-clear").click()
    cleared = page.evaluate(STATE)
    assert cleared["strokes"] == [] and cleared["input"] is None and cleared["padInk"] == 0
    assert all(c == p == "" for c, p in cleared["guesses"])
    assert all(t["alpha"] == 0 for t in cleared["tiles"])

    page.evaluate("(s) => hook.drawStrokes(s)", KOU)  # the test hook draws the same strokes
    again = page.evaluate(STATE)
    assert again["guesses"][0][0] and again["input"] is not None
    page.locator(".cvd-pad").focus()
    page.keyboard.press("Escape")
    assert page.evaluate(STATE)["strokes"] == []


def test_a_scaled_slide_maps_the_pointer_back_to_the_drawing_area(page):
    """reveal.js shrinks a slide with a CSS transform; a stroke must land where it is drawn."""
    page.evaluate("""() => {
      hook.clear();
      const root = document.querySelector(".cv-drawing");
      root.style.transform = "scale(0.5)";
      root.style.transformOrigin = "0 0";
    }""")
    try:
        _draw(page, [[(120, 160), (120, 200)]])  # _draw reads the scaled box
        [[start, *_, end]] = page.evaluate("hook.strokes()")
        assert abs(start[0] - 120) < 3 and abs(start[1] - 160) < 3 and abs(end[1] - 200) < 3
    finally:
        page.evaluate("""() => {
          document.querySelector(".cv-drawing").style.transform = "";
          hook.clear();
        }""")
