"""Measuring representations: how well do features g(x) suit a (new) task?

Transfer learning reuses a body g(x) and adapts a head h(z). Before (or instead of)
fine-tuning, we want numbers that say how good the frozen features z = g(x) already are
for the target labels, and how much a representation moved during fine-tuning. This
module collects the standard measurements, written as plain functions of arrays:

=========================  ================================================================
``linear_cka``             similarity of two feature sets for the same inputs (0 … 1)
``label_cka``              alignment of features with the one-hot labels (0 … 1)
``representation_mismatch``  E = 1 − label_cka: how misaligned features are with a task
``logme``                  Bayesian evidence that a linear model on the features explains
                           the labels (higher is better; compare equal dimensions only)
``h_score``                how much of the feature variance lies between classes
``leep``                   how well the *source head's* predictions map onto target labels
``ridge_probe``            accuracy of a converged (closed-form) linear probe
``transferability_scores`` all of the above on one feature set, as a dict
=========================  ================================================================

Every function accepts NumPy arrays, CuPy arrays or minitl Tensors. Inputs are copied to
the host and computed in float64: these are cheap, once-per-evaluation measurements, and
double precision keeps the linear algebra (SVDs, covariance inverses) trustworthy.
Features with more than two dimensions (say ``N×C×H×W`` activations) are flattened to
``N×(C·H·W)``. Labels are any 1-D array of class identifiers (ints, or anything
``np.unique`` can sort).
"""

from __future__ import annotations

import math

import numpy as np

from minitl import backend

__all__ = [
    "h_score",
    "label_cka",
    "leep",
    "linear_cka",
    "logme",
    "representation_mismatch",
    "ridge_probe",
    "transferability_scores",
]

_LOG_2PI = math.log(2.0 * math.pi)


# ---------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------


def _host(array) -> np.ndarray:
    """A host NumPy array from a NumPy/CuPy array or a minitl Tensor (its ``.data``)."""
    data = getattr(array, "data", array)
    if not (isinstance(data, np.ndarray) or backend.is_cupy_array(data)):
        data = array  # a plain list, or an object whose .data is not an array
    return backend.to_numpy(data)


