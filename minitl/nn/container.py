"""Sequential: layers applied one after another, and the natural place to cut a model
into a body (representation) and a head (decision)."""

from __future__ import annotations

import operator
from collections import OrderedDict

from .module import Module


class Sequential(Module):
    """y = layer_k(… layer_2(layer_1(x))).

    ``Sequential(a, b, c)`` names its layers "0", "1", "2" (so parameters are
    "0.weight", …); ``Sequential(OrderedDict(body=..., head=...))`` uses your names.

    Indexing: ``model[0]``, ``model[-1]`` return the layer itself; ``model[:3]``
    returns a *new* Sequential holding the *same* layer objects under the same
    names. That is how a body is split from a head for transfer::

        body, head = model[:-1], model[-1:]
        body.freeze()              # freezes model's own layers: they are shared
        assert head(body(x)) equals model(x)

    ``model[-1] = Linear(512, 10)`` replaces a layer (a new head); ``append``
    and ``extend`` add layers at the end; ``len`` and iteration work as for a list.
    """

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], dict):  # dict or OrderedDict
            for name, layer in layers[0].items():
                self._add_layer(name, layer)
        else:
            for i, layer in enumerate(layers):
                self._add_layer(str(i), layer)

    def _add_layer(self, name, layer):
        if not isinstance(layer, Module):
            hint = (" (to pass a list of layers, unpack it: Sequential(*layers))"
                    if isinstance(layer, (list, tuple)) else "")
            raise TypeError(f"Sequential: layer {name!r} is a {type(layer).__name__}, not a "
                            f"Module{hint}")
        self.add_module(name, layer)

    def _key(self, index) -> str:
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(f"Sequential indices must be integers or slices, got "
                            f"{type(index).__name__}") from None
        n = len(self._modules)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for a Sequential of {n} layers")
        return list(self._modules)[i % n]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return self._modules[self._key(index)]

    def __setitem__(self, index, layer):
        key = self._key(index)
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential: can only hold Modules, got {type(layer).__name__}")
        self._modules[key] = layer  # same key, same position

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, layer: Module) -> Sequential:
        """Add ``layer`` at the end, under the next free integer name. Returns self."""
        i = len(self._modules)
        while str(i) in self._modules:  # after slicing, names need not start at 0
            i += 1
        self._add_layer(str(i), layer)
        return self

    def extend(self, layers) -> Sequential:
        for layer in layers:
            self.append(layer)
        return self

    def forward(self, x):
        for layer in self._modules.values():
            x = layer(x)
        return x
