"""The website's structure (issue: website and slides): Quarto config, pages, links,
exercises, workflows. Quarto is not installed here, so its inputs are checked instead."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from tools import build, deck

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]-*.ipynb"))
PAGES = [ROOT / "index.qmd", ROOT / "setup.qmd", ROOT / "glossary.qmd"]
# [text](target) and ![alt](target); a target ends at whitespace or ")".
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
PARTS = ["Foundations", "Characters", "Better models", "Reusing models", "Using models"]


def quarto() -> dict:
    return yaml.safe_load((ROOT / "_quarto.yml").read_text(encoding="utf-8"))


def markdown_of(path: Path) -> str:
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return path.read_text(encoding="utf-8")


def test_sidebar_has_the_five_parts_in_course_order():
    contents = quarto()["website"]["sidebar"]["contents"]
    sections = [item for item in contents if isinstance(item, dict)]
    assert [s["section"] for s in sections] == PARTS
    listed = [entry for s in sections for entry in s["contents"]]
    assert listed == [f"lessons/{p.name}" for p in LESSONS]  # every lesson, in file order
    pages = [item for item in contents if isinstance(item, str)]
    assert pages == ["index.qmd", "setup.qmd", "glossary.qmd"]
    for entry in pages + listed:
        assert (ROOT / entry).is_file(), entry


def test_site_options():
    config = quarto()
    assert config["project"]["type"] == "website"
    assert set(config["project"]["render"]) >= {
        "index.qmd",
        "setup.qmd",
        "glossary.qmd",
        "lessons/*.ipynb",
    }
    assert config["website"]["sidebar"]["search"] is True
    html = config["format"]["html"]
    assert set(html["theme"]) == {"light", "dark"} and html["code-copy"] is True
    assert config["execute"] == {"enabled": True, "freeze": False}  # QUARTO.md §1
    frozen = yaml.safe_load((ROOT / "_quarto-frozen.yml").read_text())
    assert frozen["execute"]["freeze"] is True
    # A render writes outputs back into the notebooks; the post-render step strips them, and
    # pre-render strips what a failed render left (Quarto skips post-render after a failure).
    assert config["project"]["post-render"] == "python -m tools.build strip"
    assert config["project"]["pre-render"] == "python -m tools.build strip"
    # `make render` executes each lesson once and renders both formats from those outputs
    # (tools.publish render, with the "executed" profile turning Quarto's execution off).
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nrender:")[1].split("\n\n")[0]
    assert "python -m tools.publish render" in recipe and "quarto render" not in recipe
    executed = yaml.safe_load((ROOT / "_quarto-executed.yml").read_text())
    assert executed == {"execute": {"enabled": False}}


def test_lessons_render_as_page_and_linked_slides():
    meta = yaml.safe_load((ROOT / "lessons" / "_metadata.yml").read_text())
    slides = meta["format"]["revealjs"]
    assert slides["output-ext"] == "slides.html"
    assert slides["echo"] is True and slides["slide-level"] == 2
    # auto-stretch squeezes or hides lone figures on scrollable slides (QUARTO.md §6).
    assert slides["auto-stretch"] is False
    # The slides stay out of the site search; the page is found once.
    assert slides["search"] is False and meta["format"]["html"] == "default"
    # A plain format name first stops Quarto's default links: one "Slides" link, no "RevealJS".
    links = meta["format-links"]
    assert links[0] == "html"
    assert links[1:] == [{"format": "revealjs", "text": "Slides", "icon": "easel"}]


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_pages_have_title_and_description(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta.get("title") and meta.get("description")


@pytest.mark.parametrize("path", PAGES + LESSONS + [ROOT / "README.md"], ids=lambda p: p.name)
def test_internal_links_resolve(path):
    for image, text, target in LINK.findall(markdown_of(path)):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        file = target.split("#")[0]
        assert (path.parent / file).exists(), f"{path.name}: link [{text}]({target}) is broken"
        if image:
            assert text.strip(), f"{path.name}: image {target} has no alt text"


def test_glossary_links_every_term_to_the_lesson_that_introduces_it():
    text = (ROOT / "glossary.qmd").read_text(encoding="utf-8")
    entries = re.findall(r"^(\S[^\n]*)\n: (.+?)(?=\n\n|\Z)", text, re.M | re.S)
    terms = [term for term, _ in entries]
    for required in [
        "AlexNet",
        "Benchmark",
        "Channels",
        "CIFAR",
        "Convolutional layer",
        "Error analysis",
        "Filter",
        "Fine-tuning",
        "Flatten",
        "ImageNet",
        "Kernel",
        "Max pooling",
        "MNIST",
        "Padding",
        "Stride",
        "Transfer learning",
    ]:
        assert required in terms, f"the glossary lacks {required}"
    assert terms == sorted(terms, key=str.lower), "glossary terms in alphabetical order"
    for term, body in entries:
        links = LINK.findall(body)
        assert links, f"{term}: no link to a lesson"
        for _, _, target in links:
            assert (ROOT / target).is_file() and target.startswith("lessons/"), term
    assert any("glossary.qmd" == item for item in quarto()["website"]["sidebar"]["contents"])


def test_index_lists_every_lesson_with_its_times():
    text = (ROOT / "index.qmd").read_text(encoding="utf-8")
    for path in LESSONS:
        assert f"(lessons/{path.name})" in text, f"index.qmd does not link {path.name}"
    table = text.split(build.BENCH_START)[1].split(build.BENCH_END)[0]
    assert table.count("\n| ") >= len(LESSONS)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_solutions_are_collapsed_on_the_page_and_absent_from_slides(path):
    nb = nbformat.read(path, as_version=4)
    sources = [c.source for c in nb.cells]
    opening = [i for i, s in enumerate(sources) if 'callout-tip collapse="true"' in s]
    assert len(opening) == 1, "one collapsed Solutions callout per lesson"
    first = sources[opening[0]]
    assert first.index('::: {.content-visible unless-format="revealjs"}') < first.index(
        'callout-tip collapse="true" title="Solutions"'
    )
    exercises = next(i for i, s in enumerate(sources) if s.startswith("## Exercises"))
    assert exercises <= opening[0]
    # on the slides, as Quarto cuts them: no solution (the callout and its cells are dropped)
    slides = "\n".join(deck.slide_sections(nb))
    assert "Solutions" not in slides and "callout-tip" not in slides
    solution_code = [c.source for c in nb.cells[opening[0] + 1 :] if c.cell_type == "code"][:-1]
    assert solution_code and not any(code.splitlines()[-1] in slides for code in solution_code)
    # the callout and its page-only div are closed before the Versions heading, which sits
    # in a page-only div of its own (depth 1)
    lines = [
        ln.strip() for c in nb.cells if c.cell_type == "markdown" for ln in c.source.splitlines()
    ]
    depth = 0
    for line in lines[: lines.index("## Versions")]:
        if line.startswith(":::"):
            depth += 1 if line.strip(":").strip() else -1
    assert depth <= 1, "the Solutions callout is not closed before ## Versions"


def test_workflows():
    flows = ROOT / ".github" / "workflows"
    publish = yaml.safe_load((flows / "publish.yml").read_text())
    assert publish["permissions"] == {"contents": "write"}
    steps = publish["jobs"]["site"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("quarto-dev/quarto-actions/setup@") for u in uses)
    publish_step = next(
        s for s in steps if s.get("uses", "").startswith("quarto-dev/quarto-actions/publish@")
    )
    assert publish_step["with"]["target"] == "gh-pages"
    assert publish_step["with"]["render"] is False  # rendered by the step before
    render = next(s["run"] for s in steps if "tools.publish render" in s.get("run", ""))
    # frozen results are checked against the lessons before they are reused
    assert render.index("freeze-check") < render.index("--profile frozen")
    assert publish["jobs"]["site"]["env"]["COURSE_PROFILE"] == "full"
    triggers = publish[True] if True in publish else publish["on"]  # YAML 1.1: `on` is True
    assert triggers["workflow_run"]["workflows"] == ["tests"]  # publish only after the tests
    assert "success" in publish["jobs"]["site"]["if"]

    tests = yaml.safe_load((flows / "tests.yml").read_text())
    backends = tests["jobs"]["backend"]["strategy"]["matrix"]["backend"]
    assert sorted(backends) == ["jax", "tensorflow", "torch"]
    runs = [s.get("run", "") for job in tests["jobs"].values() for s in job["steps"]]
    assert "make test BACKEND=${{ matrix.backend }}" in runs and "make browser-checks" in runs

    gpu = yaml.safe_load((flows / "notebooks-gpu.yml").read_text())
    triggers = gpu[True] if True in gpu else gpu["on"]  # YAML 1.1 reads `on` as True
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    job = gpu["jobs"]["lessons"]
    assert "self-hosted" in job["runs-on"] and "gpu" in job["runs-on"]
    assert job["env"]["COURSE_PROFILE"] == "full"
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert "--nbval-lax" in runs and "lessons" in runs
    upload = next(
        s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")
    )
    assert "build/full/notebooks/" in upload["with"]["path"]


def test_readme_explains_publishing_briefly():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Publishing the website")[1].split("\n## ")[0]
    lines = [line for line in section.strip().splitlines() if line.strip()]
    assert 1 <= len(lines) <= 5
    assert "publish.yml" in section and "gh-pages" in section
