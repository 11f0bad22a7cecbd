"""Synthetic handwritten characters: a stand-in for CASIA when the real data is absent
(lesson 3 shows how a writer's style is drawn; lessons 4-8 train on the result).

A character is drawn with a round pen along the stroke centre-lines ("medians") of the
vendored ``hanzi-writer-data`` (see ``vendor/hanzi_medians.json`` and its licence). Each
synthetic *writer* has a consistent style - slant, proportions, pen width and taper, ink
darkness, tremble, how far strokes stray from their place - and each sample varies
around it, the way one person never writes a character twice the same. "Beginner"
writers (the Messy split) stray further and keep proportions less well.

Images look like the CASIA bitmaps: white background, dark grey ink, a tight crop with a
small margin, of varying size and taller than wide on average.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

#: Bump whenever a change would alter the generated images; caches of an older version are
#: regenerated, never mixed with new images.
GENERATOR_VERSION = 1

_EM = 1024.0  # the medians live in a 1024-unit em box, y pointing up, baseline at -124
_TOP = 900.0
_SUPERSAMPLE = 3  # draw large, then shrink: smooth anti-aliased edges
BEGINNER_K = 1.3  # how much more beginners stray, stretch, turn and bend


@functools.cache
def _vendored() -> dict:
    text = (
        resources.files("course_utils")
        .joinpath("vendor/hanzi_medians.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def other_characters() -> str:
    """The vendored characters that are not course characters (for lesson 8's pretraining)."""
    course = set(_vendored()["course_characters"])
    return "".join(c for c in _vendored()["medians"] if c not in course)


def strokes(char: str) -> list[np.ndarray]:
    """Stroke centre-lines of ``char`` in a unit box: x to the right, y downwards."""
    try:
        medians = _vendored()["medians"][char]
    except KeyError:
        raise KeyError(
            f"no stroke data for {char!r}; the renderer knows {len(_vendored()['medians'])} "
            "characters (refresh them with data_scripts/vendor_hanzi_data.py)"
        ) from None
    out = []
    for stroke in medians:
        xy = np.asarray(stroke, dtype=np.float64)
        out.append(np.column_stack([xy[:, 0] / _EM, (_TOP - xy[:, 1]) / _EM]))
    return out


@dataclass(frozen=True)
class WriterStyle:
    """How one synthetic person writes. Lengths are fractions of the character height."""

    slant: float  # horizontal shear: x += slant * (y - centre)
    aspect: float  # width scale of the whole character (< 1: narrower than the font)
    rotation: float  # radians, clockwise
    pen: float  # pen diameter
    taper: float  # 0: even strokes; 1: strokes thin out completely at their ends
    ink: int  # grey level of the ink (0 = black)
    wobble: float  # amplitude of the hand's tremble
    jitter: float  # how far a stroke strays from its place
    distortion: float  # how much a stroke's own length and angle vary
    warp: float  # how far the whole character bends out of shape (smooth, not per stroke)
    cursive: float  # chance that the pen stays down between two strokes (a thin join)
    height: float  # typical image height in pixels
    beginner: bool = False


def sample_writer(rng: np.random.Generator, beginner: bool = False) -> WriterStyle:
    """Draw a writer's style. Beginners stray further and keep proportions less well."""
    k = BEGINNER_K if beginner else 1.0  # beginners stray further and distort more ...
    tremble = 1.3 if beginner else 1.0  # ... but their hand shakes only a little more
    return WriterStyle(
        slant=float(rng.normal(0.0, 0.12 * k)),
        aspect=float(np.clip(rng.normal(0.78, 0.08), 0.55, 1.0)),
        rotation=float(rng.normal(0.0, 0.05 * k)),
        pen=float(rng.uniform(0.035, 0.085)),
        taper=float(rng.uniform(0.0, 0.8)),
        ink=int(rng.integers(0, 90)),
        wobble=float(rng.uniform(0.002, 0.008) * tremble),
        jitter=float(rng.uniform(0.03, 0.07) * k),
        distortion=float(rng.uniform(0.10, 0.22) * k),
        warp=float(rng.uniform(0.02, 0.06) * k),
        cursive=float(rng.uniform(0.0, 0.6)),
        height=float(rng.uniform(60, 120)),
        beginner=beginner,
    )


def _resample(xy: np.ndarray, step: float) -> np.ndarray:
    """Points every ``step`` along a polyline (at least the two end points)."""
    seg = np.hypot(*np.diff(xy, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(2, int(np.ceil(arc[-1] / step)) + 1)
    t = np.linspace(0.0, arc[-1], n)
    return np.column_stack([np.interp(t, arc, xy[:, 0]), np.interp(t, arc, xy[:, 1])])


def _smooth(xy: np.ndarray, passes: int = 2) -> np.ndarray:
    """Round the corners of a polyline a little, keeping its end points."""
    for _ in range(passes):
        if len(xy) < 3:
            break
        inner = (xy[:-2] + 2 * xy[1:-1] + xy[2:]) / 4
        xy = np.vstack([xy[:1], inner, xy[-1:]])
    return xy


def _tremble(n: int, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth random offsets along a stroke: a few low-frequency waves per axis."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    freqs = rng.uniform(0.5, 3.0, size=(1, 3, 2))
    phases = rng.uniform(0, 2 * np.pi, size=(1, 3, 2))
    waves = np.sin(2 * np.pi * freqs * t[:, :, None] + phases).sum(axis=1)
    return amplitude * waves / np.sqrt(3)


def _warp(rng: np.random.Generator, amplitude: float):
    """A smooth random bend of the plane: two low-frequency waves per axis."""
    freqs = rng.uniform(0.4, 1.4, size=(2, 2, 2)) * rng.choice([-1, 1], size=(2, 2, 2))
    phases = rng.uniform(0, 2 * np.pi, size=(2, 2))

    def bend(xy: np.ndarray) -> np.ndarray:
        waves = np.sin(2 * np.pi * np.einsum("nd,awd->naw", xy, freqs) + phases)
        return xy + amplitude * waves.sum(axis=2) / np.sqrt(2)

    return bend


def _place_strokes(char: str, style: WriterStyle, rng: np.random.Generator) -> list[np.ndarray]:
    """The strokes of one sample: the writer's habits plus this sample's own variation."""
    slant = style.slant + rng.normal(0, 0.03)
    aspect = style.aspect * np.exp(rng.normal(0, 0.04))
    angle = style.rotation + rng.normal(0, 0.02)
    # Beginners get one half of the character out of proportion with the other.
    squash = rng.normal(0, 0.12) if style.beginner else rng.normal(0, 0.03)
    placed = []
    for xy in strokes(char):
        centre = xy.mean(axis=0)
        theta = rng.normal(0, style.distortion * 0.5)
        scale = np.exp(rng.normal(0, style.distortion, size=2))
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        xy = (xy - centre) @ rot.T * scale + centre + rng.normal(0, style.jitter, size=2)
        xy = _smooth(_resample(xy, 0.02))
        xy = xy + _tremble(len(xy), style.wobble, rng)
        placed.append(xy)
    bend = _warp(rng, style.warp)
    placed = [bend(xy) for xy in placed]

    allxy = np.vstack(placed)
    mid = (allxy.min(axis=0) + allxy.max(axis=0)) / 2
    c, s = np.cos(angle), np.sin(angle)
    out = []
    for xy in placed:
        x, y = (xy - mid).T
        y = y * (1 + squash * np.sign(x))  # uneven halves (strong for beginners)
        x, y = x * aspect + slant * y, y
        out.append(np.column_stack([c * x - s * y, s * x + c * y]))
    return out


def render_character(
    char: str, style: WriterStyle, rng: np.random.Generator, margin: int = 2
) -> np.ndarray:
    """One handwritten sample of ``char``: a uint8 (height, width) array, ink dark on white."""
    placed = _place_strokes(char, style, rng)
    allxy = np.vstack(placed)
    lo, hi = allxy.min(axis=0), allxy.max(axis=0)
    height = style.height * np.exp(rng.normal(0, 0.08))
    pen = style.pen * np.exp(rng.normal(0, 0.08))
    ink = int(np.clip(style.ink + rng.normal(0, 12), 0, 160))

    scale = height / max(hi[1] - lo[1], 0.2) * _SUPERSAMPLE
    pad = (pen * height / 2 + margin + 1) * _SUPERSAMPLE
    size = np.ceil((hi - lo) * scale + 2 * pad).astype(int)
    canvas = Image.new("L", (int(size[0]), int(size[1])), 255)
    draw = ImageDraw.Draw(canvas)
    radius_full = pen * height * _SUPERSAMPLE / 2
    for xy in placed:
        pts = (xy - lo) * scale + pad
        n = len(pts)
        t = np.linspace(0, 1, n)
        # Pressure: firm at the start, lighter towards the end of the stroke.
        profile = 1.0 - style.taper * np.clip((t - 0.55) / 0.45, 0, 1) ** 1.5
        radii = np.maximum(radius_full * profile * np.exp(rng.normal(0, 0.05)), 0.6)
        grey = int(np.clip(ink + rng.normal(0, 8), 0, 200))
        for (x, y), r in zip(pts, radii, strict=True):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=grey)
        widths = np.maximum(2 * radii[:-1], 1).astype(int)
        for (p, q), w in zip(zip(pts[:-1], pts[1:], strict=True), widths, strict=True):
            draw.line((*p, *q), fill=grey, width=int(w))
    # Cursive joins: the pen stays on the paper from one stroke's end to the next's start.
    for a, b in zip(placed[:-1], placed[1:], strict=True):
        gap = np.hypot(*(b[0] - a[-1]))
        if rng.random() < style.cursive and gap < 0.6:
            t = np.linspace(0, 1, 12)[:, None]
            bow = (a[-1] + b[0]) / 2 + rng.normal(0, 0.05, size=2)
            curve = (1 - t) ** 2 * a[-1] + 2 * (1 - t) * t * bow + t**2 * b[0]
            pts = (curve - lo) * scale + pad
            width = max(1, int(radius_full * 0.7))
            draw.line([tuple(p) for p in pts], fill=int(min(ink + 50, 220)), width=width)

    small = canvas.resize(
        (max(1, round(size[0] / _SUPERSAMPLE)), max(1, round(size[1] / _SUPERSAMPLE))),
        Image.Resampling.BOX,
    ).filter(ImageFilter.GaussianBlur(0.4))
    img = np.asarray(small)
    rows = np.flatnonzero((img < 250).any(axis=1))
    cols = np.flatnonzero((img < 250).any(axis=0))
    if rows.size == 0:  # nothing drawn (cannot happen with real strokes)
        return img
    r0, r1 = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, img.shape[0])
    c0, c1 = max(cols[0] - margin, 0), min(cols[-1] + margin + 1, img.shape[1])
    return img[r0:r1, c0:c1].copy()
