"""course_utils.pretrained: the offline ImageNet network is real, the base freezes, the
checkpoint reader refuses anything but weights, and the other-characters base is cached."""

from __future__ import annotations

import importlib.util
import pickle
import zipfile

import numpy as np
import pytest
import skimage.data

from course_utils import pretrained
from course_utils.config import cache_dir
from course_utils.pretrained import (
    character_backbone,
    characters_to_rgb,
    imagenet_class_names,
    imagenet_model,
    read_torch_weights,
    square_photos,
)

CATS = {"tabby", "tiger_cat", "Persian_cat", "Siamese_cat", "Egyptian_cat"}


@pytest.fixture(scope="module")
def offline_classifier(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_HOME", str(tmp_path_factory.mktemp("home")))
        yield imagenet_model("EfficientNetLite0")


def test_class_names_are_keras_imagenet_order():
    names = imagenet_class_names()
    assert len(names) == 1000
    assert names[0] == "tench" and names[281] == "tabby" and names[967] == "espresso"


def test_offline_classifier_names_bundled_photos(offline_classifier):
    photos = square_photos([skimage.data.chelsea(), skimage.data.coffee(),
                            skimage.data.camera()])
    assert photos.shape == (3, 224, 224, 3)
    top5 = offline_classifier.top_classes(photos, k=5)
    chelsea, coffee, camera = ([name for name, _ in row] for row in top5)
    assert chelsea[0] in CATS and len(CATS & set(chelsea)) >= 3
    assert coffee[0] in {"espresso", "cup", "coffee_mug"} and "cup" in coffee
    assert camera[0] == "tripod"  # the cameraman's tripod; ImageNet has no "person"
    assert top5[1][0][1] > 0.5  # confidently espresso
    probs = offline_classifier.predict(photos)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)


def test_wrong_preprocessing_breaks_the_predictions(offline_classifier):
    photo = square_photos([skimage.data.chelsea()])
    wrong = offline_classifier.predict(photo / 255.0)  # 0..1 pixels, then preprocess
    assert offline_classifier.class_names[int(wrong.argmax())] not in CATS


def test_backbone_shapes_and_freezing():
    keras = pytest.importorskip("keras")
    maps = imagenet_model("EfficientNetLite0", include_top=False, input_shape=(128, 96, 3),
                          verbose=False).model
    assert maps.output.shape[1:] == (4, 3, 1280)
    pooled = imagenet_model("EfficientNetLite0", include_top=False, input_shape=(64, 64, 3),
                            pooling="avg", verbose=False).model
    assert pooled.output.shape[1:] == (1280,)
    pooled.trainable = False
    assert not pooled.trainable_weights and len(pooled.non_trainable_weights) == len(
        pooled.weights)
    model = keras.Sequential([keras.Input((64, 64, 3)), pooled, keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    before = [w.numpy().copy() for w in pooled.weights]
    model.fit(np.random.default_rng(0).normal(size=(4, 64, 64, 3)), np.ones((4, 2)),
              epochs=1, verbose=0)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, pooled.weights,
                                                             strict=True))


def test_same_layer_names_as_keras_efficientnet():
    model = pretrained.efficientnet_lite0(weights=None)
    names = {layer.name for layer in model.layers}
    assert {"stem_conv", "block1a_dwconv", "block6d_project_bn", "block7a_expand_conv",
            "top_conv", "predictions"} <= names
    assert model.count_params() == 4_694_024


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown architecture"):
        imagenet_model("AlexNet")
    with pytest.raises(ValueError, match="pooling"):
        pretrained.efficientnet_lite0(include_top=False, pooling="mean", weights=None)


def test_falls_back_offline_once_and_remembers(monkeypatch, capsys):
    calls = []

    def no_network(*args):
        calls.append(args)
        raise Exception("URL fetch failure on https://example.org/w.h5: no network")

    monkeypatch.setattr(pretrained, "_from_keras_applications", no_network)
    monkeypatch.setattr(pretrained, "_download_failed", None)
    first = imagenet_model("EfficientNetB0", include_top=False, input_shape=(64, 64, 3))
    second = imagenet_model("MobileNetV2", include_top=False, input_shape=(64, 64, 3))
    assert first.architecture == second.architecture == "EfficientNetLite0"
    assert len(calls) == 1  # the second request does not wait for the network again
    out = capsys.readouterr().out
    assert "URL fetch failure" in out and "earlier download in this session failed" in out


def test_uses_keras_applications_when_weights_arrive(monkeypatch):
    keras = pytest.importorskip("keras")
    tiny = keras.Sequential([keras.Input((224, 224, 3)), keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(1000, activation="softmax")])
    monkeypatch.setattr(pretrained, "_download_failed", None)
    monkeypatch.setattr(pretrained, "_from_keras_applications",
                        lambda *args: (tiny, lambda x: x / 255.0, 224))
    net = imagenet_model("MobileNetV2", verbose=False)
    assert net.architecture == "MobileNetV2" and net.model is tiny
    monkeypatch.setenv(pretrained.OFFLINE_VAR, "1")
    assert imagenet_model("MobileNetV2", verbose=False).architecture == "EfficientNetLite0"


