"""Open each lesson's deck in headless Chromium, visit every slide and report those whose
content does not fit the 1050×700 slide (``make slides-check``, issue 18).

    python -m tools.slides_check [notebooks ...] [--out build/slides-check] [--report-only]

A slide overflows when
- its content reaches past the slide's bottom or right edge: the union of the border boxes of
  everything on it (speaker notes excluded; what a scrolling box clips is not counted), in slide
  coordinates (divided by reveal.js's scale), compared with 700 × 1050; or
- a box on it scrolls: a code block or output taller than its max-height (500 px for code,
  400 px for outputs in Quarto's theme) or wider than the slide, so the audience cannot see it
  all. Reported with how many pixels are hidden.
Prints "N of M slides overflow" per lesson and in total, writes a contact sheet per lesson
(``<lesson>.png``: thumbnails, overflowing slides outlined red, the slide's bottom edge dashed)
and ``report.json``; exits 1 when a slide overflows unless ``--report-only``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

from tools import browser, deck

WIDTH, HEIGHT = 1050, 700
#: Overflows up to this many pixels are not counted: a space hanging at a line wrap, sub-pixel
#: rounding; reveal.js's margin around the slide shows them anyway.
TOLERANCE = 8
#: The viewport: one slide at scale 1, with room below it to show what overflows.
VIEW = {"width": WIDTH, "height": HEIGHT + 2 * 350}
MEASURE = """async ([i, tolerance]) => {
  const slide = Reveal.getSlides()[i];
  const at = Reveal.getIndices(slide);
  Reveal.slide(at.h, at.v);
  await document.fonts.ready;
  const scale = Reveal.getScale();
  const frame = Reveal.getSlidesElement().getBoundingClientRect();
  let right = frame.left, bottom = frame.top;
  const clips = (s) => s.overflowX !== "visible" || s.overflowY !== "visible";
  const visit = (el) => {
    const style = getComputedStyle(el);
    if (style.display === "none" || el.matches("aside.notes")) return;
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) {
      right = Math.max(right, r.right); bottom = Math.max(bottom, r.bottom);
    }
    if (!clips(style)) for (const child of el.children) visit(child);
  };
  for (const child of slide.children) visit(child);
  const boxes = [];
  for (const el of slide.querySelectorAll("*")) {
    if (el.closest("aside.notes") || !clips(getComputedStyle(el))) continue;
    const dy = el.scrollHeight - el.clientHeight, dx = el.scrollWidth - el.clientWidth;
    if (dy <= tolerance && dx <= tolerance) continue;
    const kind = el.closest(".cell-code") ? "code"
      : el.closest(".cell-output") ? "output" : el.tagName.toLowerCase();
    const first = (el.textContent.trim().split("\\n")[0] || "").slice(0, 40);
    boxes.push({kind, first, down: dy > tolerance ? dy : 0, across: dx > tolerance ? dx : 0});
  }
  const heading = slide.querySelector("h1, h2");
  const beyond = (px) => px > tolerance ? Math.round(px) : 0;
  return {heading: heading ? heading.textContent.trim() : "",
          down: beyond((bottom - frame.top) / scale - 700),
          across: beyond((right - frame.left) / scale - 1050),
          boxes, clip: {x: frame.left, y: frame.top, width: frame.width,
                        height: Math.min(innerHeight - frame.top, frame.width)}};
}"""


def open_deck(page, deck: Path) -> int:
    """Load a deck at scale 1; return its number of slides."""
    page.set_viewport_size(VIEW)
    page.goto(deck.resolve().as_uri())
    page.wait_for_function("window.Reveal && Reveal.isReady()")
    page.evaluate(
        "Reveal.configure({margin: 0, minScale: 1, maxScale: 1, hash: false,"
        " controls: false, progress: false})"
    )
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    return page.evaluate("Reveal.getTotalSlides()")


def check_deck(page, deck: Path, shots: bool = True) -> list[dict]:
    """Measure every slide of a deck: one dict per slide, with a PNG screenshot if ``shots``."""
    results = []
    for i in range(open_deck(page, deck)):
        result = page.evaluate(MEASURE, [i, TOLERANCE])
        result["index"] = i + 1
        result["overflows"] = bool(result["down"] or result["across"] or result["boxes"])
        clip = result.pop("clip")
        if shots:
            result["png"] = page.screenshot(clip=clip)
        results.append(result)
    return results


def describe(result: dict) -> str:
    """``+85 px down; code 'fig, axes = ...' scrolls 120 px down`` for a report line."""
    parts = []
    if result["down"] or result["across"]:
        parts.append(f"slide +{result['down']} px down, +{result['across']} px across")
    for box in result["boxes"]:
        dirs = [f"{box[d]} px {d}" for d in ("down", "across") if box[d]]
        parts.append(f"{box['kind']} '{box['first']}' scrolls {' and '.join(dirs)}")
    return "; ".join(parts)


def summary(results: list[dict]) -> str:
    """``N of M slides overflow (a past the slide's edge, b with a box too wide, c too tall)``."""
    over = sum(r["overflows"] for r in results)
    edge = sum(bool(r["down"] or r["across"]) for r in results)
    wide = sum(any(b["across"] for b in r["boxes"]) for r in results)
    tall = sum(any(b["down"] for b in r["boxes"]) for r in results)
    return (
        f"{over} of {len(results)} slides overflow ({edge} past the slide's edge, "
        f"{wide} with code or output wider than its box, {tall} taller than its box)"
    )


def contact_sheet(results: list[dict], path: Path, columns: int = 5, tile: int = 320) -> Path:
    """A grid of slide thumbnails; overflowing slides outlined red, the slide edge dashed."""
    from PIL import Image, ImageDraw, ImageFont

    def font(size: int):
        for name in ("NotoSansCJK-Regular.ttc", "DejaVuSans.ttf"):
            try:
                return ImageFont.truetype(name, size)
            except OSError:
                continue
        return ImageFont.load_default()

    label, pad = 44, 8
    rows = -(-len(results) // columns)
    sheet = Image.new(
        "RGB", (columns * (tile + pad) + pad, rows * (tile + label + pad) + pad), "#ddd"
    )
    draw, small = ImageDraw.Draw(sheet), font(13)
    for n, result in enumerate(results):
        x = pad + (n % columns) * (tile + pad)
        y = pad + (n // columns) * (tile + label + pad)
        shot = Image.open(io.BytesIO(result["png"])).convert("RGB")
        shot.thumbnail((tile, tile))
        sheet.paste(shot, (x, y))
        edge = y + round(HEIGHT * shot.width / WIDTH)
        for dash in range(x, x + shot.width, 12):
            draw.line([(dash, edge), (min(dash + 6, x + shot.width), edge)], fill="#888", width=1)
        heading = f"{result['index']}. {result['heading'] or '(untitled)'}"[:48]
        draw.text((x, y + shot.height + 3), heading, fill="#111", font=small)
        if result["overflows"]:
            draw.rectangle(
                [x - 3, y - 3, x + shot.width + 2, y + shot.height + 2], outline="red", width=4
            )
            draw.text((x, y + shot.height + 21), describe(result)[:52], fill="#c00", font=small)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Report slides that do not fit 1050×700.")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: build/smoke/notebooks")
    parser.add_argument("--out", type=Path, default=deck.OUT)
    parser.add_argument("--report-only", action="store_true", help="exit 0 even if slides overflow")
    args = parser.parse_args(argv)
    from tools.build import lesson_paths

    reason = browser.missing(need_reveal=True)
    if reason:
        print(reason, file=sys.stderr)
        return 2
    try:
        notebooks = args.notebooks or lesson_paths(deck.ROOT / "build" / "smoke" / "notebooks")
    except FileNotFoundError:
        print("no smoke build: run `make slides-check`, or first", file=sys.stderr)
        print("COURSE_PROFILE=smoke python -m tools.build execute --html", file=sys.stderr)
        return 2
    start, report, everything = time.perf_counter(), {}, []
    with browser.chromium() as chromium:
        page = chromium.new_page()
        for notebook in notebooks:
            results = check_deck(page, deck.build_deck(notebook, args.out))
            everything += results
            print(f"{notebook.stem}: {summary(results)}")
            for r in results:
                if r["overflows"]:
                    print(f"  {r['index']:>3}. {r['heading'] or '(untitled)'}: {describe(r)}")
            print(f"  contact sheet: {contact_sheet(results, args.out / f'{notebook.stem}.png')}")
            report[notebook.stem] = [{k: v for k, v in r.items() if k != "png"} for r in results]
    (args.out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(f"total: {summary(everything)} ({time.perf_counter() - start:.0f} s)")
    bad = any(r["overflows"] for r in everything)
    return 0 if args.report_only or not bad else 1


if __name__ == "__main__":
    sys.exit(main())
