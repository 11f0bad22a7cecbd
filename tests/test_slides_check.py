"""The slide check of issue 18: lessons split into slides as Quarto does (tools/slides.py), written
as a reveal.js deck (tools/deck.py) and measured in Chromium (tools/slides_check.py)."""

from __future__ import annotations

import base64
import io
import re

import nbformat
import pytest
from PIL import Image

from tools import browser, deck, slides, slides_check

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch

FRONT = '---\ntitle: "A lesson"\ndescription: "About it"\n---'


def md(text):
    return nbformat.v4.new_markdown_cell(text)


def code(source, *outputs, **metadata):
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs, cell.metadata = list(outputs), metadata
    return cell


def stdout(text, name="stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def png(width, height, **metadata):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "steelblue").save(buffer, format="PNG")
    data = {"image/png": base64.b64encode(buffer.getvalue()).decode(), "text/plain": "<Figure>"}
    return nbformat.v4.new_output("display_data", data=data, metadata=metadata)


def notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_raw_cell(FRONT), *cells]
    return nb


def write(tmp_path, nb, name="01-x.ipynb"):
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def test_slides_are_cut_like_quarto():
    nb = notebook(
        md('## Goals\n\n- one\n\n::: {.content-visible unless-format="revealjs"}\nPage only.\n:::'),
        md("# Part one\n\nUnder the section.\n\n## First slide {.smaller}\n\nText."),
        md('::: {.content-visible unless-format="revealjs"}\n## Not a slide\n'),
        code("hidden = 1"),
        md(':::\n\n::: {.content-visible when-format="revealjs"}\n## Slide only\n:::'),
        md('::: {.content-hidden when-format="revealjs"}\nhidden too\n:::\n\n---\n\nAfter a rule.'),
        md("::: {.notes}\nSay this.\n:::\n\n```\n## not a heading\n```"),
    )
    cut = slides.lesson_slides(nb)
    assert [(s.level, s.title, s.classes) for s in cut] == [
        (2, "Goals", []),
        (1, "Part one", []),
        (2, "First slide", ["smaller"]),
        (2, "Slide only", []),
        (0, "", []),
    ]
    text = lambda s: "".join(i for i in s.items if isinstance(i, str))  # noqa: E731
    assert "Page only" not in text(cut[0]) and "Under the section" in text(cut[1])
    assert not any(getattr(i, "source", "") == "hidden = 1" for s in cut for i in s.items)
    assert "hidden too" not in text(cut[4]) and "After a rule" in text(cut[4])
    notes = [i for i in cut[4].items if isinstance(i, slides.Div)]
    assert notes[0].classes == ["notes"] and "## not a heading" in text(cut[4])


def test_code_cells_are_drawn_like_quarto(tmp_path):
    nb = notebook(
        md("## Cells"),
        code("#| include: false\nsecret = 1", stdout("never shown")),
        code("#| echo: false\nquiet = 2", stdout("output without code")),
        code("#| output: false\nshown = 3", stdout("code without output")),
        code(
            "import warnings\nprint('hi')",
            *[stdout("hi\n"), stdout("there\n"), stdout("a warning\n", "stderr")],
        ),
        code('#| fig-cap: "A *wide* figure"\nplot()', png(80, 40, **{"image/png": {"width": 40}})),
        code("x = 1", stdout("dropped"), tags=["remove-output"]),
        code("#| output-location: slide\nlater = 4", stdout("moved output")),
        code("#| output-location: column\nbeside = 5", stdout("next to the code")),
    )
    page = deck.build_deck(write(tmp_path, nb), tmp_path / "out").read_text()
    assert "secret" not in page and "never shown" not in page
    assert "quiet = 2" not in page and "output without code" in page
    assert "shown = 3" in page and "code without output" not in page
    assert "#|" not in page and "print(&#x27;hi&#x27;)" in page and "a warning" not in page
    assert "<pre><code>hi\nthere\n</code></pre>" in page  # one stream, one box
    assert "<figcaption>A <em>wide</em> figure</figcaption>" in page
    assert re.search(r'<img src="data:image/png;base64,[^"]+" width="40">', page)
    assert "x = 1" in page and "dropped" not in page
    sections = page.split("<section")
    moved = next(i for i, part in enumerate(sections) if "later = 4" in part)
    assert "moved output" not in sections[moved] and "moved output" in sections[moved + 1]
    assert "output-location-slide" in sections[moved + 1]  # with the heading repeated:
    assert sections[moved + 1].count("<h2>Cells</h2>") == 1
    assert '<div class="column">' in page.split("beside = 5")[0].rsplit("columns", 1)[1]
    assert 'id="title-slide"' in page and '<h1 class="title">A lesson</h1>' in page
    assert "width: 1050, height: 700" in page and "center: false" in page
    assert "scrollable" not in page.split("<script>Reveal.initialize")[1]


MISSING = browser.missing(need_reveal=True)
needs_browser = pytest.mark.skipif(
    MISSING is not None, reason=f"browser check not possible here: {MISSING}"
)


@pytest.fixture
def chromium():
    with browser.chromium() as b:
        yield b


@needs_browser
def test_the_detector_finds_what_overflows_and_passes_what_fits(tmp_path, chromium):
    bullets = "\n".join(f"- point {i}" for i in range(30))
    nb = notebook(
        md("## Fits\n\n- one\n- two"),
        code("print(1)", stdout("1\n"), png(600, 200)),
        md(f"## Too many points\n\n{bullets}"),
        md("## A wide line"),
        code("x = " + " + ".join(["1"] * 60)),
        md("## A long output"),
        code("print(rows)", stdout("".join(f"row {i}\n" for i in range(40)))),
        md("## A tall figure"),
        code("plot()", png(400, 900), png(400, 900)),
    )
    page = chromium.new_page()
    results = slides_check.check_deck(page, deck.build_deck(write(tmp_path, nb), tmp_path))
    by_title = {r["heading"]: r for r in results}
    assert not by_title["A lesson"]["overflows"] and not by_title["Fits"]["overflows"]
    assert by_title["Too many points"]["down"] > 300 and not by_title["Too many points"]["boxes"]
    wide = by_title["A wide line"]["boxes"]
    assert [b["kind"] for b in wide] == ["code"] and wide[0]["across"] > 400
    long = by_title["A long output"]["boxes"]
    assert [b["kind"] for b in long] == ["output"] and long[0]["down"] > 400
    # lessons/slides.css shows each figure at most 420 px high: two are 840 px under a heading
    assert by_title["A tall figure"]["down"] > 200
    assert slides_check.summary(results).startswith("4 of 6 slides overflow (2 past")
    sheet = slides_check.contact_sheet(results, tmp_path / "sheet.png")
    image = Image.open(sheet).convert("RGB")
    assert image.width == 5 * (320 + 8) + 8 and (255, 0, 0) in {
        c for _, c in image.getcolors(1 << 20)
    }


@needs_browser
def test_main_exits_non_zero_when_a_slide_overflows(tmp_path, capsys):
    nb = notebook(md("## Too tall\n\n" + "\n".join(f"- {i}" for i in range(30))))
    path = write(tmp_path, nb)
    assert slides_check.main([str(path), "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    assert "01-x: 1 of 2 slides overflow" in out and "2. Too tall: slide +" in out
    assert slides_check.main([str(path), "--out", str(tmp_path / "out"), "--report-only"]) == 0
    assert (tmp_path / "out" / "01-x.png").is_file() and (
        tmp_path / "out" / "report.json"
    ).is_file()
