"""``adapt``: the whole transfer design pattern in one call, deciding from evidence.

The question every transfer project faces is *how much* of the pretrained model to
adapt. ``adapt`` answers it the way a careful practitioner would, one measured step at
a time, and writes down each decision and the numbers behind it:

1. **Feature extraction.** Freeze the body, train a new head to convergence on cached
   features, measure validation accuracy. If it is already perfect, stop.
2. **Unfreeze one more block, top-down.** Train the head and the unfrozen blocks (with
   layer-wise learning rates) for a few epochs, measure validation accuracy and ask the
   stability monitor how the representation moved.

   * validation improved by more than the noise (see :func:`required_gain`) → keep this
     level; go one block deeper, unless the monitor says the representation moved
     *abruptly*, in which case stop here;
   * no real gain → allow ``patience`` more blocks (a useful change may need a lower
     block), then stop and go back to the best level so far.
3. **Compare with scratch** (``compare_scratch=True``): train the same architecture from
   random weights with the same number of steps. If it beats the best adaptation level
   by ``scratch_margin``, the evidence says: train from scratch.

The returned :class:`AdaptResult` holds the chosen model, the decisions (each a dict
with the level, its validation numbers, the stability verdict, the decision and why)
and the full history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..errors import TrainingDivergedError
from . import thresholds as T
from .loop import History, jsonable
from .monitor import StabilityMonitor
from .recipes import (
    ULMFIT_DECAY,
    RunConfig,
    TransferResult,
    prepare,
    resolve_blocks,
    scratch,
    train_blocks,
    train_head,
)

__all__ = ["MIN_GAIN", "NOISE_Z", "SCRATCH_MARGIN", "AdaptResult", "adapt", "required_gain"]

#: Smallest validation gain that justifies adapting more of the model (convention of
#: this project: one accuracy point; below it the extra risk buys too little).
MIN_GAIN = 0.01
#: Scratch must beat the best transfer level by this much before we recommend it
#: (convention of this project: two points, so a tie keeps the cheaper, pretrained model).
SCRATCH_MARGIN = 0.02


#: How many standard errors of the validation accuracy a gain must exceed: two, the
#: usual "about 95%" bar (at chance level on 200 examples one standard error is 3.5 points,
#: and chance-level runs were seen to "gain" that much by luck).
NOISE_Z = 2.0


def required_gain(accuracy: float, n_val: int, min_gain: float = MIN_GAIN,
                  z: float = NOISE_Z) -> float:
    """The validation gain needed to count as real: at least ``min_gain``, and at least
    ``z`` standard errors of an accuracy p measured on ``n_val`` examples, z·√(p(1 − p)/n).

    With 100 validation examples at 90% accuracy the standard error is 3 points, so a
    "gain" of one or two examples is noise; the bar is 6 points.
    """
    p = min(max(accuracy, 0.0), 1.0)
    return max(min_gain, z * math.sqrt(p * (1 - p) / max(n_val, 1)))


@dataclass
class AdaptResult:
    """``model`` (the chosen one), ``chosen`` (its level: "feature_extraction", "top_1",
    ..., or "scratch"), ``decisions`` (one dict per level tried, then the scratch
    comparison if asked), ``history`` (the transfer run's rows), ``scratch`` (the scratch
    run, if any)."""

    model: object
    chosen: str
    decisions: list[dict]
    history: History
    scratch: TransferResult | None = None

    def to_dict(self) -> dict:
        """JSON-ready: chosen level, decisions, history (and the scratch record)."""
        return jsonable({
            "chosen": self.chosen, "decisions": self.decisions,
            "history": self.history.to_list(),
            "scratch": self.scratch.record("scratch") if self.scratch else None,
        })

    def summary(self) -> str:
        """The decisions as a small Markdown table."""
        lines = ["| level | val acc | stability | decision | why |", "|---|---|---|---|---|"]
        for d in self.decisions:
            acc = "" if d.get("val_acc") is None else f"{d['val_acc']:.3f}"
            lines.append(f"| {d['level']} | {acc} | {d.get('stability') or ''} | "
                         f"{d['decision']} | {d['why']} |")
        return "\n".join(lines)


def _level_stability(history: History, after_step: int) -> tuple[str, list[str]]:
    """Worst verdict among the evaluations after ``after_step``, with its reasons."""
    rows = [r for r in history.rows if r["step"] > after_step and "stability" in r]
    if not rows:
        return T.STABLE, ["no evaluation"]
    word = T.worst(r["stability"] for r in rows)
    reasons = next(r["stability_reasons"] for r in rows if r["stability"] == word)
    return word, reasons


def adapt(source, train, val, *, config: RunConfig | None = None, blocks=None,
          head_lr: float = 1e-2, head_epochs: int = 100, head_tol: float = 1e-3,
          lr: float = 1e-3, decay: float = ULMFIT_DECAY, epochs_per_level: int = 5,
          min_gain: float = MIN_GAIN, patience: int = 1, max_levels: int | None = None,
          compare_scratch: bool = False, scratch_margin: float = SCRATCH_MARGIN,
          scratch_lr: float = 1e-3, source_probe=None, freeze_depth: int | None = None,
          **shared) -> AdaptResult:
    """Adapt ``source`` to the target task only as far as validation evidence supports.

    ``train``/``val`` are ``(inputs, labels)``; validation data is required, since every
    decision is made on it. ``head_*`` control the feature-extraction stage (trained to
    convergence on cached features), ``lr``/``decay``/``epochs_per_level`` each
    unfreezing level (head at ``lr``, the k-th block below at ``lr·decay^k``; trained by
    :func:`~minitl.transfer.recipes.train_blocks`, as ``safe_finetune`` is).
    ``source_probe`` (source inputs and labels) adds forgetting to the stability
    verdict. ``max_levels`` caps how many blocks may be unfrozen. ``freeze_depth`` n
    keeps the first n blocks of the body (input side) frozen whatever the evidence, so at
    most ``len(blocks) - n`` are tried; take n from a layer-transfer curve with
    :func:`~minitl.transfer.depth.recommended_freeze_depth`. See the module
    docstring for the rules; ``required_gain`` for what counts as an improvement. The
    shared settings (head, batch size, optimizer, weight decay, augmentation, evaluation
    interval, seed, device, ...) are a :class:`~minitl.transfer.recipes.RunConfig` or its
    fields as keywords, and every stage honours them; the monitor defaults to a
    :class:`StabilityMonitor` (every decision reads its verdict).

    Protects: the pretrained body, which changes only when a measured gain pays for it.
    Risks: each level trains for a fixed budget, so a level that needs longer can look
    useless; with a small validation set only large gains register.
    """
    if val is None:
        raise ValueError("adapt decides on validation data: pass val=(inputs, labels)")
    cfg = RunConfig.of(config, **shared)
    s = prepare(source, train, val, cfg)
    model, n_val = s.model, int(s.val[0].shape[0])
    _, counts = np.unique(s.val[1], return_counts=True)
    chance = float(counts.max() / counts.sum())  # always guessing the commonest class
    mon = cfg.monitor if isinstance(cfg.monitor, StabilityMonitor) else StabilityMonitor(
        source_probe=source_probe)
    mon.attach(model, source_head=s.source.head, default_target_probe=s.val)
    history = History()
    loader = s.loader(s.x, cfg.batch_size)
    decisions: list[dict] = []

    def record(level, trainable, start, decision, why, **extra):
        word, reasons = _level_stability(history, start)
        decisions.append({
            "level": level, "blocks_trainable": list(trainable),
            "val_acc": history.last("val_acc"), "train_acc": history.last("train_acc"),
            "steps": history.step, "chance": chance, "n_val": n_val,
            "stability": word, "stability_reasons": reasons,
            "decision": decision, "why": why, **extra,
        })

    # 1. feature extraction
    train_head(s, cfg, epochs=head_epochs, steps=None, lr=head_lr, cache=True, monitor=mon,
               history=history, phase="feature_extraction", until_converged=True, tol=head_tol)
    best = {"level": "feature_extraction", "acc": history.last("val_acc"),
            "state": model.state_dict(), "trainable": []}
    named = resolve_blocks(model.body, blocks)
    limit = len(named) if max_levels is None else max_levels
    if freeze_depth is not None:
        if isinstance(freeze_depth, bool) or int(freeze_depth) != freeze_depth \
                or not 0 <= freeze_depth <= len(named):
            raise ValueError(f"adapt: freeze_depth must be an integer in 0..{len(named)} "
                             f"(the body has {len(named)} blocks), got {freeze_depth!r}")
        limit = min(limit, len(named) - int(freeze_depth))
    order = list(reversed(named))[:limit]
    if best["acc"] >= 1.0 or not order:
        why = ("validation accuracy is already 1.0 with frozen features: unfreezing has "
               "nothing left to gain" if best["acc"] >= 1.0 else "no body blocks to unfreeze")
        record("feature_extraction", [], 0, "stop", why)
    else:
        record("feature_extraction", [], 0, "continue",
               f"frozen features reach {best['acc']:.3f} on validation (chance "
               f"{chance:.3f}); trying to unfreeze the top block ({order[0][0]})")

    # 2. unfreeze one block at a time, top-down
    misses = 0
    unfrozen: list[tuple[str, object]] = []
    for k, (name, block) in enumerate(order if decisions[-1]["decision"] == "continue" else []):
        unfrozen.append((name, block))
        level = f"top_{k + 1}"
        trainable = [n for n, _ in unfrozen]
        start = history.step
        try:  # the unfrozen blocks (input to output) and the head, at layer-wise rates
            train_blocks(s, cfg, list(reversed(unfrozen)), lr=lr, decay=decay,
                         stages=[(level, epochs_per_level)], unfrozen=len(unfrozen),
                         loader=loader, monitor=mon, history=history)
        except TrainingDivergedError as error:
            decisions.append({"level": level, "blocks_trainable": trainable, "val_acc": None,
                              "stability": T.DIVERGED, "decision": "stop",
                              "why": f"training diverged ({error}); back to {best['level']}"})
            break
        acc = history.last("val_acc")
        need = required_gain(best["acc"], n_val, min_gain)
        gain = acc - best["acc"]
        word, reasons = _level_stability(history, start)
        numbers = (f"validation {best['acc']:.3f} → {acc:.3f} (gain {gain:+.3f}, "
                   f"needed {need:.3f})")
        last = k == len(order) - 1
        if gain >= need:
            best = {"level": level, "acc": acc, "state": model.state_dict(),
                    "trainable": trainable}
            misses = 0
            if word == T.ABRUPT:
                decision, why = "stop", (f"{numbers}, but the representation moved abruptly "
                                         f"({'; '.join(reasons)}); not unfreezing further")
            elif acc >= 1.0 or last:
                decision, why = "stop", f"{numbers}; " + (
                    "nothing left to gain" if acc >= 1.0 else "every block is now trainable")
            else:
                decision, why = "continue", f"{numbers}; keeping it, trying one block deeper"
        else:
            misses += 1
            if word == T.ABRUPT or misses > patience or last:
                cause = ("the representation moved abruptly" if word == T.ABRUPT else
                         "every block has been tried" if last else
                         f"{misses} level(s) without a real gain")
                decision, why = "stop", f"{numbers}: {cause}; back to {best['level']}"
            else:
                decision, why = "continue", (f"{numbers}: no real gain yet; a lower block "
                                             f"may be what needs to change "
                                             f"(patience {misses}/{patience})")
        record(level, trainable, start, decision, why, gain=gain, required_gain=need)
        if decision == "stop":
            break

    # go back to the best level: its weights, and only its blocks trainable
    model.load_state_dict(best["state"])
    model.body.freeze()
    for name, block in named:
        if name in best["trainable"]:
            for p in (block.parameters() if hasattr(block, "parameters") else block):
                p.requires_grad = True
    chosen, chosen_model, scratch_run = best["level"], model, None

    # 3. scratch with the same budget
    if compare_scratch:
        budget = history.step
        scratch_run = scratch(s.source, (s.x, s.y), s.val, steps=budget, lr=scratch_lr,
                              config=replace(cfg, num_classes=s.num_classes, monitor=None))
        s_acc = scratch_run.final["val_acc"]
        margin = f"{s_acc:.3f} vs {best['level']} {best['acc']:.3f}, margin {scratch_margin}"
        if s_acc >= best["acc"] + scratch_margin:
            chosen, chosen_model = "scratch", scratch_run.model
            decision = "train from scratch"
            why = (f"scratch beats every adaptation level with the same {budget}-step "
                   f"budget ({margin}): the pretrained features do not help this task")
        else:
            decision = "keep transfer"
            why = f"scratch with the same {budget}-step budget does not win ({margin})"
        decisions.append({"level": "scratch", "blocks_trainable": ["all"], "val_acc": s_acc,
                          "train_acc": scratch_run.final.get("train_acc"), "steps": budget,
                          "stability": None, "decision": decision, "why": why})
    return AdaptResult(chosen_model, chosen, decisions, history, scratch_run)
