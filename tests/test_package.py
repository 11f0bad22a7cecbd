"""The learner package stays small and readable: one concern per module (issue 13)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import course_utils

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch

PACKAGE = Path(course_utils.__file__).parent
MODULES = sorted(p for p in PACKAGE.glob("*.py") if p.name != "__init__.py")


def test_the_package_docstring_lists_every_module():
    listed = set(re.findall(r"^- ``(\w+)``", course_utils.__doc__, re.M))
    assert listed == {p.stem for p in MODULES}


def test_no_module_is_over_300_lines():
    long = {p.name: n for p in MODULES if (n := len(p.read_text().splitlines())) > 300}
    assert not long, f"split these modules: {long}"


def test_no_build_or_bench_tooling_ships_to_learners():
    assert not (PACKAGE / "build.py").exists()
    assert not any("bench" in p.stem for p in MODULES)


def test_the_package_compiles_and_fits_only_inside_cached_fit():
    """Models are compiled and trained in the lessons; ``training.cached_fit`` forwards.
    ``distributed.build_model`` compiles: the worker processes of a distributed search must
    import their build function, so lesson 6 prints its source instead.
    ``gradients`` compiles and takes one SGD step on a wrapper whose only trainable weight
    is a shift of the feature maps: that is how it reads a gradient with public Keras API
    on every backend (lesson 5's Grad-CAM); the lesson's models are not trained there."""
    for path in MODULES:
        if path.stem in ("distributed", "gradients"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in ("compile", "fit") and path.stem != "training":
                    names = ast.unparse(node.func)
                    assert names.startswith(("re.", "np.", "svm.", "ImageOps.")), (
                        f"{path.name}: {names}"
                    )


def test_imports_between_modules_sit_at_module_top():
    inside = []
    for path in MODULES:
        tree = ast.parse(path.read_text())
        for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and (
                    node.level or (node.module or "").startswith("course_utils")
                ):
                    inside.append(f"{path.name}:{node.lineno}")
    assert not inside, f"move these imports to the module top: {inside}"


def test_every_public_function_names_its_lesson_or_its_caller():
    missing = []
    for path in MODULES:
        text = path.read_text()
        if not re.search(r"[Ll]essons? \d", ast.get_docstring(ast.parse(text)) or ""):
            missing.append(path.name)
    assert not missing, f"say in the module docstring which lesson introduces it: {missing}"
