"""Run lessons as a student would on a fresh Colab or Kaggle runtime (issue 17):

    make env-check ENV=colab|kaggle BACKEND=tensorflow|jax|torch [LESSONS="01 03"]
    python -m tools.envcheck --env colab --backend jax 01 03

1. A virtual environment, build/envcheck/<env>/venv, holds only what the platform
   preinstalls (envs/<env>.txt, lower bounds, with envs/constraints.txt on top; the three
   backends are in it, as on the platform, so the backends share it). It is made once and
   reused while those files are unchanged, and put back to that state before each lesson, so
   that every lesson's own install cell installs the course as on a new runtime. A second
   run on the same environment waits for the first. The rest of a run (scratch lessons,
   executed copies, logs, HOME) goes to build/envcheck/<env>-<backend>/.
2. Each lesson is copied to a scratch folder with its install cell replaced by
   tools.install_cell.INSTALL_CELL (a lesson whose first code cell is neither the lessons'
   install cell nor that one stops the check), then run in the smoke profile by a kernel of
   that environment, with a new empty HOME per run:
   - colab: a stand-in google.colab module is imported at kernel start; the install cell
     installs "cv-course-utils @ file://<copy of the clone>" (CV_COURSE_PIP_SOURCE);
   - kaggle: KAGGLE_KERNEL_RUN_TYPE=Interactive and the internet off for the kernel (pip has
     no index and no find-links; HTTP(S) goes to a closed port, checked before the lessons);
     the install cell finds the course's wheel and those of the dependencies Kaggle lacks
     under <work>/input/cv-course-wheels/ (CV_COURSE_KAGGLE_INPUT=<work>/input).
3. A table lesson x result, also written to build/envcheck/<env>-<backend>.json; the exit
   status is 1 when a lesson fails.

Harness only, not part of either platform: nbclient and nbformat, which run in the course's
own .venv and drive the environment's ipykernel (both platforms ship ipykernel), and the
google.colab stand-in.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import json
import os
import sys
import time
from pathlib import Path

from tools import envcheck_venv as venvs
from tools import install_cell as cells

ROOT = venvs.ROOT
ENVS = {"colab": "Colab-like", "kaggle": "Kaggle-like, internet off"}
BACKENDS = ("tensorflow", "jax", "torch")
#: Variables of the caller that must not reach the lessons' kernel.
DROPPED = {
    "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "COURSE_HOME", "COURSE_DATA_DIR",
    "COURSE_PROFILE", "KERAS_BACKEND", "KAGGLE_KERNEL_RUN_TYPE", "IPYTHONDIR",
    "JUPYTER_PATH", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "MPLCONFIGDIR", "MPLBACKEND",
    cells.PIP_SOURCE_VAR, cells.KAGGLE_INPUT_VAR,
}  # fmt: skip
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused
#: The Kaggle-like kernel's network: pip uses no index, and every HTTP(S) client a closed
#: proxy. (PIP_FIND_LINKS, set to an empty folder, hides the wheel folders a machine's pip
#: configuration may add: pip ignores an empty variable.)
OFFLINE = {
    "PIP_NO_INDEX": "1", "PIP_INDEX_URL": f"{CLOSED}/simple", "HTTP_PROXY": CLOSED,
    "HTTPS_PROXY": CLOSED, "ALL_PROXY": CLOSED, "http_proxy": CLOSED, "https_proxy": CLOSED,
    "all_proxy": CLOSED, "NO_PROXY": "", "no_proxy": "",
}  # fmt: skip
#: What the offline probe asks the Kaggle-like kernel's pip for: from an index, and from
#: the wheel folder of this machine's pip configuration.
PROBES = ("six", "torch")
SHOWN = ("keras", "tensorflow", "jax", "torch", "numpy", "ipykernel")


def lesson_files(selection: list[str]) -> list[Path]:
    """Lessons by number (``3``, ``03``) or path; all of them when none is named."""
    if not selection:
        return sorted((ROOT / "lessons").glob("[0-9][0-9]-*.ipynb"))
    paths = []
    for item in selection:
        found = [Path(item)] if item.endswith(".ipynb") else None
        found = found or sorted((ROOT / "lessons").glob(f"{int(item):02d}-*.ipynb"))
        if len(found) != 1 or not found[0].is_file():
            raise SystemExit(f"no single lesson {item!r} in lessons/")
        paths.append(found[0].resolve())
    return paths


def prepare(path: Path):
    """The lesson as a notebook object with ``INSTALL_CELL`` in place of its install cell, and
    the kind of install cell it carried; raises UnknownInstallCell for any other first cell."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return nb, cells.substitute(nb, cells.lesson_number(path.name))


