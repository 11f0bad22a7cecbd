"""Write a lesson's slides (tools/slides.py) as a reveal.js deck, the HTML Quarto would write
for them, so that they can be opened in a browser without Quarto (issue 18).

    python -m tools.deck [notebooks ...] [--out build/slides-check]

- the front matter's title makes the title slide; ``#`` sections become vertical stacks;
- code cells show their source (``echo: true``) without ``#|`` lines, then their outputs; the
  ``code-line-numbers`` and ``css`` settings of lessons/_metadata.yml are honoured (the css
  files are loaded after tools/slides.css, as Quarto loads them after its theme);
  ``include``, ``echo``, ``output``, ``eval: false``, ``fig-cap``,
  ``output-location: slide|column``, the ``remove-*`` tags and ``slideshow.slide_type: skip``
  are honoured; stderr is hidden (reveal.js's default ``warning: false``); figures keep their
  pixel size, or the width/height Jupyter recorded (retina figures);
- ``.notes`` divs become hidden speaker notes;
- the deck is 1050×700, ``center: false``, not scrollable, no auto-stretch, with the layout
  rules of Quarto's default theme (tools/slides.css) and reveal.js from the npm registry.
Markdown is rendered with markdown-it-py (CommonMark + pipe tables), not pandoc: close, not equal.
"""

from __future__ import annotations

import argparse
import base64
import functools
import html
import os
import re
from pathlib import Path

from tools.slides import Div, cell_options, lesson_slides

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "slides-check"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
IMAGE_TYPES = ("image/svg+xml", "image/png", "image/jpeg")


@functools.cache
def reveal_settings() -> dict:
    """The ``revealjs`` format settings of lessons/_metadata.yml."""
    import yaml

    meta = yaml.safe_load((ROOT / "lessons" / "_metadata.yml").read_text(encoding="utf-8"))
    return meta.get("format", {}).get("revealjs") or {}


def course_css() -> str:
    """The stylesheets that ``css:`` in lessons/_metadata.yml adds to the slides."""
    files = reveal_settings().get("css") or []
    files = [files] if isinstance(files, str) else files
    return "\n".join((ROOT / "lessons" / f).read_text(encoding="utf-8") for f in files)


@functools.cache
def _parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def markdown(text: str, inline: bool = False) -> str:
    """Markdown to HTML with markdown-it-py (CommonMark and pipe tables; raw HTML kept)."""
    return _parser().renderInline(text) if inline else _parser().render(text)


def _pre(text: str, kind: str) -> str:
    return (
        f'<div class="cell-output cell-output-{kind}"><pre><code>'
        f"{html.escape(ANSI.sub('', text))}</code></pre></div>"
    )


def _image(output, mime: str, caption: str | None) -> str:
    data = output.data[mime]
    if mime == "image/svg+xml":
        data = base64.b64encode(data.encode()).decode()
    meta = output.get("metadata", {}).get(mime, {})
    size = "".join(f' {k}="{meta[k]}"' for k in ("width", "height") if k in meta)
    cap = f"<figcaption>{markdown(caption, inline=True)}</figcaption>" if caption else ""
    return (
        f'<div class="cell-output cell-output-display"><div><figure><p>'
        f'<img src="data:{mime};base64,{data.strip()}"{size}></p>{cap}</figure></div></div>'
    )


def render_output(output, options: dict, caption: str | None) -> str:
    """One Jupyter output as Quarto writes it into the slide."""
    kind = output.output_type
    if kind == "stream":
        warnings = options.get("warning", False)  # reveal.js default: warning: false
        return _pre(output.text, "stdout") if output.name == "stdout" or warnings else ""
    if kind == "error":
        return _pre("\n".join(output.traceback), "error")
    data = output.get("data", {})
    mime = next((m for m in IMAGE_TYPES if m in data), None)
    if mime:
        return _image(output, mime, caption)
    if "text/html" in data:
        return f'<div class="cell-output cell-output-display"><div>{data["text/html"]}</div></div>'
    if "text/markdown" in data:
        return (
            f'<div class="cell-output cell-output-display">{markdown(data["text/markdown"])}</div>'
        )
    return _pre(data.get("text/plain", ""), "display") if "text/plain" in data else ""


def merged_streams(outputs: list) -> list:
    """Consecutive stream outputs of one name joined into one, as Quarto does."""
    from nbformat import NotebookNode

    merged = []
    for output in outputs:
        last = merged[-1] if merged else None
        if last and output.output_type == last.output_type == "stream" and output.name == last.name:
            merged[-1] = NotebookNode({**last, "text": last.text + output.text})
        else:
            merged.append(output)
    return merged


def render_code(cell) -> tuple[str, str]:
    """(source block, outputs) of a code cell; empty strings for what is not shown."""
    options, code = cell_options(cell.source)
    tags = set(cell.metadata.get("tags", []))
    if (
        options.get("include") is False
        or "remove-cell" in tags
        or cell.metadata.get("slideshow", {}).get("slide_type") == "skip"
    ):
        return "", ""
    source = ""
    if options.get("echo", True) is not False and "remove-input" not in tags:
        lines = "\n".join(f"<span><a></a>{html.escape(line)}</span>" for line in code.split("\n"))
        numbers = " numberSource" if reveal_settings().get("code-line-numbers", True) else ""
        source = (
            f'<div class="sourceCode cell-code"><pre class="sourceCode{numbers} python">'
            f'<code class="sourceCode python">{lines}</code></pre></div>'
        )
    hide = options.get("output") is False or options.get("eval") is False
    if hide or "remove-output" in tags:
        return source, ""
    caption = options.get("fig-cap")
    outputs = []
    for output in merged_streams(cell.outputs):
        outputs.append(render_output(output, options, caption))
        caption = None if outputs[-1].find("<figure>") >= 0 else caption
    return source, "".join(outputs)


