import json
import os
import sys
import types
from pathlib import Path

import keras
import numpy as np
import pytest

from course_utils import config


@pytest.mark.parametrize(
    "value,name",
    [(None, "full"), ("smoke", "smoke"), (" SMOKE ", "smoke"), ("", "full"), ("full", "full")],
)
def test_profile_from_environment(monkeypatch, value, name):
    if value is None:
        monkeypatch.delenv("COURSE_PROFILE", raising=False)
    else:
        monkeypatch.setenv("COURSE_PROFILE", value)
    assert config.get_profile().name == name


def test_smoke_is_smaller_than_full():
    full, smoke = config.PROFILES["full"], config.PROFILES["smoke"]
    assert smoke.epochs < full.epochs and smoke.tuner_trials < full.tuner_trials
    assert smoke.max_images_per_class and full.max_images_per_class is None


def test_unknown_profile_says_what_to_use(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    with pytest.raises(ValueError, match=r"'fast' is not a course profile.*smoke"):
        config.get_profile()


def test_paths_follow_course_home(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_HOME", str(tmp_path))
    assert config.data_dir() == tmp_path / "data"
    assert config.cache_dir() == tmp_path / "cache"


def test_default_home_is_inside_the_checkout(monkeypatch):
    monkeypatch.delenv("COURSE_HOME", raising=False)
    root = config.repo_root()
    assert root == Path(__file__).resolve().parents[1]
    assert config.course_home() == root / ".course"


def test_seed_everything_repeats_numpy_and_keras():
    import keras

    draws = []
    for _ in range(2):
        config.seed_everything(7)
        draws.append((np.random.rand(3), keras.ops.convert_to_numpy(keras.random.uniform((3,)))))
    np.testing.assert_array_equal(draws[0][0], draws[1][0])
    np.testing.assert_array_equal(draws[0][1], draws[1][1])


def test_setup_reports_profile_backend_and_devices(monkeypatch, capsys):
    import matplotlib.pyplot as plt

    from course_utils.plots import CJK_FONT_FAMILY

    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    profile = config.setup(seed=1)
    out = capsys.readouterr().out
    assert profile.name == "smoke"
    assert "profile: smoke" in out and "Keras 3" in out and "devices:" in out
    assert CJK_FONT_FAMILY in plt.rcParams["font.family"]


def test_versions_names_python_keras_and_backend():
    text = config.versions()
    for word in ("Python", "keras", "numpy", "Keras backend"):
        assert word in text


def test_describe_hardware_asks_torch_for_its_gpu(monkeypatch):
    cuda = types.SimpleNamespace(
        is_available=lambda: True, device_count=lambda: 2, get_device_name=lambda i: f"T4 #{i}"
    )
    fake = types.SimpleNamespace(cuda=cuda, backends=types.SimpleNamespace())
    monkeypatch.setitem(sys.modules, "torch", fake)
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    assert config.describe_hardware() == "cuda:0 (T4 #0), cuda:1 (T4 #1)"
    cuda.is_available = lambda: False
    fake.backends.mps = types.SimpleNamespace(is_available=lambda: True)
    assert config.describe_hardware() == "mps:0 (Apple GPU)"
    fake.backends.mps = types.SimpleNamespace(is_available=lambda: False)
    assert config.describe_hardware().startswith("CPU only (")


def test_describe_hardware_reports_the_cpu_when_the_backend_cannot_list_devices(monkeypatch):
    def broken(*args):
        raise NotImplementedError

    monkeypatch.setattr(keras.distribution, "list_devices", broken)
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    assert config.describe_hardware() == f"CPU only ({config.os.cpu_count()} cores)"


def test_describe_hardware_mutes_what_the_runtime_writes_to_stderr(monkeypatch, capfd):
    def noisy(keras):
        os.write(2, b"E0000 cuda_executor.cc: failed call to cuInit: UNKNOWN ERROR (303)\n")
        return []

    monkeypatch.setattr(config, "_accelerators", noisy)
    assert config.describe_hardware().startswith("CPU only")
    assert "cuInit" not in capfd.readouterr().err
    os.write(2, b"after\n")  # stderr works again afterwards
    assert capfd.readouterr().err == "after\n"


def test_cpu_note_says_how_to_get_a_gpu_and_how_long_the_lesson_takes():
    note = config.cpu_note(4, "colab")
    assert note.startswith("No GPU here") and "Runtime → Change runtime type" in note
    bench = json.loads((Path(config.__file__).parent / "bench.json").read_text())["cpu"]
    minutes = bench["seconds"]["04-logistic-regression-vs-cnn.ipynb"] / 60
    assert f"about {minutes:.0f} min" in note and bench["date"] in note
    assert "Accelerator" in config.cpu_note(None, "kaggle") and "min" not in config.cpu_note(None)


def test_setup_prints_the_cpu_note_on_hosted_cpu_runtimes(monkeypatch, capsys):
    monkeypatch.setattr(config, "describe_hardware", lambda: "CPU only (2 cores)")
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    config.setup(lesson=4)
    assert "No GPU here" not in capsys.readouterr().out  # smoke runs say nothing more
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    config.setup(lesson=4)
    assert "Settings → Accelerator" in capsys.readouterr().out
