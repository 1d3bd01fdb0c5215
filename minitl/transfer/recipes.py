"""Five ways to use a pretrained model on a new task, each a short function.

Every recipe takes the same things, a pretrained ``source`` (a :class:`BodyHead`, or a
Sequential whose last layer is the head), the target ``train`` data ``(inputs,
labels)`` and optional ``val`` data, and returns a :class:`TransferResult`: the trained
model, the per-step :class:`History`, and the final numbers. None of them modifies
``source``: each works on a deep copy of its body with a fresh head.

==================== ============================================================
``scratch``          the same architecture from random weights (the control)
``feature_extraction`` frozen body, train a new head (on cached features)
``naive_finetune``   every weight, one ordinary learning rate, nothing frozen
``safe_finetune``    head first, then unfreeze top-down with layer-wise rates
``lp_ft``            linear probe to convergence, then fine-tune at a small rate
==================== ============================================================

What every recipe shares (the new head, the batches, the optimizer, the seed, the
device, the monitor) is one :class:`RunConfig`: pass ``config=RunConfig(...)``, or any of
its fields as a keyword (``scratch(src, train, batch_size=64)``). Each recipe's own
arguments (epochs, learning rates, stages) stay in its signature.

Pairing: with the same ``seed`` every recipe draws the same new head and sees the
batches in the same order (see :func:`~minitl.transfer.loop.derive_seed`), so
per-seed differences between recipes measure the recipe, not the luck of the draw.

The steps the recipes are made of: :func:`prepare` (copy the body, attach a new head),
:func:`train_head` (the head alone, on frozen features), :func:`resolve_blocks` (the
body's blocks) and :func:`train_blocks` (these blocks at these rates for this long: the
one way to unfreeze and train, used by ``safe_finetune`` and every level of
:func:`~minitl.transfer.adapt`). Each builds its optimizer with :func:`run_optimizer` and
trains with :func:`fit`, the shared training step where the settings of a
:class:`RunConfig` meet the loop, so every recipe honours every setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from ..data import DataLoader
from ..nn import Module
from ..optim import L2SP, GradualUnfreezing, layerwise_lr_groups
from ..optim.lr_scheduler import SlantedTriangular
from .loop import (
    History,
    as_xy,
    derive_seed,
    evaluate,
    extract_features,
    final_metrics,
    jsonable,
    make_optimizer,
    train_loop,
)
from .model import (
    BodyHead,
    as_body_head,
    attach_head,
    copy_module,
    feature_shape,
    named_blocks,
)
from .monitor import StabilityMonitor
from .reinit import match_weight_norms, reinitialize

__all__ = [
    "ULMFIT_DECAY", "Prepared", "RunConfig", "TransferResult", "feature_extraction", "fit",
    "lp_ft", "naive_finetune", "prepare", "resolve_blocks", "run_optimizer", "safe_finetune",
    "scratch", "train_blocks", "train_head",
]

#: Learning-rate ratio between a block and the one above it: ULMFiT divides by 2.6 per
#: layer (Howard & Ruder, 2018).
ULMFIT_DECAY = 1 / 2.6


@dataclass
class TransferResult:
    """What a recipe returns.

    ``model`` (the trained BodyHead), ``history`` (one row per step, see
    :class:`History`), ``recipe`` (its name), ``config`` (every hyperparameter used, the
    seed, the data sizes), ``final`` (the last evaluation: ``val_acc``, ``val_loss``,
    ``train_acc``, ``steps``) and ``info`` (recipe-specific facts, e.g. the stages).
    """

    model: BodyHead
    history: History
    recipe: str
    config: dict
    final: dict
    info: dict = field(default_factory=dict)

    def record(self, arm: str | None = None, seed: int | None = None, *,
               transferability: dict | None = None, **final_extra) -> dict:
        """This run as a plain JSON-ready dict, the input of :func:`checklist_report`.

        ``arm`` names the run's group (default: the recipe), ``seed`` its seed (default:
        the one in the config); ``transferability`` the scores of the source body on this
        target data (from :func:`transferability`); extra keywords (``test_acc=...``)
        join ``final``.
        """
        return jsonable({
            "transferability": transferability,
            "arm": arm or self.recipe,
            "seed": self.config.get("seed") if seed is None else seed,
            "recipe": self.recipe,
            "n_train": self.config.get("n_train"),
            "num_classes": self.config.get("num_classes"),
            "config": self.config,
            "final": {**self.final, **final_extra},
            "info": self.info,
            "history": self.history.to_list(),
        })


@dataclass(frozen=True)
class RunConfig:
    """What every recipe shares. ``head``: None (a default linear head), a Module, or a
    factory ``head(feature_shape, num_classes, rng)``; ``num_classes``: None (from the
    labels); ``batch_size``, ``optimizer`` ("adam", "adamw" or "sgd"), ``weight_decay``;
    ``augment``: a batch transform or None; ``eval_every``: steps between evaluations
    (None: once per epoch); ``seed``; ``device``; ``monitor``: None/False (none), True (a
    default :class:`StabilityMonitor`) or one to attach; ``split_at``: where a Sequential
    source splits into body and head."""

    head: object = None
    num_classes: int | None = None
    batch_size: int = 32
    optimizer: str = "adam"
    weight_decay: float = 0.0
    augment: object = None
    eval_every: int | None = None
    seed: int = 0
    device: str = "cpu"
    monitor: object = None
    split_at: int = -1

    @classmethod
    def of(cls, config: RunConfig | None = None, **overrides) -> RunConfig:
        """``config`` (or the defaults) with ``overrides`` applied; an unknown name is a
        TypeError, as an unknown keyword argument would be."""
        unknown = sorted(set(overrides) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(f"unexpected keyword arguments {unknown}; the shared settings "
                            f"are {[f.name for f in fields(cls)]}")
        return replace(config if config is not None else cls(), **overrides)


@dataclass
class Prepared:
    """A recipe's working copy: the ``source``, the ``model`` to train (a deep copy of the
    source body with a new head), the training data, ``val``, the class count and seed."""

    source: BodyHead
    model: BodyHead
    x: np.ndarray
    y: np.ndarray
    val: tuple | None
    num_classes: int
    seed: int

    def loader(self, x, batch_size):
        return DataLoader(x, self.y, batch_size=batch_size, shuffle=True,
                          seed=derive_seed(self.seed, "loader"))

    def config(self, **hyper) -> dict:
        return {"seed": self.seed, "n_train": int(self.x.shape[0]),
                "n_val": int(self.val[0].shape[0]) if self.val else 0,
                "num_classes": self.num_classes, **hyper}


def prepare(source, train, val, cfg: RunConfig) -> Prepared:
    """Copy the source body, give it a new head (seeded), move it to ``cfg.device``."""
    head, num_classes, seed = cfg.head, cfg.num_classes, cfg.seed
    source = as_body_head(source, cfg.split_at)
    x, y = as_xy(train)
    val = as_xy(val) if val is not None else None
    if num_classes is None:
        num_classes = int(max(y.max(), val[1].max() if val else 0)) + 1
    rng = np.random.default_rng(derive_seed(seed, "head"))
    if head is not None and not isinstance(head, Module):  # a factory(features, classes, rng)
        head = head(feature_shape(source.body, x[:2]), num_classes, rng)
    elif head is not None:
        head = copy_module(head)
    model = attach_head(source, head, num_classes=num_classes, sample=x[:2], rng=rng)
    model.to(cfg.device)
    return Prepared(source, model, x, y, val, int(num_classes), int(seed))


def _attach_monitor(monitor, s: Prepared, source_head: bool = True):
    """``None``/``False``: no monitor; ``True``: a default one; else attach the one given.
    The target probe defaults to the validation data (else the training data)."""
    if monitor is None or monitor is False:
        return None
    if monitor is True:
        monitor = StabilityMonitor()
    return monitor.attach(s.model, source_head=s.source.head if source_head else None,
                          default_target_probe=s.val or (s.x, s.y))


def run_optimizer(cfg: RunConfig, params, lr: float):
    """The optimizer ``cfg`` names (``cfg.optimizer``) over ``params`` (a list, or param
    groups with their own rates), with ``cfg.weight_decay`` in every group: the one place a
    recipe makes an optimizer."""
    return make_optimizer(cfg.optimizer, params, lr, cfg.weight_decay)


def fit(s: Prepared, cfg: RunConfig, optimizer, *, phase: str, monitor,
        history: History | None = None, epochs=None, steps=None, net=None, loader=None,
        val=None, prefix: str = "", scheduler=None, penalty=None) -> History:
    """The shared training step: :func:`~minitl.transfer.loop.train_loop` with every
    setting of ``cfg`` that reaches the loop (``eval_every``, ``augment`` and its seed
    derived from ``cfg.seed``).

    Trains ``net`` (default: the whole ``s.model``, whatever of it is trainable) on
    ``loader`` (default: a new one over the training data, ``cfg.batch_size`` per batch),
    evaluating on ``val`` (default: ``s.val``; ``net`` given: exactly what is passed).
    """
    if net is None:
        net, val = s.model, s.val
    if loader is None:
        loader = s.loader(s.x, cfg.batch_size)
    return train_loop(net, loader, optimizer, epochs=epochs, steps=steps, scheduler=scheduler,
                      monitor=monitor, val=val, eval_every=cfg.eval_every, penalty=penalty,
                      history=history, phase=phase, augment=cfg.augment,
                      augment_seed=derive_seed(cfg.seed, "augment"), prefix=prefix)


def train_head(s: Prepared, cfg: RunConfig, *, epochs, steps, lr, cache, monitor, history,
               phase, until_converged=False, tol=1e-3) -> dict:
    """Train ``s.model.head`` with the body frozen. Returns facts for ``info``.

    With ``cache`` and no augmentation the body runs once over the training and
    validation inputs (eval mode, no gradients) and the head trains on those stored
    features: each epoch then costs only the head. ``until_converged`` stops early when
    an epoch lowers the full training loss by less than ``tol`` (relative).
    """
    model = s.model
    model.body.freeze()
    opt = run_optimizer(cfg, list(model.head.parameters()), lr)
    cached = cache and cfg.augment is None
    if cached:
        feats = extract_features(model.body, s.x)
        val = (extract_features(model.body, s.val[0]), s.val[1]) if s.val else None
        net, train_x, prefix = model.head, feats, "head"
    else:
        net, train_x, val, prefix = model, s.x, s.val, ""
    loader = s.loader(train_x, cfg.batch_size)
    common = dict(monitor=monitor, history=history, phase=phase, net=net, loader=loader,
                  val=val, prefix=prefix)
    if not until_converged:
        fit(s, cfg, opt, epochs=epochs, steps=steps, **common)
        return {"cached_features": cached, "epochs_run": epochs}
    previous, run, converged = None, 0, False
    while run < epochs and not converged:  # one epoch at a time, checking the training loss
        fit(s, cfg, opt, epochs=1, **common)
        run += 1
        loss = evaluate(net, train_x, s.y)["loss"] if cached else history.last("loss")
        converged = previous is not None and previous - loss < tol * abs(previous)
        previous = loss
    return {"cached_features": cached, "epochs_run": run, "converged": converged}


def train_blocks(s: Prepared, cfg: RunConfig, blocks, *, lr: float, decay: float, stages,
                 monitor, history: History, unfrozen: int = 0, loader=None,
                 schedule: str | None = None, penalty=None):
    """Train these blocks at these rates for this long: the one way to unfreeze and train.

    ``blocks`` are ``(name, module or parameters)`` of ``s.model.body``, input to output
    (see :func:`resolve_blocks`). One optimizer (:func:`run_optimizer`) holds them all
    with the head, at layer-wise rates: the head at ``lr``, the block below it at
    ``lr·decay``, the next at ``lr·decay²``, ... (:func:`~minitl.optim.layerwise_lr_groups`).
    Body parameters outside ``blocks`` stay frozen. ``stages`` is a list of
    ``(phase, epochs)``: the first trains the head and the top ``unfrozen`` blocks, and each
    later one unfreezes one block more, top-down (gradual unfreezing,
    :class:`~minitl.optim.GradualUnfreezing`). Every stage trains with :func:`fit` on
    ``loader`` (default: a new one), so every setting of ``cfg`` applies.
    ``schedule="slanted"`` runs a :class:`~minitl.optim.lr_scheduler.SlantedTriangular`
    schedule over all stages; ``penalty`` is added to the loss (e.g. an L2SP).
    Returns the optimizer.
    """
    model = s.model
    all_blocks = [b for _, b in blocks] + [model.head]
    model.body.freeze()  # body parameters outside every block stay frozen throughout
    groups = layerwise_lr_groups(all_blocks, lr, decay,
                                 names=[name for name, _ in blocks] + ["head"])
    unfreezer = GradualUnfreezing(all_blocks)  # freezes every body block
    for _ in range(unfrozen):
        unfreezer.advance()
    opt = run_optimizer(cfg, groups, lr)
    loader = loader if loader is not None else s.loader(s.x, cfg.batch_size)
    scheduler = None
    if schedule == "slanted":
        total = sum(n for _, n in stages) * len(loader)
        scheduler = SlantedTriangular(opt, total_steps=max(total, 10))
    elif schedule is not None:
        raise ValueError(f"schedule must be 'slanted' or None, got {schedule!r}")
    for i, (phase, n) in enumerate(stages):
        if i > 0:
            unfreezer.advance()
        fit(s, cfg, opt, epochs=n, loader=loader, scheduler=scheduler, monitor=monitor,
            penalty=penalty, history=history, phase=phase)
    return opt


def _recorded(cfg: RunConfig) -> dict:
    """The shared settings a result's config records."""
    return dict(batch_size=cfg.batch_size, optimizer=cfg.optimizer,
                weight_decay=cfg.weight_decay)


