"""Figures shared by the lessons: one style, a bundled CJK font, and the course's plots
(the style from lesson 1, ``plot_history`` from lesson 4, error analysis in lesson 5)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy.cluster.hierarchy import leaves_list, linkage
from sklearn.metrics import confusion_matrix

#: The subset of Noto Sans CJK SC shipped in ``course_utils/fonts`` (SIL OFL 1.1).
CJK_FONT_FILE = "CourseCJKSans-Regular.otf"
CJK_FONT_FAMILY = "Course CJK Sans"

#: A colour-blind-safe cycle (Okabe & Ito, 2008) used by every course figure.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]


def cjk_font_path() -> Path:
    """Path of the bundled CJK font file."""
    return Path(str(resources.files("course_utils") / "fonts" / CJK_FONT_FILE))


def use_course_style() -> None:
    """Register the CJK font and set the course figure style (called by ``setup()``).

    DejaVu Sans draws Latin text; matplotlib falls back to the CJK font for Chinese glyphs.
    """
    path = cjk_font_path()
    if not path.is_file():
        raise FileNotFoundError(f"the course CJK font is missing at {path}; reinstall the package")
    if CJK_FONT_FAMILY not in {f.name for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(path))
    plt.rcParams.update(
        {
            "font.family": ["DejaVu Sans", CJK_FONT_FAMILY],
            "figure.dpi": 100,
            "figure.constrained_layout.use": True,
            "savefig.bbox": "tight",
            "axes.prop_cycle": plt.cycler(color=PALETTE),
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )


def _history_dict(history) -> dict[str, list[float]]:
    data = getattr(history, "history", history)
    if not isinstance(data, Mapping) or not data:
        raise TypeError("plot_history expects a keras History or a non-empty dict of metric lists")
    return dict(data)


def plot_history(history, metrics: Sequence[str] | None = None) -> Figure:
    """Learning curves: one panel per metric, training and validation together (lesson 4).

    Args:
        history: the ``History`` returned by ``model.fit`` / ``fit_or_load``, or its dict.
        metrics: metric names to draw, e.g. ``("loss", "accuracy")`` or ``("loss", "top5")``;
            default: every metric that has no ``val_`` prefix.
    Returns:
        The figure.
    """
    data = _history_dict(history)
    if metrics is None:
        metrics = [k for k in data if not k.startswith("val_")]
    unknown = [m for m in metrics if m not in data]
    if unknown:
        raise ValueError(f"no metric {unknown} in the history; it has {sorted(data)}")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.4), squeeze=False)
    for ax, name in zip(axes[0], metrics, strict=True):
        epochs = np.arange(1, len(data[name]) + 1)
        ax.plot(epochs, data[name], marker=".", label="training")
        if f"val_{name}" in data:
            ax.plot(epochs, data[f"val_{name}"], marker=".", label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.legend()
    return fig


def plot_image_grid(
    images: Sequence[np.ndarray] | np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    size: float = 1.3,
) -> Figure:
    """Show images in a grid, each titled (CJK titles render in the course font).

    Grayscale images of shape (h, w) or (h, w, 1) are drawn dark-on-white as scanned.
    """
    n = len(images)
    if n == 0:
        raise ValueError("no images to plot")
    if titles is not None and len(titles) != n:
        raise ValueError(f"{n} images but {len(titles)} titles")
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    aspect = float(np.mean([np.shape(img)[0] / np.shape(img)[1] for img in images]))
    title_room = 0.3 if titles is not None else 0.05  # inches above each image
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, (size * aspect + title_room) * nrows), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = np.asarray(images[i])
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        ax.imshow(
            img,
            cmap="gray" if img.ndim == 2 else None,
            vmin=0,
            vmax=255 if img.dtype == np.uint8 or img.max() > 1 else 1,
        )
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
    return fig


def plot_characters(
    X: np.ndarray,
    y: np.ndarray,
    class_names: Sequence[str],
    n: int = 20,
    ncols: int = 10,
    seed: int | None = 0,
) -> Figure:
    """A grid of ``n`` images drawn at random (fixed ``seed``), titled by class (lesson 3)."""
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} images but y has {len(y)} labels")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), size=min(n, len(X)), replace=False)
    return plot_image_grid(X[idx], [class_names[int(i)] for i in y[idx]], ncols=ncols)


def plot_failed_predictions(
    X: np.ndarray,
    y_true: np.ndarray,
    y_prob: np.ndarray,
    class_names: Sequence[str],
    n: int = 20,
    ncols: int = 10,
) -> Figure:
    """The most confident mistakes, titled "predicted, not true (confidence %)" (lesson 5).

    Args:
        y_prob: predicted class probabilities, shape (N, num_classes).
    """
    y_prob = np.asarray(y_prob)
    if y_prob.ndim != 2 or len(y_prob) != len(y_true) or len(X) != len(y_true):
        raise ValueError("X, y_true and y_prob (N, num_classes) must describe the same N images")
    y_pred = y_prob.argmax(axis=1)
    confidence = y_prob.max(axis=1)
    wrong = np.flatnonzero(y_pred != np.asarray(y_true))
    if len(wrong) == 0:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no failed predictions", ha="center", va="center")
        return fig
    wrong = wrong[np.argsort(-confidence[wrong])][:n]
    titles = [
        f"{class_names[y_pred[i]]}, not {class_names[int(y_true[i])]} ({confidence[i]:.0%})"
        for i in wrong
    ]
    return plot_image_grid(X[wrong], titles, ncols=ncols, size=1.45)


def plot_occlusion(
    images: Sequence[np.ndarray],
    maps: Sequence[np.ndarray],
    titles: Sequence[str],
    patch: int | Sequence[int],
) -> Figure:
    """Each image with its occlusion map laid over it (lesson 5): ``maps[i][r, c]`` is the
    fall in probability when the ``patch`` × ``patch`` square at grid position (r, c)
    is covered, drawn in red at that square's centre (darker: a larger fall; one colour
    scale for all the images; falls under 5% of the largest are not drawn). ``patch`` may
    give one square size per map."""
    if not len(images) == len(maps) == len(titles) or not len(images):
        raise ValueError(f"{len(images)} images, {len(maps)} maps, {len(titles)} titles")
    top = max(float(np.max(m)) for m in maps) or 1.0
    patches = [patch] * len(maps) if isinstance(patch, int) else list(patch)
    fig, axes = plt.subplots(1, len(images), figsize=(1.6 * len(images), 2.5), squeeze=False)
    for ax, image, fall, title, size in zip(axes[0], images, maps, titles, patches, strict=True):
        h, w = np.shape(image)[:2]
        half = size / 2
        ax.imshow(np.reshape(image, (h, w)), cmap="gray", vmin=0, vmax=255)
        extent = (half - 0.5, w - half - 0.5, h - half - 0.5, half - 0.5)
        # only squares that cost at least 5% of the largest fall are drawn, the rest of the
        # image stays as it is (a square whose cover helps is never red)
        shown = np.ma.masked_less(np.asarray(fall, dtype=float), 0.05 * top)
        ax.imshow(shown, cmap="Reds", alpha=0.6, vmin=0, vmax=top, extent=extent)
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    return fig


def cluster_order(matrix: np.ndarray) -> np.ndarray:
    """An ordering of rows/columns that puts classes confused with each other side by side."""
    m = np.asarray(matrix, dtype=float)
    sym = m + m.T
    np.fill_diagonal(sym, 0)
    if len(m) < 3 or sym.sum() == 0:
        return np.arange(len(m))
    similarity = sym / sym.max()
    condensed = (1 - similarity)[np.triu_indices(len(m), k=1)]
    return leaves_list(linkage(condensed, method="average"))


def plot_confusion_matrix(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: Sequence[str],
    normalize: bool = True,
    cluster: bool = True,
) -> Figure:
    """Confusion matrix, rows = true class, normalised per row, clustered (lesson 5)."""
    k = len(class_names)
    cm = confusion_matrix(y_true, y_pred, labels=np.arange(k)).astype(float)
    if normalize:
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    order = cluster_order(cm) if cluster else np.arange(k)
    cm = cm[np.ix_(order, order)]
    names = [class_names[i] for i in order]
    side = max(4.0, 0.16 * k + 2)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    image = ax.imshow(cm, cmap="Blues", vmin=0)
    ax.grid(False)
    ax.set_xticks(range(k), names, fontsize=8 if k > 20 else 10)
    ax.set_yticks(range(k), names, fontsize=8 if k > 20 else 10)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if k <= 10:  # small matrices: write each cell's value
        for (i, j), value in np.ndenumerate(cm):
            ax.text(
                j,
                i,
                f"{value:.2f}" if normalize else f"{value:,.0f}",
                ha="center",
                va="center",
                color="white" if value > cm.max() / 2 else "black",
            )
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of true class" if normalize else "count")
    return fig


def plot_top_predictions(
    photos: Sequence[np.ndarray] | np.ndarray,
    predictions: Sequence[Sequence[tuple[str, float]]],
    title: str | None = None,
    size: float = 2.2,
) -> Figure:
    """Each photo above a bar chart of its top predictions, (class name, probability)
    pairs as returned by ``evaluation.top_k_classes`` (lesson 8)."""
    n = len(photos)
    if n == 0 or len(predictions) != n:
        raise ValueError(f"{n} photos but {len(predictions)} lists of predictions")
    k = max(len(p) for p in predictions)
    fig, axes = plt.subplots(
        2,
        n,
        figsize=(size * n, size + 0.32 * k + 0.6),
        squeeze=False,
        gridspec_kw={"height_ratios": [size, 0.32 * k + 0.2]},
    )
    for i in range(n):
        photo = np.asarray(photos[i])
        axes[0, i].imshow(photo.astype(np.uint8) if photo.max() > 1 else photo)
        axes[0, i].axis("off")
        names = [name.replace("_", " ") for name, _ in predictions[i]][::-1]
        probs = [p for _, p in predictions[i]][::-1]
        bars = axes[1, i]
        bars.barh(range(len(probs)), probs, color=["#d9d9d9"] * (len(probs) - 1) + [PALETTE[5]])
        bars.set_xlim(0, 1)
        bars.set_yticks([])
        bars.set_xticks([0, 0.5, 1])
        bars.tick_params(labelsize=8)
        for j, (name, p) in enumerate(zip(names, probs, strict=True)):
            bars.text(0.02, j, f"{name} {p:.2f}", va="center", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
