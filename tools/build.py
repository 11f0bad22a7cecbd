"""Execute lessons into a build folder, export HTML previews, and time them (``make course``,
``make bench``).

The committed notebooks stay clean: every executed copy is written under ``build/``.
Run it from the repository root (it is maintainer tooling, not part of ``course_utils``):

    python -m tools.build execute [--html] [--out build] [lessons ...]
    python -m tools.build bench [lessons ...]
    python -m tools.build strip [lessons ...]    # Quarto's pre- and post-render step

Each lesson runs in its own process so that its wall time and its kernel's peak memory
are measured alone. The profile is whatever ``COURSE_PROFILE`` says (default ``full``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

CELL_TIMEOUT_S = 3600
#: The repository root: each lesson's process runs ``python -m tools.build`` from here.
ROOT = Path(__file__).resolve().parents[1]


def lesson_paths(folder: str | os.PathLike = "lessons") -> list[Path]:
    """The lesson notebooks ``NN-slug.ipynb`` of a folder, in course order."""
    paths = sorted(Path(folder).glob("[0-9][0-9]-*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no lessons (NN-slug.ipynb) in {folder}")
    return paths


KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def strip_outputs(path: str | os.PathLike) -> bool:
    """Remove outputs, execution counts and ``language_info`` from a notebook in place, and
    restore the standard kernelspec; Quarto writes all of them into the lessons it executes
    (QUARTO.md §1, §6).

    Returns True when the file changed. A clean notebook is not rewritten.
    """
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    changed = nb.metadata.get("kernelspec") != KERNELSPEC or "language_info" in nb.metadata
    nb.metadata.pop("language_info", None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    for cell in nb.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            cell.outputs, cell.execution_count, changed = [], None, True
    if changed:
        tmp = path.with_suffix(".partial")
        nbformat.write(nb, tmp)
        tmp.replace(path)
    return changed


def execute_notebook(src: str | os.PathLike, dst: str | os.PathLike) -> float:
    """Run ``src`` top to bottom in its own folder and write the executed copy to ``dst``.

    Returns the wall time in seconds. Raises ``nbclient`` errors if a cell fails (cells
    tagged ``raises-exception`` may fail).
    """
    import nbformat
    from nbclient import NotebookClient

    src, dst = Path(src), Path(dst)
    nb = nbformat.read(src, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(src.parent.resolve())}},
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".partial")
    nbformat.write(nb, tmp)
    tmp.replace(dst)
    return seconds


#: Pandoc attributes at the end of a heading, ``## Goals {.smaller}``, which Markdown shows.
HEADING_ATTRIBUTES = re.compile(r"\s*\{[^{}]*\}\s*$")


def _plain_markdown(text: str, stack: list[bool]) -> str:
    """Markdown without Quarto's ``:::`` fences; revealjs-only blocks (speaker notes) dropped.

    ``stack`` holds the divs still open (True: shown only in slides); it carries over from
    cell to cell, since a div may open in one markdown cell and close in a later one."""
    kept = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(":::") and stripped.strip(":").strip():
            stack.append('when-format="revealjs"' in stripped)
        elif stripped.startswith(":::"):
            if stack:
                stack.pop()
        elif not any(stack):
            kept.append(HEADING_ATTRIBUTES.sub("", line) if line.startswith("#") else line)
    return "\n".join(kept).strip()


def front_matter(nb) -> dict:
    """The YAML front matter of a lesson: its first cell, raw, between two ``---`` lines.

    Returns {} when the notebook has none.
    """
    import yaml

    if not nb.cells or nb.cells[0].cell_type != "raw":
        return {}
    lines = nb.cells[0].source.splitlines()
    if not lines or lines[0].strip() != "---" or "---" not in (x.strip() for x in lines[1:]):
        return {}
    end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
    return yaml.safe_load("\n".join(lines[1:end])) or {}


def without_quarto_syntax(nb):
    """A copy of a notebook as Quarto would show it on the web page, for plain exporters.

    The front matter becomes a title and description, ``:::`` fences disappear, blocks shown
    only in slides and cells with ``#| include: false`` are dropped, and ``#|`` options hidden.
    """
    import copy

    import nbformat

    meta = front_matter(nb)
    nb = copy.deepcopy(nb)
    stack: list[bool] = []
    kept = []
    for i, cell in enumerate(nb.cells):
        if i == 0 and meta:
            cell = nbformat.v4.new_markdown_cell(
                f"# {meta.get('title', '')}\n\n*{meta.get('description', '')}*"
            )
        elif cell.cell_type == "markdown":
            cell.source = _plain_markdown(cell.source, stack)
        elif any(stack):
            continue  # a code cell inside a block shown only in slides
        elif cell.cell_type == "code":
            lines = cell.source.splitlines()
            if any(re.fullmatch(r"#\|\s*include:\s*false\s*", line) for line in lines):
                continue  # Quarto shows neither the cell nor its output
            cell.source = "\n".join(line for line in lines if not line.startswith("#|"))
        if cell.cell_type != "markdown" or cell.source:
            kept.append(cell)
    nb.cells = kept
    return nb


def export_html(notebook: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Export an executed notebook to a standalone HTML page (images embedded).

    Quarto syntax is translated first (see :func:`without_quarto_syntax`).
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = without_quarto_syntax(nbformat.read(notebook, as_version=4))
    body, _ = HTMLExporter(embed_images=True).from_notebook_node(nb)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    Path(dst).write_text(body, encoding="utf-8")


def write_preview_index(html_dir: str | os.PathLike, lessons: list[Path]) -> Path:
    """An ``index.html`` in ``html_dir`` linking every lesson preview found there, with the
    title and description from its front matter, so that the folder can be browsed."""
    from html import escape

    html_dir = Path(html_dir)
    items = []
    for path in lessons:
        if not (html_dir / f"{path.stem}.html").is_file():
            continue
        meta = front_matter_of(path)
        title, about = escape(meta.get("title", path.stem)), escape(meta.get("description", ""))
        items.append(
            f'<li value="{int(path.name[:2])}"><a href="{escape(path.stem)}.html">'
            f"{title}</a><br>"
            f"<span>{about}</span></li>"
        )
    page = html_dir / "index.html"
    page.write_text(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Computer Vision with Keras 3 (preview)</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}"
        "li{margin:0 0 1rem}span{color:#555}</style></head><body>"
        "<h1>Computer Vision with Keras 3</h1><p>Lesson previews, executed in this profile. "
        "The website with slides is built by Quarto (<code>make render</code>).</p>"
        f"<ol>{''.join(items)}</ol></body></html>\n",
        encoding="utf-8",
    )
    return page


def _run_one(src: Path, out: Path, html: bool) -> dict:
    """Execute one lesson in this process; report time and the kernel's peak memory."""
    executed = out / "notebooks" / src.name
    seconds = execute_notebook(src, executed)
    if html:
        export_html(executed, out / "html" / f"{src.stem}.html")
    peak_mib = None
    try:
        import resource

        # ru_maxrss of waited-for children (the kernel), in KiB on Linux, bytes on macOS
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        peak_mib = peak / 1024 / (1024 if sys.platform == "darwin" else 1)
    except ImportError:  # Windows
        pass
    return {"lesson": src.name, "seconds": seconds, "peak_mib": peak_mib}


