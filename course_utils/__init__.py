"""Helpers for the course *Computer Vision with Keras 3*: what the course does not teach.

The Keras the course teaches (models, ``compile``, callbacks, ``fit``, tuners, freezing) is
written in the lessons. These modules hold the rest, one concern each:

- ``config``: the profile (``COURSE_PROFILE``), paths, seeding, the setup line, versions.
- ``cache``: cache keys (values hashed by content) and atomic writes, for every cache.
- ``training``: ``cached_fit``, ``model.fit`` trained once and reloaded afterwards.
- ``tuning``: predictable Keras Tuner project folders, trial scores, best-so-far.
- ``distributed``: lesson 6's search run by a chief and workers (distributed Keras Tuner).
- ``repeats``: experiments repeated over seeds, their spread and paired comparisons.
- ``models``: lesson 4's two models, for the lessons that reuse them.
- ``drawing``: the "Draw a character" widget, a trained CNN running in the reader's browser.
- ``data``: image folders to arrays (Unicode-safe), counts, sizes, splits.
- ``characters``: finding and loading the 55 handwritten characters (real or synthetic).
- ``synthetic``: generating the synthetic handwriting dataset from ``handwriting``.
- ``handwriting``: rendering one character in one writer's style from stroke data.
- ``other_characters``: the 1,000 other characters of lesson 9's pretrained base.
- ``plots``: the course figure style, the CJK font, history, grids, confusion matrices.
- ``evaluation``: per-class accuracy, confidence, top-k, confused pairs.
- ``gradients``: the gradient of a class score with respect to feature maps (Grad-CAM).
- ``serving``: lesson 10's web app served from the notebook in a background thread, stopped cleanly.
- ``imagenet``: ImageNet networks from ``keras.applications`` or offline, photos, class names.
- ``lite0``: the EfficientNet-Lite0 architecture and its converted offline weights.
- ``torch_weights``: a safe reader for legacy PyTorch weight files.

Importing the package runs nothing; a lesson calls :func:`setup` first.
"""

from course_utils.config import get_profile, setup, versions

__all__ = ["get_profile", "setup", "versions"]
__version__ = "0.1.0"