def _features(x, name: str = "features") -> np.ndarray:
    """``x`` as a finite float64 matrix with one row per example."""
    a = np.asarray(_host(x), dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    elif a.ndim > 2:
        a = a.reshape(a.shape[0], -1)
    elif a.ndim == 0:
        raise ValueError(f"{name} must have one row per example, got a scalar")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contain NaN or infinite values")
    return a


def _labels(y, n: int, name: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """(classes, codes): the sorted distinct labels and each example's index into them."""
    a = np.asarray(_host(y))
    if a.ndim == 2 and a.shape[1] == 1:  # a column of labels
        a = a[:, 0]
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{name} must be a 1-D array of {n} class labels, got shape {a.shape}")
    classes, codes = np.unique(a, return_inverse=True)
    return classes, codes.reshape(-1)


def _one_hot(codes: np.ndarray, num_classes: int) -> np.ndarray:
    out = np.zeros((codes.shape[0], num_classes))
    out[np.arange(codes.shape[0]), codes] = 1.0
    return out


def _check_rows(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{what}: {a.shape[0]} rows vs {b.shape[0]} rows; "
                         "both must describe the same examples in the same order")


# ---------------------------------------------------------------------------
# CKA
# ---------------------------------------------------------------------------

# Centred features whose size is below this fraction of the raw features' size are
# treated as constant: what is left is floating-point round-off from subtracting the mean.
_CONSTANT_RTOL = 1e-12


def _centre_and_normalise(a: np.ndarray) -> np.ndarray | None:
    """Subtract column means, scale to unit Frobenius norm; None if (numerically) constant."""
    scale = np.linalg.norm(a)
    centred = a - a.mean(axis=0, keepdims=True)
    size = np.linalg.norm(centred)
    if a.shape[0] < 2 or a.shape[1] == 0 or size == 0.0 or size <= _CONSTANT_RTOL * scale:
        return None
    return centred / size


def linear_cka(X, Y, method: str = "auto") -> float:
    """Linear centred kernel alignment (CKA) between two representations of the same inputs.

    **What it measures.** Row i of ``X`` (n×p) and row i of ``Y`` (n×q) describe the same
    example i, for instance a layer's activations before and after fine-tuning, or two
    layers of two networks. CKA asks whether the two sets of features arrange the n
    examples the same way, whatever the basis and scale each uses. With columns centred,

        CKA(X, Y) = ‖YᵀX‖²_F / (‖XᵀX‖_F · ‖YᵀY‖_F)

    It is 1 when Y is X up to a rotation/reflection and an overall scale, near 0 for
    unrelated features, and always in [0, 1] (Cauchy–Schwarz). It is invariant to
    orthogonal transforms Q (CKA(XQ, Y) = CKA(X, Y)) and to isotropic scaling, but *not* to
    arbitrary invertible linear maps. That is deliberate: a measure blind to every
    invertible map (like CCA) calls any two representations at least n wide identical,
    and it ignores that gradient descent does care about scale and conditioning.

    **Two formulas, one number.** With K = XXᵀ and L = YYᵀ (the n×n Gram matrices of the
    centred features) ‖YᵀX‖²_F = ⟨K, L⟩_F, ‖XᵀX‖_F = ‖K‖_F and ‖YᵀY‖_F = ‖L‖_F. The feature
    form costs about n(p² + q² + pq) operations, the Gram form about n²(p + q);
    ``method="auto"`` picks the cheaper (the Gram form wins when n is small compared with
    the width), ``"feature"`` or ``"gram"`` force one.

    **Degenerate input.** If either feature set is constant across examples (nothing left
    after centring, including n < 2 and zero columns), the ratio is 0/0. We return 0.0:
    a constant representation shares no structure with anything.

    **When to trust it.** CKA of wide features on few examples is biased upward (two random
    n×p matrices with p ≫ n look similar); compare values computed with the same n and
    similar widths, and prefer n well above the width.

    Kornblith, Norouzi, Lee & Hinton, "Similarity of Neural Network Representations
    Revisited", ICML 2019.
    """
    X = _features(X, "X")
    Y = _features(Y, "Y")
    _check_rows(X, Y, "linear_cka")
    if method not in ("auto", "feature", "gram"):
        raise ValueError(f"method must be 'auto', 'feature' or 'gram', got {method!r}")
    Xc = _centre_and_normalise(X)
    Yc = _centre_and_normalise(Y)
    if Xc is None or Yc is None:
        return 0.0
    n, p = Xc.shape
    q = Yc.shape[1]
    if method == "auto":
        method = "gram" if n * (p + q) < p * p + q * q + p * q else "feature"
    if method == "gram":
        K = Xc @ Xc.T
        L = Yc @ Yc.T
        cross = float(np.sum(K * L))
        denom = float(np.linalg.norm(K) * np.linalg.norm(L))
    else:
        cross = float(np.linalg.norm(Yc.T @ Xc) ** 2)
        denom = float(np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc))
    if denom == 0.0:
        return 0.0
    return float(min(max(cross / denom, 0.0), 1.0))


def label_cka(features, labels, num_classes: int | None = None) -> float:
    """Linear CKA between features and the one-hot label matrix (kernel–target alignment).

    **What it measures.** Build Y (n×C) with Y[i, c] = 1 when example i has class c. Then
    ``linear_cka(features, Y)`` is the centred alignment between the feature kernel
    K = FFᵀ and the ideal "same class?" kernel YYᵀ. High values mean examples of the same
    class already sit together in feature space, along directions that carry most of
    the feature variance; a head has little left to do.

    ``num_classes`` only validates the labels (0 ≤ label < num_classes): classes absent
    from the sample give all-zero columns that vanish after centring, so they don't change
    the value. With a single class present the target is constant and the result is 0.0.

    **When to trust it.** It rewards features whose *dominant* directions are
    class-related; features that separate the classes along a low-variance direction (a
    linear probe would find it) still score low. Use it to compare representations and to
    track a representation during training, next to a probe, not instead of one.

    Cortes, Mohri & Rostamizadeh, "Algorithms for Learning Kernels Based on Centered
    Alignment", JMLR 2012 (centred alignment); Kornblith et al., ICML 2019 (linear CKA).
    """
    F = _features(features)
    classes, codes = _labels(labels, F.shape[0])
    if num_classes is not None and classes.size:
        valid = np.issubdtype(classes.dtype, np.number) and bool(
            np.all(classes == np.round(classes)) and classes[0] >= 0
            and classes[-1] < num_classes
        )
        if not valid:
            raise ValueError(f"with num_classes={num_classes} the labels must be integers in "
                             f"[0, {num_classes}), got values from {classes[0]!r} "
                             f"to {classes[-1]!r}")
    return linear_cka(F, _one_hot(codes, classes.size))


def representation_mismatch(features, labels, num_classes: int | None = None) -> float:
    """Representation mismatch E = 1 − label_cka(features, labels), in [0, 1].

    The notes (section 8) track E during transfer: small E₀ for a related source task,
    large for an unrelated one; stable fine-tuning drives E down, destructive updates push
    it up. Measure it on held-out target examples with the body's output features.
    See :func:`label_cka` for what the number rewards and misses.
    """
    return 1.0 - label_cka(features, labels, num_classes)


# ---------------------------------------------------------------------------
# LogME
# ---------------------------------------------------------------------------


# α and β are kept in [1/_LOGME_CAP, _LOGME_CAP]. The fixed point can run off to infinity:
# α → ∞ when the features explain nothing about y (the best model is "w = 0"), β → ∞ when
# they fit y exactly (n ≤ D). The evidence tends to a finite limit in the first case, and
# the cap keeps the number finite in the second.
_LOGME_CAP = 1e100
# Once α/β exceeds this multiple of the largest σᵢ², the features no longer move the
# evidence (by less than 1e-12 per direction): the fixed point is α = ∞.
_LOGME_IGNORED = 1e12


def _logme_terms(sigma2, z2, outside, alpha, beta):
    """(γ, mᵀm, ‖Fm − y‖², α·mᵀm, log|A| − D·log α) in the SVD's coordinates.

    Everything is written with r = α/β and fᵢ = σᵢ²/(r + σᵢ²) ∈ [0, 1] (the share of
    direction i the data pins down), which stays finite when α or β is huge:
    m = V·diag(σᵢzᵢ/(r + σᵢ²)), Fm − y has components −zᵢ(1 − fᵢ) inside F's column space
    plus the part of y outside it, and A = αI + βFᵀF has eigenvalues α(1 + σᵢ²/r) and α.
    """
    r = alpha / beta
    f = sigma2 / (r + sigma2)
    gamma = float(np.sum(f))                            # effective number of parameters
    m_sq = float(np.sum(f * z2 / (r + sigma2)))         # mᵀm
    residual = outside + float(np.sum(z2 * (1.0 - f) ** 2))  # ‖Fm − y‖²
    alpha_m_sq = beta * float(np.sum(z2 * f * (1.0 - f)))  # α·mᵀm
    log_det_rel = float(np.sum(np.log1p(sigma2 / r)))   # log|A| − D·log α
    return gamma, m_sq, residual, alpha_m_sq, log_det_rel


def _logme_one_target(sigma2, z, y_sq, n, tol, max_iter):
    """Fixed-point LogME for one target column.

    sigma2: squared singular values of F (length min(n, D)); z = Uᵀy; y_sq = ‖y‖².
    Returns (log evidence, alpha, beta, iterations).
    """
    tiny = np.finfo(np.float64).tiny
    z2 = z * z
    outside = max(y_sq - float(np.sum(z2)), 0.0)  # part of y outside F's column space
    sigma2_max = float(sigma2.max(initial=0.0))
    alpha, beta = 1.0, 1.0
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        gamma, m_sq, residual, _, _ = _logme_terms(sigma2, z2, outside, alpha, beta)
        new_alpha = min(max(gamma / max(m_sq, tiny), 1 / _LOGME_CAP), _LOGME_CAP)
        new_beta = min(max((n - gamma) / max(residual, tiny), 1 / _LOGME_CAP), _LOGME_CAP)
        done = abs(new_alpha - alpha) <= tol * alpha and abs(new_beta - beta) <= tol * beta
        alpha, beta = new_alpha, new_beta
        if alpha > _LOGME_IGNORED * beta * sigma2_max:
            # The prior has switched the features off (every fᵢ < 1e-12) and α keeps
            # growing, often by only a few per cent a step: jump to the limit α = ∞, where
            # the model is y ~ N(0, β⁻¹I) and β's update is closed-form.
            alpha, beta = math.inf, min(max(n / max(y_sq, tiny), 1 / _LOGME_CAP), _LOGME_CAP)
            break
        if done:
            break
    _, _, residual, alpha_m_sq, log_det_rel = _logme_terms(sigma2, z2, outside, alpha, beta)
    # n/2·log β + D/2·log α − n/2·log 2π − β/2·‖Fm − y‖² − α/2·mᵀm − ½·log|A|, with the
    # D/2·log α folded into log|A| (the D − k directions F never excites cancel exactly)
    evidence = (
        0.5 * n * math.log(beta)
        - 0.5 * n * _LOG_2PI
        - 0.5 * beta * residual
        - 0.5 * alpha_m_sq
        - 0.5 * log_det_rel
    )
    return evidence, alpha, beta, iterations


def logme(features, labels, tol: float = 1e-6, max_iter: int = 1000,
          return_details: bool = False):
    """LogME: the log marginal likelihood ("evidence") of the labels under a Bayesian
    linear model on the features, per example, averaged over classes. Higher is better.

    **The model.** For each class c take the target column y = [label_i == c] (n values
    in {0, 1}) and model it as y = Fw + noise with a Gaussian prior on the weights,
    w ~ N(0, α⁻¹I), and Gaussian noise of precision β. F is the n×D feature matrix (used
    as given: no centring, no bias column, as in the paper). Integrating w out gives the
    evidence, with A = αI + βFᵀF and m = βA⁻¹Fᵀy the posterior mean:

        L(α, β) = n/2·log β + D/2·log α − n/2·log 2π
                  − β/2·‖Fm − y‖² − α/2·mᵀm − ½·log|A|

    **Fitting α and β.** Setting the derivatives of L to zero gives MacKay's fixed point:
    γ = Σᵢ βσᵢ²/(α + βσᵢ²) (how many directions the data pin down), α ← γ/mᵀm,
    β ← (n − γ)/‖Fm − y‖², iterated from α = β = 1 until both change by less than ``tol``
    (relatively) or ``max_iter`` passes. One SVD F = UΣVᵀ, computed once and shared by all
    classes, turns every quantity into sums over the singular values σᵢ, so each
    iteration costs O(min(n, D)) instead of a D×D solve.

    **The score.** LogME = (1/C) Σ_c L_c(α_c, β_c) / n.

    **When to trust it.** It rewards features on which a linear model explains the labels
    well *without* needing large weights (the evidence penalises complexity), and needs
    no training or hyper-parameters. The value depends on the feature dimension D and on
    the scale and offset of the features (there is no bias term), so **compare only
    feature sets of equal dimension**, for example several pretrained bodies of the same
    width. It wants n comfortably larger than D; with n ≤ D a feature set can fit any
    labels and the fixed point can run off to infinity (α and β are capped at 1e100, so
    the score stays finite but means little). When the features carry no evidence about a
    class, the best α is +∞ (the prior switches the weights off); the iteration detects
    that and reports α = inf, with the evidence of the "y is noise" model y ~ N(0, β⁻¹I).

    Returns the score, or with ``return_details=True`` a ``(score, details)`` pair where
    ``details`` holds per-class arrays ``alpha``, ``beta``, ``evidence`` (L_c/n) and
    ``iterations``, plus ``classes``.

    You, Liu, Wang & Long, "LogME: Practical Assessment of Pre-trained Models for Transfer
    Learning", ICML 2021 (fixed point after MacKay, "Bayesian Interpolation", 1992).
    """
    F = _features(features)
    n, D = F.shape
    classes, codes = _labels(labels, n)
    if n == 0 or D == 0:
        raise ValueError("logme needs at least one example and one feature")
    Y = _one_hot(codes, classes.size)
    U, s, _ = np.linalg.svd(F, full_matrices=False)  # the one SVD, shared by all classes
    sigma2 = s * s
    Z = U.T @ Y  # each column: a class target in the SVD's coordinates
    y_sq = np.sum(Y * Y, axis=0)
    results = [
        _logme_one_target(sigma2, Z[:, c], float(y_sq[c]), n, tol, max_iter)
        for c in range(classes.size)
    ]
    evidence = np.array([r[0] for r in results]) / n
    score = float(np.mean(evidence))
    if not return_details:
        return score
    details = {
        "classes": classes,
        "evidence": evidence,
        "alpha": np.array([r[1] for r in results]),
        "beta": np.array([r[2] for r in results]),
        "iterations": np.array([r[3] for r in results]),
    }
    return score, details


# ---------------------------------------------------------------------------
# H-score
# ---------------------------------------------------------------------------


def h_score(features, labels, rtol: float = 1e-10) -> float:
    """H-score: the share of feature variance that lies between the classes.

    **Formula.** With cov(f) the D×D covariance of the features and E[f|y] the class mean
    of each example's class,

        H(f) = tr( cov(f)⁺ · cov(E[f|y]) )

    cov(E[f|y]) = Σ_y P(y)(μ_y − μ)(μ_y − μ)ᵀ is the between-class covariance, and cov(f)
    is within- plus between-class covariance, so H is a multi-class Fisher ratio: it lies
    in [0, min(C − 1, D)], 0 when class means coincide, and approaches C − 1 when every
    class collapses to a point. It is the quantity whose maximum gives the best
    (HGR-maximal-correlation) linear classifier on f, which is why it predicts transfer.
    Higher is better.

    **The pseudo-inverse.** cov(f) is often singular (D > n, redundant or dead units). We
    first divide each feature by its standard deviation (an invertible diagonal map, which
    leaves the exact H unchanged, since H is invariant to invertible linear maps of f),
    drop constant features, then invert the correlation matrix on its eigen-directions
    with eigenvalue above ``rtol`` × the largest, ignoring the rest (the Moore–Penrose
    pseudo-inverse with a relative cut-off).

    **When to trust it.** The sample covariance is noisy when D is not small compared
    with n, and small-eigenvalue directions then inflate H; compare feature sets of equal
    dimension on the same examples. (Ibrahim, Ponomareva & Mazumder, ICLR 2023 propose a
    shrinkage estimate of cov(f) for that regime.)

    Bao, Li, Huang, Zheng, Wang & Zhang, "An Information-Theoretic Approach to
    Transferability in Task Transfer Learning", ICIP 2019.
    """
    F = _features(features)
    n = F.shape[0]
    classes, codes = _labels(labels, n)
    if n < 2:
        return 0.0
    centred = F - F.mean(axis=0, keepdims=True)
    std = np.sqrt(np.mean(centred * centred, axis=0))
    keep = std > _CONSTANT_RTOL * np.abs(F).max(axis=0)  # drop constant features
    if not np.any(keep):
        return 0.0
    Z = centred[:, keep] / std[keep]
    cov_f = (Z.T @ Z) / n
    # replace each example by its class mean: E[f | y], then its covariance
    counts = np.bincount(codes, minlength=classes.size).astype(np.float64)
    sums = np.zeros((classes.size, Z.shape[1]))
    np.add.at(sums, codes, Z)
    means = sums / counts[:, None]
    cov_g = (means.T * counts) @ means / n
    eigvals, eigvecs = np.linalg.eigh(cov_f)
    cut = rtol * max(float(eigvals.max()), 0.0)
    inv = np.where(eigvals > cut, 1.0 / np.where(eigvals > cut, eigvals, 1.0), 0.0)
    cov_pinv = (eigvecs * inv) @ eigvecs.T
    return float(np.trace(cov_pinv @ cov_g))


# ---------------------------------------------------------------------------
# LEEP
# ---------------------------------------------------------------------------


def leep(source_probs, labels) -> float:
    """LEEP: how well the source model's own predictions, relabelled, predict the target.

    **Recipe.** Run the *source* model, head included, once over the n target examples to
    get θ(xᵢ), a probability vector over the Z source classes (softmax outputs, not
    logits). Then

    1. empirical joint of target label y and source "dummy label" z:
       P̂(y, z) = (1/n) Σ_{i: yᵢ = y} θ(xᵢ)_z
    2. conditional P̂(y | z) = P̂(y, z) / Σ_y' P̂(y', z)
    3. the "expected empirical predictor" pᵢ(y) = Σ_z P̂(y | z) θ(xᵢ)_z, and
       LEEP = (1/n) Σᵢ log pᵢ(yᵢ)

    It is the average log-likelihood of a classifier that only re-maps source classes to
    target classes. LEEP ≤ 0; higher is better. Uninformative source predictions give
    pᵢ(y) = P̂(y), so LEEP equals minus the entropy of the target label frequencies; that
    is its floor for the given labels.

    **When to trust it.** It measures the source *head* as well as the body, so it favours
    source tasks whose classes resemble the target's; a good body under an unrelated
    head can score low. Needs one forward pass and no training. Source classes that get
    no probability mass anywhere are ignored.

    Nguyen, Hassner, Seeger & Archambeau, "LEEP: A New Measure to Evaluate Transferability
    of Learned Representations", ICML 2020.
    """
    theta = _features(source_probs, "source_probs")
    n = theta.shape[0]
    classes, codes = _labels(labels, n)
    if n == 0:
        raise ValueError("leep needs at least one example")
    if np.any(theta < 0):
        raise ValueError("source_probs must be probabilities (softmax outputs), "
                         "found negative values: pass softmax(logits), not logits")
    row_sums = theta.sum(axis=1)
    if not np.allclose(row_sums, 1.0, rtol=0.0, atol=1e-3):
        raise ValueError("each row of source_probs must sum to 1 (softmax outputs); "
                         f"row sums range over [{row_sums.min():.4g}, {row_sums.max():.4g}]")
    theta = theta / row_sums[:, None]
    joint = np.zeros((classes.size, theta.shape[1]))  # P̂(y, z)
    np.add.at(joint, codes, theta)
    joint /= n
    p_z = joint.sum(axis=0)
    cond = np.divide(joint, p_z, out=np.zeros_like(joint), where=p_z > 0)  # P̂(y | z)
    predicted = np.sum(theta * cond[codes], axis=1)  # pᵢ(yᵢ)
    return float(np.mean(np.log(np.maximum(predicted, np.finfo(np.float64).tiny))))


# ---------------------------------------------------------------------------
# linear probe
# ---------------------------------------------------------------------------


def ridge_probe(train_features, train_labels, test_features, test_labels,
                l2: float = 1e-3, standardize: bool = True, std_floor: float = 1e-8,
                return_weights: bool = False):
    """Accuracy of a converged linear probe (ridge regression on one-hot targets).

    **Recipe.**

    1. If ``standardize``, rescale every feature with the *training* mean and standard
       deviation (the std floored at ``std_floor`` so constant features don't divide by
       zero); apply the same numbers to the test features.
    2. Append a column of ones (the bias) to get X (n × (D + 1)), one-hot targets Y (n×C).
    3. Solve the normal equations of ridge regression in closed form,
       (XᵀX + λI′)W = XᵀY, where I′ is the identity with a 0 for the bias (the bias is not
       penalised) and λ = ``l2``.
    4. Predict the class with the largest output; return the test accuracy.

    With λ > 0 the system is positive definite, so the answer is unique and exact: the
    probe is *converged*, with nothing left to a learning rate or step budget.

    **Why not a few epochs of SGD?** A probe trained with a fixed learning rate for a
    fixed number of steps measures how *fast* a linear head can be fitted, not how *well*.
    Gradient descent on a linear model converges at a rate set by the scale and
    conditioning of the feature covariance. Features with small activations, or with
    class information in low-variance directions, leave a budget-limited probe far from
    its optimum, while the same learning rate may overshoot on large-scale features. So a
    better representation with awkward scaling can score *below* a worse one: the ranking
    comes out backwards. Standardising and solving to convergence removes the optimiser
    from the measurement (docs/SCIENCE.md, "Linear probe").

    Classes are the sorted distinct training labels; test examples whose label never
    appears in training count as errors. With ``return_weights=True`` returns
    ``(accuracy, W)``, W of shape (D + 1, C): one row per (standardised) feature, then the
    bias row; columns follow the sorted training classes.
    """
    Xtr = _features(train_features, "train_features")
    Xte = _features(test_features, "test_features")
    if Xtr.shape[1] != Xte.shape[1]:
        raise ValueError(f"train and test features differ in width: "
                         f"{Xtr.shape[1]} vs {Xte.shape[1]}")
    classes, codes = _labels(train_labels, Xtr.shape[0], "train_labels")
    test_y = np.asarray(_host(test_labels)).reshape(-1)
    if test_y.shape[0] != Xte.shape[0]:
        raise ValueError("test_labels must have one label per test example")
    if Xtr.shape[0] == 0:
        raise ValueError("ridge_probe needs at least one training example")
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    if standardize:
        mean = Xtr.mean(axis=0)
        std = np.maximum(Xtr.std(axis=0), std_floor)
        Xtr = (Xtr - mean) / std
        Xte = (Xte - mean) / std
    Xtr = np.hstack([Xtr, np.ones((Xtr.shape[0], 1))])
    Xte = np.hstack([Xte, np.ones((Xte.shape[0], 1))])
    Y = _one_hot(codes, classes.size)
    D1 = Xtr.shape[1]
    if l2 > 0:
        gram = Xtr.T @ Xtr
        gram[np.arange(D1 - 1), np.arange(D1 - 1)] += l2  # every diagonal entry but the bias
        W = np.linalg.solve(gram, Xtr.T @ Y)
    else:  # plain least squares, minimum-norm when the features are rank-deficient
        W = np.linalg.lstsq(Xtr, Y, rcond=None)[0]
    predicted = classes[np.argmax(Xte @ W, axis=1)]
    accuracy = float(np.mean(predicted == test_y)) if test_y.size else float("nan")
    return (accuracy, W) if return_weights else accuracy


# ---------------------------------------------------------------------------
# everything at once
# ---------------------------------------------------------------------------


def _stratified_split(codes: np.ndarray, val_fraction: float, seed: int):
    """Indices (train, validation): about ``val_fraction`` of each class goes to validation,
    at least one example of every class stays in training."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in range(int(codes.max()) + 1 if codes.size else 0):
        idx = np.flatnonzero(codes == c)
        rng.shuffle(idx)
        n_val = min(int(round(val_fraction * idx.size)), idx.size - 1)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def transferability_scores(features, labels, source_probs=None, *, val_fraction: float = 0.3,
                           seed: int = 0, l2: float = 1e-3) -> dict[str, float]:
    """All the label-based scores of one feature set, as a dict of floats.

    Keys: ``logme``, ``h_score``, ``label_cka`` (computed on all the given examples) and
    ``probe_accuracy``: :func:`ridge_probe` trained on a seeded, class-stratified 70/30
    split (``val_fraction=0.3`` of each class held out for validation, at least one
    example per class kept for training; ``seed`` fixes the split). If ``source_probs``
    (the source head's softmax outputs on the same examples) is given, ``leep`` is added.

    Rank candidate feature sets by these only when they were computed on the same
    examples; LogME and H-score additionally need feature sets of equal width.
    """
    F = _features(features)
    classes, codes = _labels(labels, F.shape[0])
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    train, val = _stratified_split(codes, val_fraction, seed)
    scores = {
        "logme": logme(F, codes),
        "h_score": h_score(F, codes),
        "label_cka": label_cka(F, codes),
        "probe_accuracy": (ridge_probe(F[train], codes[train], F[val], codes[val], l2=l2)
                           if val.size else float("nan")),
    }
    if source_probs is not None:
        scores["leep"] = leep(source_probs, codes)
    return scores
