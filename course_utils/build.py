"""Execute lessons into a build folder, export HTML previews, and time them (``make course``,
``make bench``).

The committed notebooks stay clean: every executed copy is written under ``build/``.

    python -m course_utils.build execute [--html] [--out build] [lessons ...]
    python -m course_utils.build bench [lessons ...]

Each lesson runs in its own process so that its wall time and its kernel's peak memory
are measured alone. The profile is whatever ``COURSE_PROFILE`` says (default ``full``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CELL_TIMEOUT_S = 3600


def lesson_paths(folder: str | os.PathLike = "lessons") -> list[Path]:
    """The lesson notebooks ``NN-slug.ipynb`` of a folder, in course order."""
    paths = sorted(Path(folder).glob("[0-9][0-9]-*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no lessons (NN-slug.ipynb) in {folder}")
    return paths


def execute_notebook(src: str | os.PathLike, dst: str | os.PathLike) -> float:
    """Run ``src`` top to bottom in its own folder and write the executed copy to ``dst``.

    Returns the wall time in seconds. Raises ``nbclient`` errors if a cell fails (cells
    tagged ``raises-exception`` may fail).
    """
    import nbformat
    from nbclient import NotebookClient

    src, dst = Path(src), Path(dst)
    nb = nbformat.read(src, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(src.parent.resolve())}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".partial")
    nbformat.write(nb, tmp)
    tmp.replace(dst)
    return seconds


def _plain_markdown(text: str) -> str:
    """Markdown without Quarto's ``:::`` fences; revealjs-only blocks (speaker notes) dropped."""
    kept, stack = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(":::") and stripped.strip(":").strip():
            stack.append('when-format="revealjs"' in stripped)
        elif stripped.startswith(":::") and stack:
            stack.pop()
        elif not any(stack):
            kept.append(line)
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
    only in slides are dropped, and ``#|`` cell options are hidden.
    """
    import copy

    import nbformat

    meta = front_matter(nb)
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells):
        if i == 0 and meta:
            nb.cells[0] = nbformat.v4.new_markdown_cell(
                f"# {meta.get('title', '')}\n\n*{meta.get('description', '')}*")
        elif cell.cell_type == "markdown":
            cell.source = _plain_markdown(cell.source)
        elif cell.cell_type == "code":
            lines = cell.source.splitlines()
            cell.source = "\n".join(line for line in lines if not line.startswith("#|"))
    nb.cells = [c for c in nb.cells if c.cell_type != "markdown" or c.source]
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


def _run_one(src: Path, out: Path, html: bool) -> dict:
    """Execute one lesson in this process; report time and the kernel's peak memory."""
    executed = out / "notebooks" / src.name
    seconds = execute_notebook(src, executed)
    if html:
        export_html(executed, out / "html" / f"{src.stem}.html")
    peak_mb = None
    try:
        import resource

        # ru_maxrss of waited-for children (the kernel), in KiB on Linux, bytes on macOS
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        peak_mb = peak / 1024 / (1024 if sys.platform == "darwin" else 1)
    except ImportError:  # Windows
        pass
    return {"lesson": src.name, "seconds": seconds, "peak_mb": peak_mb}


def run_lessons(paths: list[Path], out: Path, html: bool = False) -> list[dict]:
    """Execute each lesson in a fresh process; stop at the first failure."""
    env = {**os.environ, "TQDM_DISABLE": os.environ.get("TQDM_DISABLE", "1")}
    results = []
    for src in paths:
        print(f"executing {src} ...", flush=True)
        cmd = [sys.executable, "-m", "course_utils.build", "_one", str(src), "--out", str(out)]
        proc = subprocess.run(cmd + (["--html"] if html else []), env=env,
                              stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{src} failed (exit {proc.returncode}); see the error above")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return results


def format_table(results: list[dict], profile: str) -> str:
    """A plain-text table of wall time and peak memory per lesson, with the total."""
    lines = [f"profile: {profile}", f"{'lesson':<44} {'wall s':>8} {'peak MB':>9}"]
    for r in results:
        peak = f"{r['peak_mb']:.0f}" if r["peak_mb"] is not None else "n/a"
        lines.append(f"{r['lesson']:<44} {r['seconds']:>8.1f} {peak:>9}")
    peaks = [r["peak_mb"] for r in results if r["peak_mb"] is not None]
    lines.append(f"{'total (peak = largest)':<44} {sum(r['seconds'] for r in results):>8.1f} "
                 f"{(f'{max(peaks):.0f}' if peaks else 'n/a'):>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Execute or benchmark the course's lessons.")
    parser.add_argument("command", choices=["execute", "bench", "_one"])
    parser.add_argument("lessons", nargs="*", type=Path, help="default: lessons/NN-*.ipynb")
    parser.add_argument("--out", type=Path, default=None, help="default: build/<profile>")
    parser.add_argument("--html", action="store_true", help="also export HTML previews")
    args = parser.parse_args(argv)
    from course_utils.config import get_profile

    profile = get_profile().name
    out = args.out or Path("build") / profile
    if args.command == "_one":
        print(json.dumps(_run_one(args.lessons[0], out, args.html)))
        return
    paths = args.lessons or lesson_paths()
    results = run_lessons(paths, out, html=args.html)
    print(format_table(results, profile))
    if args.command == "execute":
        print(f"executed notebooks in {out / 'notebooks'}"
              + (f", HTML previews in {out / 'html'}" if args.html else ""))


if __name__ == "__main__":
    main()
