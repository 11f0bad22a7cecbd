"""Open each lesson's HTML preview in headless Chromium and check that it renders right
(``make pages-check``, issue 18).

    python -m tools.pages_check [pages ...] [--report-only]

The pages are the ``--html`` previews of ``python -m tools.build execute`` (default
``build/smoke/html/NN-*.html``). For each page:
- no console errors and no uncaught exceptions. Requests that leave the machine are blocked, so
  that the check is the same offline and in CI; a failed load of such a blocked address (the
  preview's require.js and MathJax from a CDN) is listed, not counted as an error;
- every ``<img>`` has loaded (``complete`` and ``naturalWidth > 0``);
- nothing scrolls sideways on a 400 px wide phone: ``document.scrollingElement.scrollWidth``
  is at most 400; otherwise the widest elements are named;
- Chinese renders as characters, not boxes ("tofu"). For page text, every CJK character is
  drawn on a canvas in the font of the element that holds it and the pixels are compared with
  those of U+10FFFD, a private-use code point that no font has: Chromium draws every character
  it has no glyph for with the same ``.notdef`` box, so equal pixels (or no ink at all) mean
  tofu. The canvas uses the same font fallback as the page, so this tests what the reader sees.
  ``document.fonts.check()`` cannot do this: it only says whether web fonts are loaded, and is
  true for text that falls back to a system font with no glyph. For figures (PNGs drawn by
  matplotlib) the page shows matplotlib's own warning, "Glyph … missing from font(s)", which it
  prints exactly when it draws a box; any such text on the page is an error.
Exits 1 when a page has a problem, unless ``--report-only``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tools import browser

ROOT = Path(__file__).resolve().parents[1]
PHONE = {"width": 400, "height": 800}
INSPECT = r"""async () => {
  for (const img of document.querySelectorAll("img[loading=lazy]")) img.loading = "eager";
  await Promise.all(Array.from(document.images).map(i => i.decode().catch(() => null)));
  await document.fonts.ready;
  const images = Array.from(document.images);
  const broken = images.filter(i => !i.complete || i.naturalWidth === 0)
    .map(i => i.alt || i.src.slice(0, 60));
  const width = document.scrollingElement.scrollWidth;
  const clipped = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement)
      if (getComputedStyle(p).overflowX !== "visible") return true;
    return false;
  };
  const wide = width <= innerWidth ? [] : Array.from(document.body.querySelectorAll("*"))
    .filter(el => el.getBoundingClientRect().right > innerWidth + 1 && !clipped(el))
    .sort((a, b) => b.getBoundingClientRect().right - a.getBoundingClientRect().right)
    .slice(0, 3).map(el => `<${el.tagName.toLowerCase()} class="${el.className}"> ` +
      `${Math.round(el.getBoundingClientRect().right)} px: ${el.textContent.trim().slice(0, 40)}`);
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 48;
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  const ink = (ch, font) => {
    ctx.clearRect(0, 0, 48, 48);
    ctx.font = font; ctx.textBaseline = "top"; ctx.fillText(ch, 4, 4);
    return ctx.getImageData(0, 0, 48, 48).data.filter((_, i) => i % 4 === 3).join(",");
  };
  const cjk = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u{20000}-\u{3134f}]/gu;
  const seen = new Map();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, parent = node.parentElement;
    if (!parent || ["SCRIPT", "STYLE"].includes(parent.tagName)) continue;
    const s = getComputedStyle(parent);
    const font = `${s.fontStyle} ${s.fontWeight} 32px ${s.fontFamily}`;
    for (const ch of node.textContent.match(cjk) || []) seen.set(font + "\u0000" + ch, [font, ch]);
  }
  const tofu = new Set(), blank = ink("", "32px sans-serif");
  for (const [font, ch] of seen.values()) {
    const drawn = ink(ch, font);
    if (drawn === ink("\u{10FFFD}", font) || drawn === blank) tofu.add(ch);
  }
  const glyphs = document.body.innerText.match(/Glyph .{0,60}missing from font\(s\)[^\n]*/g) || [];
  return {images: images.length, broken, width, wide, cjk: new Set(Array.from(seen.values(),
          ([, ch]) => ch)).size, tofu: Array.from(tofu), glyphs};
}"""


def check_page(browser_, page_path: Path) -> dict:
    """Load one page at phone width with outside requests blocked; inspect it."""
    page = browser_.new_page(viewport=PHONE)
    errors, blocked = [], []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            request_route.continue_()
        else:
            blocked.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on(
        "console",
        lambda msg: (
            msg.type == "error"
            and msg.location.get("url") not in blocked
            and errors.append(f"console: {msg.text}")
        ),
    )
    try:
        page.goto(page_path.resolve().as_uri(), wait_until="load")
        result = page.evaluate(INSPECT)
    finally:
        page.close()
    return {**result, "errors": errors, "blocked": blocked}


def problems(result: dict) -> list[str]:
    """What is wrong with a page, one line each; empty when it renders right."""
    out = list(result["errors"])
    out += [f"image did not load: {name}" for name in result["broken"]]
    if result["width"] > PHONE["width"]:
        out.append(f"scrolls sideways at {PHONE['width']} px: page is {result['width']} px wide")
        out += [f"  wide: {w}" for w in result["wide"]]
    if result["tofu"]:
        out.append(f"Chinese drawn as boxes in the page text: {''.join(result['tofu'])}")
    out += [f"figure drew a box: {line}" for line in result["glyphs"]]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the lessons' HTML previews in Chromium.")
    parser.add_argument("pages", nargs="*", type=Path, help="default: build/smoke/html/NN-*.html")
    parser.add_argument("--report-only", action="store_true", help="exit 0 even with problems")
    args = parser.parse_args(argv)
    reason = browser.missing()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    pages = args.pages or sorted((ROOT / "build" / "smoke" / "html").glob("[0-9][0-9]-*.html"))
    if not pages:
        print("no pages: run `python -m tools.build execute --html` first", file=sys.stderr)
        return 2
    start, failed = time.perf_counter(), 0
    with browser.chromium() as chromium:
        for path in pages:
            result = check_page(chromium, path)
            found = problems(result)
            failed += bool(found)
            print(
                f"{path.stem}: {'ok' if not found else f'{len(found)} problem(s)'} "
                f"({result['images']} images, width {result['width']} px at {PHONE['width']}, "
                f"{result['cjk']} distinct Chinese characters in the text)"
            )
            for line in found:
                print(f"  {line}")
            if result["blocked"]:
                print(f"  not fetched (offline check): {', '.join(sorted(set(result['blocked'])))}")
    print(
        f"total: {failed} of {len(pages)} pages with problems ({time.perf_counter() - start:.0f} s)"
    )
    return 0 if args.report_only or not failed else 1


if __name__ == "__main__":
    sys.exit(main())
