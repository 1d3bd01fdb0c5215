"""The statistics a transfer experiment reports, with no SciPy.

An experiment here compares two recipes (say, fine-tuning a pretrained body vs training
from scratch) over a handful of seeds. Seed s fixes the data subset, the head's init and
the batch order for *both* recipes, so the results come in pairs and the right summary
is the per-seed difference: its mean and a confidence interval (CI) from Student's t.
Pairing removes the seed-to-seed variation both recipes share, which is usually most of
it; comparing two unpaired means would need many more seeds for the same precision.

Contents:

- :func:`student_t_cdf`, :func:`t_quantile`, :func:`normal_quantile`: the distributions,
  computed from closed-form series (exact for every integer degree of freedom).
- :func:`t_interval` (one sample) and :func:`paired_difference` (per-seed a − b).
- :func:`bootstrap_ci`: a seeded percentile bootstrap, the assumption-light alternative.
- :func:`negative_transfer_gap`: NTG = ε(transfer) − ε(scratch) per seed, summarised.
- :func:`steps_to_reach`: when a learning curve first reaches a threshold.
- :func:`tost` (two one-sided tests): is a difference *equivalent* to 0 within ±δ, or at
  least not above +δ? The right test for an absence ("no gain"), where "the CI includes
  0" passes for any noisy enough run.
- :func:`spearman`: rank correlation (ties get average ranks).
- :class:`Claim`: one checked statement of a reproduction, ready for a JSON report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from minitl import backend

__all__ = [
    "Claim",
    "Equivalence",
    "PairedDifference",
    "bootstrap_ci",
    "negative_transfer_gap",
    "normal_quantile",
    "paired_difference",
    "spearman",
    "steps_to_reach",
    "student_t_cdf",
    "t_interval",
    "t_quantile",
    "tost",
]

# Beyond this many degrees of freedom the exact series (one term per two degrees of
# freedom) is replaced by the Cornish–Fisher expansion around the normal quantile, whose
# error there is far below 1e-9.
_SERIES_MAX_DF = 100_000


def _values(x, name: str) -> np.ndarray:
    data = getattr(x, "data", x)
    if not (isinstance(data, np.ndarray) or backend.is_cupy_array(data)):
        data = x
    a = np.asarray(backend.to_numpy(data), dtype=np.float64).reshape(-1)
    if np.any(np.isnan(a)):
        raise ValueError(f"{name} contains NaN: drop failed runs (and say so) before summarising")
    return a


# ---------------------------------------------------------------------------
# distributions
# ---------------------------------------------------------------------------


def _check_df(df) -> int:
    if isinstance(df, bool) or float(df) != int(df) or int(df) < 1:
        raise ValueError(f"degrees of freedom must be a positive integer, got {df!r}")
    return int(df)


def _t_central_mass(t: float, df: int) -> float:
    """P(|T| ≤ t) for t ≥ 0, T ~ Student t with ``df`` degrees of freedom.

    With θ = atan(t/√ν) the probability is a finite trigonometric sum (Abramowitz &
    Stegun 26.7.3–26.7.4):

    - ν even: sin θ · [1 + ½cos²θ + (1·3)/(2·4)cos⁴θ + … + (1·3⋯(ν−3))/(2·4⋯(ν−2))cos^(ν−2)θ]
    - ν = 1:  2θ/π
    - ν odd:  (2/π)·(θ + sin θ cos θ·[1 + ⅔cos²θ + … + (2·4⋯(ν−3))/(3·5⋯(ν−2))cos^(ν−3)θ])
    """
    theta = math.atan2(t, math.sqrt(df))
    sin, cos = math.sin(theta), math.cos(theta)
    c2 = cos * cos
    if df % 2 == 0:
        k = np.arange(1, df // 2)
        coeffs = np.cumprod((2 * k - 1) / (2 * k) * c2)  # the k-th term, built up as products
        return sin * (1.0 + float(coeffs.sum()))
    if df == 1:
        return 2.0 * theta / math.pi
    k = np.arange(1, (df - 1) // 2)
    coeffs = np.cumprod((2 * k) / (2 * k + 1) * c2)
    return 2.0 / math.pi * (theta + sin * cos * (1.0 + float(coeffs.sum())))


def student_t_cdf(t: float, df: int) -> float:
    """P(T ≤ t) for Student's t distribution with an integer number of degrees of freedom."""
    df = _check_df(df)
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    mass = _t_central_mass(abs(t), df)
    return 0.5 + 0.5 * mass if t >= 0 else 0.5 - 0.5 * mass


