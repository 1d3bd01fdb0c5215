"""Adam, fast: the update with one reused buffer, and a whole group updated at once.

``adam_update`` is the twin of the one in ``minitl/optim/adam.py``: the plain update,
step_size · m / (√v / √(1 − β₂ᵗ) + ε), makes four temporary arrays the size of the
weights; this one writes every intermediate into a single buffer, in the same order.

``update_each`` is the twin of ``minitl.optim.adam.update_each`` (one parameter at a
time): the "multi-tensor" (foreach) update. A small model's step is mostly fixed cost,
about a dozen NumPy calls per parameter, so the moments m and v of a group's parameters
live in two flat buffers (``state[p]["exp_avg"]`` is a view of its slice, of the
parameter's shape), the gradients are copied into one more, and each line of Adam runs
once for the whole group. Every element sees the same operations in the same order as in
the plain update (float32 stays float32), so the values are bit-identical
(``tests/test_fast_paths.py``). The flat path needs every parameter of the call to have
the same dtype as its gradient and as the others, and the same step count t; anything
else (a parameter just unfrozen beside trained ones, a float64 gradient) takes the plain
path. State replaced from outside (``load_state_dict``), or the state of a copy of the
optimizer (``copy.deepcopy`` and ``pickle`` leave the buffers behind), is gathered into
new flat buffers on the next step, values unchanged.
"""

from __future__ import annotations

import math

from ..backend import get_array_module
from ..optim import adam as plain
from ..optim.optimizer import _scale_in_place, _subtract_in_place
from . import register


def adam_update(m, v, step_size, bias2, eps):
    """:func:`minitl.optim.adam.adam_update`, one buffer instead of four temporaries."""
    xp = get_array_module(v)
    update = xp.empty_like(v)
    xp.sqrt(v, out=update)
    update /= bias2
    update += eps
    xp.divide(m, update, out=update)
    update *= step_size
    return update


def _flat_moments(optimizer, params, group):
    """``(m, v, t)``: the flat moment buffers of ``params`` (created, or adopted from their
    current state by copying) and their shared step count t before this step; None when
    the plain path must run. The optimizer keeps one layout per group."""
    dtype, xp = params[0].data.dtype, get_array_module(params[0].data)
    states = [optimizer.state.get(p) for p in params]
    for p in params:
        if p.data.dtype != dtype or p.grad.data.dtype != dtype:
            return None
    cache = optimizer.__dict__.setdefault("_flat_moments", {})
    key = tuple(map(id, params))
    entry = cache.get(id(group))
    if entry is not None and entry[4] == key and all(
            s is not None and s.get("exp_avg") is m_view and s.get("exp_avg_sq") is v_view
            for s, m_view, v_view in zip(states, entry[2], entry[3])):
        steps = {s["step"] for s in states}
        return (entry[0], entry[1], steps.pop()) if len(steps) == 1 else None
    fresh = all(not s for s in states)
    if not fresh:  # adopt existing moments, if every parameter has them at one step count
        if any(not s or set(s) != {"step", "exp_avg", "exp_avg_sq"} for s in states):
            return None
        if len({s["step"] for s in states}) != 1:
            return None
        if any(s[k].shape != p.data.shape or s[k].dtype != dtype
               or get_array_module(s[k]) is not xp
               for s, p in zip(states, params) for k in ("exp_avg", "exp_avg_sq")):
            return None
    sizes = [p.data.size for p in params]
    total = sum(sizes)
    if fresh:
        m, v, t = xp.zeros(total, dtype=dtype), xp.zeros(total, dtype=dtype), 0
    else:
        m = xp.concatenate([s["exp_avg"].ravel() for s in states])
        v = xp.concatenate([s["exp_avg_sq"].ravel() for s in states])
        t = states[0]["step"]
    m_views, v_views, start = [], [], 0
    for p, n in zip(params, sizes):
        state = optimizer.state.setdefault(p, {})
        state["step"] = t
        state["exp_avg"] = m[start:start + n].reshape(p.data.shape)
        state["exp_avg_sq"] = v[start:start + n].reshape(p.data.shape)
        m_views.append(state["exp_avg"])
        v_views.append(state["exp_avg_sq"])
        start += n
    cache[id(group)] = (m, v, m_views, v_views, key)
    return m, v, t


def update_each(optimizer, params, group):
    """:func:`minitl.optim.adam.update_each` for the whole group at once (see the module
    docstring); falls back to it when the flat path does not apply."""
    flat = _flat_moments(optimizer, params, group)
    if flat is None:
        return plain.update_each(optimizer, params, group)
    m, v, t = flat
    t += 1
    for p in params:
        optimizer.state[p]["step"] = t
    lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
    beta1, beta2 = group["betas"]
    xp = get_array_module(m)
    grad = xp.concatenate([p.grad.data.ravel() for p in params])
    if weight_decay != 0:
        if optimizer.decoupled:
            for p in params:
                _scale_in_place(p, 1 - lr * weight_decay)
        else:
            grad += weight_decay * xp.concatenate([p.data.ravel() for p in params])
    m *= beta1
    m += (1 - beta1) * grad
    v *= beta2
    grad *= grad
    grad *= 1 - beta2
    v += grad
    step_size, bias2 = lr / (1 - beta1**t), math.sqrt(1 - beta2**t)
    update = adam_update(m, v, step_size, bias2, eps)
    start = 0
    for p in params:
        n = p.data.size
        _subtract_in_place(p, update[start:start + n].reshape(p.data.shape))
        start += n


register(plain.adam_update, adam_update)
register(plain.update_each, update_each)
