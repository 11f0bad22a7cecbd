"""Headless Chromium for the slide and page checks (``make slides-check``, ``make pages-check``).

The browser is Debian's ``chromium`` (``make browser-deps``), driven by Playwright: Playwright's
own browser download is not reachable from the course's machines (DESIGN.md, Tests and CI).
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "build" / "node_modules"
INSTALL = "run `make browser-deps` (Debian: apt-get install chromium fonts-noto-cjk)"


def chromium_path() -> str | None:
    """The system Chromium, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


def missing(need_reveal: bool = False) -> str | None:
    """Why the browser checks cannot run here, or None when they can."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return f"Playwright is not installed: {INSTALL}"
    if chromium_path() is None:
        return f"Chromium is not installed: {INSTALL}"
    if need_reveal and not (NODE_MODULES / "reveal.js" / "dist" / "reveal.js").is_file():
        return f"reveal.js is not installed in {NODE_MODULES}: {INSTALL}"
    return None


@contextlib.contextmanager
def chromium():
    """A headless Chromium browser (Playwright ``Browser``) for the length of a ``with``."""
    from playwright.sync_api import sync_playwright

    reason = missing()
    if reason:
        raise SystemExit(reason)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(),
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            browser.close()
