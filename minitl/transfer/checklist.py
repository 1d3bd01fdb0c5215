"""After training: the practitioner's checklist, answered with numbers and a verdict each.

:func:`checklist_report` reads the records of several runs (arms × seeds, each a plain
dict as made by :meth:`TransferResult.record`) and answers nine questions:

==  =========================================  ====================================
1   Are the tasks related?                     converged linear probe vs chance
2   Are the features reusable?                 frozen features vs scratch
3   Is target data limited?                    labels per class, scratch's overfit
4   Was training stable?                       the monitor's verdicts, NaN, loss
5   Were gradients controlled?                 body/head update ratio, grad spikes
6   Did performance improve steadily?          drops of the validation curve
7   Did transfer beat scratch?                 NTG with a t-interval across seeds
8   Did it converge faster?                    steps to reach a target accuracy
9   Did the representation stay healthy?       CKA drift, forgetting, dead units, E_t
==  =========================================  ====================================

A record is ``{"arm", "seed", "final": {"val_acc", ...}, "history": [rows], "n_train",
"num_classes", "transferability": {...} (optional)}``; everything is JSON. Records of
one arm are paired with another arm's by seed.

The verdict thresholds below are conventions of this project unless a comment gives a
source; the monitor's thresholds are in :mod:`minitl.transfer.thresholds`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import thresholds as T
from .figures import save_all
from .loop import jsonable
from .stats import negative_transfer_gap, paired_difference, steps_to_reach

__all__ = ["ChecklistReport", "checklist_report"]

# Q1: probe accuracy as a fraction of the way from chance to perfect ("lift").
RELATED_LIFT = 0.5       # convention: the probe closes at least half the gap to 100%
WEAK_LIFT = 0.2          # convention: below a fifth of the gap the features barely help
# Q2: frozen features are "reusable as they are" if within this of scratch accuracy.
REUSE_MARGIN = 0.02      # convention: two accuracy points
# Q3: ULMFiT's largest gains came with about 100 labels per class (Howard & Ruder 2018).
LIMITED_PER_CLASS = 100
OVERFIT_GAP = 0.10       # convention: scratch train accuracy 10 points above validation
# Q5: "Δθ_g ≪ Δθ_h": ULMFiT's 1/2.6 decay puts the top body block at 0.38× the head's
# rate, so a median body/head ratio above 0.5 means the body is not being held back.
BODY_HEAD_CONTROLLED = 0.5
GRAD_SPIKE = 10.0        # convention: a layer's largest gradient norm over 10× its median
# Q6: a validation drop of more than 5 points below the best so far is not noise on the
# validation sets used here (convention).
STEADY_DROP = 0.05
# Q8: default target accuracy: this fraction of the way from chance to the lower of the two
# arms' mean final scores (convention: "90% of the learning both arms achieve").
TARGET_FRACTION = 0.9
# Q9: a change of the mismatch E smaller than this is reported as no change (convention).
MISMATCH_CHANGE = 0.01

QUESTIONS = {
    "related": "Are the tasks related?",
    "reusable": "Are the features reusable?",
    "limited": "Is target data limited?",
    "stable": "Was training stable?",
    "gradients": "Were gradients controlled?",
    "steady": "Did performance improve steadily?",
    "beat_scratch": "Did transfer beat scratch?",
    "faster": "Did it converge faster?",
    "healthy": "Did the representation stay healthy?",
}


@dataclass
class ChecklistReport:
    """The answers (``answers``: a list of dicts with ``id``, ``question``, ``verdict``,
    ``numbers``, ``explanation``), a summary per arm, the Markdown text and the figure
    paths. ``to_json()`` is a plain dict; ``save(out_dir)`` writes both files."""

    title: str
    answers: list[dict]
    arms: dict
    settings: dict
    figures: dict = field(default_factory=dict)

    def answer(self, question_id: str) -> dict:
        return next(a for a in self.answers if a["id"] == question_id)

    def to_json(self) -> dict:
        return jsonable({"title": self.title, "settings": self.settings, "arms": self.arms,
                         "answers": self.answers, "figures": self.figures})

    @property
    def markdown(self) -> str:
        return _markdown(self)

    def save(self, out_dir) -> dict[str, str]:
        """Write ``checklist.md`` and ``checklist.json`` into ``out_dir``."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        md, js = out_dir / "checklist.md", out_dir / "checklist.json"
        md.write_text(self.markdown, encoding="utf-8")
        js.write_text(json.dumps(self.to_json(), indent=2, allow_nan=True), encoding="utf-8")
        return {"markdown": str(md), "json": str(js)}


