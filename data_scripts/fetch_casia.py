"""Build the course's 55-character subset of the CASIA offline handwriting databases.

The subset is written as ``Train/<char>/*.png`` and ``Test/<char>/*.png`` under
``<course_home>/data/casia-55`` (or ``--out``), where ``load_characters`` finds it. It
can be built from any of:

* the official ``.gnt`` files of CASIA-HWDB 1.0/1.1/1.2 (NLPR, CASIA), given as folders or
  zip archives that you downloaded, with the split stated by the option you use:
  ``--train HWDB1.0trn_gnt.zip HWDB1.1trn_gnt.zip HWDB1.2trn_gnt.zip --test ...tst...``
  (啖 and 囡 are GB 2312 level-2 characters, absent from HWDB 1.1; their counts in the
  course's subset, about 240 and 60, match HWDB 1.2's 240/60 writer split, so include 1.2);
* a PNG export with ``Train/<char>/`` and ``Test/<char>/`` folders: ``--png FOLDER``;
* a Kaggle dataset holding such an export, via kagglehub: ``--kaggle OWNER/DATASET``.

A ``--train``/``--test`` item may also be ``URL#sha256=HEX``: the file is downloaded
with checksum verification first (``data_scripts/download.py``).

Run it from the repository root as a module, for example
``python -m data_scripts.fetch_casia --png ~/Downloads/casia-png``.

The new subset is assembled in a temporary folder and moved into place only when every
character has images in both splits, so a failed run never leaves a partial dataset; the
swap itself is crash-safe. An existing ``--out`` folder is replaced only if the course made
it, and never when it is, or is inside, a source.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import struct
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from course_utils.cache import check_replaceable, partial_folder, remove_abandoned, replace_folder
from course_utils.characters import COURSE_CHARACTERS, REAL_SUBSET
from course_utils.data import IMAGE_SUFFIXES
from course_utils.synthetic import MANIFEST

HEADER = struct.Struct("<I2sHH")  # sample size, GB tag code, width, height
SPLITS = ("Train", "Test")
#: The largest width or height accepted (CASIA's characters are a few hundred pixels at
#: most), so that a damaged header never makes the reader allocate more than MAX_SIDE².
MAX_SIDE = 1024


class GntError(ValueError):
    """A .gnt file does not follow the documented format."""


def read_gnt(
    stream: io.BufferedIOBase, name: str = "<stream>", size: int | None = None
) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(character, bitmap)`` for every sample of a CASIA ``.gnt`` stream.

    Each sample is a 10-byte little-endian header - sample size (4 bytes), the character's
    GB 2312/GBK code (2 bytes), width and height (2 bytes each) - followed by a
    width×height grayscale bitmap (background 255). ``size`` is the stream's length in
    bytes (measured when not given and the stream can seek): every bitmap is checked
    against the bytes left before it is read. Raises ``GntError`` naming the file and byte
    offset when a sample is truncated, its size disagrees with its dimensions, a side is
    over ``MAX_SIDE`` pixels, or its tag code is not a GB character.
    """
    total = size
    if total is None and stream.seekable():
        start = stream.tell()
        total = stream.seek(0, io.SEEK_END) - start
        stream.seek(start)
    offset = 0
    while True:
        header = stream.read(HEADER.size)
        if not header:
            return
        if len(header) < HEADER.size:
            raise GntError(
                f"{name}: truncated sample header at byte offset {offset} "
                f"({len(header)} of {HEADER.size} bytes); the file is incomplete"
            )
        claimed, code, width, height = HEADER.unpack(header)
        if claimed != HEADER.size + width * height or width == 0 or height == 0:
            raise GntError(
                f"{name}: sample at byte offset {offset} says it has {claimed} bytes "
                f"but {width}×{height} pixels; this is not a valid .gnt file"
            )
        if max(width, height) > MAX_SIDE:
            raise GntError(
                f"{name}: sample at byte offset {offset} claims {width}×{height} pixels, more "
                f"than {MAX_SIDE} per side; the file is damaged or not a .gnt file"
            )
        try:
            char = code.decode("gbk")
        except UnicodeDecodeError:
            raise GntError(
                f"{name}: tag code 0x{code.hex()} at byte offset {offset} is not "
                "a GB 2312/GBK character; this is not a valid .gnt file"
            ) from None
        left = width * height if total is None else min(width * height, total - offset - 10)
        bitmap = stream.read(max(left, 0))
        if len(bitmap) < width * height:
            raise GntError(
                f"{name}: sample {char!r} at byte offset {offset} is truncated "
                f"({len(bitmap)} of {width * height} bitmap bytes)"
            )
        yield char, np.frombuffer(bitmap, dtype=np.uint8).reshape(height, width)
        offset += claimed


