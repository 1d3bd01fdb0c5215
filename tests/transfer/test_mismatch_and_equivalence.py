"""Known-answer tests: TOST equivalence, Spearman's ρ, the relative update ‖Δθ‖/‖θ₀‖, and
the useful/destructive decomposition of the mismatch E adding up to the measured change."""

import math

import numpy as np
import pytest

from minitl import nn
from minitl.transfer import representation_mismatch
from minitl.transfer.mismatch import mismatch_decomposition, mismatch_gradient, relative_update
from minitl.transfer.stats import spearman, t_interval, tost

# ----------------------------------------------------------------------------- TOST


def test_tost_matches_the_90_percent_interval_rule():
    d = np.array([0.5, -0.3, 0.2, 0.1, -0.4, 0.3, 0.0, -0.1, 0.2, -0.2])
    mean, sd, n = d.mean(), d.std(ddof=1), d.size
    half = 1.833 * sd / math.sqrt(n)          # t(0.95, 9) from the table
    r = tost(d, delta=0.5)
    assert r.ci90[0] == pytest.approx(mean - half, abs=1e-3)
    assert r.ci90[1] == pytest.approx(mean + half, abs=1e-3)
    assert r.equivalent and r.not_above       # interval inside ±0.5
    narrow = tost(d, delta=0.1)
    assert not narrow.equivalent               # the interval pokes out of ±0.1
    # equivalent <=> the 90% interval lies inside (−δ, δ), for many margins
    for delta in np.linspace(0.02, 1.0, 50):
        r = tost(d, delta)
        assert r.equivalent == (r.ci90[0] > -delta and r.ci90[1] < delta)


def test_tost_p_values_known():
    # mean 1, sd 1, n = 4: se = 0.5; δ = 2 -> t_upper = (1 − 2)/0.5 = −2, P(T3 <= −2) = 0.0697
    d = np.array([1 - math.sqrt(1.5), 1, 1, 1 + math.sqrt(1.5)])  # sd exactly 1
    assert d.std(ddof=1) == pytest.approx(1.0)
    r = tost(d, delta=2.0)
    assert r.p_upper == pytest.approx(0.06966, abs=2e-4)
    # t_lower = (1 + 2)/0.5 = 6, P(T3 >= 6) = 0.004636
    assert r.p_lower == pytest.approx(0.004636, abs=2e-5)
    assert not r.equivalent and not r.not_above


def test_tost_not_above_allows_worse():
    worse = np.array([-5.0, -6.0, -4.0, -5.5, -4.5])
    r = tost(worse, delta=1.0)
    assert r.not_above and not r.equivalent
    with pytest.raises(ValueError):
        tost(worse, delta=0.0)


def test_tost_single_value_shows_nothing():
    r = tost([0.0], delta=1.0)
    assert not r.equivalent and not r.not_above


# ----------------------------------------------------------------------------- Spearman


def test_spearman_known_values():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # monotone but non-linear: still 1
    assert spearman([1, 2, 3, 4, 5], [1, 8, 27, 64, 125]) == pytest.approx(1.0)
    # textbook: ranks (1,2,3,4,5) vs (2,1,4,3,5): 1 − 6·Σd²/(n(n²−1)) = 1 − 6·4/120 = 0.8
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    # ties get average ranks: x ranks (1, 2.5, 2.5, 4)
    x, y = [1, 2, 2, 3], [1, 2, 3, 4]
    rx = np.array([1, 2.5, 2.5, 4]) - 2.5
    ry = np.array([1, 2, 3, 4]) - 2.5
    expected = (rx @ ry) / math.sqrt((rx @ rx) * (ry @ ry))
    assert spearman(x, y) == pytest.approx(expected)
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0
    with pytest.raises(ValueError):
        spearman([1], [2])


def test_rank_correlation_ci_over_seeds_is_a_t_interval():
    rhos = [spearman([1, 2, 3], p) for p in ([1, 2, 3], [1, 3, 2], [2, 1, 3], [1, 2, 3])]
    ti = t_interval(rhos)
    assert ti.mean == pytest.approx(np.mean([1.0, 0.5, 0.5, 1.0]))
    assert ti.ci[0] < ti.mean < ti.ci[1]


# ----------------------------------------------------------------------------- Δθ per group


