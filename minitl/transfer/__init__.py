"""``minitl.transfer``: transfer learning as readable recipes, measurements and reports.

The model is a body g (representation) and a head h (decision): :class:`BodyHead`.

Before training, *are the tasks related?*
    :func:`transferability` (LogME, H-score, label-CKA, converged ridge probe, LEEP on a
    body's frozen features; the formulas are in :mod:`~minitl.transfer.metrics`).
Training, one shared loop (:func:`train_loop`) and five recipes
    :func:`scratch` (and its matched-norm control), :func:`feature_extraction`,
    :func:`naive_finetune`, :func:`safe_finetune`, :func:`lp_ft`; and :func:`adapt`,
    which unfreezes block by block only while the evidence supports it.
While training, *is it stable?*
    :class:`StabilityMonitor`: per-layer gradient norms, update ratios and drift, CKA to
    the pretrained features, mismatch E_t, forgetting, dead units, NaN stops; the words
    "stable"/"shifting"/"abrupt" come from :mod:`~minitl.transfer.thresholds`.
After training, *did it work?*
    :func:`checklist_report` (Markdown, JSON, figures) with the statistics of
    :mod:`~minitl.transfer.stats` (paired t-intervals, negative transfer gap).

Files, one job each: ``model.py`` (BodyHead, split, copies, blocks), ``loop.py``
(train_loop, History, evaluation, features), ``divergence.py`` (NaN diagnosis),
``monitor.py`` + ``thresholds.py``, ``reinit.py`` (fresh and matched-norm weights),
``recipes.py``, ``adapt.py``, ``transferability.py``, ``checklist.py`` + ``figures.py``,
``metrics.py``, ``mismatch.py`` (how E moves: useful vs destructive; Δθ per group),
``stats.py``.
"""

from . import thresholds
from .adapt import MIN_GAIN, NOISE_Z, SCRATCH_MARGIN, AdaptResult, adapt, required_gain
from .checklist import ChecklistReport, checklist_report
from .divergence import check_finite, first_nonfinite
from .loop import (
    History,
    derive_seed,
    evaluate,
    extract_features,
    make_optimizer,
    set_train_mode,
    train_loop,
)
from .metrics import (
    h_score,
    label_cka,
    leep,
    linear_cka,
    logme,
    representation_mismatch,
    ridge_probe,
    transferability_scores,
)
from .mismatch import mismatch_decomposition, mismatch_gradient, relative_update
from .model import (
    BodyHead,
    as_body_head,
    attach_head,
    blocks,
    copy_module,
    default_head,
    evaluating,
    feature_shape,
    named_blocks,
    split,
)
from .monitor import StabilityMonitor, stability_verdict
from .recipes import (
    ULMFIT_DECAY,
    TransferResult,
    feature_extraction,
    lp_ft,
    naive_finetune,
    safe_finetune,
    scratch,
)
from .reinit import match_weight_norms, matched_norm_init, reinitialize
from .stats import (
    Claim,
    Equivalence,
    PairedDifference,
    bootstrap_ci,
    negative_transfer_gap,
    normal_quantile,
    paired_difference,
    spearman,
    steps_to_reach,
    student_t_cdf,
    t_interval,
    t_quantile,
    tost,
)
from .transferability import transferability

__all__ = [
    "MIN_GAIN", "NOISE_Z", "SCRATCH_MARGIN", "ULMFIT_DECAY", "AdaptResult", "BodyHead",
    "ChecklistReport", "Claim", "Equivalence", "History", "PairedDifference", "StabilityMonitor",
    "TransferResult", "adapt", "as_body_head", "attach_head", "blocks", "bootstrap_ci",
    "check_finite", "checklist_report", "copy_module", "default_head", "derive_seed", "evaluate",
    "evaluating", "extract_features", "feature_extraction", "feature_shape", "first_nonfinite",
    "h_score", "label_cka", "leep", "linear_cka", "logme", "lp_ft", "make_optimizer",
    "match_weight_norms", "matched_norm_init", "mismatch_decomposition",
    "mismatch_gradient", "naive_finetune", "named_blocks",
    "negative_transfer_gap", "normal_quantile", "paired_difference", "reinitialize",
    "relative_update",
    "representation_mismatch", "required_gain", "ridge_probe", "safe_finetune", "scratch",
    "set_train_mode", "spearman", "split", "stability_verdict", "steps_to_reach", "student_t_cdf",
    "t_interval", "t_quantile", "thresholds", "tost", "train_loop", "transferability",
    "transferability_scores",
]
