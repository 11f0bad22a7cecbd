"""Time the characters data: generating the synthetic set, and loading it into arrays.

Runs in a temporary course home, so the datasets and caches you use are not touched.

    python -m data_scripts.bench_data                      # the full profile: ~40,000 images
    COURSE_PROFILE=smoke python -m data_scripts.bench_data
"""

from __future__ import annotations

import os
import tempfile
import time

BARS = {"generate": 120.0, "load from cache": 10.0}  # seconds, full profile, 2 cores


def main() -> None:
    from course_utils.characters import load_characters
    from course_utils.config import get_profile
    from course_utils.synthetic import ensure_synthetic

    profile = get_profile().name
    with tempfile.TemporaryDirectory() as home:
        os.environ["COURSE_HOME"] = home
        rows = []
        start = time.perf_counter()
        ensure_synthetic(profile, progress=os.environ.get("TQDM_DISABLE") != "1")
        rows.append(("generate", time.perf_counter() - start))
        for what in ("load from images", "load from cache"):
            start = time.perf_counter()
            X, _, _ = load_characters("train", verbose=False)
            rows.append((what, time.perf_counter() - start))
    print(
        f"\ncharacters data, profile {profile}, {os.cpu_count()} cores, "
        f"train split {X.shape[0]:,} images"
    )
    for what, seconds in rows:
        bar = BARS.get(what) if profile == "full" else None
        verdict = (
            ""
            if bar is None
            else (f"  (bar < {bar:.0f} s: {'met' if seconds < bar else 'NOT met'})")
        )
        print(f"  {what:<18} {seconds:7.1f} s{verdict}")


if __name__ == "__main__":
    main()
