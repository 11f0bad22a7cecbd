"""The virtual environments of ``make env-check`` (``tools/envcheck.py``, issue 17).

One environment per platform list, made once and kept while the list, the constraints and the
Python are unchanged; before every lesson it is put back to the state it was made in, so that
each lesson's install cell installs the course as on a new Colab or Kaggle runtime. Also: a
snapshot of the clone for the Colab-like install, and the wheels a Kaggle-like run attaches.

Nothing is deleted that this tool did not create: every folder it makes carries ``OWNED``
first, and a folder in its way without that mark stops the run.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
#: Bump when what an environment holds besides its list changes (the google.colab stand-in).
HARNESS_VERSION = 1
OWNED = ".envcheck-owned"
STAMP = ".envcheck-stamp.json"
COURSE = "cv-course-utils"

#: Harness only: Colab's kernel imports google.colab at start; the install cell, like
#: course_utils.config and JAX, recognises Colab by it, and JAX then imports its ``output``
#: (tensorboard and etils too). Written into the Colab-like venv before every run.
FAKE_COLAB = {
    "__init__.py": '''"""Stand-in for Colab's google.colab, written by tools/envcheck.py (harness
only): the Colab-like check's kernel imports it at start, as Colab's imports the real one."""
''',
    "output.py": '''"""Stand-in for google.colab.output (tools/envcheck.py): importable only."""


def __getattr__(name):
    raise AttributeError(f"google.colab.output.{name}: not in the Colab-like check")
''',
}


DISTRIBUTIONS = (
    "import importlib.metadata as m, json\n"
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()"
    " if d.metadata['Name']}))"
)


def canonical(name: str) -> str:
    """A distribution's name as pip compares it: ``Keras_Tuner`` -> ``keras-tuner``."""
    return re.sub(r"[-_.]+", "-", name).lower()


class ListError(ValueError):
    """A platform list line that is not a lower-bounded requirement of a platform package."""


def read_list(path: Path) -> list[str]:
    """The requirements of a platform list: one per line, each with a ``>=`` lower bound and
    nothing else (no pins, no upper bounds, no pip options), never the course itself."""
    requirements = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        where = f"{path.name}:{number}: {text!r}"
        try:
            req = Requirement(text)
        except ValueError as e:
            raise ListError(f"{where} is not a requirement ({e})") from e
        if [s.operator for s in req.specifier] != [">="]:
            raise ListError(f"{where} needs exactly one lower bound, name>=version")
        if canonical(req.name) == COURSE:
            raise ListError(f"{where}: the course is what the lessons' install cell installs")
        requirements.append(text)
    if not requirements:
        raise ListError(f"{path} lists no packages")
    return requirements


def remove_owned(path: Path) -> None:
    """Delete ``path`` if this tool made it; refuse if something else did."""
    if not path.exists():
        return
    if not (path / OWNED).is_file():
        raise RuntimeError(f"{path} was not made by tools.envcheck (no {OWNED}): move it away")
    shutil.rmtree(path)


def owned_dir(path: Path) -> Path:
    """``path``, made and marked as this tool's if absent; refused if another made it."""
    if path.exists() and not (path / OWNED).is_file():
        raise RuntimeError(f"{path} was not made by tools.envcheck (no {OWNED}): move it away")
    path.mkdir(parents=True, exist_ok=True)
    (path / OWNED).touch()
    return path


def fresh_dir(path: Path) -> Path:
    """An empty folder at ``path``, marked as this tool's."""
    remove_owned(path)
    path.mkdir(parents=True)
    (path / OWNED).touch()
    return path


