"""How the representation mismatch E moves during training, and how far each part moved.

The notes' section 8 writes the evolution of the mismatch E (see
:func:`~minitl.transfer.metrics.representation_mismatch`, the one definition of E) as

    E_{t+1} = E_t − useful_t + destructive_t.

:func:`mismatch_decomposition` makes that an identity that holds to the last bit: it
measures E before and after an update of the body and splits the change into a part
that is due to the update's component along −∇E ("useful": the direction that lowers the
mismatch fastest) and a part due to everything else the update did ("destructive").
:func:`mismatch_gradient` is ∂E/∂features in closed form, pushed through the body by
autograd. :func:`relative_update` is the size of a move, ‖θ₁ − θ₀‖/‖θ₀‖ per group of
parameters (body g, head h): the "Δθ_g vs Δθ_h" of sections 5 and 6.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..creation import tensor
from ..nn import Module
from .metrics import _labels, _one_hot, representation_mismatch
from .model import evaluating, model_device

__all__ = ["mismatch_decomposition", "mismatch_gradient", "relative_update"]


def _centred(a: np.ndarray) -> np.ndarray:
    return a - a.mean(axis=0, keepdims=True)


def mismatch_gradient(features, labels) -> tuple[float, np.ndarray]:
    """``(E, ∂E/∂features)`` for E = 1 − CKA(features, one-hot labels).

    With X the n×p features and Y the one-hot labels, both column-centred (Xc = HX,
    Yc = HY, H the centring matrix), A = YcᵀXc, B = XcᵀXc, C = YcᵀYc:

        CKA = ‖A‖²_F / (‖B‖_F ‖C‖_F)
        ∂CKA/∂X = 2·Yc·A / (‖B‖‖C‖) − 2·CKA·Xc·B / ‖B‖²

    (H is symmetric and idempotent and Yc, Xc are already centred, so H drops out of the
    chain rule), and ∂E/∂X = −∂CKA/∂X. Constant features have no defined gradient: E = 1
    and a zero gradient are returned. The value agrees with
    :func:`~minitl.transfer.metrics.representation_mismatch`.
    """
    x = np.asarray(backend.to_numpy(features), dtype=np.float64).reshape(len(labels), -1)
    _, codes = _labels(labels, x.shape[0])
    y = _centred(_one_hot(codes, int(codes.max()) + 1))
    xc = _centred(x)
    a, b, c = y.T @ xc, xc.T @ xc, y.T @ y
    nb, nc = np.linalg.norm(b), np.linalg.norm(c)
    if nb == 0.0 or nc == 0.0:
        return 1.0, np.zeros_like(x)
    cka = float(np.sum(a * a) / (nb * nc))
    grad_cka = 2.0 * (y @ a) / (nb * nc) - 2.0 * cka * (xc @ b) / nb**2
    return 1.0 - cka, -grad_cka


def _body_mismatch(body: Module, x, labels, with_grad: bool):
    """E of ``body``'s features on ``x``; with ``with_grad`` also ∂E/∂θ per parameter."""
    device = model_device(body)
    with evaluating(body):
        if not with_grad:
            with no_grad():
                z = body(tensor(x).to(device))
            return representation_mismatch(backend.to_numpy(z.data).reshape(len(labels), -1),
                                           labels), None
        params = [p for _, p in body.named_parameters()]
        saved = [p.requires_grad for p in params]
        for p in params:
            p.requires_grad = True
            p.grad = None
        try:
            z = body(tensor(x).to(device))
            _, dz = mismatch_gradient(z.data, labels)
            # the value from the one definition of E, so all three E's of a decomposition
            # come from the same arithmetic
            value = representation_mismatch(
                backend.to_numpy(z.data).reshape(len(labels), -1), labels)
            # the upstream gradient is computed on the host; it goes where z is
            z.backward(tensor(dz.reshape(z.shape), dtype=z.dtype, device=z.device))
            grads = {n: backend.to_numpy(p.grad.data).astype(np.float64)
                     if p.grad is not None else None for n, p in body.named_parameters()}
        finally:
            for p, s in zip(params, saved):
                p.grad = None
                p.requires_grad = s
    return value, grads


def _load(body: Module, state: Mapping) -> None:
    for name, p in body.named_parameters():
        p.data[...] = backend.to_device(np.asarray(backend.to_numpy(state[name])),
                                        p.device).astype(p.data.dtype)