def test_relative_update_known_answer():
    theta0 = {"body.0.weight": np.array([[3.0, 0.0], [0.0, 4.0]]),   # norm 5
              "body.0.bias": np.zeros(2),
              "head.weight": np.array([[1.0, 0.0]]), "head.bias": np.array([0.0])}
    theta1 = {"body.0.weight": np.array([[3.0, 0.5], [0.0, 4.0]]),
              "body.0.bias": np.array([0.0, 0.0]),
              "head.weight": np.array([[2.0, 0.0]]), "head.bias": np.array([0.0])}
    r = relative_update(theta0, theta1)
    assert r["body"] == pytest.approx(0.5 / 5.0)
    assert r["head"] == pytest.approx(1.0)
    per_layer = relative_update(theta0, theta1, group_of=lambda n: n.rsplit(".", 1)[0])
    assert per_layer["body.0"] == pytest.approx(0.1)
    assert relative_update(theta0, theta0) == {"body": 0.0, "head": 0.0}
    with pytest.raises(KeyError):
        relative_update(theta0, {"body.0.weight": theta1["body.0.weight"]})


# ----------------------------------------------------------------------------- E and its parts


def _blobs(seed, n=120, dim=6, classes=3):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    centres = rng.normal(0, 2.0, (classes, dim))
    return (centres[y] + rng.normal(0, 1.0, (n, dim))).astype(np.float64), y


def test_mismatch_gradient_value_and_finite_differences():
    x, y = _blobs(0)
    e, g = mismatch_gradient(x, y)
    assert e == pytest.approx(representation_mismatch(x, y), abs=1e-12)
    rng = np.random.default_rng(1)
    for _ in range(5):
        i, j = rng.integers(x.shape[0]), rng.integers(x.shape[1])
        h = 1e-6
        xp, xm = x.copy(), x.copy()
        xp[i, j] += h
        xm[i, j] -= h
        numeric = (representation_mismatch(xp, y) - representation_mismatch(xm, y)) / (2 * h)
        assert g[i, j] == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def _body(seed):
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(6, 8, rng=rng), nn.Tanh(), nn.Linear(8, 5, rng=rng))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mismatch_decomposition_adds_up_exactly(seed):
    x, y = _blobs(seed)
    x = x.astype(np.float32)
    body = _body(seed)
    before = {n: p.data.copy() for n, p in body.named_parameters()}
    rng = np.random.default_rng(seed + 10)
    after = {n: v + rng.normal(0, 0.3, v.shape).astype(v.dtype) for n, v in before.items()}
    parts = mismatch_decomposition(body, x, y, before, after)
    # the identity E_{t+1} = E_t − useful + destructive, to round-off
    assert parts["E_after"] == pytest.approx(parts["E_before"] - parts["useful"]
                                             + parts["destructive"], abs=1e-12)
    assert parts["delta"] == pytest.approx(parts["E_after"] - parts["E_before"], abs=1e-12)
    # both endpoints are the measured E of the two weight sets
    body2 = _body(seed)
    for n, p in body2.named_parameters():
        p.data[...] = after[n]
    from minitl.transfer.loop import extract_features
    assert parts["E_after"] == pytest.approx(
        representation_mismatch(extract_features(body2, x), y), abs=1e-6)
    # the body is left at `after`
    for n, p in body.named_parameters():
        np.testing.assert_array_equal(p.data, after[n])


def test_mismatch_decomposition_gradient_step_is_useful():
    """A small step along −∇E lowers E, and all of the change is 'useful'."""
    x, y = _blobs(3)
    x = x.astype(np.float32)
    body = _body(3)
    before = {n: p.data.astype(np.float64) for n, p in body.named_parameters()}
    # the gradient, from a decomposition with a zero update
    zero = mismatch_decomposition(body, x, y, before, before)
    assert zero["delta"] == 0.0 and zero["useful"] == 0.0 and zero["destructive"] == 0.0
    from minitl.transfer.mismatch import _body_mismatch, _load
    _load(body, before)
    _, grads = _body_mismatch(body, x, y, with_grad=True)
    step = {n: before[n] - 0.05 * grads[n] for n in before}
    parts = mismatch_decomposition(body, x, y, before, step)
    assert parts["delta"] < 0
    assert parts["useful"] > 0
    assert parts["parallel_share"] == pytest.approx(1.0, abs=1e-9)
    assert abs(parts["destructive"]) < 1e-6 * abs(parts["useful"]) + 1e-7
    assert parts["first_order"] < 0
