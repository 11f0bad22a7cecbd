"""Split an executed lesson into slides the way Quarto does for reveal.js, without Quarto
(issue 18). ``tools/deck.py`` writes them as a reveal.js deck; ``tools/slides_check.py`` checks
that every slide fits.

What Quarto does and this copies (QUARTO.md §2, lessons/_metadata.yml):
- ``#`` starts a section slide, ``##`` a slide (slide-level 2) and a ``---`` rule an untitled
  slide; the classes of ``## Title {.smaller}`` go on the slide; only top-level headings cut;
- ``.content-visible`` / ``.content-hidden`` divs are unwrapped or dropped for the revealjs
  format (``html`` names every HTML format, revealjs included); other divs (``.notes``,
  callouts, columns) stay; a div may open in one markdown cell and close in a later one;
- code cells keep their ``#|`` options (:func:`cell_options`), read when they are drawn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: The format names that select the slides in ``when-format``/``unless-format``.
REVEAL_NAMES = {"revealjs", "html", "html:js"}
FENCE = re.compile(r"^(:{3,})\s*(?:\{(?P<attrs>.*)\}|(?P<cls>[\w-]+))?\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*(?:\{(?P<attrs>[^}]*)\})?\s*$")
RULE = re.compile(r"^(?:-{3,}|\*{3,}|_{3,})\s*$")
ATTR = re.compile(r"""([.#][\w:-]+)|([\w-]+)=("[^"]*"|'[^']*'|\S+)""")


@dataclass
class Div:
    """A pandoc fenced div (``::: {.class key="value"}``) and what it holds."""

    classes: list[str] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)
    children: list = field(default_factory=list)


@dataclass
class Slide:
    level: int  # 1: section title slide, 2: slide, 0: untitled slide
    title: str = ""
    classes: list[str] = field(default_factory=list)
    items: list = field(default_factory=list)  # markdown strings, code cells, Divs


def parse_attrs(text: str) -> tuple[list[str], dict[str, str]]:
    """``.a .b key="v"`` → (["a", "b"], {"key": "v"}); ``#id`` is kept as ``id``."""
    classes, attrs = [], {}
    for cls, key, value in ATTR.findall(text or ""):
        if cls.startswith("."):
            classes.append(cls[1:])
        elif cls.startswith("#"):
            attrs["id"] = cls[1:]
        else:
            attrs[key] = value.strip("\"'")
    return classes, attrs


def cell_options(source: str) -> tuple[dict, str]:
    """The ``#|`` options at the top of a code cell, and the code without them."""
    import yaml

    lines = source.splitlines()
    n = next((i for i, line in enumerate(lines) if not line.startswith("#|")), len(lines))
    options = yaml.safe_load("\n".join(line[2:] for line in lines[:n])) if n else None
    return options or {}, "\n".join(lines[n:])


def notebook_tree(nb) -> Div:
    """The lesson as one tree: fenced divs may open in one markdown cell and close in a later
    one, around code cells (QUARTO.md §2)."""
    root = Div()
    stack = [root]
    for cell in nb.cells:
        if cell.cell_type == "code":
            stack[-1].children.append(cell)
            continue
        if cell.cell_type != "markdown":
            continue  # raw cells: the front matter, or output for other formats
        text, in_code = [], False
        for line in cell.source.splitlines():
            match = None if in_code else FENCE.match(line)
            if line.lstrip().startswith(("```", "~~~")):
                in_code = not in_code
            if match is None:
                text.append(line)
                continue
            stack[-1].children.append("\n".join(text))
            text = []
            if match["attrs"] is not None or match["cls"]:
                classes, attrs = parse_attrs(match["attrs"] or "." + match["cls"])
                stack.append(Div(classes, attrs))
                stack[-2].children.append(stack[-1])
            elif len(stack) > 1:
                stack.pop()
        stack[-1].children.append("\n".join(text))
    return root


def shown_in_slides(div: Div) -> bool | None:
    """True/False for a conditional div shown/hidden in reveal.js; None for other divs."""
    for kind, visible in (("content-visible", True), ("content-hidden", False)):
        if kind in div.classes:
            when, unless = div.attrs.get("when-format"), div.attrs.get("unless-format")
            matches = (when is None or when in REVEAL_NAMES) and unless not in REVEAL_NAMES
            return matches if visible else not matches
    return None


def for_slides(items: list) -> list:
    """The items as reveal.js sees them: conditional divs unwrapped or dropped."""
    out = []
    for item in items:
        if not isinstance(item, Div):
            out.append(item)
        elif (shown := shown_in_slides(item)) is None:
            out.append(Div(item.classes, item.attrs, for_slides(item.children)))
        elif shown:
            out.extend(for_slides(item.children))
    return out


def split_slides(items: list) -> list[Slide]:
    """Cut the top level at ``#``/``##`` headings and ``---`` rules, as pandoc does."""
    slides: list[Slide] = []

    def current() -> Slide:
        if not slides:
            slides.append(Slide(0))
        return slides[-1]

    for item in items:
        if not isinstance(item, str):
            current().items.append(item)
            continue
        text, in_code, previous = [], False, ""
        for line in item.splitlines():
            heading = None if in_code else HEADING.match(line)
            if line.lstrip().startswith(("```", "~~~")):
                in_code = not in_code
            rule = not in_code and RULE.match(line) and not previous.strip()
            if (heading and len(heading[1]) <= 2) or rule:
                current().items.append("\n".join(text))
                text = []
                if rule:
                    slides.append(Slide(0))
                else:
                    classes, _ = parse_attrs(heading["attrs"])
                    slides.append(Slide(len(heading[1]), heading[2], classes))
            else:
                text.append(line)
            previous = line
        current().items.append("\n".join(text))
    return [
        s for s in slides if s.level or any(not isinstance(i, str) or i.strip() for i in s.items)
    ]


def lesson_slides(nb) -> list[Slide]:
    """The slides of a notebook, title slide excepted (it comes from the front matter)."""
    return split_slides(for_slides(notebook_tree(nb).children))
