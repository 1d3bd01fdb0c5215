"""Parameter: a tensor that a Module owns and an optimizer updates."""

from __future__ import annotations

import numpy as np

from ..autograd import Tensor
from ..guards import as_array


class Parameter(Tensor):
    """A leaf tensor that requires a gradient by default and is registered by Modules.

    Freezing is a flag on the parameter itself: ``p.requires_grad = False``. It
    clears the gradient; from then on the parameter takes part in the forward pass
    as a constant: no graph is recorded for it, no gradient computed, and no
    optimizer step changes it (``Optimizer.step`` checks the flag at every step,
    together with the ``"frozen"`` flag of the parameter's group).
    """

    def __init__(self, data, requires_grad: bool = True):
        array = as_array(data, where="Parameter")
        if not np.issubdtype(array.dtype, np.floating):
            array = array.astype(np.float32)
        super().__init__(array, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
