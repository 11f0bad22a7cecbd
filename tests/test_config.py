from pathlib import Path

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