def mismatch_decomposition(body: Module, x, labels, before: Mapping, after: Mapping) -> dict:
    """Split the change of E caused by one update of ``body`` into useful and destructive.

    ``before``/``after``: ``{name: array}`` of the body's parameters (as
    ``body.named_parameters()`` names them) before and after the update; ``x``, ``labels``
    a fixed probe of the target task. Let θ = before, Δ = after − before and
    g = ∇_θ E(θ). The update is split into its component along the gradient line and
    the rest,

        Δ_∥ = (Δ·g / ‖g‖²) g,     Δ_⊥ = Δ − Δ_∥,

    and the change of E is followed along the path θ → θ + Δ_∥ → θ + Δ:

        useful      = E(θ) − E(θ + Δ_∥)          (what the move along −∇E gained;
                                                   negative if the update climbed E)
        destructive = E(θ + Δ) − E(θ + Δ_∥)      (what the rest of the update did)

    so that, exactly (a telescoping sum, no approximation),

        E(θ + Δ) − E(θ) = destructive − useful,   i.e.  E_{t+1} = E_t − useful + destructive.

    ``first_order`` = g·Δ is the linear prediction of the change (which Δ_⊥ does not
    contribute to; its effect is all curvature). The body is left with the ``after``
    weights. Returns ``{"E_before", "E_after", "delta", "useful", "destructive",
    "first_order", "parallel_share"}`` (``parallel_share`` = ‖Δ_∥‖²/‖Δ‖²).
    """
    names = [n for n, _ in body.named_parameters()]
    _load(body, before)
    e0, grads = _body_mismatch(body, x, labels, with_grad=True)
    delta = {n: np.asarray(backend.to_numpy(after[n]), np.float64)
             - np.asarray(backend.to_numpy(before[n]), np.float64) for n in names}
    g = {n: grads[n] if grads[n] is not None else np.zeros_like(delta[n]) for n in names}
    g_sq = sum(float(np.sum(g[n] * g[n])) for n in names)
    dot = sum(float(np.sum(g[n] * delta[n])) for n in names)
    d_sq = sum(float(np.sum(delta[n] * delta[n])) for n in names)
    coef = dot / g_sq if g_sq > 0 else 0.0
    mid = {n: np.asarray(backend.to_numpy(before[n]), np.float64) + coef * g[n] for n in names}
    _load(body, mid)
    e_mid, _ = _body_mismatch(body, x, labels, with_grad=False)
    _load(body, after)
    e1, _ = _body_mismatch(body, x, labels, with_grad=False)
    return {"E_before": e0, "E_after": e1, "delta": e1 - e0, "useful": e0 - e_mid,
            "destructive": e1 - e_mid, "first_order": dot,
            "parallel_share": (coef * coef * g_sq / d_sq) if d_sq > 0 else 0.0}


def relative_update(theta0: Mapping, theta1: Mapping,
                    group_of: Callable[[str], str] | None = None) -> dict[str, float]:
    """‖θ₁ − θ₀‖ / ‖θ₀‖ per group of parameters: how far a group moved, relative to where
    it started (0: untouched; 1: moved as far as its own size).

    ``theta0``/``theta1``: ``{name: array}`` (e.g. two ``state_dict()``s); ``group_of``
    maps a name to its group (default: the part before the first dot, so a BodyHead's
    ``body.*`` and ``head.*``). Norms are over every parameter of the group together.
    A group whose θ₀ is all zeros gets ``inf`` if it moved, else 0.
    """
    group_of = group_of or (lambda name: name.split(".", 1)[0])
    if set(theta0) != set(theta1):
        raise KeyError(f"relative_update: different parameters: "
                       f"{sorted(set(theta0) ^ set(theta1))}")
    num: dict[str, float] = {}
    den: dict[str, float] = {}
    for name in theta0:
        a = np.asarray(backend.to_numpy(theta0[name]), np.float64)
        b = np.asarray(backend.to_numpy(theta1[name]), np.float64)
        if a.shape != b.shape:
            raise ValueError(f"relative_update: {name} has shape {a.shape} then {b.shape}")
        k = group_of(name)
        num[k] = num.get(k, 0.0) + float(np.sum((b - a) ** 2))
        den[k] = den.get(k, 0.0) + float(np.sum(a * a))
    return {k: (math.sqrt(num[k] / den[k]) if den[k] > 0 else (math.inf if num[k] > 0 else 0.0))
            for k in num}
