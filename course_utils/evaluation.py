"""Looking at predictions: per-class accuracy, confidence, top-k, confused pairs (lessons 4-5)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import top_k_accuracy_score

from .config import import_keras_quietly

keras = import_keras_quietly()


def _labels(y_true, y_pred=None) -> tuple[np.ndarray, np.ndarray | None]:
    y_true = np.asarray(y_true).astype(int).ravel()
    if y_pred is None:
        return y_true, None
    y_pred = np.asarray(y_pred).astype(int).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    return y_true, y_pred


def _probabilities(y_prob, n: int) -> np.ndarray:
    y_prob = np.asarray(y_prob, dtype=float)
    if y_prob.ndim != 2 or len(y_prob) != n:
        raise ValueError(f"y_prob must have shape ({n}, num_classes), got {y_prob.shape}")
    return y_prob


def per_class_accuracy(y_true, y_pred, class_names: Sequence[str]) -> pd.DataFrame:
    """Accuracy of each class: columns ``images``, ``correct``, ``accuracy``, worst first."""
    y_true, y_pred = _labels(y_true, y_pred)
    k = len(class_names)
    images = np.bincount(y_true, minlength=k)
    correct = np.bincount(y_true[y_true == y_pred], minlength=k)
    table = pd.DataFrame(
        {"images": images, "correct": correct},
        index=pd.Index(list(class_names), name="class"),
    )
    table["accuracy"] = np.where(images > 0, correct / np.maximum(images, 1), np.nan)
    return table.sort_values(["accuracy", "images"], kind="stable")


def prediction_confidence(y_prob, y_true) -> pd.DataFrame:
    """Per image: ``predicted`` class, its probability ``confidence``, and whether ``correct``.

    ``df.groupby("correct").confidence.describe()`` compares confidence when right vs wrong.
    """
    y_true, _ = _labels(y_true)
    y_prob = _probabilities(y_prob, len(y_true))
    predicted = y_prob.argmax(axis=1)
    return pd.DataFrame(
        {"predicted": predicted, "confidence": y_prob.max(axis=1), "correct": predicted == y_true}
    )


def top_k_accuracy(y_true, y_prob, k: int = 5) -> float:
    """Fraction of images whose true class is among the ``k`` most probable classes."""
    y_true, _ = _labels(y_true)
    y_prob = _probabilities(y_prob, len(y_true))
    n_classes = y_prob.shape[1]
    if not 1 <= k <= n_classes:
        raise ValueError(f"k must be between 1 and {n_classes}, got {k}")
    # scikit-learn takes two classes as one score column (the second class's).
    scores = y_prob[:, 1] if n_classes == 2 else y_prob
    with warnings.catch_warnings():  # k == n_classes is allowed here: every image is a hit
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return float(top_k_accuracy_score(y_true, scores, k=k, labels=range(n_classes)))


def top_k_classes(y_prob, class_names: Sequence[str], k: int = 3) -> list[list[tuple[str, float]]]:
    """For each row of probabilities, the ``k`` most probable (class name, probability) pairs."""
    y_prob = np.atleast_2d(np.asarray(y_prob, dtype=float))
    if y_prob.shape[1] != len(class_names):
        raise ValueError(f"{y_prob.shape[1]} probabilities per row but {len(class_names)} names")
    top = np.argsort(-y_prob, axis=1)[:, :k]
    return [
        [(class_names[j], float(row[j])) for j in idx] for row, idx in zip(y_prob, top, strict=True)
    ]


def most_confused_pairs(y_true, y_pred, class_names: Sequence[str], n: int = 10) -> pd.DataFrame:
    """The ``n`` most frequent mistakes: columns ``true``, ``predicted``, ``count``."""
    y_true, y_pred = _labels(y_true, y_pred)
    wrong = y_true != y_pred
    pairs = pd.DataFrame({"true": y_true[wrong], "predicted": y_pred[wrong]})
    counts = pairs.value_counts().rename("count").reset_index().head(n)
    counts["true"] = [class_names[i] for i in counts["true"]]
    counts["predicted"] = [class_names[i] for i in counts["predicted"]]
    return counts


def predict_probabilities(model, X, from_logits: bool = True) -> np.ndarray:
    """Class probabilities of ``model`` on ``X``; a softmax is applied to logits (lesson 5)."""
    out = model.predict(X, verbose=0)
    if not from_logits:
        return np.asarray(out)
    return keras.ops.convert_to_numpy(keras.ops.softmax(out, axis=1))
