"""The lessons' install cell (their first code cell), as text, and a way to put it into a
notebook object (``make env-check`` runs every lesson with it; issue 17).

``INSTALL_CELL`` behaves for students exactly as ``LEGACY_INSTALL_CELL``, the cell the lessons
carry today: on Colab it installs the course from the repository, on Kaggle from wheels
attached under ``/kaggle/input/`` (internet off), elsewhere nothing, and a rerun skips pip.
Two environment variables, unset for students, let a check point it elsewhere:

- ``CV_COURSE_PIP_SOURCE``: what ``pip install`` is given instead of the repository
  (``make env-check ENV=colab`` passes the local clone);
- ``CV_COURSE_KAGGLE_INPUT``: the folder searched instead of ``/kaggle/input/``
  (``make env-check ENV=kaggle`` passes a folder laid out like it).

Both cells end with ``P = setup(lesson=N)``; ``for_lesson`` writes the lesson's number.
"""

from __future__ import annotations

import re

LEGACY_INSTALL_CELL = """\
import glob
import importlib.util
import os
import sys

# On Colab or Kaggle: install the course helpers, once per session (a rerun skips it).
if ("google.colab" in sys.modules or "KAGGLE_KERNEL_RUN_TYPE" in os.environ) and (
    importlib.util.find_spec("course_utils") is None
):
    wheels = glob.glob("/kaggle/input/*/cv_course_utils-*.whl")  # Kaggle, internet off
    if wheels:
        %pip install -q --no-index --find-links {os.path.dirname(wheels[0])} cv-course-utils
    else:
        %pip install -q "cv-course-utils @ git+https://github.com/cv-keras-course/cv-course"
try:
    from course_utils import setup, versions
except ModuleNotFoundError as e:
    raise ModuleNotFoundError(
        "The course helpers are not installed: see the pip messages above. On Kaggle with "
        "the internet off, attach the course's wheels as a dataset (setup page, 'Kaggle')."
    ) from e

P = setup(lesson=N)"""

INSTALL_CELL = """\
import glob
import importlib.util
import os
import sys

# On Colab or Kaggle: install the course helpers, once per session (a rerun skips it).
if ("google.colab" in sys.modules or "KAGGLE_KERNEL_RUN_TYPE" in os.environ) and (
    importlib.util.find_spec("course_utils") is None
):
    # Kaggle with the internet off: the course's wheels attached as a dataset
    inputs = os.environ.get("CV_COURSE_KAGGLE_INPUT", "/kaggle/input/")
    wheels = glob.glob(os.path.join(inputs, "*", "cv_course_utils-*.whl"))
    source = os.environ.get(
        "CV_COURSE_PIP_SOURCE",
        "cv-course-utils @ git+https://github.com/cv-keras-course/cv-course",
    )
    if wheels:
        %pip install -q --no-index --find-links {os.path.dirname(wheels[0])} cv-course-utils
    else:
        %pip install -q "{source}"
try:
    from course_utils import setup, versions
except ModuleNotFoundError as e:
    raise ModuleNotFoundError(
        "The course helpers are not installed: see the pip messages above. On Kaggle with "
        "the internet off, attach the course's wheels as a dataset (setup page, 'Kaggle')."
    ) from e

P = setup(lesson=N)"""

#: The environment variables of ``INSTALL_CELL`` (documented in CONTRIBUTING.md).
PIP_SOURCE_VAR = "CV_COURSE_PIP_SOURCE"
KAGGLE_INPUT_VAR = "CV_COURSE_KAGGLE_INPUT"

KINDS = {"legacy": LEGACY_INSTALL_CELL, "new": INSTALL_CELL}


class UnknownInstallCell(ValueError):
    """A lesson's first code cell is neither install cell: a check would not test it."""


def for_lesson(cell: str, lesson: int) -> str:
    """``cell`` (ending in ``P = setup(lesson=N)``) with the lesson's number written in."""
    assert cell.endswith("P = setup(lesson=N)")
    return cell.removesuffix("lesson=N)") + f"lesson={lesson})"


def lesson_number(name: str) -> int:
    """``03-the-characters-dataset.ipynb`` -> 3."""
    match = re.match(r"(\d\d)-", name)
    if not match:
        raise ValueError(f"{name}: a lesson is named NN-slug.ipynb")
    return int(match.group(1))


def first_code_cell(nb):
    """The first code cell of a notebook object (the install cell of a lesson)."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            return cell
    raise UnknownInstallCell("the notebook has no code cell")


def kind_of(source: str, lesson: int) -> str:
    """``"legacy"`` or ``"new"``: which install cell ``source`` is, for lesson ``lesson``.

    Raises UnknownInstallCell for anything else (an edited copy, another lesson's number).
    """
    for kind, cell in KINDS.items():
        if source.strip() == for_lesson(cell, lesson):
            return kind
    raise UnknownInstallCell(
        f"lesson {lesson}: its first code cell is neither the lessons' install cell nor "
        "tools.install_cell.INSTALL_CELL; update tools/install_cell.py if the lessons' "
        "cell changed on purpose. It starts: " + source.strip()[:120].replace("\n", " | ")
    )


def substitute(nb, lesson: int) -> str:
    """Replace the install cell of notebook object ``nb`` by ``INSTALL_CELL`` (in place).

    Returns the kind the lesson carried (``"legacy"`` or ``"new"``); raises
    UnknownInstallCell, leaving ``nb`` unchanged, when it carries neither.
    """
    cell = first_code_cell(nb)
    kind = kind_of(cell.source, lesson)
    cell.source = for_lesson(INSTALL_CELL, lesson)
    return kind
