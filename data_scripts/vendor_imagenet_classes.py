"""Refresh the vendored ImageNet class index in ``course_utils/vendor/``.

Keras's ``decode_predictions`` downloads ``imagenet_class_index.json`` the first time it is
called, which fails offline. The same 1,000 (WordNet id, name) pairs ship inside the PyPI
package ``keras-hub`` (Apache-2.0, ``keras_hub/src/utils/imagenet/imagenet_utils.py``).
This script downloads that wheel with pip (PyPI is the only network it needs), reads the
table without importing keras-hub, and writes it in Keras's own JSON layout,
``{"0": ["n01440764", "tench"], ...}``, to ``course_utils/vendor/imagenet_class_index.json``.

    python data_scripts/vendor_imagenet_classes.py               # the pinned version
    python data_scripts/vendor_imagenet_classes.py --wheel keras_hub-0.32.0-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "keras-hub"
VERSION = "0.32.0"
MEMBER = "keras_hub/src/utils/imagenet/imagenet_utils.py"
OUT = Path(__file__).resolve().parents[1] / "course_utils" / "vendor" / "imagenet_class_index.json"


def download_wheel(version: str, folder: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--dest",
            str(folder),
            f"{PACKAGE}=={version}",
        ],
        check=True,
    )
    return next(folder.glob("keras_hub-*.whl"))


def read_class_index(wheel: Path) -> dict[str, list[str]]:
    """The ``IMAGENET_NAMES`` table of the wheel's ``imagenet_utils.py`` (parsed, not run)."""
    with zipfile.ZipFile(wheel) as z:
        tree = ast.parse(z.read(MEMBER).decode("utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "IMAGENET_NAMES" for t in node.targets
        ):
            table = ast.literal_eval(node.value)
            break
    else:
        raise ValueError(f"{wheel.name}: no IMAGENET_NAMES table in {MEMBER}")
    if sorted(table) != list(range(1000)):
        raise ValueError(f"{wheel.name}: expected classes 0..999, found {len(table)}")
    return {str(i): list(table[i]) for i in range(1000)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=VERSION, help=f"{PACKAGE} version (default {VERSION})")
    parser.add_argument("--wheel", type=Path, help="a keras-hub wheel already on disk")
    parser.add_argument("--out", type=Path, default=OUT, help=f"default {OUT}")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(args.version, Path(tmp))
        index = read_class_index(wheel)
    args.out.write_text(json.dumps(index, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {len(index)} ImageNet classes from {wheel.name} to {args.out}")


if __name__ == "__main__":
    main()
