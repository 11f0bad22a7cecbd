"""The page check of issue 18 (tools/pages_check.py) on a page that renders right and on one
that breaks every rule."""

from __future__ import annotations

import subprocess

import pytest

from tools import browser, pages_check

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch

MISSING = browser.missing()
pytestmark = pytest.mark.skipif(
    MISSING is not None, reason=f"browser check not possible here: {MISSING}"
)
PAGE = '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{}</body></html>'
# A 1×1 PNG.
DOT = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def has_cjk_font() -> bool:
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout
    return bool(fonts.strip())


def write(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(PAGE.format(body), encoding="utf-8")
    return path


@pytest.fixture
def chromium():
    with browser.chromium() as b:
        yield b


def test_a_good_page_passes(tmp_path, chromium):
    if not has_cjk_font():
        pytest.skip("no CJK font installed (Debian: fonts-noto-cjk)")
    body = (
        f'<p>The class 森 and 口.</p><img src="{DOT}" alt="dot">'
        '<pre style="overflow-x: auto">' + "x" * 300 + "</pre>"
        '<script src="https://cdn.example.org/lib.js"></script>'
    )
    result = pages_check.check_page(chromium, write(tmp_path, "good.html", body))
    assert pages_check.problems(result) == []
    assert result["cjk"] == 2 and result["images"] == 1 and result["width"] == 400
    assert result["blocked"] == ["https://cdn.example.org/lib.js"]  # listed, not an error


def test_a_bad_page_fails_on_every_rule(tmp_path, chromium):
    body = (
        "<p>Extension G: \U00030000</p>"  # no installed font has it: a box
        '<img src="missing.png" alt="lost figure">'
        '<div style="width: 900px">too wide</div>'
        "<pre>UserWarning: Glyph 26862 (\\N{CJK UNIFIED IDEOGRAPH-68EE}) missing from "
        "font(s) DejaVu Sans.</pre>"
        "<script>notDefined()</script>"
    )
    found = pages_check.problems(
        pages_check.check_page(chromium, write(tmp_path, "bad.html", body))
    )
    text = "\n".join(found)
    assert "uncaught: notDefined is not defined" in text
    assert "image did not load: lost figure" in text
    assert "scrolls sideways at 400 px: page is 908 px wide" in text and "too wide" in text
    assert "Chinese drawn as boxes in the page text: \U00030000" in text
    assert "figure drew a box: Glyph 26862" in text


def test_main_reports_and_exits(tmp_path, capsys):
    bad = write(tmp_path, "01-bad.html", '<img src="missing.png" alt="x">')
    assert pages_check.main([str(bad)]) == 1
    assert pages_check.main([str(bad), "--report-only"]) == 0
    assert "total: 1 of 1 pages with problems" in capsys.readouterr().out