def _result(s: Prepared, history, recipe, config, info=None) -> TransferResult:
    return TransferResult(s.model, history, recipe, s.config(**config), final_metrics(history),
                          info or {})


def scratch(source, train, val=None, *, config: RunConfig | None = None, init: str = "fresh",
            epochs: int = 10, steps: int | None = None, lr: float = 1e-3,
            **shared) -> TransferResult:
    """Train the same architecture from random weights: the baseline transfer must beat.

    ``init="fresh"`` draws every body layer anew (seeded). ``init="matched_norm"`` then
    rescales each body parameter to the norm of the pretrained one, so a gain of
    transfer over this control cannot be put down to better weight scales.

    Protects: nothing (there is nothing to protect). Risks: needs enough target data to
    learn features; with few labels it overfits or learns slowly.
    """
    if init not in ("fresh", "matched_norm"):
        raise ValueError(f"init must be 'fresh' or 'matched_norm', got {init!r}")
    cfg = RunConfig.of(config, **shared)
    s = prepare(source, train, val, cfg)
    rng = np.random.default_rng(derive_seed(cfg.seed, "scratch"))
    reinitialize(s.model.body, rng)
    if init == "matched_norm":
        match_weight_norms(s.model.body, s.source.body, rng)
    s.model.unfreeze()
    opt = run_optimizer(cfg, list(s.model.parameters()), lr)
    mon = _attach_monitor(cfg.monitor, s, source_head=False)
    history = fit(s, cfg, opt, epochs=epochs, steps=steps, monitor=mon, phase="scratch")
    return _result(s, history, "scratch" if init == "fresh" else "scratch_matched_norm",
                   dict(init=init, epochs=epochs, steps=steps, lr=lr, **_recorded(cfg)))


