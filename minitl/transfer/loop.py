"""The one training loop every recipe uses, and the small tools around it.

:func:`train_loop` is ordinary mini-batch training written out once::

    for each batch:   forward → loss (+ penalty) → backward → NaN check
                      → monitor.on_backward → optimizer.step → scheduler.step
                      → monitor.on_step → every k steps: evaluate (+ monitor.on_eval)

and it appends one row per optimizer step to a :class:`History`. A recipe with several
phases (head first, then unfreezing) calls it once per phase with the same history, so
the step count and the curves run on. Every row is a plain dict of numbers and strings,
so a history is JSON as it stands.

Randomness: the loader's batch order comes from its seed, augmentation from
``augment_seed``; nothing reads a global random state, so the same seeds give the same
bits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from .. import backend
from ..autograd import Tensor, no_grad
from ..errors import ArgumentError
from ..nn import Module
from ..nn.functional import cross_entropy
from ..optim import SGD, Adam, AdamW, clip_grad_norm_
from ._arrays import host_array
from .divergence import check_finite
from .model import evaluating, model_device

__all__ = [
    "History", "as_xy", "derive_seed", "evaluate", "extract_features", "jsonable",
    "final_metrics", "make_optimizer", "set_train_mode", "train_loop",
]


def jsonable(value):
    """``value`` with NumPy scalars/arrays turned into Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) or backend.is_cupy_array(value):
        return backend.to_numpy(value).tolist()
    return value


class History:
    """The rows of a run: one dict per optimizer step, plus evaluation rows.

    Every row has ``step`` and ``phase``; training rows add ``loss``, ``lr`` (one rate per
    param group) and whatever the monitor recorded; rows where an evaluation ran add
    ``val_acc``, ``val_loss``, ``train_acc`` (the running accuracy on the batches since
    the previous evaluation) and the monitor's representation metrics. An evaluation
    before the first step is a row with ``step`` 0.
    """

    def __init__(self, rows: Iterable[dict] | None = None):
        self.rows: list[dict] = [dict(r) for r in rows] if rows else []

    def append(self, row: dict) -> None:
        self.rows.append(row)

    @property
    def step(self) -> int:
        """The last optimizer step recorded (0 before training)."""
        return self.rows[-1]["step"] if self.rows else 0

    def column(self, key: str, phase: str | None = None) -> tuple[list[int], list]:
        """``(steps, values)`` of every row that has ``key`` (and the given phase)."""
        rows = [r for r in self.rows if key in r and (phase is None or r["phase"] == phase)]
        return [r["step"] for r in rows], [r[key] for r in rows]

    def last(self, key: str, default=None):
        """The latest value recorded under ``key``."""
        for row in reversed(self.rows):
            if key in row:
                return row[key]
        return default

    def evaluations(self) -> list[dict]:
        """The rows on which an evaluation ran."""
        return [r for r in self.rows if any(k in r for k in ("val_acc", "train_acc",
                                                             "stability"))]

    def to_list(self) -> list[dict]:
        return jsonable(self.rows)

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __repr__(self):
        return f"History({len(self.rows)} rows, last step {self.step})"


def derive_seed(seed: int, purpose: str) -> int:
    """An independent seed for one use (``"head"``, ``"loader"``, ...) derived from ``seed``.

    Recipes given the same seed therefore share the head's initialisation and the batch
    order, which is what makes per-seed comparisons between recipes paired.
    """
    tag = int.from_bytes(purpose.encode()[:8].ljust(8, b"\0"), "little")
    return int(np.random.SeedSequence([int(seed), tag]).generate_state(1)[0])