def _bisect_increasing(f: Callable[[float], float], target: float) -> float:
    """The x ≥ 0 with f(x) = target, for f increasing on [0, ∞) and f(0) ≤ target."""
    lo, hi = 0.0, 1.0
    while f(hi) < target:
        lo, hi = hi, 2.0 * hi
        if hi > 1e300:
            return math.inf
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-14 * hi:
            break
    return 0.5 * (lo + hi)


def normal_quantile(p: float) -> float:
    """z with Φ(z) = p for the standard normal, by bisection on ``math.erfc``."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p == 0.5:
        return 0.0
    upper = max(p, 1.0 - p)
    # compare upper tails, which erfc computes without cancellation
    z = _bisect_increasing(lambda x: -0.5 * math.erfc(x / math.sqrt(2.0)), -(1.0 - upper))
    return z if p > 0.5 else -z


def t_quantile(p: float, df: int) -> float:
    """t with P(T ≤ t) = p, for Student's t with ``df`` (a positive integer) degrees of freedom.

    Inverts the exact CDF by bisection, to about 14 significant digits. Known values:
    t(0.975, 4) = 2.776, t(0.975, 9) = 2.262, t(0.975, 29) = 2.045; as df → ∞ it tends to
    the normal quantile (1.960). For df above 100 000 the Cornish–Fisher expansion in 1/df
    (Abramowitz & Stegun 26.7.5) is used instead of the series.
    """
    df = _check_df(df)
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p == 0.5:
        return 0.0
    upper = max(p, 1.0 - p)
    if df > _SERIES_MAX_DF:
        z = normal_quantile(upper)
        g1 = (z**3 + z) / 4
        g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
        g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
        t = z + g1 / df + g2 / df**2 + g3 / df**3
    else:
        t = _bisect_increasing(lambda x: _t_central_mass(x, df), 2.0 * upper - 1.0)
    return t if p > 0.5 else -t


# ---------------------------------------------------------------------------
# intervals
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedDifference:
    """Summary of per-seed values (usually paired differences a − b).

    ``ci`` is the two-sided Student-t interval mean ± t((1 + confidence)/2, n − 1)·sd/√n.
    With one seed the spread is unknown and ``ci`` is (−inf, inf): it supports no claim.
    """

    mean: float
    ci: tuple[float, float]
    n: int
    std: float
    sem: float
    confidence: float
    differences: tuple[float, ...] = field(repr=False)

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of 0 (a 'significant' difference)."""
        return self.ci[0] > 0.0 or self.ci[1] < 0.0

    def to_dict(self) -> dict:
        return {
            "mean": float(self.mean),
            "ci": [float(self.ci[0]), float(self.ci[1])],
            "n": int(self.n),
            "std": float(self.std),
            "sem": float(self.sem),
            "confidence": float(self.confidence),
            "differences": [float(d) for d in self.differences],
        }


def t_interval(values, confidence: float = 0.95) -> PairedDifference:
    """Mean of ``values`` with a Student-t confidence interval (one sample, n − 1 df).

    Trust it when the values are roughly symmetric without wild outliers; with 3–10 seeds
    that is an assumption, so report the per-seed values too.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    d = _values(values, "values")
    n = d.size
    if n == 0:
        raise ValueError("need at least one value")
    mean = float(d.mean())
    if n == 1:
        return PairedDifference(mean, (-math.inf, math.inf), 1, math.nan, math.inf,
                                confidence, (mean,))
    std = float(d.std(ddof=1))
    sem = std / math.sqrt(n)
    half = t_quantile(0.5 + 0.5 * confidence, n - 1) * sem
    return PairedDifference(mean, (mean - half, mean + half), n, std, sem, confidence,
                            tuple(float(x) for x in d))


def paired_difference(a, b, confidence: float = 0.95) -> PairedDifference:
    """Per-seed differences a − b, their mean and Student-t confidence interval.

    ``a[s]`` and ``b[s]`` must come from the same seed s (same data subset, same
    randomness where the recipes share it). If the CI excludes 0, the difference is
    unlikely to be seed noise at that confidence. Example: final target accuracy of
    fine-tuning minus scratch over 5 seeds, mean +0.05 with CI [0.02, 0.08].
    """
    a = _values(a, "a")
    b = _values(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired values need one a and one b per seed: got {a.size} and {b.size}")
    return t_interval(a - b, confidence)


def bootstrap_ci(values, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0,
                 statistic: Callable = np.mean) -> tuple[float, float]:
    """Seeded percentile bootstrap CI for ``statistic(values)``.

    Resample the n values with replacement ``n_resamples`` times, compute the statistic
    on each resample, and return the (1 − confidence)/2 and (1 + confidence)/2 quantiles.
    For paired designs pass the per-seed differences a − b. ``statistic`` is called as
    ``statistic(array, axis=1)`` on the (n_resamples, n) matrix of resamples when it
    accepts ``axis``, otherwise once per resample.

    It assumes no distribution shape, but with few values it is *too narrow*: five seeds
    have only 126 distinct resamples and their spread understates the uncertainty
    (the bootstrap sd is off by a factor √((n − 1)/n) even in the best case). For the
    usual 3–10 seeds prefer :func:`paired_difference`; use this as a cross-check or for
    statistics (median, trimmed mean) without a t interval.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    v = _values(values, "values")
    if v.size == 0:
        raise ValueError("need at least one value")
    rng = np.random.default_rng(seed)
    samples = v[rng.integers(0, v.size, size=(n_resamples, v.size))]
    try:
        stats = np.asarray(statistic(samples, axis=1), dtype=np.float64)
    except TypeError:
        stats = np.array([statistic(row) for row in samples], dtype=np.float64)
    tail = 0.5 * (1.0 - confidence)
    low, high = np.quantile(stats, [tail, 1.0 - tail])
    return float(low), float(high)