# ----------------------------------------------------------------------------- helpers


def _as_record(run) -> dict:
    if hasattr(run, "record") and callable(run.record):
        return run.record()
    if isinstance(run, Mapping):
        return dict(run)
    raise TypeError(f"a run must be a record dict or a TransferResult, got {type(run).__name__}")


def _final(record: dict, metric: str):
    value = record.get("final", {}).get(metric)
    return None if value is None else float(value)


def _evals(record: dict, key: str) -> list:
    return [r[key] for r in record.get("history", []) if r.get(key) is not None]


def _mean(values):
    values = [v for v in values if v is not None and not _isnan(v)]
    return float(np.mean(values)) if values else None


def _isnan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _pairs(a: list[dict], b: list[dict]):
    """Records of two arms matched by seed, in seed order."""
    by_seed = {r.get("seed"): r for r in b}
    return [(r, by_seed[r.get("seed")]) for r in a if r.get("seed") in by_seed]


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _answer(qid, verdict, numbers, explanation) -> dict:
    return {"id": qid, "question": QUESTIONS[qid], "verdict": verdict,
            "numbers": numbers, "explanation": explanation}


def _diff_numbers(diff) -> dict:
    return {"mean": diff.mean, "ci95": list(diff.ci), "n_seeds": diff.n,
            "per_seed": list(diff.differences)}


def _compare_verdict(diff, better: str, worse: str, equal: str) -> str:
    if diff.n < 2:
        side = better if diff.mean < 0 else worse if diff.mean > 0 else equal
        return f"{side} (one seed: no interval)"
    if diff.ci[1] < 0:
        return better
    if diff.ci[0] > 0:
        return worse
    return equal


# ----------------------------------------------------------------------------- questions


def _related(transfer):
    scores = [r["transferability"] for r in transfer if r.get("transferability")]
    if not scores:
        return _answer("related", "unknown", {}, "No transferability scores in the records: "
                       "run transferability(body, x, y) before training and pass it to "
                       "record(transferability=...).")
    numbers = {k: _mean([s.get(k) for s in scores])
               for k in ("probe_accuracy", "chance", "label_cka", "logme", "h_score", "leep")}
    probe, chance = numbers["probe_accuracy"], numbers["chance"] or 0.0
    lift = (probe - chance) / (1 - chance) if chance < 1 else 0.0
    numbers["lift"] = lift
    verdict = ("related" if lift >= RELATED_LIFT else
               "weakly related" if lift >= WEAK_LIFT else "unrelated")
    return _answer("related", verdict, numbers,
                   f"A converged linear probe on the frozen source features reaches "
                   f"{probe:.3f} against {chance:.3f} for guessing the commonest class: it "
                   f"closes {lift:.0%} of the gap to perfect (related ≥ {RELATED_LIFT:.0%}, "
                   f"weakly ≥ {WEAK_LIFT:.0%}).")


