"""Optimizer-side tools for transfer learning: per-layer learning rates, gradual
unfreezing, and the L2-SP penalty.

All three take "blocks" of a model ordered from the input to the output, the
last block being the head. A block is anything with a ``.parameters()`` method
(a Module) or a plain iterable of Parameters, e.g.::

    blocks = [model.conv1, model.conv2, model.fc]      # body ..., head
    blocks = [[w1, b1], [w2, b2], [w_head, b_head]]    # the same, by hand
"""

from __future__ import annotations

from collections.abc import Iterable

from ..autograd import Tensor, no_grad
from ..backend import device_of, get_array_module, to_device
from ..guards import as_array

__all__ = ["GradualUnfreezing", "L2SP", "l2sp_penalty", "layerwise_lr_groups"]


def _params_of(block, where: str) -> list:
    """The Parameters of one block: ``block.parameters()``, a tensor, or an iterable of tensors."""
    if isinstance(block, Tensor):
        params = [block]
    elif hasattr(block, "parameters") and callable(block.parameters):
        params = list(block.parameters())
    elif isinstance(block, (set, frozenset)):
        raise TypeError(f"{where}: a block was given as a set, whose order changes from run "
                        "to run; pass a list")
    elif isinstance(block, Iterable) and not isinstance(block, (str, bytes)):
        params = list(block)
    else:
        raise TypeError(f"{where}: a block must be a Module (with .parameters()) or an iterable "
                        f"of Parameters, got {type(block).__name__}")
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{where}: expected Parameters, got {type(p).__name__}")
    return params


def _blocks(blocks, where: str) -> list[list]:
    if isinstance(blocks, (set, frozenset)):
        raise TypeError(f"{where}: pass the blocks as a list ordered from input to output")
    blocks = [_params_of(b, where) for b in blocks]
    if not blocks:
        raise ValueError(f"{where}: no blocks given")
    return blocks


def layerwise_lr_groups(blocks, base_lr: float, decay: float, names=None) -> list[dict]:
    """Parameter groups whose learning rate shrinks by ``decay`` per block below the head.

    ``blocks`` go from input to output; the last one (the head) gets
    ``base_lr``, the one below it ``base_lr · decay``, and the block d levels
    below the head ``base_lr · decay^d``. This is discriminative fine-tuning:
    early layers hold general features and should move least. ULMFiT divides by
    2.6 per layer (``decay=1/2.6``); layer-wise LR decay for ViTs uses 0.65–0.8.

    Returns one ``{"params": [...], "lr": ...}`` dict per block, in the same
    order, ready for any optimizer: ``AdamW(layerwise_lr_groups(blocks, 1e-3, 0.75))``;
    with ``names`` (one string per block) each group also gets a ``"name"``, so
    ``optimizer.param_group("head")`` finds it. Frozen parameters are included on
    purpose: the optimizer's freeze contract keeps them unchanged while they are
    frozen, and when unfrozen (e.g. by :class:`GradualUnfreezing`) they train at
    their block's rate with no need to touch the optimizer. A block without
    parameters gives an empty group.
    """
    if not decay > 0:
        raise ValueError(f"layerwise_lr_groups: decay must be positive, got {decay!r}")
    params = _blocks(blocks, "layerwise_lr_groups")
    top = len(params) - 1
    groups = [{"params": p, "lr": base_lr * decay ** (top - i)} for i, p in enumerate(params)]
    if names is not None:
        names = list(names)
        if len(names) != len(groups):
            raise ValueError(f"layerwise_lr_groups: {len(names)} names for {len(groups)} blocks")
        for group, name in zip(groups, names, strict=True):
            group["name"] = name
    return groups


def _set_trainable(params, flag: bool) -> None:
    for p in params:
        p.requires_grad = flag  # switching it off also clears the stale gradient


class GradualUnfreezing:
    """ULMFiT's gradual unfreezing: train the head alone, then unfreeze one block per stage.

    ``blocks`` go from input to output, the head last. Construction makes the
    head trainable and freezes every other block (``requires_grad=False``, which
    also clears ``.grad``): that is stage 0. Each :meth:`advance` unfreezes
    the next block down, top to bottom, and returns it; after
    ``len(blocks) − 1`` advances the whole model trains, and further calls
    return None. ``stage`` counts the blocks unfrozen below the head.

    The optimizer, two ways to use it:

    * Give it every parameter from the start (e.g. built from
      :func:`layerwise_lr_groups`): the optimizer's freeze contract leaves the
      frozen ones untouched (no update, no weight decay, no state); once
      unfrozen they train at their group's rate. Nothing else to do.
    * Give it only the head, and pass it here as ``optimizer``: each advance
      then adds the unfrozen block's parameters (those it does not hold yet)
      as a new param group via ``add_param_group``, with the rate passed to
      ``advance(lr=...)`` or the optimizer's default. A scheduler stepping the
      optimizer picks the new group up on its next ``step()``.

    Either way, an adaptive optimizer (Adam) starts the state of a newly
    unfrozen parameter from zero, with its own step count.

    The blocks are frozen with ``requires_grad`` rather than a group's
    ``"frozen"`` flag on purpose: a frozen block then costs nothing in the
    backward pass, and the optimizer may group its parameters however it likes.
    """

    def __init__(self, blocks, optimizer=None):
        self.blocks = list(blocks)
        self._params = _blocks(self.blocks, "GradualUnfreezing")
        self.optimizer = optimizer
        self.stage = 0
        for params in self._params[:-1]:
            _set_trainable(params, False)
        self._unfreeze(len(self._params) - 1, lr=None)

    @property
    def num_stages(self) -> int:
        """How many stages there are in all: stage 0 (head only) up to everything unfrozen."""
        return len(self._params)

    @property
    def done(self) -> bool:
        """True when every block is trainable."""
        return self.stage >= len(self._params) - 1

    def _unfreeze(self, index: int, lr) -> None:
        params = self._params[index]
        _set_trainable(params, True)
        if self.optimizer is not None:
            held = {id(p) for g in self.optimizer.param_groups for p in g["params"]}
            missing = [p for p in params if id(p) not in held]
            if missing:
                group = {"params": missing}
                if lr is not None:
                    group["lr"] = lr
                self.optimizer.add_param_group(group)

    def advance(self, lr: float | None = None):
        """Unfreeze the next block down and return it (None when all are unfrozen)."""
        if self.done:
            return None
        index = len(self._params) - 2 - self.stage
        self._unfreeze(index, lr)
        self.stage += 1
        return self.blocks[index]

    step_stage = advance

    def __repr__(self):
        return f"GradualUnfreezing(stage={self.stage} of {self.num_stages - 1})"


