"""Module: the base class of every layer and model.

A model is a tree of Modules. Each Module keeps three insertion-ordered dicts,
filled automatically when you assign attributes in ``__init__``:

* ``_parameters``: name → :class:`Parameter` (what the optimizer trains),
* ``_buffers``: name → Tensor without gradient (state that is saved with the
  model but not trained, e.g. BatchNorm's running statistics),
* ``_modules``: name → sub-Module (the children).

Everything else walks that tree: ``named_parameters()`` yields PyTorch's
dotted names (``"body.2.weight"``) in the order the attributes were assigned,
the same order in every run (dicts, never sets); ``state_dict()`` saves
parameters and buffers under those names; ``train()``/``eval()``,
``requires_grad_()``/``freeze()``, ``to()`` apply to the whole tree.

Transfer learning in these terms: a model is a body g (the representation)
followed by a head h (the decision). ``model[:k]`` of a :class:`Sequential`
shares the body's layers; ``body.freeze()`` stops gradients into it;
``body.load_state_dict(source_body.state_dict())`` carries weights across.

    class TwoPart(Module):
        def __init__(self):
            super().__init__()          # must come first: it creates the three dicts
            self.body = Sequential(Linear(4, 8), ReLU())
            self.head = Linear(8, 3)

        def forward(self, x):
            return self.head(self.body(x))
"""

from __future__ import annotations

import difflib
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from .. import backend
from ..autograd import Tensor
from ..creation import tensor
from ._utils import parse_to_args
from .parameter import Parameter
from .state import IncompatibleKeys, StateDictShapeError, check_state_dict

__all__ = ["IncompatibleKeys", "Module", "RemovableHandle", "StateDictShapeError"]


class RemovableHandle:
    """Returned by ``register_forward_hook``; ``handle.remove()`` unregisters the hook."""

    def __init__(self, hooks: dict):
        self._hooks = hooks

    def remove(self):
        self._hooks.pop(self, None)


_KINDS = {"_parameters": "parameter", "_buffers": "buffer", "_modules": "sub-module"}


def _check_name(module, name, kind):
    if not isinstance(name, str):
        raise TypeError(f"{kind} name must be a str, got {type(name).__name__}")
    if not name or "." in name:
        raise KeyError(f"{kind} name {name!r} must be non-empty and contain no '.' "
                       "(dots separate the levels of dotted names)")
    stores = (module._parameters, module._buffers, module._modules)
    if not any(name in s for s in stores) and (name in module.__dict__
                                               or hasattr(type(module), name)):
        raise KeyError(f"cannot register {kind} {name!r}: {type(module).__name__} already "
                       "has an attribute of that name")


def _as_buffer(value, name):
    """A buffer is a Tensor that never requires a gradient (or None)."""
    if value is None:
        return None
    if isinstance(value, Parameter):
        raise TypeError(f"buffer {name!r}: got a Parameter; a buffer is not trained "
                        "(use register_parameter for trainable values)")
    if isinstance(value, Tensor):
        return value.detach() if value.requires_grad else value
    return tensor(value)  # an array or a number: copied, following minitl's dtype rules


