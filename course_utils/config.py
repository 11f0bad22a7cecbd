"""Profile, paths and seeding: what every lesson's setup cell needs (introduced in lesson 1).

Nothing here runs at import time. A lesson calls :func:`setup` once, at the top.

Keras is the one import made inside functions, through :func:`import_keras_quietly`: this
module is imported by ``import course_utils``, and importing Keras there would start
TensorFlow (with its C++ start-up noise) before a learner could choose ``KERAS_BACKEND``.
The other modules call ``keras = import_keras_quietly()`` at their top.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from watermark import watermark

from .plots import use_course_style

#: Environment variables the course reads.
PROFILE_VAR = "COURSE_PROFILE"
HOME_VAR = "COURSE_HOME"

DEFAULT_SEED = 42


@dataclass(frozen=True)
class Profile:
    """Sizes a lesson uses. ``full`` is the real course; ``smoke`` runs the same cells, small.

    Attributes:
        name: "full" or "smoke".
        max_images_per_class: cap on images loaded per class (None = all).
        epochs: the most epochs a model trains for (early stopping may end sooner).
        patience: EarlyStopping patience in epochs.
        tuner_trials: Keras Tuner trial budget per search.
        seeds: the seeds an experiment repeats over (``course_utils.repeats``).
    """

    name: str
    max_images_per_class: int | None
    epochs: int
    patience: int
    tuner_trials: int
    seeds: tuple[int, ...] = (42, 43, 44)


PROFILES = {
    "full": Profile("full", max_images_per_class=None, epochs=100, patience=5, tuner_trials=10),
    "smoke": Profile(
        "smoke", max_images_per_class=24, epochs=2, patience=1, tuner_trials=2, seeds=(42, 43)
    ),
}


def get_profile() -> Profile:
    """Return the profile named by ``COURSE_PROFILE`` (default ``full``).

    Raises:
        ValueError: the variable names no known profile.
    """
    name = os.environ.get(PROFILE_VAR, "full").strip().lower() or "full"
    if name not in PROFILES:
        raise ValueError(
            f"{PROFILE_VAR}={name!r} is not a course profile; use one of {sorted(PROFILES)} "
            f"(for example `export {PROFILE_VAR}=smoke`)."
        )
    return PROFILES[name]


def repo_root() -> Path | None:
    """The course repository this package was installed from in editable mode, else None."""
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "lessons").is_dir():
        return root
    return None


def course_home() -> Path:
    """Folder for generated data and caches.

    ``COURSE_HOME`` if set; else ``.course/`` in the repository checkout; else
    ``~/.cache/cv-course`` (for example on Colab, where the package is pip-installed).
    """
    if os.environ.get(HOME_VAR):
        return Path(os.environ[HOME_VAR]).expanduser()
    root = repo_root()
    return root / ".course" if root else Path.home() / ".cache" / "cv-course"


def data_dir() -> Path:
    """Where datasets live: ``<course_home>/data``."""
    return course_home() / "data"


def cache_dir() -> Path:
    """Where trained models and tuner results are cached: ``<course_home>/cache``."""
    return course_home() / "cache"


def seed_everything(seed: int = DEFAULT_SEED) -> None:
    """Seed Python, NumPy and the Keras backend in one call (``keras.utils.set_random_seed``)."""
    import_keras_quietly().utils.set_random_seed(seed)


def _accelerators(keras) -> list[str]:
    """The GPUs/TPUs the Keras backend will use. Keras's ``distribution.list_devices`` has no
    PyTorch implementation, so torch is asked directly (CUDA, then Apple's MPS)."""
    if keras.backend.backend() == "torch":
        import torch

        if torch.cuda.is_available():
            return [
                f"cuda:{i} ({torch.cuda.get_device_name(i)})"
                for i in range(torch.cuda.device_count())
            ]
        mps = getattr(torch.backends, "mps", None)
        return ["mps:0 (Apple GPU)"] if mps is not None and mps.is_available() else []
    try:
        devices = keras.distribution.list_devices()
    except Exception:  # noqa: BLE001 - a backend without it: report the CPU
        return []
    return [str(d) for d in devices if not str(d).lower().startswith("cpu")]


def describe_hardware() -> str:
    """One line naming the accelerators the Keras backend sees, else ``"CPU only (N cores)"``.

    The devices are listed with stderr muted: TensorFlow built for CUDA logs a red
    ``failed call to cuInit`` error on a machine without a GPU, which is expected there."""
    keras = import_keras_quietly()
    with _stderr_muted():
        accelerators = _accelerators(keras)
    return ", ".join(accelerators) if accelerators else f"CPU only ({os.cpu_count()} cores)"


@contextlib.contextmanager
def _stderr_muted():
    """Mute the process's stderr (file descriptor 2) for a ``with`` block: TensorFlow's C++
    runtime writes there directly, past Python's ``sys.stderr``."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr descriptor
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_keras_quietly():
    """Import Keras (and its backend) with C-level stderr muted for the import only.

    TensorFlow's C++ runtime prints start-up notices (oneDNN, CPU features) that no log
    level silences; they would clutter the first output of every lesson. Python errors
    still propagate as usual.
    """
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _stderr_muted():
        import keras
    return keras


#: How to get a GPU on the hosted notebooks the lessons open in.
GPU_SWITCH = {
    "colab": "Runtime → Change runtime type → T4 GPU, then run the lesson again",
    "kaggle": "Settings → Accelerator → a GPU (the session restarts), then run the lesson again",
}


def hosted() -> str | None:
    """``"colab"`` or ``"kaggle"`` when running there, else None."""
    if "google.colab" in sys.modules:
        return "colab"
    return "kaggle" if "KAGGLE_KERNEL_RUN_TYPE" in os.environ else None


def cpu_note(lesson: int | None, where: str | None = None) -> str:
    """What to expect on a machine without a GPU: how to get one on Colab or Kaggle, and how
    long lesson ``lesson`` took on two CPU cores with nothing cached (``bench.json``, written
    by ``make bench-record``)."""
    lines = ["No GPU here: the lesson trains on the CPU."]
    if where in GPU_SWITCH:
        lines[0] += f" For a GPU on {where.title()}: {GPU_SWITCH[where]}."
    bench = json.loads(resources.files("course_utils").joinpath("bench.json").read_text())
    run = bench.get("cpu", {})
    seconds = next(
        (s for name, s in run.get("seconds", {}).items() if lesson and name[:2] == f"{lesson:02d}"),
        None,
    )
    if seconds is not None:
        lines.append(
            f"In the {run['profile']} profile this lesson took about {seconds / 60:.0f} min on "
            f"{run['hardware'].removeprefix('CPU only ').strip('()')} the first time "
            f"(nothing cached; measured {run['date']}); a rerun reloads the trained models."
        )
    return "\n".join(lines)


def setup(seed: int = DEFAULT_SEED, lesson: int | None = None) -> Profile:
    """Prepare a lesson: quiet TensorFlow logs, seed, course figure style and CJK font.

    Prints the profile, the Keras backend and the hardware (and, without a GPU,
    :func:`cpu_note` for ``lesson``), and returns the :class:`Profile`.
    """
    keras = import_keras_quietly()
    profile = get_profile()
    seed_everything(seed)
    use_course_style()
    # tqdm.auto (imported by pooch for the scikit-image photos) warns when ipywidgets is
    # missing and then falls back to plain text bars, which is all the lessons need.
    warnings.filterwarnings("ignore", message="IProgress not found")
    hardware = describe_hardware()
    print(
        f"profile: {profile.name} | Keras {keras.__version__} on {keras.backend.backend()} | "
        f"devices: {hardware} | seed: {seed}"
    )
    if hardware.startswith("CPU only") and (hosted() or (lesson and profile.name == "full")):
        print(cpu_note(lesson, hosted()))
    return profile


def versions(packages: str = "keras,numpy,matplotlib,scipy,skimage,sklearn,pandas") -> str:
    """The versions a lesson ran with (Python, packages, backend, machine), as text.

    Every lesson prints this in its last cell.
    """
    backend = import_keras_quietly().backend.backend()
    backend_module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    if backend_module and backend_module not in packages.split(","):
        packages = f"{packages},{backend_module}"
    text = watermark(python=True, packages=packages, machine=True)
    return f"{text.rstrip()}\nKeras backend: {backend}\nPlatform: {platform.platform()}"
