"""course_utils.imagenet: the offline ImageNet network is real, keras.applications is used
when its weights arrive, a failed download is remembered, and images are prepared right."""

from __future__ import annotations

import tracemalloc

import keras
import numpy as np
import pytest
import skimage.data

from course_utils import imagenet
from course_utils.evaluation import top_k_classes
from course_utils.imagenet import (
    characters_to_rgb,
    imagenet_class_names,
    imagenet_network,
    square_photos,
)

CATS = {"tabby", "tiger_cat", "Persian_cat", "Siamese_cat", "Egyptian_cat"}


@pytest.fixture(scope="module")
def offline_classifier(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_HOME", str(tmp_path_factory.mktemp("home")))
        yield imagenet_network("EfficientNetLite0")


def _probabilities(net, photos):
    return net.model.predict(net.preprocess_input(photos), verbose=0)


def test_class_names_are_keras_imagenet_order():
    names = imagenet_class_names()
    assert len(names) == 1000
    assert names[0] == "tench" and names[281] == "tabby" and names[967] == "espresso"


def test_offline_classifier_names_bundled_photos(offline_classifier):
    photos = square_photos([skimage.data.chelsea(), skimage.data.coffee(), skimage.data.camera()])
    assert photos.shape == (3, 224, 224, 3)
    probs = _probabilities(offline_classifier, photos)
    top5 = top_k_classes(probs, imagenet_class_names(), k=5)
    chelsea, coffee, camera = ([name for name, _ in row] for row in top5)
    assert chelsea[0] in CATS and len(CATS & set(chelsea)) >= 3
    assert coffee[0] in {"espresso", "cup", "coffee_mug"} and "cup" in coffee
    assert camera[0] == "tripod"  # the cameraman's tripod; ImageNet has no "person"
    assert top5[1][0][1] > 0.5  # confidently espresso
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)


def test_wrong_preprocessing_breaks_the_predictions(offline_classifier):
    photo = square_photos([skimage.data.chelsea()])
    wrong = _probabilities(offline_classifier, photo / 255.0)  # 0..1 pixels, then preprocess
    assert imagenet_class_names()[int(wrong.argmax())] not in CATS


def test_backbone_shape():
    base = imagenet_network(
        "EfficientNetLite0", include_top=False, input_shape=(128, 96, 3), verbose=False
    )
    assert base.model.output.shape[1:] == (4, 3, 1280)
    assert base.architecture == "EfficientNetLite0" and "offline" in base.source


def test_unknown_architecture():
    with pytest.raises(ValueError, match="unknown architecture"):
        imagenet_network("AlexNet")


def test_falls_back_offline_once_and_remembers(monkeypatch, capsys):
    calls = []

    def no_network(*args):
        calls.append(args)
        raise Exception("URL fetch failure on https://example.org/w.h5: no network")

    monkeypatch.delenv(imagenet.OFFLINE_VAR, raising=False)
    monkeypatch.setattr(imagenet, "_from_keras_applications", no_network)
    monkeypatch.setattr(imagenet, "_download_failed", None)
    first = imagenet_network("EfficientNetB0", include_top=False, input_shape=(64, 64, 3))
    second = imagenet_network("MobileNetV2", include_top=False, input_shape=(64, 64, 3))
    assert first.architecture == second.architecture == "EfficientNetLite0"
    assert len(calls) == 1  # the second request does not wait for the network again
    out = capsys.readouterr().out
    assert "URL fetch failure" in out and "earlier download in this session failed" in out


def test_uses_keras_applications_when_weights_arrive(monkeypatch):
    tiny = keras.Sequential(
        [
            keras.Input((224, 224, 3)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1000, activation="softmax"),
        ]
    )
    monkeypatch.delenv(imagenet.OFFLINE_VAR, raising=False)
    monkeypatch.setattr(imagenet, "_download_failed", None)
    monkeypatch.setattr(
        imagenet, "_from_keras_applications", lambda *args: (tiny, lambda x: x / 255.0)
    )
    net = imagenet_network("MobileNetV2", verbose=False)
    assert net.architecture == "MobileNetV2" and net.model is tiny
    assert net.source.startswith("keras.applications")
    monkeypatch.setenv(imagenet.OFFLINE_VAR, "1")
    assert imagenet_network("MobileNetV2", verbose=False).architecture == "EfficientNetLite0"