def kernel_env(base: dict, env: str, backend: str, work: Path, venv: Path) -> dict[str, str]:
    """The environment variables of the lessons' kernel: the caller's, less the course's own
    and the .venv's, with the platform's settings."""
    own_bin = str(ROOT / ".venv" / "bin")
    path = [p for p in base.get("PATH", "").split(os.pathsep) if p and p != own_bin]
    variables = {k: v for k, v in base.items() if k not in DROPPED}
    variables.update(
        PATH=os.pathsep.join([str(venv / "bin"), *path]),
        HOME=str(work / "home"),
        COURSE_PROFILE="smoke",
        KERAS_BACKEND=backend,
    )
    if env == "colab":
        variables[cells.PIP_SOURCE_VAR] = f"{venvs.COURSE} @ {(work / 'src').as_uri()}"
    else:
        variables.update(OFFLINE, KAGGLE_KERNEL_RUN_TYPE="Interactive")
        variables[cells.KAGGLE_INPUT_VAR] = str(work / "input")
        variables["PIP_FIND_LINKS"] = str(work / "no-wheels")
    return variables


def write_kernelspec(folder: Path, python: Path, env: str) -> Path:
    """A kernelspec running the environment's ipykernel (Colab's imports google.colab)."""
    argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    if env == "colab":
        argv.append("--IPKernelApp.exec_lines=import google.colab")
    spec = folder / "kernels" / f"envcheck-{env}"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": f"envcheck {env}", "language": "python"})
    )
    return spec