def run(cmd: list, log: Path, **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd`` with its output appended to ``log``; raise with the log's tail if it fails."""
    cmd, check = [str(c) for c in cmd], kwargs.pop("check", True)
    with log.open("a") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, **kwargs)
    if proc.returncode and check:
        tail = "\n".join(log.read_text().splitlines()[-25:])
        raise RuntimeError(f"failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc


def distributions(python: Path) -> dict[str, str]:
    """Every installed distribution of an environment: canonical name -> version."""
    # -I: not the current folder, whose *.egg-info (the clone's own) would be listed too
    out = subprocess.run([str(python), "-I", "-c", DISTRIBUTIONS], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{python} could not list its packages:\n{out.stderr[-2000:]}")
    return {canonical(name): version for name, version in json.loads(out.stdout).items()}


def course_source(python: Path) -> str:
    """Where pip installed the course from: the URL a direct install records, else (wheels
    found with --find-links record none) "a wheel found by pip"."""
    code = f"import importlib.metadata as m; print(m.distribution({COURSE!r}).read_text("
    code += "'direct_url.json') or '')"
    out = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True)
    if out.returncode or not out.stdout.strip():
        return "a wheel found by pip"
    return json.loads(out.stdout)["url"]


def python_version(python: str | Path) -> str:
    """``3.11.7 /path/to/python3.11``: the version and the interpreter itself (a venv's base,
    so that ``python3`` found first in a venv's bin/ or elsewhere on PATH gives one key)."""
    code = "import os, sys; print(sys.version.split()[0], os.path.realpath(sys._base_executable))"
    return subprocess.run(
        [str(python), "-I", "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def stamp_key(python: str, files: list[Path], colab: bool) -> str:
    """What an environment was made from: when it changes, the environment is made again."""
    digest = hashlib.sha256(f"{HARNESS_VERSION} {python_version(python)} {colab}".encode())
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def ensure_venv(
    folder: Path, python: str, files: list[Path], constraints: Path | None, colab: bool, log: Path
) -> tuple[Path, dict[str, str], bool]:
    """The environment in ``folder``/venv with only the requirements of ``files[0]``.

    Returns its python, its packages as made (the state ``restore`` returns to) and whether
    it was reused. ``files`` are everything it depends on (the list, the constraints).
    """
    venv = folder / "venv"
    key = stamp_key(python, files, colab)
    stamp = venv / STAMP
    made = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if made.get("key") == key and COURSE not in made["baseline"]:
        return venv / "bin" / "python", made["baseline"], True
    fresh_dir(venv)
    run([python, "-m", "venv", venv], log)
    py = venv / "bin" / "python"
    limits = ["-c", constraints] if constraints else []
    run([py, "-m", "pip", "install", "-q", "--upgrade", "pip", *limits], log)
    run([py, "-m", "pip", "install", "-q", "-r", files[0], *limits], log)
    baseline = distributions(py)
    stamp.write_text(json.dumps({"key": key, "baseline": baseline}, indent=1, sort_keys=True))
    return py, baseline, False


def write_colab_stand_in(python: Path) -> Path:
    """Write the google.colab stand-in into an environment's site-packages (harness only)."""
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True)
    package = Path(purelib.stdout.strip()) / "google" / "colab"
    package.mkdir(parents=True, exist_ok=True)
    for name, text in FAKE_COLAB.items():
        (package / name).write_text(text)
    return package


def restore(python: Path, baseline: dict[str, str], log: Path) -> dict[str, str]:
    """Put an environment back to ``baseline``: uninstall what was added, reinstall what
    changed. Returns what had been added or changed (name -> version)."""
    now = distributions(python)
    added = sorted(set(now) - set(baseline))
    changed = sorted(name for name in baseline if now.get(name) != baseline[name])
    if added:
        run([python, "-m", "pip", "uninstall", "-q", "-y", *added], log)
    if changed:
        pins = [f"{name}=={baseline[name]}" for name in changed]
        run([python, "-m", "pip", "install", "-q", "--no-deps", *pins], log)
    return {name: now[name] for name in added + changed if name in now}


def snapshot_source(dst: Path, log: Path) -> Path:
    """The clone's files as a fresh clone of them would have them (tracked and untracked,
    not ignored, working-tree contents), copied to ``dst``: what Colab would install."""
    listing = ["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    files = subprocess.run(listing, capture_output=True, check=True).stdout.decode().split("\0")
    fresh_dir(dst)
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)
    with log.open("a") as out:
        out.write(f"copied the clone's files to {dst}\n")
    return dst


def attach_wheels(
    python: Path, source: Path, inputs: Path, constraints: Path | None, log: Path
) -> list[str]:
    """Make ``inputs`` (laid out like ``/kaggle/input/``) with one dataset, ``cv-course-wheels``:
    the course's wheel built from ``source`` and wheels of the dependencies the environment
    lacks, as a student attaches them to a Kaggle notebook. Returns the wheels' names."""
    dst = fresh_dir(inputs) / "cv-course-wheels"
    dst.mkdir()
    run([python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dst, source], log)
    (wheel,) = dst.glob("cv_course_utils-*.whl")
    report = log.with_name("pip-report.json")
    limits = ["-c", constraints] if constraints else []
    dry_run = ["install", "-q", "--dry-run", "--report", report, *limits, wheel]
    run([python, "-m", "pip", *dry_run], log)
    missing = [
        f"{item['metadata']['name']}=={item['metadata']['version']}"
        for item in json.loads(report.read_text())["install"]
        if canonical(item["metadata"]["name"]) != COURSE
    ]
    if missing:
        run([python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dst, *missing], log)
    return sorted(p.name for p in dst.glob("*.whl"))
