"""Helpers for the course *Computer Vision with Keras 3*.

Modules: ``config`` (profile, paths, seeding), ``data`` (image folders to arrays),
``plots`` (figures and the CJK font), ``evaluation`` (looking at predictions),
``training`` (``fit_or_load``), ``build`` (executing lessons). Importing the package
runs nothing; a lesson calls :func:`setup` first.
"""

from course_utils.config import get_profile, setup, versions

__all__ = ["get_profile", "setup", "versions"]
__version__ = "0.1.0"
