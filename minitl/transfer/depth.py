"""How many layers to freeze, read off a layer-transfer curve.

The layer-transfer experiment (Yosinski, Clune, Bengio & Lipson, "How transferable are
features in deep neural networks?", NeurIPS 2014) measures, for every depth n, the
target accuracy of a network whose first n layers come from the source network and stay
frozen while the layers above are trained on the target. Where that curve stays near the
accuracy of a network trained on the target alone, the first n layers are *general*:
freezing them costs nothing and saves the target data they would otherwise need. Where
it falls, the copied layers have become specific to the source task.

:func:`recommended_freeze_depth` turns such a curve into a decision: the deepest n whose
accuracy is within ``margin`` of the reference. Compute it on validation data, before
the target model you care about is trained, and hand it to
:func:`~minitl.transfer.adapt` as ``freeze_depth`` (the first n blocks then never
unfreeze).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["recommended_freeze_depth"]


def recommended_freeze_depth(curve: Mapping[int, float], reference: float,
                             margin: float) -> int:
    """The deepest depth n with ``curve[n] >= reference - margin``; 0 when none is.

    ``curve`` maps a depth n ≥ 1 (layers copied from the source and frozen) to an
    accuracy measured with the target (validation accuracy, not test); ``reference`` is
    the accuracy of the same architecture trained on the target alone; ``margin`` is how
    much accuracy one accepts to lose for freezing (same units as the accuracies).

    The deepest qualifying n is returned even if a shallower depth fell below the bar:
    the question is how far down the features are still good enough, and a single noisy
    dip should not hide that. 0 means "freeze nothing".
    """
    if not isinstance(margin, (int, float)) or not math.isfinite(margin) or margin < 0:
        raise ValueError(f"recommended_freeze_depth: margin must be a finite number >= 0, "
                         f"got {margin!r}")
    if not math.isfinite(reference):
        raise ValueError(f"recommended_freeze_depth: reference must be finite, got {reference}")
    depth = 0
    for n, acc in curve.items():
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise ValueError(f"recommended_freeze_depth: depths must be integers >= 1, "
                             f"got {n!r}")
        if not math.isfinite(acc):
            raise ValueError(f"recommended_freeze_depth: accuracy at depth {n} is {acc}")
        if acc >= reference - margin:
            depth = max(depth, int(n))
    return depth
