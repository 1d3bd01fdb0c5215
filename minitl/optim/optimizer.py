"""The Optimizer base class: parameter groups, per-parameter state, and their checkpoints.

An optimizer turns gradients into weight changes. Everything that is not the
update rule itself lives here, shared by :class:`~minitl.optim.SGD`,
:class:`~minitl.optim.Adam` and :class:`~minitl.optim.AdamW`:

* **Parameter groups.** ``optimizer.param_groups`` is a list of dicts, each with
  a ``"params"`` list and its own hyperparameters (``"lr"``, ``"weight_decay"``,
  ...). Transfer learning leans on this: a pretrained body at lr 1e-4 and a new
  head at 1e-2 are two groups of one optimizer::

      SGD([{"params": body.parameters(), "lr": 1e-4},
           {"params": head.parameters()}], lr=1e-2)      # the head takes lr=1e-2

  A key missing from a group is filled in from the optimizer's defaults. A
  group may carry a ``"name"`` (find it with :meth:`Optimizer.param_group`)
  and a ``"frozen"`` flag (False unless given).
* **The freeze contract: step() changes a parameter only if it is trainable at
  the time of the step, that is ``p.requires_grad`` is True and its group's
  ``"frozen"`` flag is not set.** The two flags are read together, at every
  step, in one place (:meth:`Optimizer.step`); neither can override the other.
  A parameter that is not trainable is not touched at all: a gradient left
  from before the freeze, momentum, Adam's moments, weight decay (coupled or
  decoupled), an L2-SP or clipped gradient, a scheduler's learning rate, none
  of them moves it; it stays bit-identical for any number of steps. Freezing
  clears the gradient (``p.requires_grad = False``, ``module.freeze()`` and
  ``group["frozen"] = True`` all set ``.grad`` to None), and a step that finds
  a parameter frozen also drops its state. **Unfreezing starts afresh:** the
  parameter's next update is the one a newly built optimizer would make (new
  momentum buffer, Adam step count from 1), never a catch-up of what it missed.
  A parameter that is trainable but has no gradient (``.grad`` None: the loss
  did not reach it, or ``zero_grad()``) is skipped too, and keeps its state.

  Which flag to use: ``requires_grad=False`` also stops the work (no graph is
  recorded, no gradient computed), so freeze modules that way; a group's
  ``"frozen"`` flag freezes exactly one group of this optimizer without
  touching the model, but backward still computes those gradients (the step
  then ignores them).
* **State** (momentum buffers, Adam's moments) is kept per parameter in
  ``optimizer.state[param]`` and created on the parameter's first update.
  ``state_dict()`` names each parameter by its position counted through the
  groups in order (0, 1, 2, ...), as PyTorch does, so it can be loaded into a
  fresh optimizer built over a fresh model with the same structure; group
  names and frozen flags travel with the other group settings.

Updates are made in place on ``param.data`` (the Parameter objects, and the
arrays, stay the same), and each update bumps the parameter's version counter:
a graph recorded before the step that saved the parameter's array refuses to
run backward after it (:class:`~minitl.errors.ModifiedInPlaceError`). Anything
else sharing the array, such as a tensor made by ``param.detach()``, sees the
new values; copy what you want to keep.

Parameters are kept in lists, never sets: the order of groups and parameters
must be the same on every run for ``state_dict()`` to mean anything.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping

import numpy as np

from ..autograd import Tensor, enable_grad, no_grad
from ..backend import get_array_module, to_device
from ..errors import ArgumentError, CheckpointError

__all__ = ["Optimizer", "required"]


class _Required:
    """Marks a hyperparameter with no default: every group must then give it."""

    def __repr__(self):
        return "<required>"

    def __deepcopy__(self, memo):
        return self


required = _Required()


def _describe(obj) -> str:
    if isinstance(obj, Tensor):
        return f"{type(obj).__name__} of shape {obj.shape} and dtype {obj.dtype}"
    return type(obj).__name__


class ParamGroup(dict):
    """One parameter group: a plain dict, except that setting ``"frozen"`` to True
    clears the gradients of its parameters (freezing clears the gradient, whichever
    flag does it). ``step()`` reads the flag itself; this only drops stale gradients
    early, so that ``clip_grad_norm_`` or a monitor never sees them."""

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        if key == "frozen" and value:
            for p in self.get("params", ()):
                p.grad = None

    def update(self, *args, **kwargs):
        """``dict.update`` through ``__setitem__``, so a loaded ``"frozen"`` clears too."""
        for key, value in dict(*args, **kwargs).items():
            self[key] = value


def _as_param_list(params, where: str) -> list:
    """``params`` (one tensor or an iterable of them) as a list, refusing unordered sets."""
    if isinstance(params, Tensor):
        return [params]
    if isinstance(params, (set, frozenset)):
        raise TypeError(
            f"{where}: parameters were given as a set, whose order changes from run to run; "
            "pass a list (or model.parameters()) so the order is deterministic"
        )
    if isinstance(params, (str, bytes, Mapping)) or not isinstance(params, Iterable):
        raise TypeError(f"{where}: expected a Parameter or an iterable of Parameters, "
                        f"got {type(params).__name__}")
    return list(params)


class Optimizer:
    """Base class of the optimizers. Subclasses write ``_update(param, grad, group, state)``.

    ``params`` is an iterable of Parameters (one group) or of dicts (several
    groups, each with a ``"params"`` entry); ``defaults`` holds the
    hyperparameters a group takes when it does not name them.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict = {}  # Parameter -> dict; parameters hash by identity
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params should be an iterable of Parameters or of "
                f"dicts, got a single {_describe(params)}; wrap it in a list"
            )
        groups = _as_param_list(params, type(self).__name__)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- groups -------------------------------------------------------------------

    def add_param_group(self, param_group: Mapping) -> None:
        """Add a group of parameters with its own hyperparameters (e.g. on unfreezing).

        Missing hyperparameters come from ``self.defaults``. A parameter already
        held by another group is refused with a ValueError, and so is a ``"name"``
        another group has. ``"frozen"`` defaults to False.
        """
        name = f"{type(self).__name__}.add_param_group"
        if not isinstance(param_group, Mapping):
            raise TypeError(f"{name}: expected a dict with a 'params' entry, "
                            f"got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}: the group has no 'params' entry")
        group = dict(param_group)
        params = _as_param_list(group["params"], name)
        seen = set()
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Parameters (or leaf Tensors), "
                                f"got {_describe(p)}")
            if not p.is_leaf:
                raise ValueError(f"{name}: cannot optimize a computed (non-leaf) tensor; "
                                 "optimize the Parameters it was computed from")
            if p.dtype.kind != "f":
                raise TypeError(f"{name}: a {_describe(p)} cannot require a gradient, so it "
                                "cannot be optimized; only floating-point tensors can")
            if id(p) in seen:
                raise ValueError(f"{name}: the group lists the same {_describe(p)} twice")
            seen.add(id(p))
        held = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if id(p) in held:
                raise ValueError(
                    f"{name}: a {_describe(p)} is already in another parameter group; "
                    "each parameter may belong to one group only"
                )
        group["params"] = params
        group.setdefault("frozen", False)
        if group.get("name") is not None:
            if not isinstance(group["name"], str):
                raise TypeError(f"{name}: a group's name must be a string, "
                                f"got {type(group['name']).__name__}")
            if any(g.get("name") == group["name"] for g in self.param_groups):
                raise ValueError(f"{name}: there is already a group named {group['name']!r}")
        for key, default in self.defaults.items():
            if key not in group:
                if default is required:
                    raise ValueError(f"{name}: the group gives no '{key}' and "
                                     f"{type(self).__name__} has no default for it")
                group[key] = copy.deepcopy(default)
        self._check_group(group)
        group = ParamGroup(group)
        group["frozen"] = group["frozen"]  # through __setitem__: a frozen group drops its grads
        self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        """Validate one group's hyperparameters (subclasses extend it): each must be a
        real number (not a string, None or bool) in its range, else an ArgumentError
        naming it. ``lr`` and ``weight_decay``: finite and >= 0."""
        self._check_number(group, "lr", 0.0, math.inf)
        if "weight_decay" in group:
            self._check_number(group, "weight_decay", 0.0, math.inf)

    def _check_number(self, group: dict, key: str, low: float, high: float,
                      include_high: bool = False, value=None) -> None:
        """``group[key]`` (or ``value``) must be a finite real number with low <= it <= high
        (< high unless ``include_high``)."""
        value = group.get(key) if value is None else value
        try:
            ok = (isinstance(value, (int, float, np.integer, np.floating))
                  and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
                  and low <= value and (value <= high if include_high else value < high))
        except OverflowError:  # an int too large for a float
            ok = False
        if not ok:
            upper = (f"<= {high}" if include_high else f"< {high}") if high != math.inf else ""
            need = f">= {low}" + (f" and {upper}" if upper else "")
            label = "learning rate (lr)" if key == "lr" else key
            raise ArgumentError(f"{type(self).__name__}: invalid {label} {value!r} (need a "
                                f"finite number {need})")

    def param_group(self, name: str) -> dict:
        """The group called ``name``: ``opt.param_group("body")["frozen"] = True``."""
        for group in self.param_groups:
            if group.get("name") == name:
                return group
        names = [g["name"] for g in self.param_groups if g.get("name") is not None]
        raise KeyError(f"{type(self).__name__} has no parameter group named {name!r} "
                       f"(named groups: {names})")

    def _params(self):
        for group in self.param_groups:
            yield from group["params"]

    @staticmethod
    def is_trainable(param, group: Mapping) -> bool:
        """The freeze contract's one rule: ``param`` (held in ``group``) may be changed by
        a step now only if it requires a gradient and its group is not flagged frozen."""
        return param.requires_grad and not group.get("frozen", False)

    def trainable_params(self) -> list:
        """The parameters the next ``step()`` may change (see :meth:`is_trainable`), in
        order. Pass them to ``clip_grad_norm_`` so that a frozen group's gradients do
        not count."""
        return [p for g in self.param_groups for p in g["params"] if self.is_trainable(p, g)]

    # -- gradients and the update ---------------------------------------------

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every held parameter's gradient before the next backward pass.

        With ``set_to_none=True`` (the default) ``.grad`` becomes None, which also
        makes ``step()`` skip the parameter until a new gradient arrives. With
        False each gradient becomes a new Tensor of zeros (a fresh array, never
        an in-place write: gradient arrays may be shared), and the parameter is
        still updated by weight decay and momentum on the next step.
        """
        for p in self._params():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = Tensor(get_array_module(p.grad.data).zeros_like(p.grad.data))

    def step(self, closure=None):
        """Update every trainable parameter that has a gradient; return ``closure()``'s loss.

        This is where the freeze contract is enforced (see the module docstring):
        a parameter is updated only if :meth:`is_trainable` says so now. One found
        frozen loses its gradient and its state and is not touched; one trainable
        but without a gradient is skipped. ``closure``, when given, re-computes the
        loss (with gradients on) before the update. The update runs under
        ``no_grad()`` and bumps each updated parameter's version.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                ready = []
                for p in group["params"]:
                    if not self.is_trainable(p, group):  # frozen now: not touched, forgotten
                        p.grad = None
                        self.state.pop(p, None)
                        continue
                    if p.grad is not None:  # else trainable, but not reached by this loss
                        ready.append(p)
                if ready:
                    self._update_group(ready, group)
                    for p in ready:
                        p._bump_version()
        return loss

    def _update_group(self, params: list, group: dict) -> None:
        """Update ``params`` (the trainable parameters of ``group`` that have a gradient,
        in order): :meth:`_update` on each in turn. An optimizer may update them all at
        once instead (Adam's fast path does), with the same arithmetic."""
        for p in params:
            self._update(p, p.grad.data, group, self.state.setdefault(p, {}))

    def _update(self, param, grad, group: dict, state: dict) -> None:
        """Change ``param.data`` using ``grad`` (a raw array, read-only here)."""
        raise NotImplementedError

    # -- checkpoints ----------------------------------------------------------

    def state_dict(self) -> dict:
        """A copy of the optimizer's state, with parameters named by position.

        ``{"state": {index: {name: array or number}}, "param_groups": [group, ...]}``,
        where each group lists the indices of its parameters under ``"params"``.
        Arrays are copied, so later steps do not change a state_dict already taken.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index[id(p)] = len(index)
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for p in self._params():
            if p in self.state and self.state[p]:
                state[index[id(p)]] = {k: _copy_value(v) for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore a ``state_dict()`` taken from an optimizer with the same group layout.

        Hyperparameters are taken from the saved groups; state arrays are copied
        onto each parameter's device and cast to its floating dtype. Everything is
        checked before anything changes: a state dict that is not of this shape (keys
        ``state`` and ``param_groups``), whose groups do not match this optimizer's,
        whose per-parameter entries are not the ones this optimizer keeps
        (``state_keys``) or whose arrays do not have their parameter's shape raises
        a CheckpointError naming what is wrong; a bad hyperparameter, an ArgumentError.
        """
        name = f"{type(self).__name__}.load_state_dict"

        def fail(problem):
            return CheckpointError(f"{name}: {problem}")

        if not isinstance(state_dict, Mapping):
            raise fail(f"expected the dict state_dict() returns, got {type(state_dict).__name__}")
        for key, kind in (("state", Mapping), ("param_groups", list)):
            if key not in state_dict:
                raise fail(f"the state dict has no {key!r} entry (keys: {sorted(state_dict)})")
            if not isinstance(state_dict[key], kind):
                raise fail(f"{key!r} must be a {kind.__name__}, got "
                           f"{type(state_dict[key]).__name__}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise fail(f"the state has {len(saved_groups)} parameter groups, "
                       f"this optimizer {len(self.param_groups)}")
        by_index, new_groups = {}, []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if not isinstance(saved, Mapping) or not isinstance(saved.get("params"), list):
                raise fail(f"group {i} must be a dict with a 'params' list")
            if len(saved["params"]) != len(group["params"]):
                raise fail(f"group {i} has {len(saved['params'])} parameters in the state, "
                           f"{len(group['params'])} in this optimizer")
            missing = [k for k in self.defaults if k not in saved]
            if missing:
                raise fail(f"group {i} lacks the hyperparameters {missing} "
                           f"({type(self).__name__} needs {sorted(self.defaults)})")
            for idx, p in zip(saved["params"], group["params"], strict=True):
                if isinstance(idx, bool) or not isinstance(idx, int) or idx in by_index:
                    raise fail(f"group {i} names parameter {idx!r}, which is not a new index")
                by_index[idx] = p
            new_group = dict(group)
            new_group.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})
            self._check_group(new_group)
            new_groups.append(new_group)
        new_state = {}
        for idx, entries in state_dict["state"].items():
            if idx not in by_index:
                raise fail(f"the state names parameter {idx!r}, which no group holds")
            p = by_index[idx]
            if not isinstance(entries, Mapping):
                raise fail(f"the state of parameter {idx} must be a dict, got "
                           f"{type(entries).__name__}")
            keys = getattr(self, "state_keys", None)
            if keys is not None and entries and set(entries) != set(keys):
                raise fail(f"the state of parameter {idx} holds {sorted(entries)}, but "
                           f"{type(self).__name__} keeps {sorted(keys)} (a state dict of "
                           "another optimizer?)")
            for key, value in entries.items():
                value = value.data if isinstance(value, Tensor) else value
                if _is_array(value):
                    if tuple(value.shape) != tuple(p.shape) or value.dtype.kind != "f":
                        raise fail(f"state {key!r} of parameter {idx} is {value.dtype} of "
                                   f"shape {tuple(value.shape)}, but the parameter is "
                                   f"{p.dtype} of shape {tuple(p.shape)}")
                elif (isinstance(value, bool) or not isinstance(value, (int, float))
                      or not math.isfinite(value)):
                    raise fail(f"state {key!r} of parameter {idx} is {value!r}, not a number "
                               "or an array")
            new_state[p] = {k: _restore_value(v, p) for k, v in entries.items()}
        for group, new_group in zip(self.param_groups, new_groups, strict=True):
            group.update({k: v for k, v in new_group.items() if k != "params"})
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            settings = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} params, {settings}")
        return "\n".join(lines) + "\n)"


def _is_array(value) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, Tensor)


def _copy_value(value):
    if _is_array(value):
        return value.copy()
    if isinstance(value, Tensor):
        return value.data.copy()
    return copy.deepcopy(value)


def _restore_value(value, param):
    if isinstance(value, Tensor):
        value = value.data
    if not _is_array(value):
        return copy.deepcopy(value)
    array = to_device(value, param.device)
    if array.dtype.kind == "f" and array.dtype != param.dtype:
        array = array.astype(param.dtype)
    return array.copy() if array is value else array


def _writable(array) -> bool:
    flags = getattr(array, "flags", None)  # CuPy arrays are always writable
    return flags is None or getattr(flags, "writeable", True)


def _subtract_in_place(param, delta) -> None:
    """``param.data -= delta``: in place, unless the array is read-only (then it is replaced)."""
    if _writable(param.data):
        param.data -= delta
    else:
        param.data = param.data - delta


def _scale_in_place(param, factor: float) -> None:
    """``param.data *= factor``: in place, unless the array is read-only (then it is replaced)."""
    if _writable(param.data):
        param.data *= factor
    else:
        param.data = param.data * factor
