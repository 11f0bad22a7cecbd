"""Render the website and slides with every lesson executed once (``make render``, issue 18).

    python -m tools.publish render [--executed DIR] [quarto args]   # execute once, render
    python -m tools.publish restore                # undo a render that was killed
    python -m tools.publish freeze-record          # note the lessons a committed _freeze/ holds
    python -m tools.publish freeze-check           # refuse frozen results of changed lessons

Quarto executes a notebook once per output format (QUARTO.md §1): the page and the slides
would run every lesson twice, doubling the time and giving two runs whose numbers differ.
``render`` instead executes each lesson once into ``build/<profile>/notebooks`` (as
``make preview`` does), puts those executed copies in place of the lessons, renders both
formats from their outputs with execution off (the ``executed`` Quarto profile,
``_quarto-executed.yml``), and then puts the committed lessons back byte for byte, even when
the render fails. The originals wait in ``build/render-originals/`` meanwhile, so a render
that was killed is undone by the next ``render`` (or ``restore``) before anything else; what
stood in their place is kept in ``build/render-replaced/``.

A committed ``_freeze/`` (rendered on a GPU machine, ``quarto render --profile frozen``) is
reused without executing, so it must belong to the lessons as they are now:
``freeze-record`` writes a fingerprint of each frozen lesson's cells to
``_freeze/lesson-sources.json``; ``freeze-check`` (run by the publish workflow) exits 1
naming every lesson whose cells changed after it was frozen.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tools.build import ROOT, lesson_paths, run_lessons

#: Set while executed copies stand in for the lessons: the pre- and post-render ``strip``
#: steps of ``_quarto.yml`` then leave them alone (the originals come back afterwards).
STAGED = "COURSE_RENDER_STAGED"
ORIGINALS = ROOT / "build" / "render-originals"
FREEZE = ROOT / "_freeze"
RECORD = "lesson-sources.json"


def restore(
    lessons_dir: Path = ROOT / "lessons", originals: Path = ORIGINALS, keep: Path | None = None
) -> list[str]:
    """Put back the lessons a render replaced; return their names. The copies are removed
    once every lesson is back. ``keep``: a folder to move the replaced files to first (after
    a killed render, someone may have edited the executed copies in the meantime)."""
    if not originals.is_dir():
        return []
    names = sorted(p.name for p in originals.glob("*.ipynb"))
    for name in names:
        if keep is not None and (lessons_dir / name).is_file():
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(lessons_dir / name, keep / name)
        shutil.copyfile(originals / name, lessons_dir / name)
    shutil.rmtree(originals)
    return names


def render(
    quarto_args: list[str] | None = None,
    lessons: list[Path] | None = None,
    executed: Path | None = None,
    originals: Path = ORIGINALS,
) -> int:
    """Execute each lesson once (unless ``executed`` already holds them), render the site and
    slides from the executed copies, and restore the lessons; returns Quarto's exit status."""
    lessons = lessons or lesson_paths(ROOT / "lessons")
    keep = originals.with_name("render-replaced")
    if restored := restore(lessons[0].parent, originals, keep):
        print(
            f"put back {len(restored)} lesson(s) an interrupted render had replaced; "
            f"the replaced files are in {keep}",
            file=sys.stderr,
        )
    if executed is None:
        profile = os.environ.get("COURSE_PROFILE", "full")
        run_lessons(lessons, ROOT / "build" / profile)
        executed = ROOT / "build" / profile / "notebooks"
    missing = [p.name for p in lessons if not (executed / p.name).is_file()]
    if missing:
        raise SystemExit(f"no executed copy of {', '.join(missing)} in {executed}")
    originals.mkdir(parents=True)
    for path in lessons:
        shutil.copyfile(path, originals / path.name)
    try:
        for path in lessons:
            shutil.copyfile(executed / path.name, path)
        cmd = ["quarto", "render", "--profile", "executed", *(quarto_args or [])]
        return subprocess.run(cmd, cwd=ROOT, env={**os.environ, STAGED: "1"}).returncode
    finally:
        restore(lessons[0].parent, originals)


def fingerprint(path: Path) -> str:
    """What a lesson is, without what running it adds: its cells' types and sources."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cells = [(cell.cell_type, cell.source) for cell in nb.cells]
    return hashlib.sha256(json.dumps(cells, ensure_ascii=False).encode()).hexdigest()


def _frozen(freeze: Path, lessons: list[Path]) -> list[Path]:
    return [p for p in lessons if (freeze / "lessons" / p.stem).is_dir()]


def freeze_record(freeze: Path = FREEZE, lessons: list[Path] | None = None) -> dict:
    """Write the fingerprints of the lessons ``freeze`` holds results for; return them."""
    lessons = lessons or lesson_paths(ROOT / "lessons")
    record = {p.name: fingerprint(p) for p in _frozen(freeze, lessons)}
    if not record:
        raise SystemExit(f"{freeze} holds no lesson results: render with --profile frozen first")
    (freeze / RECORD).write_text(json.dumps(record, indent=1) + "\n")
    return record


def freeze_check(freeze: Path = FREEZE, lessons: list[Path] | None = None) -> list[str]:
    """The problems that make ``freeze``'s results unfit to publish (empty when fit)."""
    lessons = lessons or lesson_paths(ROOT / "lessons")
    path = freeze / RECORD
    if not path.is_file():
        return [f"{path} is missing: run `python -m tools.publish freeze-record` after freezing"]
    record = json.loads(path.read_text())
    problems = []
    for lesson in _frozen(freeze, lessons):
        if record.get(lesson.name) != fingerprint(lesson):
            problems.append(
                f"{lesson.name} changed after it was frozen: render it again with "
                f"--profile frozen after deleting {freeze / 'lessons' / lesson.stem}, "
                "then run `python -m tools.publish freeze-record`"
            )
    return problems


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["render", "restore", "freeze-record", "freeze-check"])
    parser.add_argument(
        "--executed", type=Path, help="render: use the lessons executed into DIR (make preview)"
    )
    args, quarto_args = parser.parse_known_args(argv)
    if args.command == "render":
        raise SystemExit(render(quarto_args, executed=args.executed))
    if args.command == "restore":
        keep = ORIGINALS.with_name("render-replaced")
        print(f"put back {len(restore(keep=keep))} lesson(s); replaced files in {keep}")
    elif args.command == "freeze-record":
        print(f"recorded {len(freeze_record())} frozen lesson(s) in {FREEZE / RECORD}")
    else:
        problems = freeze_check()
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            raise SystemExit(1)
        print("every frozen lesson matches its source")


if __name__ == "__main__":
    main()
