"""The replay's measure that resolves 0.1 dB at the sizes people compare (issue 31 item 5), against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from benchmarks import replay as rp
from benchmarks.front_shortfall import chosen, shortfall_db
from tests.test_rungs import synthetic

# (latent size, recorded error, the design's error at its full budget)
POINTS = [(50, 0.010, 0.009), (100, 0.005, 0.006), (300, 0.002, 0.002)]
REFERENCE = [(50, 0.009, 0.009), (100, 0.004, 0.004), (250, 0.0025, 0.0025)]


def test_the_shortfall_at_a_size_is_the_front_s_best_error_there_against_the_reference_s_in_db() -> None:
    front = shortfall_db(POINTS, REFERENCE)
    assert front[64] == pytest.approx(10 * math.log10(0.010 / 0.009))  # 0.46 dB: only the 50-value trial fits
    assert front[128] == pytest.approx(10 * math.log10(0.005 / 0.004))  # 0.97 dB
    assert front[256] == pytest.approx(10 * math.log10(0.005 / 0.0025))  # the 300-value trial is too large: 3.01 dB
    design = shortfall_db(POINTS, REFERENCE, "design")  # the same trials chosen, their full-budget errors
    assert design[64] == pytest.approx(0.0) and design[128] == pytest.approx(10 * math.log10(0.006 / 0.004))


def test_a_size_no_trial_reaches_has_no_front_and_the_lowest_recorded_error_chooses_the_design() -> None:
    assert shortfall_db([(300, 0.002, 0.002)], REFERENCE)[64] == math.inf
    assert chosen([(40, 0.011, 0.004), (60, 0.010, 0.009)], 64) == (0.010, 0.009)  # chosen by what the search saw


def test_fixed_budgets_and_rules_are_read_at_equal_epochs() -> None:
    configs = synthetic(n=10)
    result = rp.benchmark(configs, orderings=3, workers=[1], short=[1, 2])
    full, fixed1 = result["summary"]["full/w1"], result["summary"]["fixed-1/w1"]
    assert full["complete"]["shortfall"]["front"]["final_db"] == {"64": 0.0, "128": 0.0, "256": 0.0}
    assert set(fixed1["complete"]["shortfall"]["front"]["at_epochs_db"]) == {"10", "20"}  # fixed-1's and fixed-2's epochs
    # a short budget's front stands above the full one's where the curves still fall (synthetic: they always do)
    assert fixed1["complete"]["shortfall"]["front"]["final_mean_db"] > 0.05
    # fixed-1 has spent all it will at 10 epochs: its reading there is its end
    at10 = fixed1["complete"]["shortfall"]["front"]["at_epochs_db"]["10"]
    assert at10 == pytest.approx(fixed1["complete"]["shortfall"]["front"]["final_mean_db"])