def feature_extraction(source, train, val=None, *, config: RunConfig | None = None,
                       epochs: int = 20, steps: int | None = None, lr: float = 1e-2,
                       cache: bool = True, **shared) -> TransferResult:
    """Freeze the pretrained body and train only a new head on its features.

    With ``cache=True`` and no ``augment``, the body runs once (eval mode, no gradients)
    over the training and validation inputs; every epoch then trains the head on those
    stored features, at the cost of the head alone. With augmentation the features
    change from batch to batch, so the body runs on every batch (still frozen, in eval
    mode). The body comes back bit-identical to the source's.

    Protects: everything the source learned; the body cannot change. Risks: if the
    features do not carry what the target needs, no head can recover it (it underfits,
    and no amount of training helps).
    """
    cfg = RunConfig.of(config, **shared)
    s = prepare(source, train, val, cfg)
    mon = _attach_monitor(cfg.monitor, s)
    history = History()
    info = train_head(s, cfg, epochs=epochs, steps=steps, lr=lr, cache=cache, monitor=mon,
                      history=history, phase="head")
    return _result(s, history, "feature_extraction",
                   dict(epochs=epochs, steps=steps, lr=lr, **_recorded(cfg), cache=cache), info)


def naive_finetune(source, train, val=None, *, config: RunConfig | None = None,
                   epochs: int = 10, steps: int | None = None, lr: float = 1e-3,
                   **shared) -> TransferResult:
    """Train every parameter at once, at one ordinary learning rate, from the first step.

    The new head starts random, so its first gradients are large and poorly aimed, and
    they flow straight into the pretrained body at the full learning rate.

    Protects: nothing explicitly; the pretrained weights are only a starting point.
    Risks: the representation moves as fast as the head ("Δθ_g ≈ Δθ_h"); useful
    features can be overwritten (catastrophic forgetting), and with unrelated tasks it
    can end below training from scratch.
    """
    cfg = RunConfig.of(config, **shared)
    s = prepare(source, train, val, cfg)
    s.model.unfreeze()
    opt = run_optimizer(cfg, list(s.model.parameters()), lr)
    mon = _attach_monitor(cfg.monitor, s)
    history = fit(s, cfg, opt, epochs=epochs, steps=steps, monitor=mon, phase="finetune")
    return _result(s, history, "naive_finetune",
                   dict(epochs=epochs, steps=steps, lr=lr, **_recorded(cfg)))


