"""Generate the synthetic handwritten characters (lessons normally do this on first use).

    python -m data_scripts.make_synthetic                    # the current profile's set
    python -m data_scripts.make_synthetic --profile smoke
    python -m data_scripts.make_synthetic --out DIR --seed 7 # elsewhere, other writers

Without ``--out`` and ``--seed`` the set goes where ``load_characters`` looks for it and is
only regenerated when missing or made by another generator version. ``--out`` replaces a
folder only if the course made it (it holds the course's ``.cv-course`` marker).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    from course_utils.config import get_profile
    from course_utils.synthetic import (
        SEED,
        SYNTHETIC_WRITERS,
        ensure_synthetic,
        generate_synthetic,
        synthetic_plan,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile",
        choices=sorted(SYNTHETIC_WRITERS),
        help="sizes to generate (default: COURSE_PROFILE, else full)",
    )
    parser.add_argument("--out", type=Path, help="write here instead of the course data folder")
    parser.add_argument("--seed", type=int, default=SEED, help=f"default {SEED}")
    parser.add_argument("--processes", type=int, help="worker processes (default: all cores)")
    args = parser.parse_args(argv)

    profile = args.profile or get_profile().name
    if args.out is None and args.seed == SEED and args.processes is None:
        root = ensure_synthetic(profile)
    else:
        if args.out is None:
            parser.error(
                "--seed and --processes need --out (the course's own set uses the "
                "default seed, so that every student sees the same data)"
            )
        try:
            root = generate_synthetic(
                args.out, SYNTHETIC_WRITERS[profile], seed=args.seed, processes=args.processes
            )
        except FileExistsError as e:  # --out names a folder the course did not make
            raise SystemExit(f"error: {e}") from None
    counts = {s: sum(c.values()) for s, c in synthetic_plan(SYNTHETIC_WRITERS[profile]).items()}
    print(f"{root}: " + ", ".join(f"{n:,} {s}" for s, n in counts.items()) + " images")


if __name__ == "__main__":
    main()
