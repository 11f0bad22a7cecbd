import json
import os

import nbformat
import pytest

from tools import build, publish

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch


def lesson(path, source):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = dict(build.KERNELSPEC)
    nbformat.write(nb, path)
    return path


def executed_copy(src, out_dir):
    nb = nbformat.read(src, 4)
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran once\n")]
    nb.cells[0].execution_count = 1
    out_dir.mkdir(exist_ok=True)
    nbformat.write(nb, out_dir / src.name)


def fake_quarto(tmp_path, monkeypatch, exit_code):
    """A ``quarto`` on PATH that records its arguments, the environment's staging flag and
    what the lesson held while it ran, then exits with ``exit_code``."""
    script = tmp_path / "bin" / "quarto"
    script.parent.mkdir()
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*|$COURSE_RENDER_STAGED" > {tmp_path}/called\n'
        f"cat $LESSON > {tmp_path}/seen.ipynb\n"
        f"exit {exit_code}\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture
def site(tmp_path, monkeypatch):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    one = lesson(lessons / "01-x.ipynb", "print('ran once')")
    executed_copy(one, tmp_path / "executed")
    monkeypatch.setenv("LESSON", str(one))
    return one


@pytest.mark.parametrize("exit_code", [0, 1])
def test_render_uses_the_executed_copies_and_puts_the_lessons_back(
    tmp_path, monkeypatch, site, exit_code
):
    fake_quarto(tmp_path, monkeypatch, exit_code)
    before = site.read_bytes()
    originals = tmp_path / "build" / "render-originals"
    code = publish.render(
        ["--to", "html"], lessons=[site], executed=tmp_path / "executed", originals=originals
    )
    assert code == exit_code
    assert (tmp_path / "called").read_text().strip() == "render --profile executed --to html|1"
    seen = nbformat.read(tmp_path / "seen.ipynb", 4)
    assert seen.cells[0].outputs[0]["text"] == "ran once\n"  # Quarto saw the executed copy
    assert site.read_bytes() == before and not originals.exists()


def test_a_killed_render_is_undone_by_the_next_one(tmp_path, monkeypatch, site):
    fake_quarto(tmp_path, monkeypatch, 0)
    before = site.read_bytes()
    originals = tmp_path / "build" / "render-originals"
    originals.mkdir(parents=True)
    (originals / site.name).write_bytes(before)  # a render killed while staged:
    site.write_text("edited while staged")  # the lesson holds something else
    publish.render([], lessons=[site], executed=tmp_path / "executed", originals=originals)
    assert site.read_bytes() == before
    replaced = tmp_path / "build" / "render-replaced" / site.name
    assert replaced.read_text() == "edited while staged"  # kept, not deleted


def test_render_refuses_when_an_executed_copy_is_missing(tmp_path, site):
    with pytest.raises(SystemExit, match="no executed copy of 01-x.ipynb"):
        publish.render([], lessons=[site], executed=tmp_path / "nowhere")
    assert nbformat.read(site, 4).cells[0].outputs == []


def test_strip_leaves_staged_copies_alone(tmp_path, monkeypatch, capsys):
    path = tmp_path / "01-x.ipynb"
    executed_copy(lesson(path, "print(1)"), tmp_path)
    monkeypatch.setenv("COURSE_RENDER_STAGED", "1")
    build.main(["strip", str(path)])
    assert nbformat.read(path, 4).cells[0].outputs  # kept while staged
    monkeypatch.delenv("COURSE_RENDER_STAGED")
    build.main(["strip", str(path)])
    assert nbformat.read(path, 4).cells[0].outputs == []


def test_freeze_check_names_a_lesson_changed_after_freezing(tmp_path):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    one, two = (lesson(lessons / f"0{i}-x{i}.ipynb", f"x = {i}") for i in (1, 2))
    freeze = tmp_path / "_freeze"
    assert publish.freeze_check(freeze, [one, two])[0].endswith("after freezing")
    (freeze / "lessons" / one.stem).mkdir(parents=True)
    record = publish.freeze_record(freeze, [one, two])
    assert list(record) == [one.name]  # only what is frozen
    assert json.loads((freeze / publish.RECORD).read_text()) == record
    executed_copy(one, lessons)  # outputs do not change what the lesson is
    assert publish.freeze_check(freeze, [one, two]) == []
    lesson(one, "x = 100")
    (problem,) = publish.freeze_check(freeze, [one, two])
    assert problem.startswith("01-x1.ipynb changed after it was frozen")


def test_freeze_record_refuses_an_empty_freeze(tmp_path):
    one = lesson(tmp_path / "01-x.ipynb", "x = 1")
    with pytest.raises(SystemExit, match="holds no lesson results"):
        publish.freeze_record(tmp_path / "_freeze", [one])


def test_cli_freeze_check_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(publish, "FREEZE", tmp_path / "_freeze")
    with pytest.raises(SystemExit) as stop:
        publish.main(["freeze-check"])
    assert stop.value.code == 1 and "freeze-record" in capsys.readouterr().err