# ---------------------------------------------------------------------------
# transfer-specific summaries
# ---------------------------------------------------------------------------


def negative_transfer_gap(err_transfer, err_scratch, confidence: float = 0.95
                          ) -> PairedDifference:
    """Negative transfer gap NTG = ε(transfer) − ε(scratch), per seed, with mean and CI.

    ε is the target *error* (1 − accuracy, or a loss) of the transferred model and of the
    same model trained from scratch on the same target data, seed by seed. NTG > 0 means
    transfer made things worse: **negative transfer**; NTG < 0 means it helped. Claim
    negative transfer only when the whole CI lies above 0. The gap is not a property of
    the source task alone: it depends on the transfer algorithm (naive fine-tuning,
    LP-FT, frozen features), the distance between tasks and the amount of target data,
    so report those with it.

    Wang, Dai, Póczos & Carbonell, "Characterizing and Avoiding Negative Transfer",
    CVPR 2019.
    """
    return paired_difference(err_transfer, err_scratch, confidence)


def steps_to_reach(curve_steps: Sequence, curve_values: Sequence, threshold: float,
                   higher_is_better: bool = True, never=None):
    """The first step at which a learning curve reaches ``threshold``.

    ``curve_steps`` (non-decreasing) and ``curve_values`` are the evaluation points of a
    curve, say validation accuracy logged every 50 steps. Returns the first step whose
    value is ≥ threshold (≤ threshold with ``higher_is_better=False``, for a loss or an
    error). If the curve never gets there, returns ``never`` (None by default; pass
    ``math.inf`` to average or take medians over seeds). The answer is only as fine as the
    evaluation grid: the true crossing lies between the previous evaluation and this one.
    NaN values (a diverged run) never count as reaching the threshold.
    """
    steps = np.asarray(curve_steps).reshape(-1)
    values = np.asarray(backend.to_numpy(curve_values), dtype=np.float64).reshape(-1)
    if steps.shape != values.shape:
        raise ValueError(f"curve_steps and curve_values differ in length: "
                         f"{steps.size} vs {values.size}")
    if steps.size > 1 and np.any(np.diff(steps) < 0):
        raise ValueError("curve_steps must be non-decreasing")
    with np.errstate(invalid="ignore"):
        reached = values >= threshold if higher_is_better else values <= threshold
    hits = np.flatnonzero(reached)
    if hits.size == 0:
        return never
    step = steps[hits[0]]
    return step.item() if hasattr(step, "item") else step


@dataclass(frozen=True)
class Equivalence:
    """The result of :func:`tost` on per-seed differences.

    ``ci90`` is the (1 − 2α) two-sided t-interval (90% for α = 0.05); ``p_lower`` tests
    H0: mean ≤ −δ, ``p_upper`` tests H0: mean ≥ +δ. ``equivalent``: both rejected at α
    (the interval lies inside (−δ, +δ)); ``not_above``: only the upper test rejected
    (the interval's upper end is below +δ: "no better than +δ", worse is allowed).
    """

    mean: float
    delta: float
    ci90: tuple[float, float]
    p_lower: float
    p_upper: float
    n: int
    alpha: float

    @property
    def equivalent(self) -> bool:
        return self.p_lower < self.alpha and self.p_upper < self.alpha

    @property
    def not_above(self) -> bool:
        return self.p_upper < self.alpha

    def to_dict(self) -> dict:
        return {"mean": float(self.mean), "delta": float(self.delta),
                "ci90": [float(self.ci90[0]), float(self.ci90[1])],
                "p_lower": float(self.p_lower), "p_upper": float(self.p_upper),
                "n": int(self.n), "alpha": float(self.alpha),
                "equivalent": self.equivalent, "not_above": self.not_above}