def _reusable(transfer, scratch, features, metric):
    first = [(_evals(r, "mismatch") or [None])[0] for r in transfer]
    numbers = {"E0": _mean(first)}
    if features and scratch and _pairs(features, scratch):
        pairs = _pairs(features, scratch)
        diff = paired_difference([_final(f, metric) for f, _ in pairs],
                                 [_final(s, metric) for _, s in pairs])
        source = "frozen features with a trained head"
    elif scratch and any(r.get("transferability") for r in transfer):
        pairs = [(t, s) for t, s in _pairs(transfer, scratch) if t.get("transferability")]
        diff = paired_difference([t["transferability"]["probe_accuracy"] for t, _ in pairs],
                                 [_final(s, metric) for _, s in pairs])
        source = "a converged linear probe on frozen features"
    else:
        return _answer("reusable", "unknown", numbers, "Needs a feature-extraction arm (or "
                       "transferability scores) and a scratch arm to compare with.")
    numbers.update(_diff_numbers(diff))
    verdict = "reusable as they are" if diff.mean >= -REUSE_MARGIN else "need adaptation"
    return _answer("reusable", verdict, numbers,
                   f"{source.capitalize()} minus scratch, {metric}: {diff.mean:+.3f} "
                   f"(95% CI {diff.ci[0]:+.3f} to {diff.ci[1]:+.3f}, {diff.n} seeds); "
                   f"within {REUSE_MARGIN} of scratch counts as reusable. Initial mismatch "
                   f"E₀ = {_fmt(numbers['E0'])} (lower: the features already line up with "
                   f"the classes).")


def _limited(transfer, scratch):
    rec = transfer[0]
    n, c = rec.get("n_train"), rec.get("num_classes")
    per_class = n / c if n and c else None
    gaps = [r["final"]["train_acc"] - r["final"]["val_acc"] for r in scratch
            if r.get("final", {}).get("train_acc") is not None
            and r["final"].get("val_acc") is not None]
    gap = _mean(gaps)
    numbers = {"n_train": n, "num_classes": c, "per_class": per_class, "scratch_overfit": gap}
    if per_class is None and gap is None:
        return _answer("limited", "unknown", numbers, "The records carry neither n_train "
                       "nor a scratch run.")
    limited = (per_class is not None and per_class < LIMITED_PER_CLASS) or (
        gap is not None and gap > OVERFIT_GAP)
    return _answer("limited", "limited" if limited else "not limited", numbers,
                   f"{_fmt(per_class)} labelled examples per class (limited below "
                   f"{LIMITED_PER_CLASS}, where ULMFiT's gains were largest); scratch "
                   f"training accuracy exceeds validation by {_fmt(gap)} (limited above "
                   f"{OVERFIT_GAP}).")


def _stable(transfer):
    per_seed, ratios = [], []
    for r in transfer:
        words = _evals(r, "stability")
        if r.get("final", {}).get("diverged"):
            words.append(T.DIVERGED)
        per_seed.append(T.worst(words) if words else None)
        ratios += _evals(r, "loss_ratio")
    if not any(per_seed):
        return _answer("stable", "unknown", {}, "No monitor data: attach a StabilityMonitor.")
    verdict = T.worst(w for w in per_seed if w)
    numbers = {"per_seed": per_seed, "max_loss_ratio": max(ratios) if ratios else None,
               "counts": {w: per_seed.count(w) for w in T.SEVERITY if w in per_seed}}
    reasons = []  # the reasons given the last time the worst verdict was reached
    for r in transfer:
        for row in r.get("history", []):
            if row.get("stability") == verdict:
                reasons = row.get("stability_reasons") or []
    return _answer("stable", verdict, numbers,
                   f"The worst monitor verdict over seeds was '{verdict}'"
                   + (f" ({'; '.join(reasons)})" if reasons else "") +
                   f". Largest smoothed loss / starting loss: "
                   f"{_fmt(numbers['max_loss_ratio'])} (explosion above "
                   f"{T.LOSS_EXPLOSION_FACTOR:g}).")


def _gradients(transfer):
    medians, spikes = [], []
    for r in transfer:
        rows = r.get("history", [])
        moving = [row["body_head_ratio"] for row in rows
                  if row.get("body_head_ratio") is not None and (row.get("body_update") or 0) > 0]
        if any(row.get("body_update") is not None for row in rows):
            medians.append(float(np.median(moving)) if moving else 0.0)
        norms: dict[str, list] = {}
        for row in rows:
            for layer, v in (row.get("grad_norm") or {}).items():
                norms.setdefault(layer, []).append(v)
        for v in norms.values():
            med = float(np.median(v))
            if med > 0:
                spikes.append(max(v) / med)
    if not medians and not spikes:
        return _answer("gradients", "unknown", {}, "No monitor data: attach a "
                       "StabilityMonitor.")
    ratio = _mean(medians)
    spike = max(spikes) if spikes else None
    ok = (ratio is None or ratio <= BODY_HEAD_CONTROLLED) and (spike is None
                                                                or spike <= GRAD_SPIKE)
    return _answer("gradients", "controlled" if ok else "not controlled",
                   {"median_body_head_update_ratio": ratio, "max_grad_spike": spike},
                   f"While the body trained, its relative update per step was "
                   f"{_fmt(ratio)}× the head's (median; 'Δθ_g ≪ Δθ_h' wants ≤ "
                   f"{BODY_HEAD_CONTROLLED}). The largest gradient norm of any layer was "
                   f"{_fmt(spike)}× its median (spike above {GRAD_SPIKE:g}×).")


