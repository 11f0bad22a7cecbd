"""Write 口 in a page's "Draw a character" widget with the mouse and save a screenshot (issue 19).

    python -m tools.drawing_demo PAGE.html OUT.png [--dark] [--width 1050] [--height 700]

PAGE.html is any page with the widget: a rendered lesson, its reveal.js slides, or a file
written by ``course_utils.drawing.drawing_widget(...).save(path)``. The first widget is
scrolled into view (or its slide shown), 口 is drawn in three strokes (the left side; the top
and right side in one; the bottom), and OUT.png shows the widget with the network's guesses.
The guesses are printed too. ``--dark`` gives the page a dark background, to check that the
widget keeps its own colours.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools import browser

#: 口 in the drawing area's CSS pixels (240 × 320).
KOU = [[(60, 90), (62, 250)], [(60, 90), (180, 88), (178, 250)], [(62, 246), (176, 246)]]

SHOW = """() => {
  const root = document.querySelector(".cv-drawing");
  const slide = window.Reveal && root.closest(".slides section");
  if (slide) { const at = Reveal.getIndices(slide); Reveal.slide(at.h, at.v); }
  root.scrollIntoView({ block: "center" });
}"""
GUESSES = """() => Array.from(document.querySelectorAll(".cv-drawing .cvd-row"), (row) =>
  `${row.querySelector(".cvd-char").textContent} ${row.querySelector(".cvd-p").textContent}`)"""


def draw(page, strokes=KOU) -> None:
    """Draw ``strokes`` (lists of points in the drawing area's CSS pixels) with the mouse."""
    box = page.locator(".cv-drawing .cvd-pad").first.bounding_box()
    sx, sy = box["width"] / 240, box["height"] / 320  # a slide may be scaled
    for (x, y), *rest in strokes:
        page.mouse.move(box["x"] + x * sx, box["y"] + y * sy)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + x * sx, box["y"] + y * sy, steps=12)
        page.mouse.up()


def screenshot(page_path: Path, out: Path, width=1050, height=700, dark=False) -> list[str]:
    """Open ``page_path``, write 口 in its first widget, save ``out``; the guesses."""
    with browser.chromium() as chromium:
        page = chromium.new_page(viewport={"width": width, "height": height})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_path.resolve().as_uri())
        page.wait_for_function("Object.keys(window.cvCourseDrawing || {}).length > 0")
        if dark:
            page.add_style_tag(content="html, body { background: #1e1e1e; color: #ddd; }")
        page.evaluate(SHOW)
        pad, boxes = page.locator(".cv-drawing .cvd-pad").first, [None]
        while len(boxes) < 3 or boxes[-1] != boxes[-2]:  # until a slide transition ends
            page.wait_for_timeout(100)
            boxes.append(pad.bounding_box())
        draw(page)
        page.wait_for_timeout(200)
        page.locator(".cv-drawing").first.screenshot(path=str(out))
        if errors:
            raise SystemExit(f"the page reported errors: {errors}")
        return page.evaluate(GUESSES)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", type=Path, help="an HTML file with the widget")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--width", type=int, default=1050)
    parser.add_argument("--height", type=int, default=700)
    parser.add_argument("--dark", action="store_true", help="a dark page behind the widget")
    args = parser.parse_args(argv)
    if reason := browser.missing():
        print(reason, file=sys.stderr)
        return 1
    guesses = screenshot(args.page, args.out, args.width, args.height, args.dark)
    print(f"{args.out}: top guesses for 口: {', '.join(guesses)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
