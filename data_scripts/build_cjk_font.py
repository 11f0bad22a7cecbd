"""Build the small CJK font shipped in ``course_utils/fonts``.

The plots of lessons 3-8 title images with Chinese characters, and DejaVu Sans (matplotlib's
default) has no CJK glyphs. Instead of asking every learner to install a 20 MB font, the
course ships a subset of Noto Sans CJK SC (SIL Open Font License 1.1) holding only the
characters the course draws.

Maintainers only; the built font is committed. On Debian/Ubuntu::

    apt-get install fonts-noto-cjk
    .venv/bin/python data_scripts/build_cjk_font.py [--extra-chars FILE]

``--extra-chars`` adds every CJK character found in FILE (UTF-8 text) to the subset.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

from course_utils.characters import COURSE_CHARACTERS
from course_utils.plots import CJK_FONT_FAMILY, CJK_FONT_FILE

SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SOURCE_FAMILY = "Noto Sans CJK SC"
PUNCTUATION = "，。、：；？！（）《》“”·—"


def build(source: Path, out: Path, chars: str) -> None:
    """Subset the SC face of ``source`` to ``chars`` and rename it to CJK_FONT_FAMILY."""
    fonts = TTCollection(str(source)).fonts if source.suffix == ".ttc" else [TTFont(str(source))]
    faces = [f for f in fonts if f["name"].getDebugName(1) in (SOURCE_FAMILY, CJK_FONT_FAMILY)]
    if not faces:
        raise ValueError(f"{source} has no face named {SOURCE_FAMILY!r}")
    font = faces[0]
    options = subset.Options()
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]  # keep copyright and licence records
    options.layout_features = []
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (1, 4, 16):
            names.setName(
                CJK_FONT_FAMILY, record.nameID, record.platformID, record.platEncID, record.langID
            )
        elif record.nameID == 6:
            names.setName(
                CJK_FONT_FAMILY.replace(" ", ""),
                6,
                record.platformID,
                record.platEncID,
                record.langID,
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    font.save(str(tmp))
    tmp.replace(out)


def main(argv: list[str] | None = None, out: Path | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--extra-chars", type=Path, help="UTF-8 file with more characters")
    args = parser.parse_args(argv)
    if not args.source.exists():
        sys.exit(f"{args.source} not found: install Debian's fonts-noto-cjk or pass --source")
    chars = set(COURSE_CHARACTERS + PUNCTUATION)
    if args.extra_chars:
        chars |= {c for c in args.extra_chars.read_text("utf-8") if "\u4e00" <= c <= "\u9fff"}
    out = out or Path(__file__).resolve().parents[1] / "course_utils" / "fonts" / CJK_FONT_FILE
    build(args.source, out, "".join(sorted(chars)))
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB, {len(chars)} characters)")


if __name__ == "__main__":
    main()