def _steady(transfer):
    drops, gaps = [], []
    for r in transfer:
        curve = [v for v in _evals(r, "val_acc") if not _isnan(v)]
        if len(curve) < 2:
            continue
        best = np.maximum.accumulate(curve)
        drops.append(float(np.max(best - curve)))
        gaps.append(float(best[-1] - curve[-1]))
    if not drops:
        return _answer("steady", "unknown", {}, "Too few validation evaluations.")
    worst = max(drops)
    return _answer("steady", "steady" if worst <= STEADY_DROP else "unsteady",
                   {"max_drop_below_best": worst, "mean_final_below_best": _mean(gaps)},
                   f"The validation curve fell at most {worst:.3f} below its best so far "
                   f"(unsteady above {STEADY_DROP}); it ended {_mean(gaps):.3f} below its best "
                   f"on average.")


def _beat_scratch(transfer, scratch, metric):
    pairs = _pairs(transfer, scratch)
    if not pairs:
        return _answer("beat_scratch", "unknown", {}, "No scratch run with a matching seed.")
    ntg = negative_transfer_gap([1 - _final(t, metric) for t, _ in pairs],
                                [1 - _final(s, metric) for _, s in pairs])
    verdict = _compare_verdict(ntg, "yes", "no: negative transfer", "no clear difference")
    numbers = {"NTG": ntg.mean, **_diff_numbers(ntg),
               "transfer_mean": _mean(_final(t, metric) for t, _ in pairs),
               "scratch_mean": _mean(_final(s, metric) for _, s in pairs)}
    return _answer("beat_scratch", verdict, numbers,
                   f"Negative transfer gap NTG = error(transfer) − error(scratch) on "
                   f"{metric}: {ntg.mean:+.3f} (95% CI {ntg.ci[0]:+.3f} to {ntg.ci[1]:+.3f}, "
                   f"{ntg.n} seeds). Below 0 transfer helped; above 0 it hurt.")


def _faster(transfer, scratch, metric, target_acc):
    pairs = _pairs(transfer, scratch)
    if not pairs:
        return _answer("faster", "unknown", {}, "No scratch run with a matching seed.")
    if target_acc is None:  # most of the way from chance to what the weaker arm reached
        low = min(_mean(_final(t, metric) for t, _ in pairs) or 0.0,
                  _mean(_final(s, metric) for _, s in pairs) or 0.0)
        chance = _chance(transfer)
        target_acc = chance + TARGET_FRACTION * max(low - chance, 0.0)
    reach = []
    for t, s in pairs:
        st = [steps_to_reach(*_curve(x), target_acc) for x in (t, s)]
        reach.append(st)
    both = [(a, b) for a, b in reach if a is not None and b is not None]
    numbers = {"target_acc": target_acc, "transfer_steps": [a for a, _ in reach],
               "scratch_steps": [b for _, b in reach]}
    t_never = sum(a is None for a, _ in reach)
    s_never = sum(b is None for _, b in reach)
    if not both:
        verdict = ("faster" if s_never > t_never else "slower" if t_never > s_never
                   else "neither reached the target")
        return _answer("faster", verdict, numbers, f"Target {target_acc:.3f}: transfer never "
                       f"reached it in {t_never} seeds, scratch in {s_never}.")
    diff = paired_difference([a for a, _ in both], [b for _, b in both])
    numbers.update(_diff_numbers(diff))
    verdict = _compare_verdict(diff, "faster", "slower", "no clear difference")
    if t_never > s_never:
        verdict = "slower"
    return _answer("faster", verdict, numbers,
                   f"Steps to reach validation accuracy {target_acc:.3f}: transfer minus "
                   f"scratch {diff.mean:+.1f} (95% CI {diff.ci[0]:+.1f} to {diff.ci[1]:+.1f}, "
                   f"{diff.n} seeds where both got there; never reached: transfer {t_never}, "
                   f"scratch {s_never}). Only as fine as the evaluation grid.")


