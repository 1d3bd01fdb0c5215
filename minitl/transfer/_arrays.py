"""One helper: whatever holds the data (NumPy, CuPy, a Tensor), a host NumPy array."""

from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Tensor


def host_array(x, float32: bool = True) -> np.ndarray:
    """``x`` (a NumPy or CuPy array, a Tensor, a list) as a NumPy array on the host.

    With ``float32`` floating data becomes float32, the dtype DataLoader batches and
    minitl models use, so evaluation computes exactly as training does.
    """
    if isinstance(x, Tensor):
        x = x.data
    a = np.asarray(backend.to_numpy(x))
    if float32 and np.issubdtype(a.dtype, np.floating) and a.dtype != np.float32:
        a = a.astype(np.float32)
    return a
