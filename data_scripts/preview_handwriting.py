"""Save grids of synthetic handwriting: 10 characters (columns) × the writers (rows).

    python -m data_scripts.preview_handwriting             # Train and Messy grids
    python -m data_scripts.preview_handwriting --out DIR

The images are the ones ``course_utils.synthetic.generate_synthetic`` writes for the
first 8 writers of Train and all 7 beginners of Messy (same seed), so the grids show the
dataset itself, not a separate rendering.
"""

from __future__ import annotations

import argparse
from pathlib import Path

CHARS = "人大犬口门吗妈日月森"
OUT = Path(__file__).with_name("figures")


def save_grids(out: Path, chars: str = CHARS) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from course_utils.plots import plot_image_grid, use_course_style
    from course_utils.synthetic import SYNTHETIC_WRITERS, writer_samples

    use_course_style()
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for split, writers in (("Train", 8), ("Messy", SYNTHETIC_WRITERS["full"]["Messy"][0])):
        images = writer_samples(chars, range(1, writers + 1), split)
        titles = [c if i < len(chars) else "" for i, c in enumerate(chars * writers)]
        fig = plot_image_grid(images, titles, ncols=len(chars), size=0.9)
        who = "beginners" if split == "Messy" else "writers"
        fig.suptitle(f"Synthetic {split}: {writers} {who} (rows) × {len(chars)} characters")
        path = out / f"synthetic-{split.lower()}.png"
        fig.savefig(path, dpi=100)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    for path in save_grids(parser.parse_args(argv).out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
