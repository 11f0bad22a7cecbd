"""tools.data_parallel: DataParallel on JAX splits the batches over two (CPU) devices."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest
from conftest import write_characters


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs JAX")
def test_data_parallel_trains_one_model_replicated_on_two_devices(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax", "COURSE_PROFILE": "smoke",
           "COURSE_DATA_DIR": str(write_characters(tmp_path / "data", per_class=2)),
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}  # fmt: skip
    run = subprocess.run([sys.executable, "-m", "tools.data_parallel", "--epochs", "1"],
                         env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "2 device(s): cpu:0, cpu:1" in run.stdout
    assert "batches of 128 split 64 per device" in run.stdout
    assert "replicated on: cpu:0, cpu:1" in run.stdout


OTHER = next((b for b in ("tensorflow", "torch") if importlib.util.find_spec(b)), None)


@pytest.mark.skipif(OTHER is None, reason="needs TensorFlow or PyTorch")
def test_other_backends_get_told_to_use_jax(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": OTHER}
    run = subprocess.run([sys.executable, "-m", "tools.data_parallel"], env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode != 0 and "run it with KERAS_BACKEND=jax" in run.stderr