def _chance(records) -> float:
    """Accuracy of guessing the commonest class (from transferability scores), else 1/C."""
    scores = [r["transferability"]["chance"] for r in records
              if (r.get("transferability") or {}).get("chance") is not None]
    if scores:
        return float(np.mean(scores))
    classes = next((r.get("num_classes") for r in records if r.get("num_classes")), None)
    return 1.0 / classes if classes else 0.0


def _curve(record):
    rows = [r for r in record.get("history", []) if r.get("val_acc") is not None]
    return [r["step"] for r in rows], [r["val_acc"] for r in rows]


def _healthy(transfer):
    ckas, drops, rises, e0, e1 = [], [], [], [], []
    for r in transfer:
        final_cka = [v for v in (_evals(r, "cka_source")[-1:] + _evals(r, "cka_target")[-1:])
                     if not _isnan(v)]
        if final_cka:
            ckas.append(min(final_cka))
        src = _evals(r, "source_acc")
        if src:
            drops.append(src[0] - src[-1])
        dead = _evals(r, "dead_frac")
        if dead:
            rises.append(dead[-1] - dead[0])
        mismatch = [v for v in _evals(r, "mismatch") if not _isnan(v)]
        if mismatch:
            e0.append(mismatch[0])
            e1.append(mismatch[-1])
    if not (ckas or drops or rises):
        return _answer("healthy", "unknown", {}, "No monitor data: attach a StabilityMonitor "
                       "(with a source probe for forgetting).")
    numbers = {"final_cka": _mean(ckas), "min_final_cka": min(ckas) if ckas else None,
               "source_acc_drop": _mean(drops), "dead_frac_rise": _mean(rises),
               "E_start": _mean(e0), "E_end": _mean(e1)}
    grades = [T.grade(numbers["min_final_cka"], T.CKA_SHIFTING, T.CKA_ABRUPT, False),
              T.grade(max(drops) if drops else None, T.FORGET_SHIFTING, T.FORGET_ABRUPT),
              T.grade(max(rises) if rises else None, T.DEAD_RISE_SHIFTING, T.DEAD_RISE_ABRUPT)]
    word = {T.STABLE: "healthy", T.SHIFTING: "shifted", T.ABRUPT: "damaged"}[T.worst(grades)]
    trend = ""
    if e0:
        change = numbers["E_end"] - numbers["E_start"]
        if abs(change) < MISMATCH_CHANGE:
            trend = f" The mismatch E stayed at {numbers['E_start']:.3f}."
        else:
            trend = (f" The mismatch E {'fell' if change < 0 else 'rose'} from "
                     f"{numbers['E_start']:.3f} to {numbers['E_end']:.3f} "
                     f"({'useful' if change < 0 else 'destructive'} updates dominated).")
    return _answer("healthy", word, numbers,
                   f"Final CKA to the pretrained features {_fmt(numbers['final_cka'])} "
                   f"(shifted below {T.CKA_SHIFTING}, damaged below {T.CKA_ABRUPT}); source "
                   f"accuracy dropped by {_fmt(numbers['source_acc_drop'])}; dead ReLU units "
                   f"rose by {_fmt(numbers['dead_frac_rise'])}.{trend}")


# ----------------------------------------------------------------------------- report