def l2sp_penalty(source_params, source_reference, new_params, alpha: float,
                 beta: float, *, device=None) -> Tensor:
    """α/2 · Σ‖w − w⁰‖² over the transferred weights + β/2 · Σ‖w‖² over the new ones.

    ``source_params`` and ``source_reference`` are matching lists (a tensor and
    the array or tensor it should stay near); ``new_params`` are the weights
    trained from scratch (the head). Built from minitl ops, so it is
    differentiable: ∂/∂w = α (w − w⁰) for a transferred weight, β w for a new
    one; tensors with ``requires_grad`` False add to the value but get no gradient.
    Returns a 0-d Tensor on the weights' device: each reference is moved to its
    weight's device first (a reference read from a checkpoint is on the host). With no
    weights at all the penalty is a zero on ``device`` (default 'cpu').
    """
    source_params, new_params = list(source_params), list(new_params)
    source_reference = list(source_reference)
    if len(source_params) != len(source_reference):
        raise ValueError(f"l2sp_penalty: {len(source_params)} transferred weights but "
                         f"{len(source_reference)} reference arrays")
    total = None

    def add(term):
        nonlocal total
        total = term if total is None else total + term

    for w, w0 in zip(source_params, source_reference, strict=True):
        w0 = w0.data if isinstance(w0, Tensor) else w0
        if tuple(w0.shape) != w.shape:
            raise ValueError(f"l2sp_penalty: a weight of shape {w.shape} has a reference of "
                             f"shape {tuple(w0.shape)}")
        diff = w - Tensor(as_array(w0, device=w.device))
        add((alpha / 2) * (diff * diff).sum())
    for w in new_params:
        add((beta / 2) * (w * w).sum())
    if total is None:
        return Tensor(as_array(0.0, device=device))
    return total


class L2SP:
    """The L2-SP regulariser (Li, Grandvalet & Davoine, 2018) as a loss term.

    Ω(w) = α/2 · ‖w_S − w_S⁰‖² + β/2 · ‖w_new‖²

    Transferred weights w_S are pulled towards their pretrained values w_S⁰
    (the "starting point") instead of towards zero, so fine-tuning keeps what
    the source task taught unless the target data insists; new weights (the
    head) get ordinary L2. Use it in place of the optimizer's weight decay::

        l2sp = L2SP(model.body.parameters(), model.head.parameters(), alpha=0.1, beta=0.01)
        loss = F.cross_entropy(model(x), y) + l2sp()

    The reference w_S⁰ is a copy of the source weights taken when the L2SP is
    made (so make it right after loading the pretrained weights); it follows the
    weights to their device when the penalty is computed (an L2SP made before
    ``model.to("cuda")`` moves its reference once, at its first call). Parameters
    frozen by ``requires_grad`` contribute to the value but not to any gradient;
    any frozen parameter (a group flagged ``"frozen"`` too) is left unchanged by
    the optimizer's step, so the penalty cannot move it.
    """

    def __init__(self, source_params, new_params, alpha: float, beta: float):
        self.source_params = _params_of(source_params, "L2SP")
        self.new_params = _params_of(new_params, "L2SP")
        ids = {id(p) for p in self.source_params}
        if any(id(p) in ids for p in self.new_params):
            raise ValueError("L2SP: a parameter is both transferred and new")
        if alpha < 0 or beta < 0:
            raise ValueError(f"L2SP: alpha and beta must be >= 0, got {alpha!r}, {beta!r}")
        self.alpha, self.beta = alpha, beta
        with no_grad():
            self.reference = [get_array_module(p.data).array(p.data, copy=True)
                              for p in self.source_params]

    def __call__(self, device=None) -> Tensor:
        """The penalty, on the weights' device (``device``: where the zero of an L2SP
        without weights is made, as in :func:`l2sp_penalty`)."""
        self.reference = [r if device_of(r) == p.device else to_device(r, p.device)
                          for r, p in zip(self.reference, self.source_params)]
        return l2sp_penalty(self.source_params, self.reference, self.new_params,
                            self.alpha, self.beta, device=device)

    def __repr__(self):
        return (f"L2SP(alpha={self.alpha}, beta={self.beta}, {len(self.source_params)} "
                f"transferred, {len(self.new_params)} new)")
