"""Tests for minitl.transfer.metrics: CKA, label alignment, LogME, H-score, LEEP, ridge probe."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minitl import backend
from minitl.transfer import metrics as M


def blobs(seed, n=300, dim=8, classes=3, spread=2.0):
    """Label-informative features (one Gaussian blob per class) and pure-noise features."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    centres = rng.standard_normal((classes, dim)) * spread
    informative = centres[y] + rng.standard_normal((n, dim))
    noise = rng.standard_normal((n, dim))
    return informative, noise, y


def random_orthogonal(rng, p):
    q, r = np.linalg.qr(rng.standard_normal((p, p)))
    return q * np.sign(np.diag(r))


# ---------------------------------------------------------------------------
# linear CKA
# ---------------------------------------------------------------------------


def test_cka_identical_is_one():
    X = np.random.default_rng(0).standard_normal((50, 7))
    assert M.linear_cka(X, X) == pytest.approx(1.0, abs=1e-12)


def test_cka_invariant_to_orthogonal_transform_and_isotropic_scaling():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 6))
    Y = X @ rng.standard_normal((6, 4)) + 0.5 * rng.standard_normal((80, 4))
    base = M.linear_cka(X, Y)
    Q = random_orthogonal(rng, 6)
    assert M.linear_cka(X @ Q, Y) == pytest.approx(base, abs=1e-12)
    assert M.linear_cka(3.7 * X, 0.01 * Y) == pytest.approx(base, abs=1e-12)
    assert M.linear_cka(X @ Q * 1e3, Y) == pytest.approx(base, abs=1e-12)
    # a rotated, rescaled copy is "the same representation"
    assert M.linear_cka(X, 5.0 * X @ Q) == pytest.approx(1.0, abs=1e-12)


def test_cka_independent_features_near_zero():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((2000, 5))
    Y = rng.standard_normal((2000, 5))
    assert M.linear_cka(X, Y) < 0.05


def test_cka_symmetric():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 3))
    Y = np.tanh(X @ rng.standard_normal((3, 9)))
    assert M.linear_cka(X, Y) == pytest.approx(M.linear_cka(Y, X), abs=1e-14)


@pytest.mark.parametrize("shape", [(30, 4, 6), (10, 50, 40), (200, 3, 1), (5, 100, 2)])
def test_cka_gram_and_feature_forms_agree(shape):
    n, p, q = shape
    rng = np.random.default_rng(n + p + q)
    X = rng.standard_normal((n, p)) + 3.0
    Y = X[:, :1] @ rng.standard_normal((1, q)) + rng.standard_normal((n, q))
    gram = M.linear_cka(X, Y, method="gram")
    feature = M.linear_cka(X, Y, method="feature")
    assert gram == pytest.approx(feature, abs=1e-12)
    assert M.linear_cka(X, Y) == pytest.approx(feature, abs=1e-12)


@given(
    st.integers(2, 40).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float64, st.tuples(st.just(n), st.integers(1, 12)),
                       elements=st.floats(-100, 100, allow_subnormal=False)),
            hnp.arrays(np.float64, st.tuples(st.just(n), st.integers(1, 12)),
                       elements=st.floats(-100, 100, allow_subnormal=False)),
        )
    )
)
def test_cka_in_unit_interval_for_any_shape(pair):
    X, Y = pair
    value = M.linear_cka(X, Y)
    assert not math.isnan(value)
    assert 0.0 <= value <= 1.0


@given(st.integers(0, 2**32 - 1), st.integers(2, 30), st.integers(1, 40), st.integers(1, 40))
def test_cka_forms_agree_on_drawn_shapes(seed, n, p, q):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = rng.standard_normal((n, q))
    assert M.linear_cka(X, Y, "gram") == pytest.approx(M.linear_cka(X, Y, "feature"), abs=1e-10)


def test_cka_constant_features_give_zero():
    rng = np.random.default_rng(4)
    Y = rng.standard_normal((20, 3))
    assert M.linear_cka(np.full((20, 5), 0.1), Y) == 0.0
    assert M.linear_cka(Y, np.zeros((20, 2))) == 0.0
    assert M.linear_cka(np.ones((20, 1)), np.ones((20, 1))) == 0.0
    assert M.linear_cka(Y[:1], Y[:1]) == 0.0  # one example: nothing to compare


def test_cka_rejects_mismatched_rows():
    with pytest.raises(ValueError):
        M.linear_cka(np.ones((5, 2)), np.ones((6, 2)))


def test_metrics_accept_device_arrays(device):
    informative, _, y = blobs(0, n=60)
    X = backend.to_device(informative, device)
    labels = backend.to_device(y, device)
    assert M.linear_cka(X, X) == pytest.approx(1.0)
    assert M.logme(X, labels) == pytest.approx(M.logme(informative, y))
    assert M.label_cka(X, labels) == pytest.approx(M.label_cka(informative, y))


