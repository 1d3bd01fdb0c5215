"""Tests for minitl.transfer.stats: t quantiles, intervals, NTG, steps_to_reach, Claim."""

import json
import math

import numpy as np
import pytest

from minitl.transfer import stats as S

# two-sided 95% and 99% critical values from standard t tables
T_TABLE = [
    (0.975, 1, 12.706), (0.975, 2, 4.303), (0.975, 3, 3.182), (0.975, 4, 2.776),
    (0.975, 5, 2.571), (0.975, 9, 2.262), (0.975, 10, 2.228), (0.975, 19, 2.093),
    (0.975, 29, 2.045), (0.975, 30, 2.042), (0.975, 60, 2.000), (0.975, 120, 1.980),
    (0.995, 4, 4.604), (0.995, 9, 3.250), (0.95, 9, 1.833), (0.95, 4, 2.132),
]


@pytest.mark.parametrize("p, df, expected", T_TABLE)
def test_t_quantile_matches_table(p, df, expected):
    assert S.t_quantile(p, df) == pytest.approx(expected, abs=5e-4)
    assert S.t_quantile(1 - p, df) == pytest.approx(-S.t_quantile(p, df), abs=1e-12)


@pytest.mark.parametrize("df", [1, 2, 3, 7, 50, 1000])
@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.999])
def test_t_cdf_inverts_quantile(df, p):
    assert S.student_t_cdf(S.t_quantile(p, df), df) == pytest.approx(p, abs=1e-12)


def test_t_tends_to_normal():
    assert S.normal_quantile(0.975) == pytest.approx(1.959964, abs=1e-6)
    assert S.t_quantile(0.975, 10**7) == pytest.approx(1.959964, abs=1e-6)
    assert S.t_quantile(0.975, 100_000) == pytest.approx(S.t_quantile(0.975, 100_001), abs=1e-8)
    assert S.t_quantile(0.5, 5) == 0.0
    with pytest.raises(ValueError):
        S.t_quantile(0.975, 2.5)


def test_paired_difference_mean_ci_and_sign():
    a = np.array([0.80, 0.82, 0.79, 0.85, 0.81])
    b = np.array([0.70, 0.75, 0.72, 0.74, 0.73])
    d = S.paired_difference(a, b)
    diffs = a - b
    assert d.n == 5
    assert d.mean == pytest.approx(diffs.mean())
    half = 2.776 * diffs.std(ddof=1) / math.sqrt(5)
    assert d.ci[0] == pytest.approx(diffs.mean() - half, abs=1e-4)
    assert d.ci[1] == pytest.approx(diffs.mean() + half, abs=1e-4)
    assert d.ci[0] < d.mean < d.ci[1]
    assert d.ci[0] > 0 and d.excludes_zero
    reverse = S.paired_difference(b, a)
    assert reverse.mean == pytest.approx(-d.mean)
    assert reverse.ci[1] < 0
    json.dumps(d.to_dict())


def test_paired_difference_edge_cases():
    one = S.paired_difference([1.0], [0.5])
    assert one.mean == 0.5 and one.ci == (-math.inf, math.inf) and not one.excludes_zero
    same = S.paired_difference([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    assert same.ci == pytest.approx((1.0, 1.0))
    with pytest.raises(ValueError):
        S.paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        S.paired_difference([1.0, float("nan")], [1.0, 2.0])


def test_t_interval_coverage_is_nominal():
    rng = np.random.default_rng(0)
    samples = rng.normal(0.3, 1.0, size=(1000, 5))
    covered = sum(lo <= 0.3 <= hi for lo, hi in (S.t_interval(s).ci for s in samples))
    assert 0.93 <= covered / 1000 <= 0.97


def test_bootstrap_ci_seeded_and_contains_mean():
    values = np.array([0.1, 0.4, 0.35, 0.2, 0.5, 0.3])
    lo, hi = S.bootstrap_ci(values, seed=1)
    assert (lo, hi) == S.bootstrap_ci(values, seed=1)
    assert lo < values.mean() < hi
    # narrower than the t interval with so few values (the documented caveat)
    t_lo, t_hi = S.t_interval(values).ci
    assert hi - lo < t_hi - t_lo
    # a statistic without an axis argument still works
    med = S.bootstrap_ci(values, n_resamples=500, statistic=lambda v: float(np.median(v)))
    assert med[0] <= np.median(values) <= med[1]


def test_negative_transfer_gap_sign_convention():
    scratch = np.array([0.20, 0.22, 0.25, 0.21])
    worse = S.negative_transfer_gap(scratch + 0.05, scratch)  # transfer has more error
    assert worse.mean == pytest.approx(0.05) and worse.ci[0] > 0  # NTG > 0: negative transfer
    better = S.negative_transfer_gap(scratch - np.array([0.1, 0.12, 0.09, 0.11]), scratch)
    assert better.mean < 0 and better.ci[1] < 0
    assert better.differences == pytest.approx(tuple(-np.array([0.1, 0.12, 0.09, 0.11])))


def test_steps_to_reach():
    steps = [0, 50, 100, 150]
    acc = [0.2, 0.6, 0.9, 0.95]
    assert S.steps_to_reach(steps, acc, 0.6) == 50  # reaching exactly counts
    assert S.steps_to_reach(steps, acc, 0.1) == 0
    assert S.steps_to_reach(steps, acc, 0.99) is None
    assert S.steps_to_reach(steps, acc, 0.99, never=math.inf) == math.inf
    assert S.steps_to_reach(steps, [0.2, float("nan"), 0.7, 0.1], 0.5) == 100
    assert S.steps_to_reach(steps, [2.0, 1.0, 0.4, 0.3], 0.5, higher_is_better=False) == 100
    assert S.steps_to_reach([], [], 0.5) is None
    assert S.steps_to_reach([0, 10, 20], [0.9, 0.1, 0.95], 0.5) == 0  # first, not sustained
    with pytest.raises(ValueError):
        S.steps_to_reach([0, 1], [0.5], 0.5)
    with pytest.raises(ValueError):
        S.steps_to_reach([10, 0], [0.5, 0.6], 0.5)


def test_claim_to_dict_is_json_ready():
    diff = S.paired_difference(np.array([0.9, 0.8, 0.85]), np.array([0.7, 0.61, 0.64]))
    claim = S.Claim.from_difference("lpft_beats_scratch_n10", "LP-FT beats scratch at N=10",
                                    diff, passed=diff.ci[0] > 0)
    d = claim.to_dict()
    assert d == json.loads(json.dumps(d))
    assert d["n_seeds"] == 3 and d["passed"] is True
    assert d["ci95"] == pytest.approx(list(diff.ci))
    bare = S.Claim("x", "no numbers", passed=np.bool_(False)).to_dict()
    assert bare == {"id": "x", "statement": "no numbers", "passed": False, "estimate": None,
                    "ci95": None, "n_seeds": None}
    with pytest.raises(ValueError):
        S.Claim.from_difference("y", "wrong level", S.paired_difference([1, 2], [0, 0], 0.9),
                                passed=True)