def tost(differences, delta: float, alpha: float = 0.05) -> Equivalence:
    """Two one-sided t-tests (Schuirmann, 1987) for |mean difference| < ``delta``.

    An absence claim ("the random-label source gives no gain") cannot be shown by a CI
    that includes 0: a noisy run always passes that. Equivalence testing reverses the
    burden. With d̄, s the mean and standard deviation of the n differences and
    se = s/√n:

        t_lower = (d̄ + δ)/se,  p_lower = P(T_{n−1} ≥ t_lower)   (H0: mean ≤ −δ)
        t_upper = (d̄ − δ)/se,  p_upper = P(T_{n−1} ≤ t_upper)   (H0: mean ≥ +δ)

    Equivalence at level α when both p < α, which is the same as the (1 − 2α) t-interval
    lying inside (−δ, +δ). The margin δ must be fixed before the data are seen. With a
    single value (no spread) nothing can be shown: both p are 1.
    """
    if not delta > 0:
        raise ValueError(f"tost: the margin delta must be > 0, got {delta}")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"tost: alpha must be in (0, 0.5), got {alpha}")
    ti = t_interval(differences, 1.0 - 2.0 * alpha)
    if ti.n < 2 or ti.sem == 0.0:
        inside = ti.n >= 2 and -delta < ti.mean < delta
        p = 0.0 if inside else 1.0
        return Equivalence(ti.mean, float(delta), ti.ci, p, p, ti.n, alpha)
    df = ti.n - 1
    p_lower = 1.0 - student_t_cdf((ti.mean + delta) / ti.sem, df)
    p_upper = student_t_cdf((ti.mean - delta) / ti.sem, df)
    return Equivalence(ti.mean, float(delta), ti.ci, p_lower, p_upper, ti.n, alpha)


def _ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n; tied values share the mean of the ranks they occupy."""
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(a.size, dtype=np.float64)
    ranks[order] = np.arange(1, a.size + 1, dtype=np.float64)
    for value in np.unique(a):
        tied = a == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x, y) -> float:
    """Spearman's rank correlation: Pearson's correlation of the ranks (ties averaged).

    1 when y grows with x in the same order, −1 in the reverse order. With a constant
    x or y the correlation is undefined and 0.0 is returned (no ordering to agree with).
    To put a CI on it over seeds, compute one ρ per seed and use :func:`t_interval`.
    """
    a, b = _values(x, "x"), _values(y, "y")
    if a.size != b.size or a.size < 2:
        raise ValueError(f"spearman needs two equal-length samples of >= 2 values, got "
                         f"{a.size} and {b.size}")
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / den) if den > 0 else 0.0


@dataclass
class Claim:
    """One checked statement of an experiment, e.g. "LP-FT beats scratch at N = 10".

    ``estimate`` is the measured effect (usually a mean paired difference), ``ci95`` its
    95% interval, ``n_seeds`` how many seeds support it, and ``passed`` whether the
    evidence met the criterion the experiment stated in advance (``None``: not decided,
    e.g. a reduced run that lacks the data the criterion needs).
    """

    id: str
    statement: str
    passed: bool | None
    estimate: float | None = None
    ci95: tuple[float, float] | None = None
    n_seeds: int | None = None

    @classmethod
    def from_difference(cls, id: str, statement: str, diff: PairedDifference,
                        passed: bool) -> Claim:
        """A claim whose numbers come from a :class:`PairedDifference` (95% level)."""
        if not math.isclose(diff.confidence, 0.95):
            raise ValueError(f"Claim stores a 95% interval; got confidence {diff.confidence}")
        return cls(id, statement, bool(passed), diff.mean, diff.ci, diff.n)

    def to_dict(self) -> dict:
        """Plain Python types (bool, float, int, list), ready for ``json.dumps``."""
        return {
            "id": str(self.id),
            "statement": str(self.statement),
            "passed": None if self.passed is None else bool(self.passed),
            "estimate": None if self.estimate is None else float(self.estimate),
            "ci95": None if self.ci95 is None else [float(c) for c in self.ci95],
            "n_seeds": None if self.n_seeds is None else int(self.n_seeds),
        }