def run_lessons(
    paths: list[Path],
    out: Path,
    html: bool = False,
    course_home: str | os.PathLike | None = None,
    jobs: int = 1,
) -> list[dict]:
    """Execute each lesson in a fresh process, ``jobs`` of them at a time, and return their
    results in the order of ``paths``; stop at the first failure (lessons already running
    finish first). Keep ``jobs=1`` for timings: lessons side by side share the cores.

    ``course_home`` replaces ``COURSE_HOME`` (data and trained models) for the run.
    """
    env = {**os.environ, "TQDM_DISABLE": os.environ.get("TQDM_DISABLE", "1")}
    if course_home is not None:
        env["COURSE_HOME"] = str(course_home)

    def run(src: Path) -> dict:
        print(f"executing {src} ...", flush=True)
        cmd = [sys.executable, "-m", "tools.build", "_one", str(Path(src).resolve())]
        cmd += ["--out", str(Path(out).resolve())] + (["--html"] if html else [])
        proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{src} failed (exit {proc.returncode}); see the error above")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    if jobs <= 1:
        return [run(src) for src in paths]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(run, src) for src in paths]
        try:
            return [future.result() for future in futures]
        except SystemExit:
            for future in futures:
                future.cancel()  # those not started yet
            raise


def format_table(results: list[dict], profile: str) -> str:
    """A plain-text table of wall time and peak memory per lesson, with the total."""
    lines = [f"profile: {profile}", f"{'lesson':<44} {'wall s':>8} {'peak MiB':>9}"]
    for r in results:
        peak = f"{r['peak_mib']:.0f}" if r["peak_mib"] is not None else "n/a"
        lines.append(f"{r['lesson']:<44} {r['seconds']:>8.1f} {peak:>9}")
    peaks = [r["peak_mib"] for r in results if r["peak_mib"] is not None]
    lines.append(
        f"{'total (peak = largest)':<44} {sum(r['seconds'] for r in results):>8.1f} "
        f"{(f'{max(peaks):.0f}' if peaks else 'n/a'):>9}"
    )
    return "\n".join(lines)


BENCH_START, BENCH_END = "<!-- bench:start -->", "<!-- bench:end -->"


def device_kind() -> str:
    """``"gpu"`` when the Keras backend sees an accelerator, else ``"cpu"``."""
    from course_utils.config import describe_hardware

    return "cpu" if describe_hardware().startswith("CPU only") else "gpu"