# ---------------------------------------------------------------------------
# label CKA / representation mismatch
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_label_cka_prefers_informative_features(seed):
    informative, noise, y = blobs(seed)
    good = M.label_cka(informative, y)
    bad = M.label_cka(noise, y)
    assert good > bad + 0.3
    assert M.representation_mismatch(informative, y) == pytest.approx(1.0 - good)


def test_label_cka_of_one_hot_itself_is_one_and_num_classes_checked():
    y = np.array([0, 1, 2, 1, 0, 2, 2])
    assert M.label_cka(np.eye(3)[y], y, num_classes=3) == pytest.approx(1.0)
    assert M.label_cka(np.eye(3)[y], y, num_classes=5) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        M.label_cka(np.eye(3)[y], y, num_classes=2)
    assert M.label_cka(np.eye(3)[y], np.zeros(7, dtype=int)) == 0.0  # one class: constant target


# ---------------------------------------------------------------------------
# LogME
# ---------------------------------------------------------------------------


def direct_evidence(F, y, alpha, beta):
    """The LogME evidence by its definition: D×D solve and log-determinant, no SVD."""
    n, D = F.shape
    A = alpha * np.eye(D) + beta * F.T @ F
    m = beta * np.linalg.solve(A, F.T @ y)
    sign, logdet = np.linalg.slogdet(A)
    assert sign > 0
    return (n / 2 * np.log(beta) + D / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi)
            - beta / 2 * np.sum((F @ m - y) ** 2) - alpha / 2 * m @ m - 0.5 * logdet)


def test_logme_matches_direct_evidence_at_its_fixed_point():
    informative, _, y = blobs(5, n=40, dim=5)
    n, D = informative.shape
    score, details = M.logme(informative, y, return_details=True)
    eig = np.linalg.eigvalsh(informative.T @ informative)
    per_class = []
    for c, alpha, beta in zip(details["classes"], details["alpha"], details["beta"]):
        target = (y == c).astype(float)
        evidence = direct_evidence(informative, target, alpha, beta)
        per_class.append(evidence / n)
        # (α, β) is MacKay's fixed point: recomputing the updates directly changes nothing
        A = alpha * np.eye(D) + beta * informative.T @ informative
        m = beta * np.linalg.solve(A, informative.T @ target)
        gamma = np.sum(beta * eig / (alpha + beta * eig))
        assert gamma / (m @ m) == pytest.approx(alpha, rel=1e-4)
        residual = np.sum((informative @ m - target) ** 2)
        assert (n - gamma) / residual == pytest.approx(beta, rel=1e-4)
        # and a maximum of the evidence: nudging α or β only lowers it
        for da, db in [(1.2, 1), (0.8, 1), (1, 1.2), (1, 0.8)]:
            assert direct_evidence(informative, target, alpha * da, beta * db) < evidence
    np.testing.assert_allclose(details["evidence"], per_class, rtol=1e-10, atol=1e-12)
    assert score == pytest.approx(np.mean(per_class), rel=1e-10)


@pytest.mark.parametrize("seed", range(4))
def test_logme_and_h_score_rank_informative_above_random(seed):
    informative, noise, y = blobs(seed, n=200, dim=6, spread=1.0)
    assert M.logme(informative, y) > M.logme(noise, y)
    assert M.h_score(informative, y) > M.h_score(noise, y)


def test_logme_finite_when_features_outnumber_examples():
    rng = np.random.default_rng(6)
    F = rng.standard_normal((10, 30))
    y = rng.integers(0, 2, 10)
    assert np.isfinite(M.logme(F, y))


def test_logme_useless_features_reach_the_noise_only_limit():
    # features that carry nothing: α → ∞ and the evidence is that of y ~ N(0, β⁻¹I) with
    # β = n/‖y‖², i.e. per example ½·log(n/‖y‖²) − ½·log 2π − ½
    y = np.array([0, 1, 1, 0, 1, 1, 1, 0])
    score, details = M.logme(np.zeros((8, 3)), y, return_details=True)
    assert np.all(np.isinf(details["alpha"]))
    counts = np.bincount(y)
    expected = 0.5 * np.log(8 / counts) - 0.5 * np.log(2 * np.pi) - 0.5
    np.testing.assert_allclose(details["evidence"], expected, rtol=1e-12)
    assert score == pytest.approx(expected.mean())


# ---------------------------------------------------------------------------
# H-score
# ---------------------------------------------------------------------------