def _arm_summary(by_arm: dict, metric: str) -> dict:
    out = {}
    for arm, records in by_arm.items():
        values = [_final(r, metric) for r in records]
        values = [v for v in values if v is not None]
        out[arm] = {"seeds": [r.get("seed") for r in records], "metric": metric,
                    "values": values, "mean": _mean(values),
                    "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None}
    return out


def checklist_report(runs, *, transfer_arm: str | None = None, scratch_arm: str = "scratch",
                     feature_arm: str | None = None, metric: str | None = None,
                     target_acc: float | None = None, out_dir=None,
                     title: str = "Transfer checklist") -> ChecklistReport:
    """Answer the transfer checklist from run records of several arms and seeds.

    ``runs``: records (dicts from :meth:`TransferResult.record`, or the results
    themselves). ``transfer_arm`` is the arm under review (default: the first arm that is
    not ``scratch_arm`` or ``feature_arm``); ``scratch_arm`` the baseline;
    ``feature_arm`` a frozen-feature arm (default: "feature_extraction" if present).
    ``metric``: the final score compared across arms (default ``test_acc`` when every
    record has it, else ``val_acc``). ``target_acc``: the accuracy for "converged faster"
    (default: 90% of the way from chance to the lower of the two arms' mean). With
    ``out_dir`` the Markdown, JSON and figures are written there.
    """
    records = [_as_record(r) for r in runs]
    if not records:
        raise ValueError("checklist_report needs at least one run record")
    by_arm: dict[str, list[dict]] = {}
    for r in records:
        by_arm.setdefault(str(r.get("arm")), []).append(r)
    for arm in by_arm:
        by_arm[arm].sort(key=lambda r: (r.get("seed") is None, r.get("seed")))
    if feature_arm is None and "feature_extraction" in by_arm:
        feature_arm = "feature_extraction"
    if transfer_arm is None:
        others = [a for a in by_arm if a not in (scratch_arm, feature_arm)]
        transfer_arm = others[0] if others else next(iter(by_arm))
    if transfer_arm not in by_arm:
        raise ValueError(f"no records of arm {transfer_arm!r}; arms: {sorted(by_arm)}")
    if metric is None:
        metric = "test_acc" if all("test_acc" in r.get("final", {}) for r in records) \
            else "val_acc"
    transfer = by_arm[transfer_arm]
    scratch = by_arm.get(scratch_arm, [])
    features = by_arm.get(feature_arm, []) if feature_arm else []
    answers = [
        _related(transfer),
        _reusable(transfer, scratch, features, metric),
        _limited(transfer, scratch),
        _stable(transfer),
        _gradients(transfer),
        _steady(transfer),
        _beat_scratch(transfer, scratch, metric),
        _faster(transfer, scratch, metric, target_acc),
        _healthy(transfer),
    ]
    report = ChecklistReport(
        title, jsonable(answers), _arm_summary(by_arm, metric),
        {"transfer_arm": transfer_arm, "scratch_arm": scratch_arm, "feature_arm": feature_arm,
         "metric": metric})
    if out_dir is not None:
        report.figures = save_all(by_arm, transfer_arm, out_dir)
        report.save(out_dir)
    return report


def _markdown(report: ChecklistReport) -> str:
    s = report.settings
    lines = [f"# {report.title}", "",
             f"Arm under review: **{s['transfer_arm']}**; baseline: **{s['scratch_arm']}**; "
             f"score: `{s['metric']}`.", "",
             "| arm | seeds | mean | sd |", "|---|---|---|---|"]
    for arm, a in report.arms.items():
        lines.append(f"| {arm} | {len(a['seeds'])} | {_fmt(a['mean'])} | {_fmt(a['sd'])} |")
    lines += ["", "| # | question | verdict |", "|---|---|---|"]
    for i, a in enumerate(report.answers, 1):
        lines.append(f"| {i} | {a['question']} | **{a['verdict']}** |")
    for i, a in enumerate(report.answers, 1):
        lines += ["", f"## {i}. {a['question']} — {a['verdict']}", "", a["explanation"]]
        if a["numbers"]:
            lines.append("")
            lines += [f"- `{k}`: {_fmt(v)}" for k, v in a["numbers"].items()]
    if report.figures:
        lines += ["", "## Figures", ""]
        lines += [f"![{name}]({Path(path).name})" for name, path in report.figures.items()]
    return "\n".join(lines) + "\n"
