"""Notebook hygiene: lessons committed clean, listed in _quarto.yml, with good front matter."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

from tools import build

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]-*.ipynb"))
REPO_URL = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
# A code cell that makes a figure: it must carry a caption and alt text (Quarto cell options).
DRAWS = re.compile(r"\bplt\.(figure|subplots|imshow|plot)\(|\bplot_\w+\(")
REPO = REPO_URL.removeprefix("https://github.com/")


def front_matter(nb) -> dict:
    first = nb.cells[0]
    assert first.cell_type == "raw", "the first cell must be a raw cell with YAML front matter"
    lines = first.source.splitlines()
    assert lines[0] == "---" and lines[1].strip(), "front matter starts with '---', then a key"
    return build.front_matter(nb)


def sidebar_files(items) -> list[str]:
    files = []
    for item in items:
        if isinstance(item, str):
            files.append(item)
        elif isinstance(item, dict):
            files += [item["href"]] if "href" in item else []
            files += sidebar_files(item.get("contents", []))
    return files


def test_there_are_lessons():
    assert LESSONS


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert "language_info" not in nb.metadata, "a render or run left language_info: strip it"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"cell {i} has outputs"
            assert cell.execution_count is None, f"cell {i} has an execution count"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_front_matter(path):
    meta = front_matter(nbformat.read(path, as_version=4))
    assert meta.get("title") and meta.get("description")
    assert meta["jupyter"] == "python3"
    assert meta["order"] == int(path.name[:2])
    rel = f"lessons/{path.name}"
    hrefs = {link["text"]: link["href"] for link in meta["code-links"]}
    assert hrefs == {
        "Open in Colab": f"https://colab.research.google.com/github/{REPO}/blob/main/{rel}",
        "Open in Kaggle": f"https://kaggle.com/kernels/welcome?src={REPO_URL}/blob/main/{rel}",
        "Download .ipynb": f"https://raw.githubusercontent.com/{REPO}/main/{rel}",
    }


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_structure(path):
    nb = nbformat.read(path, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert re.search(r"^## Goals", markdown, re.M) and re.search(r"^## Exercises", markdown, re.M)
    assert not re.search(r"^\s*(import tensorflow|from tensorflow)", code, re.M), "Keras 3 only"
    assert f'"cv-course-utils @ git+{REPO_URL}"' in code, "setup cell installs from the repo"
    assert nb.cells[-1].cell_type == "code" and "versions()" in nb.cells[-1].source
    for i, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        error_option = cell.source.startswith("#| error: true")
        assert ("raises-exception" in tags) == error_option, f"cell {i}: mark errors both ways"
        if cell.cell_type == "code" and DRAWS.search(cell.source):
            options = [line for line in cell.source.splitlines() if line.startswith("#|")]
            assert any(o.startswith("#| fig-cap:") for o in options), f"cell {i}: no fig-cap"
            assert any(o.startswith("#| fig-alt:") for o in options), f"cell {i}: no fig-alt"


def test_every_lesson_installs_and_sets_up_the_same_way():
    """One install cell for all lessons: installs once per hosted session, offline from
    attached wheels on Kaggle, and names its own lesson for setup's CPU note."""
    cells = {}
    for path in LESSONS:
        nb = nbformat.read(path, as_version=4)
        (cell,) = [c.source for c in nb.cells if "cv-course-utils @ git+" in c.source]
        number = int(path.name[:2])
        assert cell.rstrip().endswith(f"P = setup(lesson={number})"), path.name
        cells[path.name] = cell.replace(f"lesson={number})", "lesson=N)")
    assert len(set(cells.values())) == 1, "the lessons' setup cells differ"
    cell = next(iter(cells.values()))
    assert 'importlib.util.find_spec("course_utils") is None' in cell  # a rerun skips pip
    assert "--no-index --find-links" in cell and "/kaggle/input/" in cell


def test_every_lesson_is_in_the_sidebar_and_every_entry_exists():
    config = yaml.safe_load((ROOT / "_quarto.yml").read_text())
    listed = sidebar_files(config["website"]["sidebar"]["contents"])
    for entry in listed:
        assert (ROOT / entry).is_file(), f"_quarto.yml lists {entry}, which does not exist"
    assert sorted(e for e in listed if e.startswith("lessons/")) == [
        f"lessons/{p.name}" for p in LESSONS
    ]
    assert config["website"]["repo-url"] == REPO_URL


def test_formats_are_declared_for_the_lessons_folder_not_the_project():
    config = yaml.safe_load((ROOT / "_quarto.yml").read_text())
    assert "revealjs" not in config.get("format", {})  # QUARTO.md §2
    lessons = yaml.safe_load((ROOT / "lessons" / "_metadata.yml").read_text())
    assert lessons["format"]["revealjs"]["output-ext"] == "slides.html"
