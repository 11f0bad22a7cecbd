import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from tools import build

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch


def write_notebook(path, *sources, tags=None):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    if tags:
        nb.cells[-1].metadata["tags"] = tags
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def test_lesson_paths_in_course_order(tmp_path):
    for name in ["02-b.ipynb", "01-a.ipynb", "notes.ipynb", "10-c.ipynb"]:
        (tmp_path / name).write_text("{}")
    assert [p.name for p in build.lesson_paths(tmp_path)] == [
        "01-a.ipynb",
        "02-b.ipynb",
        "10-c.ipynb",
    ]
    with pytest.raises(FileNotFoundError):
        build.lesson_paths(tmp_path / "empty")


def test_execute_writes_an_executed_copy_and_html(tmp_path):
    src = write_notebook(
        tmp_path / "01-x.ipynb",
        "import os\nprint(os.getcwd())",
        "raise ValueError('expected')",
        tags=["raises-exception"],
    )
    result = build._run_one(src, tmp_path / "out", html=True)
    executed = nbformat.read(tmp_path / "out" / "notebooks" / "01-x.ipynb", 4)
    assert executed.cells[0].outputs[0].text.strip() == str(tmp_path)  # runs in its folder
    assert executed.cells[1].outputs[0].ename == "ValueError"
    assert "<html" in (tmp_path / "out" / "html" / "01-x.html").read_text()
    assert result["seconds"] > 0 and result["peak_mib"] > 10
    assert nbformat.read(src, 4).cells[0].outputs == []  # the source stays clean


def test_a_failing_cell_fails_and_writes_nothing(tmp_path):
    src = write_notebook(tmp_path / "01-bad.ipynb", "1 / 0")
    with pytest.raises(CellExecutionError):
        build.execute_notebook(src, tmp_path / "out.ipynb")
    assert not (tmp_path / "out.ipynb").exists()


def test_bench_command_prints_a_table(tmp_path, monkeypatch, capsys):
    src = write_notebook(tmp_path / "01-x.ipynb", "x = 1")
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    build.main(["bench", str(src), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert "profile: smoke" in out and "01-x.ipynb" in out and "total" in out


def test_run_lessons_stops_at_a_failure(tmp_path):
    src = write_notebook(tmp_path / "01-bad.ipynb", "1 / 0")
    with pytest.raises(SystemExit, match="01-bad.ipynb failed"):
        build.run_lessons([src], tmp_path / "out")


def test_run_lessons_side_by_side_keeps_the_order_and_stops_at_a_failure(tmp_path):
    slow = write_notebook(tmp_path / "01-slow.ipynb", "import time\ntime.sleep(2)")
    fast = write_notebook(tmp_path / "02-fast.ipynb", "x = 1")
    results = build.run_lessons([slow, fast], tmp_path / "out", jobs=2)
    assert [r["lesson"] for r in results] == ["01-slow.ipynb", "02-fast.ipynb"]
    assert (tmp_path / "out" / "notebooks" / "02-fast.ipynb").is_file()
    bad = write_notebook(tmp_path / "03-bad.ipynb", "1 / 0")
    with pytest.raises(SystemExit, match="03-bad.ipynb failed"):
        build.run_lessons([fast, bad], tmp_path / "out2", jobs=2)


def test_format_table_totals():
    rows = [
        {"lesson": "01-a.ipynb", "seconds": 1.5, "peak_mib": 300.0},
        {"lesson": "02-b.ipynb", "seconds": 2.0, "peak_mib": 500.0},
    ]
    table = build.format_table(rows, "full")
    assert table.splitlines()[-1].split()[-2:] == ["3.5", "500"]


def test_preview_translates_quarto_syntax():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_raw_cell('---\ntitle: "Kernels"\ndescription: "Slide it."\n---'),
        nbformat.v4.new_markdown_cell(
            '## A slide\n\n::: {.content-visible unless-format="revealjs"}\nWeb prose.\n:::\n'
            '::: {.content-visible when-format="revealjs"}\n::: {.notes}\nSpeaker only.\n:::\n:::'
        ),
        nbformat.v4.new_markdown_cell('::: {.content-visible when-format="revealjs"}\nx\n:::'),
        nbformat.v4.new_code_cell('#| fig-cap: "A figure."\nplot()'),
    ]
    plain = build.without_quarto_syntax(nb)
    assert plain.cells[0].source == "# Kernels\n\n*Slide it.*"
    assert plain.cells[1].source == "## A slide\n\nWeb prose."
    assert len(plain.cells) == 3 and plain.cells[2].source == "plot()"
    assert nb.cells[3].source.startswith("#|")  # the original is untouched


def test_preview_follows_a_div_across_cells():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell('::: {.callout-tip title="Solutions"}\n1. Four.'),
        nbformat.v4.new_code_cell("print(4)"),
        nbformat.v4.new_markdown_cell("Done.\n:::"),
        nbformat.v4.new_markdown_cell('::: {.content-visible when-format="revealjs"}'),
        nbformat.v4.new_code_cell("slides_only()"),
        nbformat.v4.new_markdown_cell(":::\n## Versions {.smaller}"),
        nbformat.v4.new_code_cell("#| include: false\n%xmode Minimal"),
    ]
    plain = build.without_quarto_syntax(nb)
    assert [c.source for c in plain.cells] == ["1. Four.", "print(4)", "Done.", "## Versions"]