def _gnt_streams(source: Path) -> Iterator[tuple[str, str, int | None, io.BufferedIOBase]]:
    """Open every .gnt file in a folder, a zip archive or a single .gnt file: yields its
    name for messages, its path inside the source, its size in bytes and the stream."""
    if source.is_dir():
        files = sorted(source.rglob("*.gnt"))
        if not files:
            raise FileNotFoundError(f"{source} contains no .gnt files")
        for path in files:
            with open(path, "rb") as f:
                yield str(path), path.relative_to(source).as_posix(), None, f
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            names = sorted(n for n in zf.namelist() if n.lower().endswith(".gnt"))
            if not names:
                others = [n for n in zf.namelist() if n.lower().endswith(".alz")]
                hint = (
                    " It holds an ALZip archive: extract it with `unalz` and pass the "
                    "folder instead."
                    if others
                    else ""
                )
                raise FileNotFoundError(f"{source} contains no .gnt files.{hint}")
            for n in names:
                with zf.open(n) as f:
                    yield f"{source}:{n}", n, zf.getinfo(n).file_size, f
    elif source.suffix.lower() == ".gnt":
        with open(source, "rb") as f:
            yield str(source), source.name, None, f
    else:
        raise FileNotFoundError(f"{source} is not a folder, a zip archive or a .gnt file")


def extract_gnt(sources: Iterable[Path], split_dir: Path, chars: str) -> Counter:
    """Write the samples of ``chars`` found in ``sources`` as PNGs under ``split_dir``,
    named ``<source number>-<.gnt path inside it>-<sample number>.png`` (two files of the
    same name in different folders stay apart); returns the PNGs per character on disk."""
    sources, wanted = list(sources), set(chars)
    if len({Path(s).resolve() for s in sources}) < len(sources):
        raise ValueError(f"a source is given twice in {[str(s) for s in sources]}")
    for k, source in enumerate(sources, 1):
        for name, inside, size, stream in _gnt_streams(source):
            stem = "-".join([str(k), *PurePosixPath(inside).with_suffix("").parts])
            for i, (char, bitmap) in enumerate(read_gnt(stream, name, size)):
                if char in wanted:
                    path = split_dir / char / f"{stem}-{i:05d}.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        with open(path, "xb") as f:  # never overwrite another sample
                            Image.fromarray(bitmap).save(f, format="PNG")
                    except FileExistsError:
                        raise ValueError(f"two samples would both be saved as {path}") from None
    return _count_on_disk(split_dir, chars)


def _count_on_disk(split_dir: Path, chars: str) -> Counter:
    """The image files per character that are really in ``split_dir``."""
    folders = {c: split_dir / c for c in chars if (split_dir / c).is_dir()}
    return Counter({c: sum(p.is_file() for p in d.iterdir()) for c, d in folders.items()})


def _find_split(root: Path, split: str) -> Path:
    """The ``Train``/``Test`` folder (any capitalisation) at most three levels below root."""
    for depth in range(4):
        for path in sorted(root.glob("/".join(["*"] * depth + ["*"]))):
            if path.is_dir() and path.name.lower() == split.lower():
                return path
    raise FileNotFoundError(
        f"no {split}/ folder found under {root}; a PNG export needs {split}/<character>/*.png"
    )


