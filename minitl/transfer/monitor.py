"""The stability monitor: watch a model while it adapts, and say how it is moving.

Safe transfer keeps the representation g moving slowly while the decision h adapts,
"Δθ_g ≪ Δθ_h"; naive transfer moves both alike and can overwrite what the source
taught. The monitor turns that into curves you can look at:

=====================  =================================================================
per recorded step      ``grad_norm`` (per layer), ``update_ratio`` ‖Δθ‖/‖θ‖ of the step
                       (per layer), ``drift`` ‖θ − θ₀‖/‖θ₀‖ since attaching (per layer),
                       ``body_update``/``head_update`` and their ratio
                       ``body_head_ratio``, ``body_drift``, ``loss_ratio`` (smoothed loss
                       over its starting value)
per evaluation         ``cka_target``/``cka_source``: linear CKA between the body's
                       features now and when attached, on fixed probe inputs;
                       ``mismatch`` E_t = 1 − CKA(features, one-hot target labels);
                       with ``mismatch_parts``: ``mismatch_useful`` and
                       ``mismatch_destructive``, the two parts of the change of E since
                       the previous evaluation (they add up to it exactly, see
                       :func:`~minitl.transfer.mismatch.mismatch_decomposition`);
                       ``source_acc`` through the original source head (forgetting);
                       ``dead_frac`` of ReLU units silent on every probe input;
                       ``stability`` ("stable", "shifting", "abrupt") and the reasons
=====================  =================================================================

A NaN or Inf in the loss or a gradient stops training with
:class:`minitl.errors.TrainingDivergedError`, naming the step and the layer where it
started (see :mod:`minitl.transfer.divergence`). The thresholds behind the words are in
:mod:`minitl.transfer.thresholds`, each with its source.

Use it in :func:`~minitl.transfer.train_loop` and every recipe (``monitor=...``), or in
a loop of your own::

    monitor = StabilityMonitor(target_probe=(x_val, y_val)).attach(model)
    for step, (x, y) in enumerate(loader, start=1):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(); loss.backward()
        monitor.on_backward(step, loss, inputs=x)    # raises on NaN/Inf
        optimizer.step()
        monitor.on_step(step, loss.item())
        if step % 50 == 0:
            print(monitor.on_eval(step)["stability"])
    monitor.history                                  # every row recorded
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import Tensor, no_grad
from ..creation import tensor
from ..errors import TrainingDivergedError
from ..nn import Module, ReLU
from . import thresholds as T
from ._arrays import host_array
from .divergence import check_finite, is_finite
from .loop import History
from .metrics import linear_cka, representation_mismatch
from .mismatch import mismatch_decomposition
from .model import BodyHead, copy_module, evaluating, model_device

__all__ = ["StabilityMonitor", "stability_verdict"]


def _sq_norm(array) -> float:
    xp = backend.get_array_module(array)
    a = array.astype(xp.float64) if array.dtype != xp.float64 else array
    return float((a * a).sum())


def _subsample(data, size: int, seed: int):
    """At most ``size`` examples of ``(x, y)``, chosen once with a seeded generator."""
    if data is None:
        return None
    x, y = data
    x, y = host_array(x), host_array(y)
    if x.shape[0] > size:
        idx = np.sort(np.random.default_rng(seed).choice(x.shape[0], size, replace=False))
        x, y = x[idx], y[idx]
    return x, y


def _group_of(layer: str) -> str:
    for group in ("body", "head"):
        if layer == group or layer.startswith(group + "."):
            return group
    return "other"


def stability_verdict(row: dict, initial: dict | None = None,
                      recent_body_updates=()) -> tuple[str, list[str]]:
    """``(word, reasons)`` for a set of monitor measurements.

    Each available signal is graded against :mod:`~minitl.transfer.thresholds`; the
    verdict is the worst grade, and ``reasons`` lists every signal that was not stable
    (or says that all were). ``initial`` holds the values at attach time (source accuracy,
    dead fraction); ``recent_body_updates`` the last per-step body update ratios.
    """
    initial = initial or {}
    graded = []
    updates = [u for u in recent_body_updates if u is not None]
    if updates:
        median = float(np.median(updates))
        graded.append((T.grade(median, T.UPDATE_SHIFTING, T.UPDATE_ABRUPT),
                       f"median body update per step {median:.2g} "
                       f"(shifting ≥ {T.UPDATE_SHIFTING:g}, abrupt ≥ {T.UPDATE_ABRUPT:g})"))
    if row.get("body_drift") is not None:
        d = row["body_drift"]
        graded.append((T.grade(d, T.DRIFT_SHIFTING, T.DRIFT_ABRUPT),
                       f"body drift ‖θ−θ₀‖/‖θ₀‖ = {d:.3g} "
                       f"(shifting ≥ {T.DRIFT_SHIFTING:g}, abrupt ≥ {T.DRIFT_ABRUPT:g})"))
    ckas = [row[k] for k in ("cka_source", "cka_target") if row.get(k) is not None]
    if ckas:
        c = min(ckas)
        graded.append((T.grade(c, T.CKA_SHIFTING, T.CKA_ABRUPT, higher_is_worse=False),
                       f"CKA to the pretrained features {c:.3f} "
                       f"(shifting < {T.CKA_SHIFTING:g}, abrupt < {T.CKA_ABRUPT:g})"))
    if row.get("source_acc") is not None and initial.get("source_acc") is not None:
        drop = initial["source_acc"] - row["source_acc"]
        graded.append((T.grade(drop, T.FORGET_SHIFTING, T.FORGET_ABRUPT),
                       f"source accuracy {initial['source_acc']:.3f} → {row['source_acc']:.3f} "
                       f"(drop shifting ≥ {T.FORGET_SHIFTING:g}, abrupt ≥ {T.FORGET_ABRUPT:g})"))
    if row.get("dead_frac") is not None and initial.get("dead_frac") is not None:
        rise = row["dead_frac"] - initial["dead_frac"]
        graded.append((T.grade(rise, T.DEAD_RISE_SHIFTING, T.DEAD_RISE_ABRUPT),
                       f"dead ReLU units {initial['dead_frac']:.2f} → {row['dead_frac']:.2f}"))
    if row.get("loss_exploded"):
        graded.append((T.ABRUPT, f"smoothed loss above {T.LOSS_EXPLOSION_FACTOR:g}× its start"))
    word = T.worst(g for g, _ in graded)
    reasons = [f"{why}: {g}" for g, why in graded if g != T.STABLE]
    if not reasons:
        reasons = ["every signal is below its 'shifting' threshold" if graded
                   else "nothing measured yet"]
    return word, reasons


class StabilityMonitor:
    """Record how a model's parameters and representation move during training.

    Parameters
    ----------
    target_probe:
        ``(inputs, labels)`` of the target task: fixed probe inputs for the CKA drift on
        target data, the mismatch E_t and the dead-unit count. Recipes fill it from the
        validation data when it is not given.
    source_probe:
        ``(inputs, labels)`` of the *source* task: CKA drift on source inputs, and, with
        a source head, the source accuracy (forgetting).
    probe_size:
        At most this many probe examples are kept (a seeded subset): CKA costs grow
        with the square of it.
    every:
        Record the per-step measurements every ``every`` steps (the NaN check runs on
        every step regardless).
    stop_on_explosion:
        Also raise TrainingDivergedError when the smoothed loss exceeds
        ``LOSS_EXPLOSION_FACTOR`` times its start (otherwise it is only recorded).
    mismatch_parts:
        At every evaluation, split the change of E since the previous one into its useful
        and destructive parts (costs one backward pass of the body on the target probe).
    """

    def __init__(self, target_probe=None, source_probe=None, *, probe_size: int = 256,
                 every: int = 1, stop_on_explosion: bool = False, seed: int = 0,
                 batch_size: int = 256, mismatch_parts: bool = False):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.probe_size, self.every, self.seed = int(probe_size), int(every), seed
        self.stop_on_explosion, self.batch_size = stop_on_explosion, batch_size
        self.mismatch_parts = bool(mismatch_parts)
        self._given = (_subsample(target_probe, self.probe_size, seed),
                       _subsample(source_probe, self.probe_size, seed + 1))
        self.target_probe, self.source_probe = self._given
        self.model: Module | None = None

    # ------------------------------------------------------------------ attaching

    def attach(self, model: Module, *, source_head: Module | None = None,
               default_target_probe=None) -> StabilityMonitor:
        """Start watching ``model``; its current weights become θ₀ and its current body
        features the reference for CKA. Clears anything recorded before. Returns self.

        ``model`` should be a :class:`BodyHead` (for the representation measurements and
        the body/head split); any other Module gets the per-layer parameter measurements
        only. ``source_head`` is the pretrained model's head (copied here), used with the
        source probe to measure forgetting. ``default_target_probe`` is used when the
        monitor was made without a target probe (recipes pass the validation data).
        """
        self.model = model
        self.body = model.body if isinstance(model, BodyHead) else None
        self.target_probe, self.source_probe = self._given
        if self.target_probe is None and default_target_probe is not None:
            self.target_probe = _subsample(default_target_probe, self.probe_size, self.seed)
        self.source_head = None
        if source_head is not None:
            self.source_head = copy_module(source_head).to(model_device(model)).freeze()
        self._params = list(model.named_parameters())
        # a parameter's layer is the module that owns it: "body.0.weight" -> "body.0"
        self._layer = {name: name.rpartition(".")[0] or "model" for name, _ in self._params}
        self._theta0 = {n: p.data.copy() for n, p in self._params}
        self._before: dict | None = None
        self._loss_start: list[float] = []
        self._loss_ema: float | None = None
        self._loss_ratio: float | None = None
        self._body_updates: list[float] = []
        self._last_step_metrics: dict = {}
        self.history = History()
        self._probe_state = None
        self._probe_cache: dict = {}
        self._ref: dict = {}  # features at attach time, filled by the first measurement
        self._body_before = self._body_state() if self.mismatch_parts else None
        self.initial = self._representation()
        return self

    def _require_attached(self):
        if self.model is None:
            raise RuntimeError("StabilityMonitor: call attach(model) before training")

    def _recording(self, step: int) -> bool:
        return step % self.every == 0

    def _row(self, step: int) -> dict:
        if not self.history.rows or self.history.rows[-1]["step"] != step:
            self.history.append({"step": step})
        return self.history.rows[-1]

    # ------------------------------------------------------------------ per step

    def on_backward(self, step: int, loss, inputs=None, module: Module | None = None,
                    prefix: str = "") -> dict:
        """Gradients are ready, weights not yet changed: check for NaN/Inf (raises
        TrainingDivergedError naming the layer), record per-layer gradient norms and
        remember the weights to measure this step's update.

        ``module``/``prefix``: the module the loss was computed with, if not the attached
        model (e.g. the head alone on cached features, ``prefix="head"``); ``inputs``
        lets the divergence search re-run that module's forward pass.
        """
        self._require_attached()
        check_finite(step, loss, module if module is not None else self.model, inputs, prefix)
        if not self._recording(step):
            self._before = None
            return {}
        squares: dict[str, float] = {}
        for name, p in self._params:
            if p.grad is not None:
                layer = self._layer[name]
                squares[layer] = squares.get(layer, 0.0) + _sq_norm(p.grad.data)
        norms = {layer: math.sqrt(v) for layer, v in squares.items()}
        self._before = {n: p.data.copy() for n, p in self._params if p.grad is not None}
        out = {"grad_norm": norms}
        self._row(step).update(out)
        return out

    def on_step(self, step: int, loss) -> dict:
        """The optimizer has stepped: record update ratios, drift and the loss trend."""
        self._require_attached()
        value = float(loss.item() if isinstance(loss, Tensor) else loss)
        out: dict = {}
        if len(self._loss_start) < T.LOSS_START_STEPS:
            self._loss_start.append(value)
        ema = self._loss_ema
        self._loss_ema = value if ema is None else (1 - T.LOSS_EMA) * ema + T.LOSS_EMA * value
        start = float(np.mean(self._loss_start))
        if len(self._loss_start) >= T.LOSS_START_STEPS and start > 0:
            out["loss_ratio"] = self._loss_ratio = self._loss_ema / start
            if out["loss_ratio"] > T.LOSS_EXPLOSION_FACTOR:
                out["loss_exploded"] = True
                if self.stop_on_explosion:
                    error = TrainingDivergedError(
                        f"training stopped at step {step}: the smoothed loss "
                        f"{self._loss_ema:.4g} is {out['loss_ratio']:.2f}× its start "
                        f"{start:.4g} (limit {T.LOSS_EXPLOSION_FACTOR:g}×)")
                    error.step, error.layer, error.where = step, "loss", "loss explosion"
                    raise error
        if self._recording(step):
            out.update(self._update_metrics())
            self._last_step_metrics = out
        self._row(step).update(out)
        return out

    def _update_metrics(self) -> dict:
        before = self._before or {}
        delta_sq, norm_sq, drift_sq, norm0_sq = {}, {}, {}, {}
        for name, p in self._params:
            layer = self._layer[name]
            d = _sq_norm(p.data - before[name]) if name in before else 0.0
            delta_sq[layer] = delta_sq.get(layer, 0.0) + d
            norm_sq[layer] = norm_sq.get(layer, 0.0) + _sq_norm(p.data)
            drift_sq[layer] = drift_sq.get(layer, 0.0) + _sq_norm(p.data - self._theta0[name])
            norm0_sq[layer] = norm0_sq.get(layer, 0.0) + _sq_norm(self._theta0[name])

        def ratio(num, den):
            return math.sqrt(num) / math.sqrt(den) if den > 0 else None

        out = {
            "update_ratio": {k: ratio(delta_sq[k], norm_sq[k]) for k in delta_sq},
            "drift": {k: ratio(drift_sq[k], norm0_sq[k]) for k in drift_sq},
        }
        for group in ("body", "head"):
            layers = [k for k in delta_sq if _group_of(k) == group]
            if layers:
                out[f"{group}_update"] = ratio(sum(delta_sq[k] for k in layers),
                                               sum(norm_sq[k] for k in layers))
                out[f"{group}_drift"] = ratio(sum(drift_sq[k] for k in layers),
                                              sum(norm0_sq[k] for k in layers))
        body, head = out.get("body_update"), out.get("head_update")
        if body is not None and head:
            out["body_head_ratio"] = body / head
        if body is not None:
            self._body_updates = (self._body_updates + [body])[-T.UPDATE_WINDOW:]
        self._before = None
        return out

    # ------------------------------------------------------------------ per evaluation

    def on_eval(self, step: int) -> dict:
        """Measure the representation on the probes and give the stability verdict."""
        self._require_attached()
        out = self._representation()
        if self.mismatch_parts and self.body is not None and self.target_probe is not None:
            now = self._body_state()
            parts = mismatch_decomposition(copy_module(self.body), *self.target_probe,
                                           self._body_before, now)
            out["mismatch_useful"] = parts["useful"]
            out["mismatch_destructive"] = parts["destructive"]
            self._body_before = now
        signals = {**self._last_step_metrics, **out}
        signals["loss_exploded"] = (self._loss_ratio or 0.0) > T.LOSS_EXPLOSION_FACTOR
        word, reasons = stability_verdict(signals, self.initial, self._body_updates)
        out["stability"], out["stability_reasons"] = word, reasons
        self._row(step).update(out)
        return out

    def _body_state(self) -> dict:
        return {n: backend.to_numpy(p.data).copy() for n, p in self.body.named_parameters()} \
            if self.body is not None else {}

    def verdict(self) -> tuple[str, list[str]]:
        """The verdict of the latest evaluation (``("stable", ...)`` before any)."""
        word = self.history.last("stability", T.STABLE)
        return word, self.history.last("stability_reasons", ["nothing measured yet"])

    def _probe(self, x, labels_for_head=None):
        """Body features of ``x`` (host, float64 matrix), dead ReLU fraction, source acc."""
        body, device = self.body, model_device(self.body)
        alive: dict[int, object] = {}

        def hook(module, args, output):
            hit = (output.data != 0).reshape(output.shape[0], -1).any(axis=0)
            alive[id(module)] = hit if id(module) not in alive else alive[id(module)] | hit

        handles = [m.register_forward_hook(hook) for m in body.modules() if isinstance(m, ReLU)]
        feats, correct = [], 0
        try:
            with no_grad(), evaluating(body):
                for i in range(0, x.shape[0], self.batch_size):
                    z = body(tensor(x[i:i + self.batch_size]).to(device))
                    feats.append(backend.to_numpy(z.data).reshape(z.shape[0], -1))
                    if labels_for_head is not None:
                        with evaluating(self.source_head):
                            logits = self.source_head(z)
                        pred = backend.to_numpy(logits.data).argmax(axis=1)
                        correct += int((pred == labels_for_head[i:i + self.batch_size]).sum())
        finally:
            for h in handles:
                h.remove()
        dead = None
        if alive:
            total = sum(int(a.size) for a in alive.values())
            live = sum(int(backend.to_numpy(a).sum()) for a in alive.values())
            dead = 1.0 - live / total if total else None
        acc = correct / x.shape[0] if labels_for_head is not None else None
        return np.concatenate(feats).astype(np.float64), dead, acc

    def _representation(self) -> dict:
        if self.body is None:
            return {}
        state = self.body.state_dict()
        if self._probe_state is not None and state.keys() == self._probe_state.keys() and all(
                bool(backend.get_array_module(v).array_equal(v, self._probe_state[k]))
                for k, v in state.items()):
            return dict(self._probe_cache)  # the body has not changed: same numbers
        out: dict = {}
        if self.target_probe is not None:
            x, y = self.target_probe
            feats, dead, _ = self._probe(x)
            self._ref.setdefault("target", feats)
            finite = is_finite(feats)
            out["cka_target"] = linear_cka(self._ref["target"], feats) if finite else math.nan
            out["mismatch"] = representation_mismatch(feats, y) if finite else math.nan
            if dead is not None:
                out["dead_frac"] = dead
        if self.source_probe is not None:
            x, y = self.source_probe
            head_labels = y if self.source_head is not None else None
            feats, _, acc = self._probe(x, head_labels)
            self._ref.setdefault("source", feats)
            finite = is_finite(feats)
            out["cka_source"] = linear_cka(self._ref["source"], feats) if finite else math.nan
            if acc is not None:
                out["source_acc"] = acc
        self._probe_state, self._probe_cache = state, dict(out)
        return out

    def __repr__(self):
        if self.model is None:
            return "StabilityMonitor(not attached)"
        layers = len(set(self._layer.values()))
        return f"StabilityMonitor({layers} layers, {len(self.history)} rows)"
