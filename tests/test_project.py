"""The project's own files agree with each other."""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from fontTools.ttLib import TTFont
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from course_utils.characters import COURSE_CHARACTERS
from course_utils.plots import CJK_FONT_FAMILY, cjk_font_path
from data_scripts import build_cjk_font, write_environment_yml

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
REPO_URL = PYPROJECT["project"]["urls"]["Repository"]


def test_environment_yml_is_generated_from_pyproject():
    expected = write_environment_yml.render(PYPROJECT)
    assert (ROOT / "environment.yml").read_text() == expected, "run `make env-file`"
    assert "  - keras>=3.5" in expected and "  - tensorflow>=2.16" in expected


def test_every_dependency_has_a_lower_bound():
    project = PYPROJECT["project"]
    reqs = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    for req in reqs:
        assert ">=" in req.split(";")[0], f"{req} needs a lower bound"
        assert "==" not in req.split(";")[0], f"{req}: exact pins belong in a lock file"


def _requirement(text: str) -> tuple[str, str]:
    req = Requirement(text)
    return canonicalize_name(req.name), str(req.specifier)


def test_lock_file_is_from_this_pyproject_and_satisfies_environment_yml():
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = {}
    for package in lock["package"]:
        packages.setdefault(canonicalize_name(package["name"]), []).append(package)
    (me,) = packages["cv-course-utils"]
    locked = {
        (canonicalize_name(d["name"]), d.get("specifier", ""))
        for d in me["metadata"]["requires-dist"]
    }
    project = PYPROJECT["project"]
    wanted = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    assert locked == {_requirement(r) for r in wanted}, (
        "run `make lock` after editing pyproject.toml"
    )
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    specs = [d for d in env["dependencies"] if isinstance(d, str)]
    specs += [d for d in env["dependencies"][-1]["pip"] if not d.startswith("--")]
    for spec in specs:
        name, bound = _requirement(spec)
        if name in {"python", "pip", "quarto"}:  # not Python packages of the project
            continue
        names = [name, f"{name}-cpu"] if name == "tensorflow" else [name]
        versions = [p["version"] for n in names for p in packages.get(n, [])]
        assert any(Version(v) in SpecifierSet(bound) for v in versions), (
            f"{spec}: locked {versions}"
        )


def test_one_repository_url_everywhere():
    # Files tracked or about to be (not ignored), as they are in the working tree.
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    repo = REPO_URL.removeprefix("https://github.com/")
    for name in files:
        path = ROOT / name
        suffixes = {".ipynb", ".yml", ".yaml", ".qmd", ".md", ".py", ".toml"}
        if path.suffix not in suffixes or not path.is_file():  # deleted, not yet committed
            continue
        for found in re.findall(r"github(?:usercontent)?\.com/([\w.-]+/[\w.-]+)", path.read_text()):
            assert found == repo, f"{name} names {found}, not {repo} (pyproject.toml)"


def test_font_script_subsets_and_renames(tmp_path):
    out = tmp_path / "font.otf"
    build_cjk_font.build(cjk_font_path(), out, "口日")
    font = TTFont(out)
    assert set(font.getBestCmap()) == {ord("口"), ord("日")}
    assert font["name"].getDebugName(1) == CJK_FONT_FAMILY


def test_font_script_rejects_a_font_without_the_face(tmp_path):
    font = TTFont(cjk_font_path())
    for record in font["name"].names:
        if record.nameID == 1:
            record.string = "Other Family"
    font.save(tmp_path / "other.otf")
    with pytest.raises(ValueError, match="no face named"):
        build_cjk_font.build(tmp_path / "other.otf", tmp_path / "out.otf", "口")


def test_shipped_font_and_licence_are_packaged():
    assert len(COURSE_CHARACTERS) == len(set(COURSE_CHARACTERS)) == 55
    assert (cjk_font_path().parent / "OFL.txt").read_text().count("SIL OPEN FONT LICENSE") == 1
    package_data = PYPROJECT["tool"]["setuptools"]["package-data"]["course_utils"]
    assert "fonts/*" in package_data


def test_only_course_utils_is_shipped():
    """Learners install course_utils; the maintainer tools/ stay in the repository."""
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["course_utils*"]
    assert not (ROOT / "course_utils" / "build.py").exists()
    assert (ROOT / "tools" / "build.py").is_file()


BACKENDS = {"keras", "keras_tuner", "tensorflow", "jax", "torch"}


def _top_level_imports(path: Path) -> set[str]:
    """The modules a file imports when it is imported (``from course_utils import x`` gives
    ``course_utils.x``); imports inside functions are left to the run-time check in conftest."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            module = node.module or ""
            if node.level:  # relative, inside course_utils
                module = f"course_utils.{module}".rstrip(".")
            names |= {module} | {f"{module}.{a.name}" for a in node.names}
    return names


def _loads_keras(module: str, seen: set[str]) -> bool:
    """Whether importing ``module`` (of this repository or the tests) imports Keras."""
    if module.split(".")[0] in BACKENDS:
        return True
    path = ROOT / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = ROOT / "tests" / f"{module}.py"  # one test module importing another
    if module in seen or not path.exists():
        return False
    seen.add(module)
    tree = ast.parse(path.read_text())
    calls = [
        n
        for n in tree.body
        if not isinstance(n, ast.FunctionDef | ast.ClassDef | ast.Expr)
        and "import_keras_quietly()" in ast.unparse(n)
    ]
    return bool(calls) or any(_loads_keras(m, seen) for m in _top_level_imports(path))


def test_backend_free_test_modules_import_nothing_that_loads_keras():
    """Tests marked backend_free are skipped on JAX and torch (Makefile, ``unit``)."""
    marked = [
        p
        for p in sorted((ROOT / "tests").glob("test_*.py"))
        if "pytestmark = pytest.mark.backend_free" in p.read_text()
    ]
    assert len(marked) >= 10
    wrong = {p.name for p in marked if any(_loads_keras(m, set()) for m in _top_level_imports(p))}
    assert not wrong, f"these import Keras, so their tests depend on the backend: {wrong}"
    assert _loads_keras("course_utils.training", set())  # the check does see Keras
    assert not _loads_keras("course_utils.characters", set())