def resolve_blocks(body: Module, blocks) -> list[tuple[str, Module | list]]:
    """Blocks as ``(name, module or list of parameters)``; ``blocks`` may list sub-module
    names of the body (``["0", "2"]``) or groups of them (``[["0", "1"], ["3"]]``)."""
    if blocks is None:
        return named_blocks(body)
    out = []
    for b in blocks:
        names = [b] if isinstance(b, str) else list(b)
        params = [p for n in names for p in body.get_submodule(n).parameters()]
        out.append(("body." + "+".join(names), params))
    return out


def safe_finetune(source, train, val=None, *, config: RunConfig | None = None, blocks=None,
                  lr: float = 1e-3, decay: float = ULMFIT_DECAY, head_epochs: int = 2,
                  epochs_per_block: int = 1, epochs: int = 10,
                  schedule: str | None = "slanted", l2sp_alpha: float = 0.0,
                  l2sp_beta: float = 0.0, **shared) -> TransferResult:
    """Adapt the head first, then unfreeze the body from the top down, slowly.

    The ULMFiT recipe (Howard & Ruder, 2018), step by step:

    1. **Head first**: ``head_epochs`` epochs with the whole body frozen, so the random
       head stops sending large, random gradients before the body can receive them.
    2. **Gradual unfreezing**: then one body block more every ``epochs_per_block``
       epochs, top (task-specific) block first, input (general) block last.
    3. **Discriminative learning rates**: the head trains at ``lr``, the block below at
       ``lr·decay``, the next at ``lr·decay²``... (``decay`` = 1/2.6 as in ULMFiT), so
       general features move least.
    4. **Slanted triangular schedule** (``schedule="slanted"``): a short warm-up to the
       peak rate, then a long linear decay, over all ``epochs``.
    5. Optionally **L2-SP** (``l2sp_alpha`` > 0): a penalty α/2·‖w − w⁰‖² pulling the
       body towards its pretrained weights (and β/2·‖w‖² on the head).

    ``blocks`` overrides how the body is divided (default: :func:`named_blocks`): a list
    of sub-module names, input to output. If ``epochs`` is too short to unfreeze every
    block, the lowest blocks stay frozen.

    Protects: the general (lower) features, which change last and least; the body moves
    much less than the head ("Δθ_g ≪ Δθ_h"). Risks: when the target needs different
    low-level features, the small rates and late unfreezing leave too little time to
    learn them; more hyperparameters to choose.
    """
    cfg = RunConfig.of(config, **shared)
    s = prepare(source, train, val, cfg)
    model = s.model
    named = resolve_blocks(model.body, blocks)
    penalty = None
    if l2sp_alpha > 0 or l2sp_beta > 0:
        penalty = L2SP(list(model.body.parameters()), list(model.head.parameters()),
                       alpha=l2sp_alpha, beta=l2sp_beta)
    plan = [("head", head_epochs)] + [(f"+{name}", epochs_per_block)
                                      for name, _ in reversed(named)]
    stages, used = [], 0
    for i, (phase, n) in enumerate(plan):
        n = min(n, epochs - used)
        if i == len(plan) - 1 or used + n >= epochs:
            n = epochs - used  # the last stage takes whatever remains
        if n <= 0:
            break
        stages.append((phase, n))
        used += n
    mon = _attach_monitor(cfg.monitor, s)
    history = History()
    opt = train_blocks(s, cfg, named, lr=lr, decay=decay, stages=stages, monitor=mon,
                       history=history, schedule=schedule, penalty=penalty)
    return _result(s, history, "safe_finetune",
                   dict(lr=lr, decay=decay, head_epochs=head_epochs,
                        epochs_per_block=epochs_per_block, epochs=epochs,
                        schedule=schedule, l2sp_alpha=l2sp_alpha, l2sp_beta=l2sp_beta,
                        **_recorded(cfg)),
                   {"blocks": [name for name, _ in named],
                    "stages": [{"phase": p, "epochs": n} for p, n in stages],
                    "block_lrs": [g["initial_lr"] if "initial_lr" in g else g["lr"]
                                  for g in opt.param_groups]})