def execute(nb, spec: Path, cwd: Path, variables: dict, timeout: int) -> None:
    """Run notebook object ``nb`` in place with the kernel of ``spec``."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    specs = KernelSpecManager(kernel_dirs=[str(spec.parent)], ensure_native_kernel=False)
    km = KernelManager(kernel_name=spec.name, kernel_spec_manager=specs)
    client = NotebookClient(nb, km=km, timeout=timeout, resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute(env=variables)
    finally:  # nbclient leaves a kernel it was handed running (with its memory)
        if km.has_kernel:
            km.shutdown_kernel(now=True)


def failure(error: BaseException) -> str:
    """One line for a failed lesson: the exception a cell raised, or why the run stopped."""
    name, value = getattr(error, "ename", None), getattr(error, "evalue", None)
    text = f"{name}: {value}" if name else f"{type(error).__name__}: {error}"
    return " ".join(text.split())[:400]


def run_lesson(path: Path, work: Path, python: Path, baseline: dict, spec: Path, **kw) -> dict:
    """Restore the environment, then run one lesson; its row of the table."""
    import nbformat

    log = work / "logs" / "setup.log"
    venvs.restore(python, baseline, log)
    nb, kind = prepare(path)
    nbformat.write(nb, work / "lessons" / path.name)
    start, error = time.perf_counter(), None
    try:
        execute(nb, spec, work / "lessons", kw["variables"], kw["timeout"])
    except Exception as e:  # a failing lesson is a row of the table, not the end of the run
        error = failure(e)
    seconds = time.perf_counter() - start
    nbformat.write(nb, work / "executed" / path.name)
    now = venvs.distributions(python)
    installed = {name: v for name, v in sorted(now.items()) if baseline.get(name) != v}
    if error is None and venvs.COURSE not in installed:
        error = "the install cell did not install the course (was it importable already?)"
    return {
        "lesson": path.name,
        "result": "fail" if error else "pass",
        "seconds": round(seconds, 1),
        "install_cell": kind,
        "install_cell_seconds": cell_seconds(cells.first_code_cell(nb)),
        "installed_by_the_lesson": installed,
        "course_source": venvs.course_source(python) if venvs.COURSE in installed else None,
        "error": error,
    }


def cell_seconds(cell) -> float | None:
    """How long a cell ran, from the timing nbclient records in its metadata."""
    timing = cell.metadata.get("execution", {})
    if "iopub.execute_input" not in timing or "shell.execute_reply" not in timing:
        return None
    start, end = (
        datetime.datetime.fromisoformat(timing[k])
        for k in ("iopub.execute_input", "shell.execute_reply")
    )
    return round((end - start).total_seconds(), 1)


def format_table(record: dict) -> str:
    """The results as a plain-text table, one line per lesson."""
    versions = ", ".join(f"{k} {v}" for k, v in record["platform_packages"].items())
    lines = [
        f"{ENVS[record['env']]}, KERAS_BACKEND={record['backend']}, smoke profile, Python "
        f"{record['python']} ({versions}); environment "
        f"{'reused' if record['venv_reused'] else 'made'} in {record['setup_seconds']:.0f} s",
        f"{'lesson':<40} {'result':<6} {'seconds':>7} {'install':>7}  installed by it / error",
    ]
    for row in record["lessons"]:
        detail = row["error"] or ", ".join(row["installed_by_the_lesson"])
        install = row.get("install_cell_seconds") or float("nan")
        times = f"{row['seconds']:>7.1f} {install:>7.1f}"
        lines.append(f"{row['lesson']:<40} {row['result']:<6} {times}  {detail}")
    passed = sum(row["result"] == "pass" for row in record["lessons"])
    lines.append(f"{passed} of {len(record['lessons'])} lessons passed")
    return "\n".join(lines)


def check_offline(python: Path, variables: dict, log: Path) -> None:
    """Stop unless pip, run as the Kaggle-like kernel runs it, finds none of ``PROBES``."""
    for name in PROBES:
        probe = [python, "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed"]
        if venvs.run([*probe, "--no-deps", name], log, env=variables, check=False).returncode == 0:
            raise SystemExit(f"the Kaggle-like kernel's pip found {name}: it is not offline")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.envcheck", description=__doc__)
    parser.add_argument("--env", choices=sorted(ENVS), required=True)
    parser.add_argument("--backend", choices=BACKENDS, default="tensorflow")
    parser.add_argument("lessons", nargs="*", help="numbers or paths (default: all)")
    parser.add_argument("--python", default=sys.executable, help="the venv's Python")
    parser.add_argument("--constraints", default="envs/constraints.txt", help="'' for none")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "envcheck")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--nice", type=int, default=10, help="niceness of the whole run")
    args = parser.parse_args(argv)
    os.nice(max(0, args.nice - os.nice(0)))
    listed = ROOT / "envs" / f"{args.env}.txt"
    venvs.read_list(listed)
    constraints = (ROOT / args.constraints) if args.constraints else None
    paths = lesson_files(args.lessons)
    for path in paths:  # refuse an unknown install cell before building anything
        prepare(path)
    start = time.perf_counter()
    shared = venvs.owned_dir(args.out / args.env)
    work = venvs.owned_dir(args.out / f"{args.env}-{args.backend}")
    lock = (shared / ".lock").open("w")  # held until this process ends
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"waiting for another env-check using {shared} ...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    for folder in ("logs", "lessons", "executed", "home", "kernels", "no-wheels"):
        venvs.fresh_dir(work / folder)
    log = work / "logs" / "setup.log"
    files = [listed, *([constraints] if constraints else [])]
    python, baseline, reused = venvs.ensure_venv(
        shared, args.python, files, constraints, args.env == "colab", log
    )
    venvs.restore(python, baseline, log)
    if args.env == "colab":
        venvs.write_colab_stand_in(python)
    source = venvs.snapshot_source(work / "src", log)
    variables = kernel_env(dict(os.environ), args.env, args.backend, work, python.parent.parent)
    if args.env == "kaggle":
        wheels = venvs.attach_wheels(python, source, work / "input", constraints, log)
        print("attached:", ", ".join(wheels), flush=True)
        check_offline(python, variables, log)
    spec = write_kernelspec(work, python, args.env)
    record = {
        "env": args.env,
        "backend": args.backend,
        "profile": "smoke",
        "python": venvs.python_version(python).split()[0],
        "list": str(listed.relative_to(ROOT)),
        "constraints": str(constraints.relative_to(ROOT)) if constraints else None,
        "platform_packages": {k: baseline[k] for k in SHOWN if k in baseline},
        "venv_reused": reused,
        "setup_seconds": round(time.perf_counter() - start, 1),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "lessons": [],
    }
    for path in paths:
        print(f"running {path.name} ({ENVS[args.env]}, {args.backend})", flush=True)
        row = run_lesson(
            path, work, python, baseline, spec, variables=variables, timeout=args.timeout
        )
        record["lessons"].append(row)
        print(f"  {row['result']} in {row['seconds']:.1f} s", row["error"] or "", flush=True)
    return finish(record, args.out / f"{args.env}-{args.backend}.json")


def finish(record: dict, out: Path) -> int:
    """Write the record as JSON to ``out``, print its table; the exit status (1: a failure)."""
    record["passed"] = bool(record["lessons"]) and all(
        row["result"] == "pass" for row in record["lessons"]
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    print(format_table(record))
    print(f"written to {out}")
    return 0 if record["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