def test_h_score_range_and_invariance_to_invertible_maps():
    informative, _, y = blobs(7, n=400, dim=5, classes=4)
    h = M.h_score(informative, y)
    assert 0.0 < h < 3.0  # at most C - 1 = 3
    rng = np.random.default_rng(7)
    A = rng.standard_normal((5, 5)) + 3 * np.eye(5)
    assert M.h_score(informative @ A, y) == pytest.approx(h, rel=1e-8)
    # a badly scaled feature is no problem: H sees through invertible maps
    scaled = informative * np.array([1e-6, 1.0, 1e4, 1.0, 1.0])
    assert M.h_score(scaled, y) == pytest.approx(h, rel=1e-8)
    # redundant and constant features add nothing (pseudo-inverse)
    padded = np.hstack([informative, informative[:, :2] * 2.0, np.ones((400, 1))])
    assert M.h_score(padded, y) == pytest.approx(h, rel=1e-6)


def test_h_score_perfect_clusters_reach_c_minus_one():
    y = np.repeat(np.arange(3), 10)
    F = np.eye(3)[y] @ np.random.default_rng(8).standard_normal((3, 4))
    assert M.h_score(F, y) == pytest.approx(2.0, rel=1e-8)


# ---------------------------------------------------------------------------
# LEEP
# ---------------------------------------------------------------------------


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", range(3))
def test_leep_prefers_informative_source_predictions(seed):
    rng = np.random.default_rng(seed)
    n, source_classes = 300, 6
    y = rng.integers(0, 3, n)
    # source classes 2c and 2c+1 both mean target class c
    z_true = 2 * y + rng.integers(0, 2, n)
    informative = softmax(3.0 * np.eye(source_classes)[z_true] + rng.standard_normal((n, 6)))
    random = softmax(rng.standard_normal((n, source_classes)))
    uniform = np.full((n, source_classes), 1.0 / source_classes)
    good, rand_score, flat = M.leep(informative, y), M.leep(random, y), M.leep(uniform, y)
    assert good > rand_score
    assert good > flat
    freq = np.bincount(y) / n
    assert flat == pytest.approx(np.sum(freq * np.log(freq)))  # minus the label entropy
    assert good <= 0.0


def test_leep_rejects_logits():
    with pytest.raises(ValueError):
        M.leep(np.array([[2.0, -1.0], [0.5, 0.1]]), [0, 1])


# ---------------------------------------------------------------------------
# ridge probe
# ---------------------------------------------------------------------------


def test_ridge_probe_matches_independent_closed_form():
    rng = np.random.default_rng(9)
    n, D, C, l2 = 60, 4, 3, 0.5
    Xtr = rng.standard_normal((n, D)) * np.array([1.0, 10.0, 0.1, 3.0]) + 2.0
    ytr = rng.integers(0, C, n)
    Xte = rng.standard_normal((25, D)) * np.array([1.0, 10.0, 0.1, 3.0]) + 2.0
    yte = rng.integers(0, C, 25)
    acc, W = M.ridge_probe(Xtr, ytr, Xte, yte, l2=l2, return_weights=True)
    # ridge as least squares on an augmented system: extra rows √λ·[I 0] penalise the
    # feature weights but not the bias
    mean, std = Xtr.mean(axis=0), Xtr.std(axis=0)
    Ztr = np.hstack([(Xtr - mean) / std, np.ones((n, 1))])
    penalty = np.hstack([np.sqrt(l2) * np.eye(D), np.zeros((D, 1))])
    targets = np.eye(C)[ytr]
    expected = np.linalg.lstsq(np.vstack([Ztr, penalty]),
                               np.vstack([targets, np.zeros((D, C))]), rcond=None)[0]
    np.testing.assert_allclose(W, expected, rtol=1e-9, atol=1e-12)
    Zte = np.hstack([(Xte - mean) / std, np.ones((25, 1))])
    assert acc == pytest.approx(np.mean(np.argmax(Zte @ expected, axis=1) == yte))


def test_ridge_probe_separable_data_and_constant_feature():
    rng = np.random.default_rng(10)
    y = rng.integers(0, 2, 200)
    X = np.column_stack([(2 * y - 1) * 1e-3 + 1e-4 * rng.standard_normal(200),
                         rng.standard_normal(200), np.full(200, 7.0)])
    acc = M.ridge_probe(X[:150], y[:150], X[150:], y[150:])
    assert acc == 1.0


def test_transferability_scores_keys_and_seeded_split():
    informative, _, y = blobs(11, n=120, dim=5)
    a = M.transferability_scores(informative, y, seed=3)
    b = M.transferability_scores(informative, y, seed=3)
    assert a == b
    assert set(a) == {"logme", "h_score", "label_cka", "probe_accuracy"}
    assert a["probe_accuracy"] > 0.8
    probs = softmax(np.random.default_rng(0).standard_normal((120, 4)))
    assert "leep" in M.transferability_scores(informative, y, source_probs=probs)