def as_xy(data) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs, labels)`` as host arrays from a pair (tuple, LabelledImages, ...)."""
    if data is None:
        raise ValueError("expected (inputs, labels), got None")
    x, y = data
    x, y = host_array(x), host_array(y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x.shape[0]} inputs but {y.shape[0]} labels")
    return x, y


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0,
                   momentum: float = 0.9):
    """``"adam"``, ``"adamw"`` or ``"sgd"`` (with momentum) over ``params`` (or groups)."""
    name = name.lower()
    if name == "adam":
        return Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}: use 'adam', 'adamw' or 'sgd'")


def set_train_mode(model: Module) -> None:
    """Training mode, except for frozen parts: a module whose parameters are all frozen
    runs in eval mode, with its subtree.

    A frozen layer should be a fixed function. In training mode a frozen BatchNorm would
    still update its running statistics and a Dropout inside a frozen body would still
    drop, so the "frozen" body would change what it computes.
    """
    _set_modes(model, _frozen_parts(model))


def _frozen_parts(model: Module) -> list:
    """The modules of ``model`` whose parameters are all frozen (none without parameters)."""
    out = []
    for m in model.modules():
        params = list(m.parameters())
        if params and not any(p.requires_grad for p in params):
            out.append(m)
    return out


def _set_modes(model: Module, frozen: list) -> None:
    """:func:`set_train_mode` with its frozen parts already found."""
    model.train()
    for m in frozen:
        m.eval()


def _batch(array: np.ndarray, device: str) -> Tensor:
    """A batch (a host array) as an input tensor on ``device``: a C-ordered array is not
    copied on the host (no op writes into its inputs), any other is, as ``tensor`` would."""
    return Tensor(array if array.flags.c_contiguous else array.copy()).to(device)


def _batches(x: np.ndarray, batch_size: int):
    for i in range(0, x.shape[0], batch_size):
        yield i, x[i:i + batch_size]


def extract_features(body: Module, x, batch_size: int = 256) -> np.ndarray:
    """``body(x)`` for every input, in batches, in eval mode under no_grad, on the host.

    This is what "frozen features" means: computed once, with BatchNorm's running
    statistics and without Dropout, and then reused as fixed inputs.
    """
    x = host_array(x)
    device = model_device(body)
    chunks = []
    with no_grad(), evaluating(body):
        for _, xb in _batches(x, batch_size):
            chunks.append(backend.to_numpy(body(_batch(xb, device)).data))
    return np.concatenate(chunks) if chunks else np.zeros((0,), dtype=np.float32)


def evaluate(model: Module, x, y, batch_size: int = 256,
             loss_fn: Callable = cross_entropy) -> dict:
    """Accuracy and mean loss of ``model`` on ``(x, y)``, eval mode, under no_grad."""
    x, y = host_array(x), host_array(y)
    device = model_device(model)
    correct, loss_sum = 0, 0.0
    with no_grad(), evaluating(model):
        for i, xb in _batches(x, batch_size):
            yb = y[i:i + batch_size]
            logits = model(_batch(xb, device))
            loss_sum += float(loss_fn(logits, _batch(yb, device)).item()) * len(yb)
            pred = backend.to_numpy(logits.data).argmax(axis=1)
            correct += int((pred == yb).sum())
    n = max(int(y.shape[0]), 1)
    return {"acc": correct / n, "loss": loss_sum / n}


def train_loop(model: Module, loader, optimizer, *, epochs: int | None = None,
               steps: int | None = None, loss_fn: Callable = cross_entropy, scheduler=None,
               monitor=None, val=None, eval_every: int | None = None, penalty=None,
               history: History | None = None, phase: str = "train", augment=None,
               augment_seed: int = 0, max_grad_norm: float | None = None,
               prefix: str = "", eval_at_start: bool = True) -> History:
    """Train ``model`` on ``loader`` and return the history (appended to ``history``).

    Arguments
    ---------
    model, loader, optimizer:
        The module trained (a whole BodyHead, or just a head on cached features), a
        :class:`minitl.data.DataLoader` of ``(inputs, labels)``, and its optimizer.
    epochs, steps:
        How long: ``epochs`` passes over the loader, or exactly ``steps`` optimizer steps
        (whichever is given; ``steps`` wins if both are).
    loss_fn:
        ``loss_fn(logits, labels)``, cross-entropy by default.
    scheduler:
        Stepped once after every optimizer step.
    monitor:
        A :class:`~minitl.transfer.StabilityMonitor` (or any object with
        ``on_backward``, ``on_step``, ``on_eval``) already attached to the full model;
        whatever dicts it returns are merged into the rows.
    val, eval_every:
        ``(inputs, labels)`` to evaluate on every ``eval_every`` steps (default: once per
        epoch), before the first step and after the last.
    penalty:
        A callable returning a scalar Tensor added to the loss (e.g. an
        :class:`~minitl.optim.L2SP`).
    augment, augment_seed:
        ``augment(x, rng)`` transforms each NumPy input batch before it becomes a Tensor.
    max_grad_norm:
        Clip the global gradient norm to this (default: no clipping).
    prefix:
        Name of ``model`` inside the full model (``"head"`` when training only the head),
        used in divergence messages.

    A non-finite loss or gradient raises :class:`minitl.errors.TrainingDivergedError`
    naming the step and the layer where it started, before the weights are touched.
    """
    history = history if history is not None else History()
    if steps is None and epochs is None:
        raise ValueError("train_loop: give epochs or steps")
    for key, value in (("steps", steps), ("epochs", epochs)):
        counts = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        if value is not None and not (counts and value >= 0):
            raise ArgumentError(f"train_loop: {key} must be an integer >= 0, got {value!r}")
    per_epoch = len(loader)
    if per_epoch == 0:
        raise ValueError("train_loop: the loader yields no batches (no data, or drop_last "
                         "with fewer samples than one batch)")
    total = int(steps) if steps is not None else int(epochs) * per_epoch
    eval_every = int(eval_every or per_epoch)
    device = model_device(model)
    rng = np.random.default_rng(augment_seed)
    params = [p for p in model.parameters()]
    step0 = history.step
    correct, seen = 0, 0

    def run_eval(step):
        nonlocal correct, seen
        row = {}
        if seen:
            row["train_acc"] = correct / seen
        correct, seen = 0, 0
        if val is not None:
            result = evaluate(model, val[0], val[1], loss_fn=loss_fn)
            row["val_acc"], row["val_loss"] = result["acc"], result["loss"]
        if monitor is not None:
            row.update(monitor.on_eval(step) or {})
        return row

    if eval_at_start and not any(r["step"] == step0 for r in history.evaluations()):
        history.append({"step": step0, "phase": phase, **run_eval(step0)})

    # The frozen parts (for the train/eval modes) are looked up again only when a
    # parameter's requires_grad flag changes during the loop.
    flags = [p.requires_grad for p in params]
    frozen = _frozen_parts(model)
    _set_modes(model, frozen)
    step = step0
    while step - step0 < total:
        for batch in loader.numpy_batches():
            if step - step0 >= total:
                break
            xb, yb = batch[0], batch[1]
            if augment is not None:
                xb = np.asarray(augment(xb, rng), dtype=xb.dtype)
            x, y = _batch(xb, device), _batch(yb, device)
            step += 1
            logits = model(x)
            loss = loss_fn(logits, y)
            if penalty is not None:
                loss = loss + penalty()
            optimizer.zero_grad()
            for p in params:  # model.zero_grad(), with the parameters listed once
                p.grad = None
            if loss.requires_grad:
                loss.backward()
            row = {"step": step, "phase": phase}
            if monitor is not None:
                row.update(monitor.on_backward(step, loss, inputs=x, module=model,
                                               prefix=prefix) or {})
            else:
                check_finite(step, loss, model, inputs=x, prefix=prefix, params=params)
            if max_grad_norm is not None:
                row["grad_norm_total"] = clip_grad_norm_(params, max_grad_norm)
            row["lr"] = [float(g["lr"]) for g in optimizer.param_groups]  # used by this step
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            loss_value = float(loss.item())
            row["loss"] = loss_value
            if monitor is not None:
                row.update(monitor.on_step(step, loss_value) or {})
            pred = backend.to_numpy(logits.data).argmax(axis=1)
            correct += int((pred == yb).sum())
            seen += int(yb.shape[0])
            if (step - step0) % eval_every == 0 or step - step0 == total:
                row.update(run_eval(step))
                if flags != [p.requires_grad for p in params]:
                    flags, frozen = [p.requires_grad for p in params], _frozen_parts(model)
                _set_modes(model, frozen)
            history.append(row)
    return history


def final_metrics(history: History) -> dict:
    """The last evaluation's numbers (``val_acc``, ``val_loss``, ``train_acc``) and steps."""
    out = {"steps": history.step}
    for key in ("val_acc", "val_loss", "train_acc"):
        value = history.last(key)
        if value is not None:
            out[key] = value
    return out