def copy_png(root: Path, split: str, split_dir: Path, chars: str) -> Counter:
    """Copy the class folders of ``chars`` from a PNG export's ``split`` folder. Two folders
    that are the same character once Unicode-normalised (NFC) are an error naming both."""
    source, wanted = _find_split(root, split), set(chars)
    folders: dict[str, Path] = {}
    for p in sorted(source.iterdir()):
        char = unicodedata.normalize("NFC", p.name)
        if char in wanted and p.is_dir() and char in folders:
            raise ValueError(
                f"{folders[char]} and {p} are both the character {char} (after Unicode NFC "
                "normalisation); merge them into one folder"
            )
        folders.setdefault(char, p)
    for char in chars:
        if char in folders and folders[char].is_dir():
            files = [p for p in folders[char].iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
            files = [p for p in files if p.is_file()]
            (split_dir / char).mkdir(parents=True, exist_ok=True)
            for p in sorted(files):
                shutil.copy2(p, split_dir / char / p.name)
    return _count_on_disk(split_dir, chars)


def _resolve(item: str, downloads: Path) -> Path:
    """A local path, or ``URL#sha256=HEX`` downloaded (and verified) into ``downloads``."""
    if "://" not in item:
        path = Path(item).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        return path
    url, _, frag = item.partition("#sha256=")
    if not frag:
        raise ValueError(f"{item}: a URL needs its checksum, as URL#sha256=<64 hex digits>")
    from data_scripts.download import download

    return download(url, frag, downloads)


def build_subset(
    out: Path,
    train: list[Path] | None = None,
    test: list[Path] | None = None,
    png: Path | None = None,
    chars: str = COURSE_CHARACTERS,
) -> dict:
    """Assemble the subset in a temporary folder; move it to ``out`` only if complete."""
    if png is None and not (train and test):
        raise ValueError("give both --train and --test .gnt sources, or --png/--kaggle")
    remove_abandoned(out)  # finishes or undoes the swap of a killed run
    for source in [png] if png is not None else [*train, *test]:
        real, src = out.resolve(), Path(source).resolve()
        if real == src or src in real.parents or real in src.parents:
            raise FileExistsError(
                f"refusing to write {out}: it is, is inside or holds the source {source}, "
                "which replacing it would delete. Choose another --out folder."
            )
    check_replaceable(out)  # before the work, not only at the swap
    tmp = partial_folder(out)
    try:
        counts = {}
        for split, sources in zip(SPLITS, (train, test), strict=True):
            if png is not None:
                counts[split] = copy_png(png, split, tmp / split, chars)
            else:
                counts[split] = extract_gnt(sources, tmp / split, chars)
        missing = {s: [c for c in chars if counts[s][c] == 0] for s in SPLITS}
        if any(missing.values()):
            text = "; ".join(f"{s}: {''.join(m)}" for s, m in missing.items() if m)
            raise ValueError(
                f"no images found for some characters ({text}). Nothing was written. The rare "
                "characters 啖 and 囡 are not in HWDB 1.1; pass the HWDB 1.2 archives too."
            )
        manifest = {
            "source": "casia",
            "images": {s: sum(c.values()) for s, c in counts.items()},
            "per_class": {s: dict(c) for s, c in counts.items()},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
        replace_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def main(argv: list[str] | None = None) -> None:
    from course_utils.config import data_dir

    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--train",
        nargs="+",
        default=[],
        metavar="SOURCE",
        help=".gnt folders/zips (or URL#sha256=HEX) of the training split",
    )
    parser.add_argument(
        "--test",
        nargs="+",
        default=[],
        metavar="SOURCE",
        help=".gnt folders/zips (or URL#sha256=HEX) of the test split",
    )
    parser.add_argument("--png", type=Path, help="a PNG export with Train/ and Test/ inside")
    parser.add_argument(
        "--kaggle", metavar="OWNER/DATASET", help="download a PNG export from Kaggle with kagglehub"
    )
    parser.add_argument("--out", type=Path, help=f"default: <course_home>/data/{REAL_SUBSET}")
    args = parser.parse_args(argv)

    out = args.out or data_dir() / REAL_SUBSET
    png = args.png
    if args.kaggle:
        try:
            import kagglehub
        except ImportError:
            raise SystemExit("--kaggle needs kagglehub: pip install kagglehub") from None
        png = Path(kagglehub.dataset_download(args.kaggle))
    if png is not None and not png.is_dir():
        raise SystemExit(f"{png} is not a folder")
    downloads = data_dir() / "downloads"
    try:
        train = [_resolve(s, downloads) for s in args.train]
        test = [_resolve(s, downloads) for s in args.test]
        manifest = build_subset(out, train, test, png)
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    images = ", ".join(f"{n:,} {s.lower()}" for s, n in manifest["images"].items())
    print(f"wrote {images} images of {len(COURSE_CHARACTERS)} characters to {out}")


if __name__ == "__main__":
    main()