class Module:
    """Base class of layers and models: subclass it, call ``super().__init__()`` first,
    assign layers and Parameters as attributes, and write ``forward``.

    ``module(x)`` runs ``forward(x)`` (then any forward hooks). ``training`` is
    True after construction; ``eval()`` sets it to False in the whole tree, which
    changes what Dropout and BatchNorm do (nothing else).
    """

    training: bool

    def __init__(self):
        # object.__setattr__ because our own __setattr__ needs these dicts to exist.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_forward_hooks", {})

    # ------------------------------------------------------------- attributes

    def __setattr__(self, name, value):
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() has run: call "
                f"super().__init__() at the top of {type(self).__name__}.__init__")
        params, buffers, modules = d["_parameters"], d["_buffers"], d["_modules"]
        if isinstance(value, Parameter):
            self._forget(name)
            self.register_parameter(name, value)
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign a {type(value).__name__} to parameter {name!r} of "
                    f"{type(self).__name__}: assign a Parameter (or None), or change its "
                    f"values with `{name}.data[...] = ...`")
            params[name] = None
        elif isinstance(value, Module):
            self._forget(name)
            self.add_module(name, value)
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to sub-module "
                                f"{name!r} of {type(self).__name__} (Module or None expected)")
            modules[name] = None
        elif name in buffers:
            buffers[name] = _as_buffer(value, name)
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name):
        """Remove ``name`` from wherever it is registered (before registering it anew)."""
        self.__dict__.pop(name, None)
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)

    def __getattr__(self, name):
        # Only called when ordinary lookup fails: look in the three registries.
        d = self.__dict__
        for store_name in ("_parameters", "_buffers", "_modules"):
            store = d.get(store_name)
            if store is not None and name in store:
                return store[name]
        message = f"'{type(self).__name__}' object has no attribute '{name}'"
        if not name.startswith("__") and "_parameters" in d:
            known = [*d["_parameters"], *d["_buffers"], *d["_modules"],
                     *(k for k in d if not k.startswith("_"))]
            close = difflib.get_close_matches(name, known, n=3)
            if close:
                message += f"; did you mean {', '.join(repr(c) for c in close)}?"
        raise AttributeError(message)

    # ------------------------------------------------------------- registration

    def _register(self, store_name: str, name: str, value):
        """The one way a name enters a registry: a valid name, in none of the other two
        registries, and no longer a plain attribute."""
        kind = _KINDS[store_name]
        if store_name not in self.__dict__:
            raise AttributeError(f"call super().__init__() before registering a {kind}")
        _check_name(self, name, kind)
        for other, other_kind in _KINDS.items():
            if other != store_name and name in self.__dict__[other]:
                raise KeyError(f"{name!r} is already a {other_kind} of {type(self).__name__}")
        self.__dict__.pop(name, None)
        self.__dict__[store_name][name] = value

    def register_parameter(self, name: str, param: Parameter | None):
        """Register a Parameter (or None: a declared but absent one, like ``bias=False``)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"parameter {name!r}: expected a Parameter or None, got "
                            f"{type(param).__name__} (wrap it: Parameter(array))")
        self._register("_parameters", name, param)

    def register_buffer(self, name: str, value):
        """Register a buffer: a Tensor saved in ``state_dict`` and moved by ``to()``, but not
        a parameter (no gradient, not given to the optimizer). ``value`` may be a Tensor,
        an array (copied) or None."""
        self._register("_buffers", name, _as_buffer(value, name))

    def add_module(self, name: str, module: Module | None):
        """Register a sub-module under ``name`` (what ``self.name = module`` does)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"sub-module {name!r}: expected a Module, got "
                            f"{type(module).__name__}")
        self._register("_modules", name, module)

    def register_forward_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward; if it returns something
        other than None, that replaces the output. Useful to read intermediate features.
        Returns a handle whose ``remove()`` unregisters the hook."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle] = hook
        return handle

    # ------------------------------------------------------------- running

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward(); a Module "
                                  "subclass must define forward(self, ...)")

    def __call__(self, *args, **kwargs):
        output = self.forward(*args, **kwargs)
        if not self._forward_hooks:
            return output
        for hook in list(self._forward_hooks.values()):
            replaced = hook(self, args, output)
            if replaced is not None:
                output = replaced
        return output

    # ------------------------------------------------------------- walking the tree

    def named_modules(self, memo=None, prefix: str = ""):
        """(dotted name, module) for this module ("" or ``prefix``) and every descendant,
        parents before children, each module once (a module used twice is listed once)."""
        if memo is None:
            memo = set()  # ids already yielded; only membership matters, never order
        stack = [(prefix, self)]  # depth first with an explicit stack: children in order
        while stack:
            name, module = stack.pop()
            if id(module) in memo:
                continue
            memo.add(id(module))
            yield name, module
            stack += reversed([(f"{name}.{key}" if name else key, child)
                               for key, child in module._modules.items() if child is not None])

    def modules(self):
        """This module and every descendant (see ``named_modules``)."""
        yield from self._tree()

    def _tree(self) -> list:
        """``modules()`` as a list, walked without building names (the training loop asks
        for the parameters on every step)."""
        out, seen, stack = [], set(), [self]
        while stack:
            module = stack.pop()
            if id(module) not in seen:
                seen.add(id(module))
                out.append(module)
                stack += reversed([c for c in module._modules.values() if c is not None])
        return out

    def named_children(self):
        """(name, module) for the direct sub-modules, in registration order."""
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def _named_members(self, store_name, prefix, recurse):
        pairs = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        seen = set()
        for module_prefix, module in pairs:
            for name, value in getattr(module, store_name).items():
                if value is None or id(value) in seen:
                    continue  # absent (bias=False), or shared and already yielded
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """(dotted name, Parameter) pairs, e.g. ``("body.0.weight", p)``, in registration
        order, each Parameter once even if shared. ``recurse=False``: this module's own."""
        yield from self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True):
        """The Parameters (what an optimizer takes): ``SGD(model.parameters(), lr=0.1)``,
        in the order of ``named_parameters``."""
        seen = set()
        for module in self._tree() if recurse else (self,):
            for p in module._parameters.values():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        """(dotted name, buffer Tensor) pairs, e.g. ``("1.running_mean", t)``."""
        yield from self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The module at dotted path ``target`` (``model.get_submodule("body.0")``)."""
        module = self
        if target == "":
            return module
        walked = []
        for part in target.split("."):
            child = module._modules.get(part)
            if not isinstance(child, Module):
                where = ".".join(walked) or "the model"
                raise AttributeError(f"get_submodule({target!r}): {where} "
                                     f"({type(module).__name__}) has no sub-module {part!r}")
            walked.append(part)
            module = child
        return module

    def apply(self, fn) -> Module:
        """Call ``fn(m)`` on every sub-module (children first) and then on self; returns self.
        For example ``model.apply(init_weights)``."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------- modes and freezing

    def train(self, mode: bool = True) -> Module:
        """Training mode for this module and all descendants (Dropout drops, BatchNorm uses
        and updates batch statistics). Returns self."""
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode): mode must be a bool, got {type(mode).__name__}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode, ``train(False)``: Dropout is the identity, BatchNorm uses (and no
        longer updates) its running statistics. It does not stop gradients: use no_grad()."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter of the tree (False also clears each
        ``.grad``). Returns self."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def freeze(self) -> Module:
        """``requires_grad_(False)``: every parameter's gradient is cleared, and from now
        on it gets no graph, no gradient, and no change from any optimizer step (the
        optimizer's freeze contract, enforced in ``Optimizer.step``). Running statistics
        (BatchNorm buffers) are not parameters: call ``eval()`` too if they must stay
        fixed."""
        return self.requires_grad_(False)

    def unfreeze(self) -> Module:
        """``requires_grad_(True)``. An optimizer that saw a parameter frozen at a step has
        dropped its state, so its next update starts afresh (see ``minitl.optim``)."""
        return self.requires_grad_(True)

    def zero_grad(self, set_to_none: bool = True):
        """Forget accumulated gradients: ``p.grad = None`` (or zeros if set_to_none=False)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = Tensor(p._xp.zeros_like(p.grad.data))

    # ------------------------------------------------------------- devices and dtypes

    def to(self, device=None, dtype=None) -> Module:
        """Move parameters and buffers to ``device`` and/or cast floating ones to ``dtype``,
        in place: each Parameter stays the same object (only its ``.data`` is replaced),
        so an optimizer built earlier still holds the right tensors. Gradients follow.
        Accepts ``to("cuda")``, ``to(np.float64)``, ``to(device="cpu", dtype="float32")``.
        Returns self."""
        device, dtype = parse_to_args(device, dtype)

        def convert(t):
            data = t.data
            if device is not None:
                data = backend.to_device(data, device)
            if dtype is not None and np.issubdtype(data.dtype, np.floating):
                data = data.astype(dtype, copy=False)
            t.data = data

        for module in self.modules():
            for store in (module._parameters, module._buffers):
                for t in store.values():
                    if t is None:
                        continue
                    convert(t)
                    if t.grad is not None:
                        convert(t.grad)
        return self

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64 (for gradient checks)."""
        return self.to(dtype=np.float64)

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32."""
        return self.to(dtype=np.float32)

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self) -> Module:
        return self.to("cuda")

    # ------------------------------------------------------------- saving and loading

    def _named_state(self, prefix: str = ""):
        """(key, Tensor) for every parameter and buffer, recursively, as saved by
        ``state_dict``: a module's parameters, then its buffers, then its children. Unlike
        ``named_parameters`` a shared tensor appears under each of its names (as in
        PyTorch), so every name a model answers to can be loaded."""
        for store in (self._parameters, self._buffers):
            for name, t in store.items():
                if t is not None:
                    yield prefix + name, t
        for name, child in self._modules.items():
            if child is not None:
                yield from child._named_state(prefix + name + ".")

    def state_dict(self, prefix: str = "") -> OrderedDict:
        """An ordered dict dotted name → array (NumPy, or CuPy on the GPU) of every
        parameter and buffer (e.g. BatchNorm's ``running_mean``, ``num_batches_tracked``).

        The arrays are **copies**: training the model afterwards does not change a
        state dict you took, so ``best = model.state_dict()`` really keeps the best
        weights. (PyTorch returns tensors that share memory with the model instead.)
        """
        return OrderedDict((key, t.data.copy()) for key, t in self._named_state(prefix))

    def load_state_dict(self, state_dict: Mapping, strict: bool = True) -> IncompatibleKeys:
        """Copy the arrays of ``state_dict`` into this model's existing parameters and buffers
        (cast to each one's dtype, moved to its device; the objects stay the same).
        Precision is converted (a float64 checkpoint loads into a float32 model), but
        a value of another kind (integers or bools for a float parameter) is refused, and
        so is a value that does not fit the target dtype (an int64 300 into int8, a
        float 1e6 into float16): it would wrap around or overflow, silently.

        Every entry is checked before anything is written, so a failed load leaves the
        model untouched. A shape mismatch always raises :class:`StateDictShapeError`
        (a CheckpointError and a ShapeError) naming the key and both shapes. With
        ``strict=True`` (default), keys the model lacks or does not know raise a
        CheckpointError listing them; with ``strict=False`` the matching keys are loaded
        and the others reported. Returns ``IncompatibleKeys(missing_keys, unexpected_keys)``.
        """
        writes, result = check_state_dict(type(self).__name__, dict(self._named_state()),
                                          state_dict, strict)
        for target, array in writes:
            # In place: the Parameter and its array keep their identity; setitem casts.
            target.data[...] = backend.to_device(array, target.device)
            target._bump_version()  # a graph that saved the old values must not use them
        return result

    # ------------------------------------------------------------- printing

    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (layers override it)."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        lines = extra.split("\n") if extra else []
        for name, child in self._modules.items():
            lines.append(f"({name}): " + repr(child).replace("\n", "\n  "))
        return type(self).__name__ + "(\n  " + "\n  ".join(lines) + "\n)"
