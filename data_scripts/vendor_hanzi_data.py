"""Refresh the vendored stroke centre-lines in ``course_utils/vendor/``.

The synthetic handwriting (``course_utils.handwriting``) draws along the stroke
centre-lines ("medians") of the npm package ``hanzi-writer-data``, which derives them
from the Make Me a Hanzi project under the Arphic Public License. This script fetches
the package with ``npm pack`` (the npm registry is the only network it needs), keeps
the medians of the 55 course characters and of 1,000 other common characters (spread
evenly over the 3,755 level-1 characters of GB 2312, in code order), and writes them
to ``course_utils/vendor/hanzi_medians.json`` together with the licence text.

    python data_scripts/vendor_hanzi_data.py            # the pinned version
    python data_scripts/vendor_hanzi_data.py --tarball hanzi-writer-data-2.0.1.tgz
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

from course_utils.characters import COURSE_CHARACTERS

PACKAGE = "hanzi-writer-data"
VERSION = "2.0.1"
N_OTHER = 1000
OUT_DIR = Path(__file__).resolve().parents[1] / "course_utils" / "vendor"


def gb2312_level1() -> list[str]:
    """The 3,755 level-1 (most common) characters of GB 2312, in code order."""
    chars = []
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            if hi == 0xD7 and lo > 0xF9:  # row 55 ends at 0xD7F9
                break
            chars.append(bytes([hi, lo]).decode("gb2312"))
    return chars


def other_characters(n: int = N_OTHER) -> list[str]:
    """``n`` level-1 characters that are not course characters, evenly spaced."""
    pool = [c for c in gb2312_level1() if c not in COURSE_CHARACTERS]
    step = len(pool) / n
    return [pool[int(i * step)] for i in range(n)]


def npm_pack(version: str, folder: Path) -> Path:
    out = subprocess.run(
        ["npm", "pack", f"{PACKAGE}@{version}", "--pack-destination", str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )
    return folder / out.stdout.strip().splitlines()[-1]


def read_medians(tarball: Path, chars: list[str]) -> tuple[dict, str, str]:
    """Medians of ``chars`` from the package tarball, its licence text and version."""
    medians = {}
    with tarfile.open(tarball) as tar:
        version = json.load(tar.extractfile("package/package.json"))["version"]
        licence = tar.extractfile("package/ARPHICPL.TXT").read().decode("utf-8")
        for char in chars:
            try:
                member = tar.extractfile(f"package/{char}.json")
            except KeyError:
                raise SystemExit(f"{PACKAGE} {version} has no data for {char!r}") from None
            medians[char] = json.load(member)["medians"]
    return medians, licence, version


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=VERSION, help=f"npm version (default {VERSION})")
    parser.add_argument("--tarball", type=Path, help="use this npm tarball instead of npm pack")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)

    chars = list(COURSE_CHARACTERS) + other_characters()
    with tempfile.TemporaryDirectory() as tmp:
        tarball = args.tarball or npm_pack(args.version, Path(tmp))
        medians, licence, version = read_medians(tarball, chars)

    today = dt.date.today().isoformat()
    document = {
        "notice": (
            f"Modified on {today} from the npm package {PACKAGE} {version} (data derived "
            "from Make Me a Hanzi): only the 'medians' (stroke centre-lines, 1024-unit "
            "em box, y axis pointing up, baseline at y=-124) of the characters listed "
            "here were kept, unchanged. Distributed under the Arphic Public License, "
            "see ARPHICPL.TXT beside this file."
        ),
        "source": f"{PACKAGE}@{version}",
        "course_characters": COURSE_CHARACTERS,
        "medians": medians,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    (args.out / "hanzi_medians.json").write_text(text + "\n", encoding="utf-8")
    (args.out / "ARPHICPL.TXT").write_text(licence, encoding="utf-8")
    print(f"wrote {len(medians)} characters from {PACKAGE} {version} to {args.out}")


if __name__ == "__main__":
    main()