def record_bench(
    path: str | os.PathLike, results: list[dict], profile: str, cold: bool, kind: str | None = None
) -> dict:
    """Store a bench run in the JSON file ``path`` under its device kind (cpu or gpu),
    keeping the other kind's run; returns the whole record."""
    import datetime as dt
    import platform

    from course_utils.config import describe_hardware

    path = Path(path)
    record = json.loads(path.read_text()) if path.is_file() else {}
    record[kind or device_kind()] = {
        "profile": profile,
        "cold_cache": cold,
        "hardware": describe_hardware(),
        "machine": platform.processor() or platform.machine(),
        "date": dt.date.today().isoformat(),
        "seconds": {r["lesson"]: round(r["seconds"], 1) for r in results},
        # the kernel's peak resident memory (ru_maxrss), MiB: free Colab and Kaggle
        # sessions share about 12 GB between the browser and the kernel
        "peak_mib": {
            r["lesson"]: round(r["peak_mib"]) for r in results if r["peak_mib"] is not None
        },
    }
    path.write_text(json.dumps(record, indent=1) + "\n")
    return record


def timing_table(record: dict, lessons: list[Path]) -> str:
    """A Markdown table of minutes per lesson on CPU and GPU from a bench record."""

    def cell(kind: str, name: str) -> str:
        seconds = record.get(kind, {}).get("seconds", {}).get(name)
        return "not measured yet" if seconds is None else f"{seconds / 60:.1f} min"

    lines = ["| lesson | CPU | GPU |", "|---|---|---|"]
    for path in lessons:
        title = front_matter_of(path).get("title", path.stem)
        lines.append(
            f"| {int(path.name[:2])}. {title} | {cell('cpu', path.name)} | "
            f"{cell('gpu', path.name)} |"
        )
    notes = []
    for kind in ("cpu", "gpu"):
        run = record.get(kind)
        if run:
            state = "first run, nothing cached" if run["cold_cache"] else "models cached"
            notes.append(
                f"{kind.upper()}: {run['hardware']}, {run['profile']} profile, "
                f"{state}, measured {run['date']}"
            )
    return "\n".join(lines) + ("\n\n" + "; ".join(notes) + "." if notes else "")


def front_matter_of(path: Path) -> dict:
    import nbformat

    return front_matter(nbformat.read(path, as_version=4))


def write_timing_table(page: str | os.PathLike, record: dict, lessons: list[Path]) -> None:
    """Replace the text between the bench markers of ``page`` with :func:`timing_table`."""
    page = Path(page)
    text = page.read_text(encoding="utf-8")
    if BENCH_START not in text or BENCH_END not in text:
        raise ValueError(f"{page} has no {BENCH_START} ... {BENCH_END} block to fill")
    head, rest = text.split(BENCH_START, 1)
    _, tail = rest.split(BENCH_END, 1)
    table = timing_table(record, lessons)
    page.write_text(f"{head}{BENCH_START}\n{table}\n{BENCH_END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Execute or benchmark the course's lessons.")
    parser.add_argument("command", choices=["execute", "bench", "strip", "_one"])
    parser.add_argument("lessons", nargs="*", type=Path, help="default: lessons/NN-*.ipynb")
    parser.add_argument("--out", type=Path, default=None, help="default: build/<profile>")
    parser.add_argument("--html", action="store_true", help="also export HTML previews")
    parser.add_argument(
        "--jobs", type=int, default=1, help="execute: lessons run side by side (bench: always 1)"
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="bench: run with an empty, temporary COURSE_HOME (first-run times)",
    )
    parser.add_argument(
        "--record",
        type=Path,
        metavar="JSON",
        help="bench: store the times in this file under cpu or gpu",
    )
    parser.add_argument(
        "--index",
        type=Path,
        metavar="PAGE",
        help="bench: rewrite the timing table of this page from --record",
    )
    args = parser.parse_intermixed_args(argv)  # options may come before or after lessons
    from course_utils.config import get_profile

    profile = get_profile().name
    out = args.out or Path("build") / profile
    if args.command == "strip" and os.environ.get("COURSE_RENDER_STAGED"):
        print("executed lessons staged by tools.publish render: not stripped", file=sys.stderr)
        return
    if args.command == "strip":
        changed = [p.name for p in (args.lessons or lesson_paths()) if strip_outputs(p)]
        print(
            f"stripped outputs from {len(changed)} lesson(s)"
            + (": " if changed else "")
            + ", ".join(changed)
        )
        return
    if args.command == "_one":
        print(json.dumps(_run_one(args.lessons[0], out, args.html)))
        return
    paths = args.lessons or lesson_paths()
    if args.cold:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="course-home-") as home:
            results = run_lessons(paths, out, html=args.html, course_home=home)
    else:
        jobs = args.jobs if args.command == "execute" else 1
        results = run_lessons(paths, out, html=args.html, jobs=jobs)
    print(format_table(results, profile))
    if args.record:
        record = record_bench(args.record, results, profile, cold=args.cold)
        print(f"recorded in {args.record}")
        if args.index:
            write_timing_table(args.index, record, paths)
            print(f"timing table of {args.index} updated")
    if args.html:
        write_preview_index(out / "html", paths)
    if args.command == "execute":
        print(
            f"executed notebooks in {out / 'notebooks'}"
            + (f", HTML previews in {out / 'html'} (open index.html)" if args.html else "")
        )


if __name__ == "__main__":
    main()
