import numpy as np
import pandas as pd
import pytest
from scipy import stats

from course_utils.config import PROFILES
from course_utils.repeats import compare, repeat, summarize, verdict

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch


def test_profiles_repeat_over_three_seeds_in_full_and_two_in_smoke():
    assert len(PROFILES["full"].seeds) == 3 and len(PROFILES["smoke"].seeds) == 2
    assert PROFILES["smoke"].seeds == PROFILES["full"].seeds[:2]


def test_repeat_runs_once_per_seed_and_keeps_every_metric():
    calls = []

    def run(seed):
        calls.append(seed)
        return {"test": seed / 100, "messy": seed / 200}

    table = repeat(run, [42, 43, 44])
    assert calls == [42, 43, 44] and list(table.index) == [42, 43, 44]
    assert table.loc[43, "test"] == 0.43 and table.index.name == "seed"
    assert list(repeat(lambda s: s * 2.0, [1, 2])["value"]) == [2.0, 4.0]
    with pytest.raises(ValueError, match="at least one seed"):
        repeat(lambda s: 1.0, [])


def test_summarize_gives_the_t_interval_of_the_mean():
    table = pd.DataFrame({"acc": [0.80, 0.82, 0.84]}, index=[1, 2, 3])
    row = summarize(table).loc["acc"]
    half = stats.t.ppf(0.975, 2) * 0.02 / np.sqrt(3)
    assert row["mean"] == pytest.approx(0.82) and row["sd"] == pytest.approx(0.02)
    assert row["low"] == pytest.approx(0.82 - half) and row["high"] == pytest.approx(0.82 + half)
    assert row["n"] == 3
    single = summarize(pd.DataFrame({"acc": [0.5]})).loc["acc"]
    assert np.isnan(single["sd"]) and np.isnan(single["low"])  # one run has no spread


def test_compare_pairs_by_seed_and_claims_only_what_the_interval_supports():
    a = pd.Series([0.90, 0.91, 0.92], index=[42, 43, 44])
    b = pd.Series([0.80, 0.815, 0.82], index=[44, 42, 43])  # another order: paired by seed
    result = compare(a, b)
    assert result["difference"] == pytest.approx(np.mean([0.085, 0.09, 0.12]))
    assert result["reliable"] and result["low"] > 0
    noisy = compare(
        pd.Series([0.9, 0.7, 0.8], index=[1, 2, 3]), pd.Series([0.8, 0.8, 0.8], [1, 2, 3])
    )
    assert not noisy["reliable"] and noisy["low"] < 0 < noisy["high"]
    with pytest.raises(ValueError, match="same seeds"):
        compare(a, pd.Series([0.8], index=[42]))


def test_equal_differences_measure_no_spread_and_are_not_reliable():
    # two seeds whose scores move by the same step: a zero-width interval, no evidence
    a, b = pd.Series([0.512, 0.530], index=[42, 43]), pd.Series([0.500, 0.518], index=[42, 43])
    result = compare(a, b)
    assert result["difference"] == pytest.approx(0.012) and result["low"] == pytest.approx(0.012)
    assert not result["reliable"]


def test_verdict_names_a_direction_only_for_a_reliable_difference():
    seeds = [42, 43, 44]
    up = compare(pd.Series([0.9, 0.8, 0.7], seeds), pd.Series([0.5, 0.41, 0.29], seeds))
    down = compare(pd.Series([0.5, 0.41, 0.29], seeds), pd.Series([0.9, 0.8, 0.7], seeds))
    noisy = compare(pd.Series([0.9, 0.1, 0.5], seeds), pd.Series([0.5, 0.5, 0.5], seeds))
    assert up["reliable"] and down["reliable"] and not noisy["reliable"]
    assert (verdict(up), verdict(down), verdict(noisy)) == (
        "reliably higher",
        "reliably lower",
        "no reliable difference",
    )
    assert verdict(up, higher="ahead", lower="behind", none="tied") == "ahead"
    assert verdict(noisy, none="tied") == "tied"
    assert verdict(down, "ahead", "behind") == "behind"