def test_front_matter_reads_only_the_first_raw_cell_block():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_raw_cell('---\ntitle: "A --- B"\norder: 2\n---\nnot yaml: [')]
    assert build.front_matter(nb) == {"title": "A --- B", "order": 2}
    nb.cells = [nbformat.v4.new_markdown_cell("---\ntitle: x\n---")]
    assert build.front_matter(nb) == {}
    nb.cells = [nbformat.v4.new_raw_cell("---\ntitle: never closed")]
    assert build.front_matter(nb) == {}


def test_strip_outputs_cleans_what_quarto_wrote_back(tmp_path, capsys):
    src = write_notebook(tmp_path / "01-x.ipynb", "print(1)", "x = 2")
    build._run_one(src, tmp_path / "out", html=False)
    executed = tmp_path / "out" / "notebooks" / "01-x.ipynb"
    nb = nbformat.read(executed, 4)
    nb.metadata["kernelspec"]["display_name"] = "Python 3 (ipykernel)"
    nbformat.write(nb, executed)
    assert build.strip_outputs(executed) is True
    clean = nbformat.read(executed, 4)
    assert all(c.outputs == [] and c.execution_count is None for c in clean.cells)
    assert clean.metadata["kernelspec"] == build.KERNELSPEC
    assert [c.source for c in clean.cells] == ["print(1)", "x = 2"]
    before = executed.stat().st_mtime_ns
    assert build.strip_outputs(executed) is False and executed.stat().st_mtime_ns == before
    build.main(["strip", str(executed)])
    assert "stripped outputs from 0 lesson(s)" in capsys.readouterr().out


def test_strip_outputs_removes_language_info(tmp_path):
    path = write_notebook(tmp_path / "01-x.ipynb", "x = 1")
    nb = nbformat.read(path, 4)
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    nbformat.write(nb, path)
    assert build.strip_outputs(path) is True
    assert "language_info" not in nbformat.read(path, 4).metadata
    assert build.strip_outputs(path) is False


def _lesson_with_front_matter(path, title):
    nb = nbformat.v4.new_notebook()
    header = f'---\ntitle: "{title}"\ndescription: "About <{title}>"\n---'
    nb.cells = [nbformat.v4.new_raw_cell(header), nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, path)
    return path


def test_preview_index_links_the_exported_lessons(tmp_path):
    one = _lesson_with_front_matter(tmp_path / "01-a.ipynb", "First")
    two = _lesson_with_front_matter(tmp_path / "02-b.ipynb", "Second")
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "01-a.html").write_text("<html></html>")
    page = build.write_preview_index(tmp_path / "html", [one, two]).read_text()
    assert '<a href="01-a.html">First</a>' in page and "About &lt;First&gt;" in page
    assert "02-b.html" not in page  # not exported, not linked


@pytest.mark.needs_backend  # records the hardware the backend sees
def test_bench_record_keeps_the_other_device_and_fills_the_index(tmp_path):
    lesson = _lesson_with_front_matter(tmp_path / "01-a.ipynb", "First")
    results = [{"lesson": "01-a.ipynb", "seconds": 90.0, "peak_mib": 100}]
    record = build.record_bench(tmp_path / "bench.json", results, "full", cold=True, kind="cpu")
    record = build.record_bench(
        tmp_path / "bench.json", [{**results[0], "seconds": 30.0}], "full", cold=True, kind="gpu"
    )
    assert record["cpu"]["seconds"] == {"01-a.ipynb": 90.0} and "gpu" in record
    assert record["cpu"]["peak_mib"] == {"01-a.ipynb": 100}
    page = tmp_path / "index.qmd"
    page.write_text(f"intro\n{build.BENCH_START}\nold\n{build.BENCH_END}\nend\n")
    build.write_timing_table(page, record, [lesson])
    text = page.read_text()
    assert "| 1. First | 1.5 min | 0.5 min |" in text and "old" not in text
    assert text.startswith("intro\n") and text.endswith("end\n")
    assert "first run, nothing cached" in text
    page.write_text("no markers")
    with pytest.raises(ValueError, match="no <!-- bench:start -->"):
        build.write_timing_table(page, record, [lesson])
    partial = build.timing_table({}, [lesson])
    assert "| 1. First | not measured yet | not measured yet |" in partial
