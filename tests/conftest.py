"""Shared fixtures: small image folders with Chinese class names, made on the fly."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
from PIL import Image

CLASSES = ["口", "日", "木"]


def write_image_folder(root, classes=CLASSES, per_class=4, size=(40, 30), seed=0):
    """root/<class>/<i>.png, each image a different random gray pattern; returns root."""
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            h, w = size[0] + i, size[1] + 2 * i  # varying sizes, as in the real data
            pixels = rng.integers(0, 256, size=(h, w), dtype=np.uint8)
            Image.fromarray(pixels).save(root / c / f"{i:03d}.png")
    return root


@pytest.fixture
def image_folder(tmp_path):
    return write_image_folder(tmp_path / "Train")


@pytest.fixture(autouse=True)
def _backend_free_tests_reach_no_keras(request, monkeypatch):
    """Tests of a module marked backend_free are skipped on JAX and torch, so they must not
    reach Keras: every ``import_keras_quietly`` of the package fails inside them."""
    node = request.node
    if node.get_closest_marker("backend_free") and not node.get_closest_marker("needs_backend"):

        def refuse():
            raise AssertionError(
                f"{node.nodeid} reaches Keras, so its result can depend on the backend: "
                "remove the backend_free mark of its module (or mark the test needs_backend)"
            )

        import course_utils.config  # noqa: F401  (patched even if the test imports it later)

        for name, module in list(sys.modules.items()):
            if name.split(".")[0] == "course_utils" and hasattr(module, "import_keras_quietly"):
                monkeypatch.setattr(module, "import_keras_quietly", refuse)


@pytest.fixture(autouse=True)
def _isolated_course_home(tmp_path, monkeypatch):
    """No test may touch the real cache: COURSE_HOME points into the test's tmp folder."""
    monkeypatch.setenv("COURSE_HOME", str(tmp_path / "course_home"))


def write_characters(root, per_class=10):
    """root/Train and root/Test with every course character, one dark bar per class."""
    from course_utils.characters import COURSE_CHARACTERS

    for split in ("Train", "Test"):
        for i, c in enumerate(COURSE_CHARACTERS):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for k in range(per_class):
                img = np.full((80, 60), 255, np.uint8)
                img[10 + k : 60, 20 + i % 20 : 30 + i % 20] = 0  # a bar per class
                Image.fromarray(img).save(root / split / c / f"{k}.png")
    return root
