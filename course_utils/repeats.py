"""Experiments repeated over seeds (lessons 4-10): a comparison claims only what survives.

One training run is one draw: another seed gives other initial weights, another shuffle and
another score. So an experiment runs each variant once per seed of the profile
(``Profile.seeds``: three in ``full``, two in ``smoke``) and reports the mean with its
spread; two variants differ *reliably* only when the 95% interval of their difference,
seed by seed, excludes zero.

    table = repeat(lambda seed: {"test": train_and_score(seed)}, P.seeds)
    summarize(table)                    # mean, sd, n and a 95% interval per column
    compare(table_a["test"], table_b["test"])   # paired by seed
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats


def repeat(run: Callable[[int], Mapping[str, float] | float], seeds: Iterable[int]) -> pd.DataFrame:
    """``run(seed)`` for each seed: one row per seed (index ``seed``), one column per metric
    (``"value"`` when ``run`` returns a number)."""
    rows = {}
    for seed in seeds:
        result = run(seed)
        rows[seed] = dict(result) if isinstance(result, Mapping) else {"value": float(result)}
    if not rows:
        raise ValueError("repeat needs at least one seed")
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("seed")


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    n = len(values)
    if n < 2:
        return (float("nan"), float("nan"))
    half = stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / np.sqrt(n)
    return (values.mean() - half, values.mean() + half)


def summarize(table: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per column of ``table``: ``mean``, ``sd`` (between seeds), ``n`` and the ``low``/``high``
    ends of a t interval for the mean at ``level``."""
    rows = {}
    for column in table.columns:
        values = table[column].dropna().to_numpy(dtype=float)
        low, high = _interval(values, level)
        sd = values.std(ddof=1) if len(values) > 1 else float("nan")
        rows[column] = {"mean": values.mean(), "sd": sd, "n": len(values), "low": low, "high": high}
    return pd.DataFrame.from_dict(rows, orient="index")


def compare(a: pd.Series, b: pd.Series, level: float = 0.95) -> dict:
    """``a`` minus ``b``, paired by seed (the index): the mean difference, its t interval at
    ``level`` and ``reliable`` (True when the interval excludes zero). Seeds that only one
    side has are refused, since unpaired runs would mix seed luck into the difference.
    Differences that are all equal (coarse scores often tie) measure no spread, so their
    zero-width interval is not taken as reliable."""
    if set(a.index) != set(b.index):
        raise ValueError(
            f"compare needs the same seeds on both sides: {list(a.index)} vs {list(b.index)}"
        )
    diff = (a - b.loc[a.index]).to_numpy(dtype=float)
    low, high = _interval(diff, level)
    return {
        "difference": float(diff.mean()),
        "low": float(low),
        "high": float(high),
        "n": len(diff),
        "reliable": bool((low > 0 or high < 0) and np.ptp(diff) > 1e-9),
    }


def verdict(
    result: Mapping,
    higher: str = "reliably higher",
    lower: str = "reliably lower",
    none: str = "no reliable difference",
) -> str:
    """Words for a :func:`compare` result: a direction only when the difference is
    reliable (its interval excludes zero), otherwise ``none``."""
    if not result["reliable"]:
        return none
    return higher if result["difference"] > 0 else lower