def lp_ft(source, train, val=None, *, config: RunConfig | None = None,
          probe_lr: float = 1e-2, probe_epochs: int = 100, probe_tol: float = 1e-3,
          lr: float = 1e-4, epochs: int = 10, steps: int | None = None,
          **shared) -> TransferResult:
    """Linear probe to convergence, then fine-tune everything at a small learning rate.

    LP-FT (Kumar et al., ICLR 2022). Stage 1 trains the head alone on cached frozen
    features until an epoch lowers the training loss by less than ``probe_tol``
    (relative), at most ``probe_epochs`` epochs, evaluating once per epoch whatever
    ``eval_every`` says (every other setting applies). Stage 2 unfreezes the whole model and
    fine-tunes it at ``lr`` (1e-4: ten times below the naive recipe's rate).

    Protects: the body from the random-head shock. A random head's large early errors
    send large gradients into the body and distort its features; a probed head is
    already nearly right, so the gradients reaching the body are small and aimed at what
    the frozen features could not do. Risks: if the probe converges to a poor solution
    (irrelevant features), the small rate may be too slow to repair the body in the
    budget; safety cannot make irrelevant features relevant.
    """
    cfg = RunConfig.of(config, **shared)
    s = prepare(source, train, val, cfg)
    mon = _attach_monitor(cfg.monitor, s)
    history = History()
    probe = train_head(s, replace(cfg, eval_every=None), epochs=probe_epochs, steps=None,
                       lr=probe_lr, cache=True, monitor=mon, history=history, phase="probe",
                       until_converged=True, tol=probe_tol)
    probe["probe_val_acc"] = history.last("val_acc")
    probe["probe_steps"] = history.step
    s.model.unfreeze()
    opt = run_optimizer(cfg, list(s.model.parameters()), lr)
    fit(s, cfg, opt, epochs=epochs, steps=steps, monitor=mon, phase="finetune", history=history)
    return _result(s, history, "lp_ft",
                   dict(probe_lr=probe_lr, probe_epochs=probe_epochs, probe_tol=probe_tol,
                        lr=lr, epochs=epochs, steps=steps, **_recorded(cfg)), probe)