def render_items(items: list, later: list[str] | None = None) -> str:
    """HTML of slide items; outputs of ``output-location: slide`` cells go to ``later``."""
    parts = []
    for item in items:
        if isinstance(item, str):
            parts.append(markdown(item))
        elif isinstance(item, Div):
            inner = render_items(item.children, later)
            if "notes" in item.classes:
                parts.append(f'<aside class="notes">{inner}</aside>')
            elif any(c.startswith("callout") for c in item.classes):
                title = html.escape(item.attrs.get("title", ""))
                kind = " ".join(item.classes)
                parts.append(
                    f'<div class="callout {kind}"><div class="callout-title">{title}</div>'
                    f'<div class="callout-body">{inner}</div></div>'
                )
            else:
                style = f' style="width:{item.attrs["width"]}"' if "width" in item.attrs else ""
                parts.append(f'<div class="{" ".join(item.classes)}"{style}>{inner}</div>')
        else:
            source, outputs = render_code(item)
            location = cell_options(item.source)[0].get("output-location", "")
            if location == "slide" and later is not None and outputs:
                later.append(outputs)
                outputs = ""
            if location.startswith("column") and source and outputs:
                body = f'<div class="columns column-output-location"><div class="column">{source}'
                parts.append(f'{body}</div><div class="column">{outputs}</div></div>')
            elif source or outputs:
                parts.append(f'<div class="cell">{source}{outputs}</div>')
    return "".join(parts)


def slug(text: str) -> str:
    return re.sub(r"[^\w]+", "-", text.lower()).strip("-") or "slide"


def slide_sections(nb) -> list[str]:
    """The ``<section>`` elements of the deck, nested under ``#`` sections as pandoc does."""
    from tools.build import front_matter

    meta = front_matter(nb)
    title = html.escape(str(meta.get("title", "")))
    sub = meta.get("subtitle")
    subtitle = f'<p class="subtitle">{html.escape(sub)}</p>' if sub else ""
    out = [
        f'<section id="title-slide" class="quarto-title-block center">'
        f'<h1 class="title">{title}</h1>{subtitle}</section>'
    ]
    stack_open = False
    for slide in lesson_slides(nb):
        later: list[str] = []
        body = render_items(slide.items, later)
        heading = (
            f"<h{slide.level}>{markdown(slide.title, inline=True)}</h{slide.level}>"
            if slide.level
            else ""
        )
        classes = " ".join(slide.classes)
        if slide.level == 1:
            out.append("</section>" if stack_open else "")
            out.append(
                f'<section><section id="{slug(slide.title)}" '
                f'class="title-slide slide level1 center {classes}">{heading}{body}</section>'
            )
            stack_open = True
            continue
        out.append(f'<section class="slide level2 {classes}">{heading}{body}</section>')
        # output-location: slide: Quarto moves the output to a new slide after this one,
        # with this slide's classes and its heading repeated (quarto-cli
        # src/format/reveal/format-reveal.ts, revealHtmlPostprocessor)
        out.extend(
            f'<section class="slide level2 {classes} output-location-slide">{heading}{o}</section>'
            for o in later
        )
    out.append("</section>" if stack_open else "")
    return out


def build_deck(
    notebook: str | os.PathLike,
    out_dir: str | os.PathLike = OUT,
    node_modules: str | os.PathLike | None = None,
) -> Path:
    """Write ``<stem>.slides.html`` for an executed notebook into ``out_dir``; return its path."""
    import nbformat

    from tools.browser import NODE_MODULES

    notebook, out_dir = Path(notebook), Path(out_dir)
    node_modules = node_modules or NODE_MODULES
    nb = nbformat.read(notebook, as_version=4)
    out_dir.mkdir(parents=True, exist_ok=True)
    lib = Path(os.path.relpath(node_modules, out_dir)).as_posix()
    reveal = f"{lib}/reveal.js/dist"
    fonts = "".join(
        f'<link rel="stylesheet" href="{lib}/@fontsource/source-sans-pro/{w}.css">'
        for w in ("400", "400-italic", "600", "700")
    )
    css = (Path(__file__).with_name("slides.css")).read_text(encoding="utf-8") + course_css()
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(notebook.stem)} (slides)</title>
<link rel="stylesheet" href="{reveal}/reset.css"><link rel="stylesheet" href="{reveal}/reveal.css">
{fonts}<style>{css}</style></head>
<body><div class="reveal"><div class="slides">
{chr(10).join(slide_sections(nb))}
</div></div>
<script src="{reveal}/reveal.js"></script><script src="{reveal}/plugin/notes.js"></script>
<script>Reveal.initialize({{width: 1050, height: 700, margin: 0.1, center: false,
  navigationMode: "linear", controlsLayout: "edges", controlsTutorial: false, hash: true,
  transition: "none", backgroundTransition: "none", plugins: [RevealNotes]}});</script>
</body></html>
"""
    deck = out_dir / f"{notebook.stem}.slides.html"
    deck.write_text(page, encoding="utf-8")
    return deck


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build reveal.js decks from executed lessons.")
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="default: build/smoke/notebooks/NN-*.ipynb"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    from tools.build import lesson_paths

    for path in args.notebooks or lesson_paths(ROOT / "build" / "smoke" / "notebooks"):
        print(build_deck(path, args.out))


if __name__ == "__main__":
    main()
