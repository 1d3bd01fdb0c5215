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
``recipes.py``, ``adapt.py``, ``depth.py`` (how many layers to freeze, from a
layer-transfer curve), ``transferability.py``, ``checklist.py`` + ``figures.py``,
``metrics.py``, ``mismatch.py`` (how E moves: useful vs destructive; Δθ per group),
``stats.py``.

This package exports what a learner calls (25 names); everything else stays reachable in
its submodule (``minitl.transfer.metrics.h_score``, ``minitl.transfer.model.named_blocks``).
Data flows one way: ``adapt`` → ``recipes`` → ``loop`` → ``minitl.optim`` and ``minitl.nn``.
"""

from . import metrics, stats, thresholds
from .adapt import AdaptResult, adapt
from .checklist import checklist_report
from .loop import History, train_loop
from .metrics import linear_cka, logme, representation_mismatch, ridge_probe
from .model import BodyHead, split
from .monitor import StabilityMonitor
from .recipes import (
    RunConfig,
    TransferResult,
    feature_extraction,
    lp_ft,
    naive_finetune,
    safe_finetune,
    scratch,
)
from .stats import negative_transfer_gap, paired_difference
from .transferability import transferability

__all__ = [
    "AdaptResult", "BodyHead", "History", "RunConfig", "StabilityMonitor", "TransferResult",
    "adapt", "checklist_report", "feature_extraction", "linear_cka", "logme", "lp_ft",
    "metrics", "naive_finetune", "negative_transfer_gap", "paired_difference",
    "representation_mismatch", "ridge_probe", "safe_finetune", "scratch", "split", "stats",
    "thresholds", "train_loop", "transferability",
]