def test_download_has_a_timeout(monkeypatch):
    seen = []

    def application(**kwargs):
        seen.append(imagenet.socket.getdefaulttimeout())
        raise Exception("URL fetch failure")

    monkeypatch.setattr(keras.applications, "MobileNetV2", application)
    with pytest.raises(Exception, match="URL fetch failure"):
        imagenet._from_keras_applications("MobileNetV2", True, None)
    assert seen == [imagenet.DOWNLOAD_TIMEOUT_S]
    assert imagenet.socket.getdefaulttimeout() is None  # restored afterwards


def test_square_photos_crop_the_centre():
    wide = np.zeros((100, 300, 3), np.uint8)
    wide[:, 100:200] = 255  # a white centre square between black sides
    gray = np.full((60, 40), 128, np.uint8)
    out = square_photos([wide, gray], size=50)
    assert out.shape == (2, 50, 50, 3) and out.dtype == np.float32
    assert out[0, :, 1:-1].min() == 255  # the centre square (the filter blurs the edges)
    assert out[0].mean() > 250
    np.testing.assert_array_equal(out[1], 128)  # grayscale copied into R, G and B


def test_characters_to_rgb():
    X = np.zeros((3, 80, 60, 1), np.uint8)
    X[:, 40:, :] = 255
    rgb = characters_to_rgb(X)
    assert rgb.shape == (3, 128, 96, 3) and rgb.dtype == np.float32
    assert rgb.min() == 0 and rgb.max() == 255
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    with pytest.raises(ValueError, match="grayscale"):
        characters_to_rgb(np.zeros((2, 80, 60, 3)))


def test_characters_to_rgb_across_chunks_and_in_bounded_memory():
    X = np.random.default_rng(0).integers(0, 256, (4100, 8, 6, 1), dtype=np.uint8)
    size = (16, 12)
    tracemalloc.start()  # NumPy reports its array allocations to tracemalloc
    try:
        rgb = characters_to_rgb(X, size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # one output array plus one 512-image chunk, not two output arrays (out, then its clip)
    assert peak < 1.5 * rgb.nbytes
    resized = keras.ops.image.resize(X.astype("float32"), size, interpolation="bilinear")
    whole = np.clip(np.repeat(keras.ops.convert_to_numpy(resized), 3, axis=-1), 0, 255)
    np.testing.assert_array_equal(rgb, whole)  # the same values as in one piece
    np.testing.assert_array_equal(characters_to_rgb(X.astype("float32"), size), rgb)


def test_download_timeout_fails_once_then_skips(monkeypatch):
    monkeypatch.delenv(imagenet.OFFLINE_VAR, raising=False)
    monkeypatch.setattr(imagenet, "_download_failed", None)
    seen = []
    url = "https://storage.googleapis.com/keras-applications/efficientnetb0.h5"
    with pytest.raises(imagenet.DownloadFailed, match=r"failed \(\[Errno -2\] Name") as failed:
        with imagenet.download_timeout():
            seen.append(imagenet.socket.getdefaulttimeout())
            raise Exception(f"URL fetch failure on {url}: None -- [Errno -2] Name or service")
    assert seen == [imagenet.DOWNLOAD_TIMEOUT_S] and "efficientnetb0" not in str(failed.value)
    assert imagenet.socket.getdefaulttimeout() is None
    with pytest.raises(OSError, match="earlier download in this session failed"):
        with imagenet.download_timeout():
            seen.append("ran")  # skipped: the body never runs
    assert seen == [imagenet.DOWNLOAD_TIMEOUT_S]


def test_download_timeout_passes_other_errors_and_offline(monkeypatch):
    monkeypatch.delenv(imagenet.OFFLINE_VAR, raising=False)
    monkeypatch.setattr(imagenet, "_download_failed", None)
    with pytest.raises(ValueError, match="input_shape"):
        with imagenet.download_timeout():
            raise ValueError("bad input_shape")
    assert imagenet._download_failed is None  # not a download failure: nothing remembered
    monkeypatch.setenv(imagenet.OFFLINE_VAR, "1")
    with pytest.raises(imagenet.DownloadFailed, match="COURSE_OFFLINE"):
        with imagenet.download_timeout():
            pass