def test_converted_weights_are_cached_and_a_damaged_cache_is_rebuilt(capsys):
    first = pretrained.lite0_imagenet_weights()
    assert "converted" in capsys.readouterr().out
    cached = next((cache_dir() / "pretrained").glob("efficientnet_lite0-*.npz"))
    again = pretrained.lite0_imagenet_weights()
    assert capsys.readouterr().out == ""  # loaded, not converted
    assert first.keys() == again.keys()
    assert all(np.array_equal(a, b) for k in first for a, b in zip(first[k], again[k],
                                                                   strict=True))
    cached.write_bytes(b"not a zip")
    pretrained.lite0_imagenet_weights()
    assert "converted" in capsys.readouterr().out


def _legacy_file(path, state, storages, extra_globals=None):
    """A file in PyTorch's legacy layout: magic, protocol, sys info, pickled state, keys,
    then each storage as int64 count + raw bytes."""
    with open(path, "wb") as f:
        for header in (pretrained._LEGACY_MAGIC, 1001, {"little_endian": True}):
            pickle.dump(header, f, protocol=2)
        f.write(state)
        pickle.dump(list(storages), f, protocol=2)
        for array in storages.values():
            f.write(np.int64(array.size).tobytes() + array.tobytes())


def _state_pickle(global_module="torch._utils", global_name="_rebuild_tensor_v2"):
    """Pickle bytes of {'w': tensor(storage '0', offset 0, shape (2, 3), stride (3, 1))},
    written by hand because the test must not need PyTorch."""
    persistent = (b"(X\x07\x00\x00\x00storageq\x00ctorch\nFloatStorage\n"
                  b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x06Ntq\x01")
    rebuild = f"c{global_module}\n{global_name}\n".encode()
    return (b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01" + rebuild + b"(" + persistent
            + b"Q" + b"K\x00K\x02K\x03\x86K\x03K\x01\x86\x89N" + b"tR" + b"s.")


def test_reads_a_legacy_state_dict(tmp_path):
    values = np.arange(6, dtype=np.float32)
    _legacy_file(tmp_path / "w.pth", _state_pickle(), {"0": values})
    state = read_torch_weights(tmp_path / "w.pth")
    np.testing.assert_array_equal(state["w"], values.reshape(2, 3))


def test_refuses_code_and_truncated_or_zip_files(tmp_path):
    values = np.arange(6, dtype=np.float32)
    _legacy_file(tmp_path / "evil.pth", _state_pickle("os", "system"), {"0": values})
    with pytest.raises(ValueError, match="os.system is not allowed"):
        read_torch_weights(tmp_path / "evil.pth")
    _legacy_file(tmp_path / "short.pth", _state_pickle(), {"0": values})
    data = (tmp_path / "short.pth").read_bytes()
    (tmp_path / "short.pth").write_bytes(data[:-8])
    with pytest.raises(ValueError, match="truncated"):
        read_torch_weights(tmp_path / "short.pth")
    with zipfile.ZipFile(tmp_path / "new.pth", "w") as z:
        z.writestr("archive/data.pkl", b"")
    with pytest.raises(ValueError, match="zip-format"):
        read_torch_weights(tmp_path / "new.pth")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
def test_reader_agrees_with_torch_load():
    import torch

    path = pretrained.lite0_checkpoint()
    ours = read_torch_weights(path)
    theirs = torch.load(path, map_location="cpu", weights_only=True)
    assert ours.keys() == theirs.keys()
    assert all(np.array_equal(ours[k], theirs[k].numpy()) for k in ours)


def test_characters_to_rgb():
    X = np.zeros((3, 80, 60, 1), np.uint8)
    X[:, 40:, :] = 255
    rgb = characters_to_rgb(X)
    assert rgb.shape == (3, 128, 96, 3) and rgb.dtype == np.float32
    assert rgb.min() == 0 and rgb.max() == 255
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    with pytest.raises(ValueError, match="grayscale"):
        characters_to_rgb(np.zeros((2, 80, 60, 3)))


def test_character_backbone_is_trained_once_then_loaded(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setitem(pretrained.OTHER_WRITERS, "smoke", (1, 1))
    base = character_backbone()
    out = capsys.readouterr().out
    assert "generating 2,000 synthetic images of 1,000 other characters" in out
    assert base.output.shape[1:] == (256,) and base.input.shape[1:] == (80, 60, 1)
    again = character_backbone()
    assert "loaded from" in capsys.readouterr().out
    X = np.full((2, 80, 60, 1), 255, np.uint8)
    np.testing.assert_allclose(base.predict(X, verbose=0), again.predict(X, verbose=0),
                               rtol=1e-5, atol=1e-6)
    saved = next((cache_dir() / "pretrained").glob("other_characters-*.keras"))
    saved.write_bytes(b"damaged")
    character_backbone()
    assert "training it again" in capsys.readouterr().out
